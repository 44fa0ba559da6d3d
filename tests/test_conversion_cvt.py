"""CvT conversion: transformers' CvtForImageClassification (equal logits on random weights, its processor, the
inverse) and the original Microsoft checkpoint layout (`original:cvt-13-224`), checked against transformers' CvT
with the original's QuickGELU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from conversion_helpers import max_diff, save_hf
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification
from transformers.activations import QuickGELUActivation

import hf_vits
from hf_vits.conversion import (
    ConversionError,
    convert,
    load_original,
    load_transformers,
    to_transformers_model,
    to_transformers_state_dict,
)

TOLERANCE = 1e-4
# transformers' CvT indexes each stage's drop-path rates by the stage's index, so its stage i needs i + 1 blocks.
TINY_HF = {"embed_dim": [8, 16, 24], "num_heads": [1, 2, 3], "depth": [1, 2, 3], "num_labels": 5}


def randomize(model: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    """Redraw every parameter and the BatchNorms' running statistics (at their initial zeros and ones a swapped or
    dropped tensor would go unnoticed)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1 + 0.2 * noise if param.ndim == 1 and name.endswith("weight") else scale * noise)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
    return model


def hf_cvt(**overrides) -> transformers.CvtForImageClassification:
    torch.manual_seed(0)
    return randomize(transformers.CvtForImageClassification(transformers.CvtConfig(**{**TINY_HF, **overrides}))).eval()


def pixels(height: int = 64, width: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


# --- transformers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{}, {"qkv_bias": [False] * 3}, {"mlp_ratio": [2.0] * 3}],
    ids=["cvt", "no-qkv-bias", "mlp-ratio-2"],
)
def test_transformers_logits_match(tmp_path, overrides):
    hf_model = hf_cvt(**overrides)
    converted = load_transformers(save_hf(tmp_path, hf_model))
    model = converted.model
    assert type(model) is hf_vits.ZooCvTForImageClassification
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE
    assert model.config.hidden_act == "gelu", "transformers' port computes exact GELU"
    assert model.config.use_class_token and model.config.qkv_bias is overrides.get("qkv_bias", [True])[0]
    for size in ((64, 64), (72, 56)):
        batch = pixels(*size)
        with torch.no_grad():
            logits, reference = model(pixel_values=batch).logits, hf_model(pixel_values=batch).logits
        assert reference.abs().max() > 0.1
        assert max_diff(logits, reference) <= TOLERANCE


def test_transformers_names_on_disk_and_inverse(tmp_path):
    hf_model = hf_cvt()
    folder = save_hf(tmp_path, hf_model)
    on_disk = load_file(folder / "model.safetensors")
    key = "cvt.encoder.stages.1.layers.1.attention.attention.convolution_projection_key.convolution_projection"
    assert f"{key}.normalization.running_var" in on_disk and "layernorm.weight" in on_disk
    model = load_transformers(folder).model
    normalization = model.cvt.encoder.stages[1].layers[1].attention.conv_projection_key.normalization
    assert torch.equal(normalization.running_var, on_disk[f"{key}.normalization.running_var"])
    inverse = to_transformers_state_dict(model)
    assert inverse.keys() == on_disk.keys()
    assert all(torch.equal(inverse[name], on_disk[name]) for name in on_disk)
    hf_again = to_transformers_model(model)
    with torch.no_grad():
        assert max_diff(hf_again(pixel_values=pixels()).logits, hf_model(pixel_values=pixels()).logits) <= TOLERANCE


def test_transformers_convnext_processor_crop_pct_carries_over(tmp_path):
    """transformers' CvT checkpoints come with ConvNext's processor, which resizes to size / crop_pct and crops."""
    hf_processor = transformers.ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875)
    processor = load_transformers(save_hf(tmp_path, hf_cvt(), hf_processor)).processor
    assert isinstance(processor, hf_vits.ZooCvTImageProcessor)
    assert processor.size.shortest_edge == 256 and processor.crop_size.height == 224 and processor.do_center_crop
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    expected = hf_processor(image, return_tensors="pt").pixel_values
    assert max_diff(processor(image, return_tensors="pt").pixel_values, expected) <= 2 / 255 / 0.224


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"qkv_projection_method": ["dw_bn", "avg", "dw_bn"]}, "only 'dw_bn'"),
        ({"stride_kv": [2, 2, 1]}, "stride_kv differing between stages"),
        ({"cls_token": [True, False, True]}, "class tokens before the last stage"),
        ({"cls_token": [False, False, False]}, "no class token in the last stage"),
    ],
)
def test_transformers_configurations_without_equivalent_are_refused(tmp_path, overrides, message):
    folder = save_hf(tmp_path, transformers.CvtForImageClassification(transformers.CvtConfig(**TINY_HF, **overrides)))
    with pytest.raises(ConversionError, match=message):
        load_transformers(folder)


def test_bare_transformers_model_is_refused(tmp_path):
    folder = save_hf(tmp_path, transformers.CvtModel(transformers.CvtConfig(**TINY_HF)))
    with pytest.raises(ConversionError, match="CvtModel cannot be converted faithfully: it has no final LayerNorm"):
        load_transformers(folder)


def test_inverse_refuses_the_reference_activation():
    with torch.device("meta"):
        model = hf_vits.create_model("cvt-13-224")
    with pytest.raises(ConversionError, match="'quick_gelu'"):
        to_transformers_model(model)


# --- the original Microsoft layout ---------------------------------------------------------------------------------

CVT_13 = "cvt-13-224"


def original_layout(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict laid out as microsoft/CvT's `ConvolutionalVisionTransformer` saves it, made from transformers'
    CvtForImageClassification one: `stage{i}.patch_embed`, `stage{i}.blocks.{j}` with `attn.conv_proj_{q,k,v}`
    (`conv`, `bn`), `attn.proj_{q,k,v}`, `attn.proj`, `norm1`, `norm2`, `mlp.fc1`, `mlp.fc2`, then `norm` and
    `head`."""
    renames = [
        ("cvt.encoder.stages.", "stage"),
        (".embedding.convolution_embeddings.projection", ".patch_embed.proj"),
        (".embedding.convolution_embeddings.normalization", ".patch_embed.norm"),
        (".layers.", ".blocks."),
        (".attention.attention.convolution_projection_query.convolution_projection.", ".attn.conv_proj_q."),
        (".attention.attention.convolution_projection_key.convolution_projection.", ".attn.conv_proj_k."),
        (".attention.attention.convolution_projection_value.convolution_projection.", ".attn.conv_proj_v."),
        (".convolution.", ".conv."),
        (".normalization.", ".bn."),
        (".attention.attention.projection_query.", ".attn.proj_q."),
        (".attention.attention.projection_key.", ".attn.proj_k."),
        (".attention.attention.projection_value.", ".attn.proj_v."),
        (".attention.output.dense.", ".attn.proj."),
        (".layernorm_before.", ".norm1."),
        (".layernorm_after.", ".norm2."),
        (".intermediate.dense.", ".mlp.fc1."),
        (".output.dense.", ".mlp.fc2."),
    ]
    state = {}
    for key, tensor in hf_state.items():
        for old, new in renames:
            key = key.replace(old, new)
        key = {"layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias"}.get(key, key)
        key = {"classifier.weight": "head.weight", "classifier.bias": "head.bias"}.get(key, key)
        state[key] = tensor.clone()
    return state


@pytest.fixture(scope="module")
def cvt_13(tmp_path_factory) -> tuple[torch.nn.Module, dict, Path]:
    """transformers' CvT-13 with random weights and the original's QuickGELU (which makes it the original model),
    its original-layout state dict, and that saved as a torch.save file."""
    torch.manual_seed(0)
    hf_model = transformers.CvtForImageClassification(transformers.CvtConfig(num_labels=1000))
    randomize(hf_model, scale=0.02).eval()
    for stage in hf_model.cvt.encoder.stages:
        for layer in stage.layers:
            layer.intermediate.activation = QuickGELUActivation()
    state = original_layout(hf_model.state_dict())
    checkpoint = tmp_path_factory.mktemp("original") / "CvT-13-224x224-IN-1k.pth"
    torch.save(state, checkpoint)
    return hf_model, state, checkpoint


def test_original_layout_has_the_reference_keys(cvt_13):
    _, state, _ = cvt_13
    assert {"stage0.patch_embed.proj.weight", "stage2.cls_token", "norm.weight", "head.weight"} <= state.keys()
    assert state["stage2.blocks.9.attn.conv_proj_v.bn.num_batches_tracked"].shape == ()
    assert state["stage1.blocks.1.attn.conv_proj_q.conv.weight"].shape == (192, 1, 3, 3)
    assert not any(key.startswith(("cvt.", "classifier", "layernorm")) for key in state)


def test_convert_original_checkpoint(cvt_13, tmp_path):
    hf_model, _, checkpoint = cvt_13
    output = convert(f"original:{CVT_13}", tmp_path / "out", checkpoint=checkpoint)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooCvTForImageClassification
    assert loaded.config.hidden_act == "quick_gelu" and loaded.config.id2label[1] == "goldfish, Carassius auratus"
    processor = json.loads((output / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 256} and processor["crop_size"] == {"height": 224, "width": 224}
    batch = pixels(224, 224, batch=1)
    with torch.no_grad():
        logits, reference = loaded(pixel_values=batch).logits, hf_model(pixel_values=batch).logits
    assert reference.abs().max() > 0.1
    assert max_diff(logits, reference) <= TOLERANCE


def test_original_checkpoint_is_checked_not_verified(cvt_13):
    _, _, checkpoint = cvt_13
    converted = load_original(CVT_13, checkpoint)
    assert converted.max_abs_diff is None, "nothing importable reads the original CvT layout"


def test_original_checkpoint_with_a_missing_running_mean(cvt_13, tmp_path):
    _, state, _ = cvt_13
    missing = "stage1.blocks.0.attn.conv_proj_k.bn.running_mean"
    checkpoint = tmp_path / "edited.pth"
    torch.save({"model": {key: value for key, value in state.items() if key != missing}}, checkpoint)
    with pytest.raises(ConversionError, match=rf"missing keys \(1\): {missing}"):
        load_original(CVT_13, checkpoint)


def test_original_checkpoint_of_another_size(cvt_13, tmp_path):
    """A CvT-21 checkpoint named as CvT-13: blocks CvT-13 does not have."""
    _, state, _ = cvt_13
    extra = {key.replace("blocks.9.", "blocks.10."): value for key, value in state.items() if ".blocks.9." in key}
    checkpoint = tmp_path / "cvt21.pth"
    torch.save({**state, **extra}, checkpoint)
    with pytest.raises(ConversionError, match=r"unexpected keys \(\d+\): stage2.blocks.10."):
        load_original(CVT_13, checkpoint)


def test_original_source_accepts_the_papers_short_name(cvt_13, tmp_path):
    """`original:cvt-13`, as the paper names the model, is the 224-pixel CvT-13."""
    _, _, checkpoint = cvt_13
    folder = convert("original:cvt-13", tmp_path / "out", checkpoint=checkpoint)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "hfvits_cvt" and config["image_size"] == 224


def test_original_source_names_the_cvt_variants(tmp_path, cvt_13):
    _, _, checkpoint = cvt_13
    with pytest.raises(ConversionError, match="Unknown variant 'cvt-14'.*Supported:.*cvt-13-224"):
        convert("original:cvt-14", tmp_path / "out", checkpoint=checkpoint)
