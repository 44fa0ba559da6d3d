"""Swin conversion: timm's `swin_*`, transformers' SwinForImageClassification / SwinModel (from the legacy key
names 5.x writes to disk) and the original Microsoft checkpoint layout (`original:<variant>`), each checked for
equal outputs on random weights, plus their inverses and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import transformers
from conversion_helpers import max_diff, save_hf
from PIL import Image
from safetensors.torch import load_file
from test_swin import reference_shift_mask
from timm.data import create_transform, resolve_model_data_config
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.conversion import (
    ConversionError,
    convert,
    convert_timm_model,
    from_timm,
    load_original,
    load_transformers,
    to_timm_model,
    to_timm_state_dict,
    to_transformers_model,
    to_transformers_state_dict,
)

TOLERANCE = 1e-4
# 64 px, patch 4, window 2: maps of 16, 8, 4 and 2 a side, every stage shifted except the last (one window).
TINY_TIMM = {
    "img_size": 64,
    "patch_size": 4,
    "embed_dim": 16,
    "depths": (2, 2, 2, 1),
    "num_heads": (1, 2, 2, 4),
    "window_size": 2,
    "num_classes": 5,
}
TINY_HF = {
    "image_size": 64,
    "patch_size": 4,
    "embed_dim": 16,
    "depths": [2, 2, 2, 1],
    "num_heads": [1, 2, 2, 4],
    "window_size": 2,
    "num_labels": 5,
}


def randomize(model: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    """Redraw every parameter, norms and relative position biases included (their reference initialisation of
    ones, zeros or near-zeros would hide a swapped or dropped tensor)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith("relative_position_bias_table"):
                param.copy_(noise)
            elif param.ndim == 1 and name.endswith("weight"):
                param.copy_(1 + 0.2 * noise)
            else:
                param.copy_(scale * noise)
    return model


def tiny_timm(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, **{**TINY_TIMM, **overrides})
    return randomize(model).eval()


def pixels(height: int = 64, width: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


# --- timm ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"img_size": 32, "patch_size": 2, "window_size": 4},  # stage 4's 2x2 map shrinks the window and its table
        {"qkv_bias": False, "mlp_ratio": 2.0},
        {"img_size": 224, "window_size": 7, "embed_dim": 8, "depths": (2, 2, 2, 2)},  # Swin-T's geometry
    ],
    ids=["window2", "shrunk-window", "no-qkv-bias", "swin-t-geometry"],
)
def test_timm_logits_match(overrides):
    timm_model = tiny_timm(**overrides)
    model, processor = convert_timm_model(timm_model)
    assert type(model) is hf_vits.ZooSwinForImageClassification
    assert type(processor) is hf_vits.ZooSwinImageProcessor
    config = model.config
    assert config.window_size == overrides.get("window_size", 2)
    assert config.qkv_bias is overrides.get("qkv_bias", True)
    batch = pixels(*config.image_size_pair)
    with torch.no_grad():
        assert max_diff(model(pixel_values=batch).logits, timm_model(batch)) <= TOLERANCE
        assert max_diff(to_timm_model(model)(batch), timm_model(batch)) <= TOLERANCE


def test_timm_downsample_moves_to_the_end_of_the_previous_stage():
    timm_model = tiny_timm()
    model, _ = convert_timm_model(timm_model)
    timm_state = timm_model.state_dict()
    assert "layers.0.downsample.reduction.weight" not in timm_state, "timm merges at the start of a stage"
    merged = model.swin.encoder.stages[0].downsample.reduction.weight
    assert torch.equal(merged, timm_state["layers.1.downsample.reduction.weight"])
    assert model.swin.encoder.stages[-1].downsample is None
    inverse = to_timm_state_dict(model)
    assert inverse.keys() == timm_state.keys()
    assert all(torch.equal(inverse[key], timm_state[key]) for key in timm_state)


def test_timm_processor_reproduces_timm_eval_transform():
    from skimage import data as skimage_data

    image = Image.fromarray(skimage_data.chelsea())
    timm_model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, embed_dim=8, depths=(1, 1, 1, 1))
    processor = from_timm.timm_image_processor(timm_model)
    assert processor.size.shortest_edge == 248 and processor.crop_size.height == 224, "timm's crop_pct 0.9"
    reference = create_transform(**resolve_model_data_config(timm_model))(image)
    pil_processor = hf_vits.ZooSwinImageProcessorPil(**processor.to_dict())
    ours = torch.as_tensor(np.asarray(pil_processor(image, return_tensors="np").pixel_values[0]))
    assert max_diff(ours, reference) <= 1e-6


@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"img_size": (32, 48), "patch_size": 2, "window_size": 4}, "smaller than the window along one axis"),
        ({"always_partition": True, "img_size": 32, "patch_size": 2, "window_size": 4}, "always_partition"),
        ({"global_pool": "max"}, "global_pool='max'"),
    ],
)
def test_unsupported_timm_features_are_refused_by_name(overrides, feature):
    with pytest.raises(ConversionError, match="uses features hf-vits' Swin does not implement") as error:
        convert_timm_model(tiny_timm(**overrides))
    assert feature in str(error.value)


def test_convert_timm_checkpoint_nested_under_model(tmp_path):
    timm_model = tiny_timm()
    checkpoint = tmp_path / "swin.pth"
    torch.save({"model": timm_model.state_dict()}, checkpoint)
    kwargs = {key: value for key, value in TINY_TIMM.items() if key != "num_classes"}
    output = convert("timm:swin_tiny_patch4_window7_224", tmp_path / "out", checkpoint=checkpoint, model_kwargs=kwargs)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooSwinForImageClassification and loaded.config.num_labels == 5
    with torch.no_grad():
        assert max_diff(loaded(pixel_values=pixels()).logits, timm_model(pixels())) <= TOLERANCE


# --- transformers --------------------------------------------------------------------------------------------------


def hf_swin(kind: str = "classifier", **overrides) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    config = transformers.SwinConfig(**{**TINY_HF, **overrides})
    model = transformers.SwinModel(config) if kind == "model" else transformers.SwinForImageClassification(config)
    return randomize(model).eval()


@pytest.mark.parametrize("size", [(64, 64), (60, 68)], ids=["configured", "padded"])
def test_transformers_classifier_matches(tmp_path, size):
    """Inputs that are no whole number of patches or windows are padded as transformers pads them."""
    hf_model = hf_swin()
    converted = load_transformers(save_hf(tmp_path, hf_model))
    assert type(converted.model) is hf_vits.ZooSwinForImageClassification
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE
    batch = pixels(*size)
    with torch.no_grad():
        assert max_diff(converted.model(pixel_values=batch).logits, hf_model(pixel_values=batch).logits) <= TOLERANCE


def test_transformers_bare_model_matches(tmp_path):
    hf_model = hf_swin("model", qkv_bias=False)
    model = load_transformers(save_hf(tmp_path, hf_model)).model
    assert type(model) is hf_vits.ZooSwinModel and not model.config.qkv_bias
    batch = pixels()
    with torch.no_grad():
        ours, theirs = model(pixel_values=batch), hf_model(pixel_values=batch)
    assert max_diff(ours.last_hidden_state, theirs.last_hidden_state) <= TOLERANCE
    assert max_diff(ours.pooler_output, theirs.pooler_output) <= TOLERANCE


def test_transformers_conversion_reads_the_legacy_names_on_disk(tmp_path):
    hf_model = hf_swin()
    on_disk = load_file(save_hf(tmp_path, hf_model) / "model.safetensors")
    prefix = "swin.encoder.layers.0.blocks.1.attention.self"
    assert f"{prefix}.query.weight" in on_disk and f"{prefix}.relative_position_bias_table" in on_disk
    model = load_transformers(tmp_path / "SwinForImageClassification").model
    qkv = model.swin.encoder.stages[0].blocks[1].attention.qkv.weight
    assert torch.equal(qkv, torch.cat([on_disk[f"{prefix}.{name}.weight"] for name in ("query", "key", "value")]))
    inverse = to_transformers_state_dict(model)
    assert inverse.keys() == on_disk.keys()
    assert all(torch.equal(inverse[key], on_disk[key]) for key in on_disk)


def test_to_transformers_model_reproduces_our_model():
    model = hf_vits.create_model(
        "swin-tiny-patch4-window7-224", embed_dim=8, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4], num_labels=4
    )
    model = randomize(model).eval()
    hf_model = to_transformers_model(model)
    assert type(hf_model) is transformers.SwinForImageClassification
    batch = pixels(224, 224, batch=1)
    with torch.no_grad():
        assert max_diff(model(pixel_values=batch).logits, hf_model(pixel_values=batch).logits) <= TOLERANCE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"layer_norm_eps": 1e-6}, "one epsilon for all"),
        ({"use_absolute_embeddings": True}, "absolute position embeddings"),
        ({"image_size": 32}, "smaller than its window"),
    ],
)
def test_transformers_configurations_without_equivalent_are_refused(tmp_path, overrides, message):
    config = transformers.SwinConfig(**{**TINY_HF, "window_size": 4, **overrides})
    folder = save_hf(tmp_path, transformers.SwinForImageClassification(config))
    with pytest.raises(ConversionError, match=message):
        load_transformers(folder)


# --- the original Microsoft layout ---------------------------------------------------------------------------------

SWIN_T = "swin-tiny-patch4-window7-224"


def original_relative_position_index(window: int) -> torch.Tensor:
    """The original `WindowAttention` buffer, by its definition: offsets (dy, dx) shifted to start at 0, dy scaled."""
    positions = [(row, col) for row in range(window) for col in range(window)]
    return torch.tensor(
        [
            [(yi - yj + window - 1) * (2 * window - 1) + (xi - xj + window - 1) for yj, xj in positions]
            for yi, xi in positions
        ]
    )


def original_layout(timm_state: dict[str, torch.Tensor], depths=(2, 2, 6, 2), maps=(56, 28, 14, 7), window=7) -> dict:
    """A state dict laid out as microsoft/Swin-Transformer's `SwinTransformer` saves it, made from a timm state dict:
    patch merging at the end of stage i (`layers.i.downsample`), the classifier as `head`, and the persistent
    buffers `attn.relative_position_index` (every block) and `attn_mask` (shifted blocks of maps larger than the
    window)."""
    state = {}
    for key, tensor in timm_state.items():
        parts = key.split(".")
        if parts[0] == "layers" and parts[2] == "downsample":
            parts[1] = str(int(parts[1]) - 1)
        if parts[:2] == ["head", "fc"]:
            parts = ["head", *parts[2:]]
        state[".".join(parts)] = tensor.clone()
    index = original_relative_position_index(window)
    for stage, (depth, size) in enumerate(zip(depths, maps, strict=True)):
        for block in range(depth):
            state[f"layers.{stage}.blocks.{block}.attn.relative_position_index"] = index.clone()
            if block % 2 == 1 and size > window:
                state[f"layers.{stage}.blocks.{block}.attn_mask"] = reference_shift_mask(
                    size, size, window, window // 2
                )
    return state


@pytest.fixture(scope="module")
def swin_t(tmp_path_factory) -> tuple[torch.nn.Module, dict, Path]:
    """A full-size Swin-T in timm with random weights, its original-layout state dict and that saved as the original
    repository does (`{"model": state_dict}` in a torch.save file)."""
    torch.manual_seed(0)
    timm_model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    randomize(timm_model, scale=0.02).eval()
    state = original_layout(timm_model.state_dict())
    checkpoint = tmp_path_factory.mktemp("original") / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": state}, checkpoint)
    return timm_model, state, checkpoint


def test_original_layout_has_the_reference_keys(swin_t):
    _, state, _ = swin_t
    assert "layers.0.downsample.reduction.weight" in state and "layers.3.downsample.reduction.weight" not in state
    assert state["layers.2.blocks.5.attn_mask"].shape == (4, 49, 49)
    assert "layers.3.blocks.1.attn_mask" not in state, "stage 4's 7x7 map is one window: no shift"
    assert state["head.weight"].shape == (1000, 768) and len(state) == 190


def test_convert_original_checkpoint(swin_t, tmp_path):
    timm_model, _, checkpoint = swin_t
    output = convert(f"original:{SWIN_T}", tmp_path / "out", checkpoint=checkpoint)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooSwinForImageClassification
    assert loaded.config.id2label[0] == "tench, Tinca tinca", "ImageNet's class names for a 1000-class head"
    processor = json.loads((output / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 256} and processor["crop_size"] == {"height": 224, "width": 224}
    batch = pixels(224, 224, batch=1)
    with torch.no_grad():
        logits, reference = loaded(pixel_values=batch).logits, timm_model(batch)
    assert reference.abs().max() > 0.1, "logits large enough for the comparison to mean something"
    assert max_diff(logits, reference) <= TOLERANCE


def test_original_checkpoint_is_verified_against_timm(swin_t):
    _, _, checkpoint = swin_t
    converted = load_original(SWIN_T, checkpoint)
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE


def test_original_checkpoint_with_a_missing_buffer(swin_t, tmp_path):
    _, state, _ = swin_t
    edited = {key: value for key, value in state.items() if key != "layers.1.blocks.1.attn_mask"}
    checkpoint = tmp_path / "edited.pth"
    torch.save({"model": edited}, checkpoint)
    with pytest.raises(ConversionError, match=r"missing keys \(1\): layers.1.blocks.1.attn_mask"):
        load_original(SWIN_T, checkpoint, verify=False)


def test_original_checkpoint_for_another_window(swin_t, tmp_path):
    _, state, _ = swin_t
    edited = {**state, "layers.0.blocks.0.attn.relative_position_index": original_relative_position_index(7).flip(0)}
    checkpoint = tmp_path / "edited.pth"
    torch.save({"model": edited}, checkpoint)
    with pytest.raises(ConversionError, match="not made for this configuration.*layers.0.blocks.0.attn.relative"):
        load_original(SWIN_T, checkpoint, verify=False)


def test_original_source_errors(tmp_path, swin_t):
    _, _, checkpoint = swin_t
    with pytest.raises(ConversionError, match=f"Supported: {SWIN_T}, swin-small"):
        convert("original:swin-tiny-patch4-window7-244", tmp_path / "out", checkpoint=checkpoint)
    with pytest.raises(ConversionError, match=f"no converter for the original checkpoints.*supported: {SWIN_T}"):
        convert("original:vit-base-patch16-224", tmp_path / "out", checkpoint=checkpoint)
    with pytest.raises(ConversionError, match="--checkpoint FILE"):
        convert(f"original:{SWIN_T}", tmp_path / "out")
    with pytest.raises(ValueError, match="'original:<variant>'"):
        convert("orig:swin", tmp_path / "out")
    assert not (tmp_path / "out").exists()
