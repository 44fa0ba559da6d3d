"""LeViT conversion: timm's `levit_*` (linear and conv modes, with and without the distillation head, and back),
transformers' LevitForImageClassificationWithTeacher / LevitForImageClassification / LevitModel (and back), and the
authors' checkpoints (`original:levit-128s`), each compared on logits with random weights; and the fused model's
export."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import timm
import torch
import transformers
from conversion_helpers import max_diff, save_hf
from PIL import Image
from timm.data import create_transform, resolve_model_data_config
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.conversion import (
    ConversionError,
    convert,
    load_original,
    load_transformers,
    to_transformers_model,
)
from hf_vits.conversion.from_timm import convert_timm_model, timm_image_processor, to_timm_model

TOLERANCE = 1e-4
TINY_TIMM = {
    "embed_dim": (16, 24, 32),
    "key_dim": 8,
    "num_heads": (2, 3, 4),
    "depth": (1, 1, 2),
    "img_size": 128,
    "num_classes": 5,
}
TINY_HF = {
    "image_size": 128,
    "hidden_sizes": [16, 24, 32],
    "num_attention_heads": [2, 3, 4],
    "depths": [1, 1, 2],
    "key_dim": [8, 8, 8],
    "num_labels": 5,
}


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Redraw every parameter and the BatchNorms' running statistics (at their initial values a swapped or dropped
    tensor, or a BatchNorm scaled by 0 at the end of a residual branch, would go unnoticed)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.ndim == 1:
                param.copy_(1 + 0.2 * noise if name.endswith("weight") else 0.2 * noise)
            elif name.endswith("attention_biases"):
                param.copy_(noise)
            else:
                # Unit gain per layer: no normalisation between LeViT's blocks keeps a larger scale in check.
                param.copy_(noise / noise[0].numel() ** 0.5)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
    return model


def tiny_timm(name: str = "levit_128s", **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomize(timm.create_model(name, **{**TINY_TIMM, **overrides})).eval()


def pixels(height: int = 128, width: int = 128, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


# --- timm ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("levit_128s", {}), ("levit_128s", {"distilled": False}), ("levit_conv_128s", {})],
    ids=["distilled", "single-head", "conv-mode"],
)
def test_timm_logits_match(name, overrides):
    timm_model = tiny_timm(name, **overrides)
    model, processor = convert_timm_model(timm_model)
    assert type(model) is hf_vits.ZooLeViTForImageClassification
    assert type(processor) is hf_vits.ZooLeViTImageProcessor
    assert model.config.use_distillation_head is overrides.get("distilled", True)
    assert (model.config.key_dim, model.config.depths) == (8, [1, 1, 2])
    batch = pixels()
    with torch.no_grad():
        reference = timm_model(batch)
        assert reference.abs().max() > 0.1
        assert max_diff(model(pixel_values=batch).logits, reference) <= TOLERANCE
        assert max_diff(model.fuse()(pixel_values=batch).logits, reference) <= TOLERANCE


def test_timm_inverse():
    timm_model = tiny_timm()
    model, _ = convert_timm_model(timm_model)
    batch = pixels()
    rebuilt = to_timm_model(model)
    with torch.no_grad():
        assert max_diff(rebuilt(batch), timm_model(batch)) <= TOLERANCE
    with pytest.raises(ConversionError, match="convert the model before fusing it"):
        to_timm_model(model.fuse())


def test_timm_processor_reproduces_timm_eval_transform():
    from skimage import data as skimage_data

    image = Image.fromarray(skimage_data.chelsea())
    timm_model = timm.create_model("levit_128s", **{**TINY_TIMM, "img_size": 224})
    processor = timm_image_processor(timm_model)
    assert processor.size.shortest_edge == 248 and processor.crop_size.height == 224, "timm's crop_pct 0.9"
    reference = create_transform(**resolve_model_data_config(timm_model))(image)
    pil_processor = hf_vits.ZooLeViTImageProcessorPil(**processor.to_dict())
    ours = torch.as_tensor(np.asarray(pil_processor(image, return_tensors="np").pixel_values[0]))
    assert max_diff(ours, reference) <= 1e-6


@pytest.mark.parametrize(
    ("overrides", "feature"),
    [({"act_layer": "silu"}, "activations other than Hardswish"), ({"stem_type": "s8"}, "the stem Stem8")],
)
def test_unsupported_timm_features_are_refused_by_name(overrides, feature):
    with pytest.raises(ConversionError, match="uses features hf-vits' LeViT does not implement") as error:
        convert_timm_model(tiny_timm(**overrides))
    assert feature in str(error.value)


def test_convert_timm_checkpoint_nested_under_model(tmp_path):
    timm_model = tiny_timm()
    checkpoint = tmp_path / "levit.pth"
    torch.save({"model": timm_model.state_dict()}, checkpoint)
    kwargs = {key: value for key, value in TINY_TIMM.items() if key != "num_classes"}
    output = convert("timm:levit_128s", tmp_path / "out", checkpoint=checkpoint, model_kwargs=kwargs)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooLeViTForImageClassification and loaded.config.num_labels == 5
    with torch.no_grad():
        assert max_diff(loaded(pixel_values=pixels()).logits, timm_model(pixels())) <= TOLERANCE


# --- transformers -------------------------------------------------------------------------------------------------


def hf_levit(kind: str) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    return randomize(getattr(transformers, kind)(transformers.LevitConfig(**TINY_HF))).eval()


@pytest.mark.parametrize(
    "kind", ["LevitForImageClassificationWithTeacher", "LevitForImageClassification", "LevitModel"]
)
def test_transformers_logits_match(tmp_path, kind):
    hf_model = hf_levit(kind)
    converted = load_transformers(save_hf(tmp_path, hf_model))
    model = converted.model
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE
    batch = pixels()
    with torch.no_grad():
        ours, theirs = model(pixel_values=batch), hf_model(pixel_values=batch)
    if kind == "LevitModel":
        assert type(model) is hf_vits.ZooLeViTModel
        assert max_diff(ours.last_hidden_state, theirs.last_hidden_state) <= TOLERANCE
        return
    assert type(model) is hf_vits.ZooLeViTForImageClassification
    assert model.config.use_distillation_head is kind.endswith("WithTeacher")
    assert theirs.logits.abs().max() > 0.1
    assert max_diff(ours.logits, theirs.logits) <= TOLERANCE
    if kind.endswith("WithTeacher"):
        assert max_diff(ours.distillation_logits, theirs.distillation_logits) <= TOLERANCE
    # and back, through transformers' own from_pretrained
    with torch.no_grad():
        assert max_diff(to_transformers_model(model)(pixel_values=batch).logits, theirs.logits) <= TOLERANCE


def test_transformers_processor_resize_is_written_out(tmp_path):
    """transformers' LevitImageProcessor stores shortest_edge 224 and resizes to 256; ours stores the 256."""
    from skimage import data as skimage_data

    hf_processor = transformers.LevitImageProcessor()
    folder = save_hf(tmp_path, hf_levit("LevitForImageClassificationWithTeacher"), hf_processor)
    processor = load_transformers(folder).processor
    assert processor.size.shortest_edge == 256 and processor.crop_size.height == 224
    image = Image.fromarray(skimage_data.chelsea())
    expected = hf_processor(image, return_tensors="pt").pixel_values
    assert max_diff(processor(image, return_tensors="pt").pixel_values, expected) <= 1e-5


# --- the authors' checkpoints -------------------------------------------------------------------------------------


def original_state_dict(timm_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The authors' layout of a timm LeViT's weights, written out as their `levit.py` builds it: one flat list of
    residual blocks (attention, MLP, ..., shrink attention, MLP) and a stored bias index per attention."""
    state = timm_model.state_dict()
    out = {}

    def pair(theirs: str, ours: str, layer: str = "linear", norm: str = "bn") -> None:
        out[f"{theirs}.c.weight"] = state[f"{ours}.{layer}.weight"]
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            out[f"{theirs}.bn.{name}"] = state[f"{ours}.{norm}.{name}"]

    def biases(prefix: str, source: str, resolution: int, stride: int) -> None:
        out[f"{prefix}.attention_biases"] = state[f"{source}.attention_biases"]
        points = list(itertools.product(range(resolution), range(resolution)))
        queries = list(itertools.product(range((resolution - 1) // stride + 1), repeat=2))
        offsets, index = {}, []
        for query in queries:
            for key in points:
                offset = (abs(query[0] * stride - key[0]), abs(query[1] * stride - key[1]))
                index.append(offsets.setdefault(offset, len(offsets)))
        out[f"{prefix}.attention_bias_idxs"] = torch.tensor(index).view(len(queries), len(points))

    for index in range(4):
        pair(f"patch_embed.{2 * index}", f"stem.conv{index + 1}")
    block, resolution = 0, 14
    for stage_index, stage in enumerate(timm_model.stages):
        if stage_index > 0:
            source = f"stages.{stage_index}.downsample"
            pair(f"blocks.{block}.kv", f"{source}.attn_downsample.kv")
            pair(f"blocks.{block}.q.1", f"{source}.attn_downsample.q.ln")
            pair(f"blocks.{block}.proj.1", f"{source}.attn_downsample.proj.ln")
            biases(f"blocks.{block}", f"{source}.attn_downsample", resolution, 2)
            pair(f"blocks.{block + 1}.m.0", f"{source}.mlp.ln1")
            pair(f"blocks.{block + 1}.m.2", f"{source}.mlp.ln2")
            block, resolution = block + 2, (resolution - 1) // 2 + 1
        for layer in range(len(stage.blocks)):
            source = f"stages.{stage_index}.blocks.{layer}"
            pair(f"blocks.{block}.m.qkv", f"{source}.attn.qkv")
            pair(f"blocks.{block}.m.proj.1", f"{source}.attn.proj.ln")
            biases(f"blocks.{block}.m", f"{source}.attn", resolution, 1)
            pair(f"blocks.{block + 1}.m.0", f"{source}.mlp.ln1")
            pair(f"blocks.{block + 1}.m.2", f"{source}.mlp.ln2")
            block += 2
    for head in ("head", "head_dist"):
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            out[f"{head}.bn.{name}"] = state[f"{head}.bn.{name}"]
        out[f"{head}.l.weight"], out[f"{head}.l.bias"] = state[f"{head}.linear.weight"], state[f"{head}.linear.bias"]
    return out


@pytest.fixture(scope="module")
def levit_128s(tmp_path_factory):
    """A randomly initialised LeViT-128S in timm, and its weights in the authors' layout, saved as they save them."""
    torch.manual_seed(0)
    timm_model = randomize(timm.create_model("levit_128s")).eval()
    state = original_state_dict(timm_model)
    checkpoint = tmp_path_factory.mktemp("original") / "LeViT-128S.pth"
    torch.save({"model": state}, checkpoint)
    return timm_model, state, checkpoint


def test_convert_original_checkpoint(levit_128s, tmp_path):
    timm_model, _, checkpoint = levit_128s
    output = convert("original:levit-128s", tmp_path / "out", checkpoint=checkpoint)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooLeViTForImageClassification and loaded.config.use_distillation_head
    assert loaded.config.id2label[1] == "goldfish, Carassius auratus"
    processor = json.loads((output / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 256} and processor["crop_size"] == {"height": 224, "width": 224}
    batch = pixels(224, 224, batch=1)
    with torch.no_grad():
        reference = timm_model(batch)
        assert reference.abs().max() > 0.1
        assert max_diff(loaded(pixel_values=batch).logits, reference) <= TOLERANCE
    assert load_original("levit-128s", checkpoint).max_abs_diff is None, "nothing importable reads this layout"


def test_original_checkpoint_with_wrong_bias_indices_is_refused(levit_128s, tmp_path):
    _, state, _ = levit_128s
    broken = dict(state)
    broken["blocks.0.m.attention_bias_idxs"] = broken["blocks.0.m.attention_bias_idxs"].flip(0)
    checkpoint = tmp_path / "broken.pth"
    torch.save({"model": broken}, checkpoint)
    with pytest.raises(ConversionError, match=r"blocks\.0\.m\.attention_bias_idxs does not index"):
        load_original("levit-128s", checkpoint)
    del broken["blocks.0.m.attention_bias_idxs"]
    torch.save({"model": broken}, checkpoint)
    with pytest.raises(ConversionError, match=r"missing keys \(1\): blocks\.0\.m\.attention_bias_idxs"):
        load_original("levit-128s", checkpoint)


def test_original_checkpoint_of_another_variant_is_refused(levit_128s):
    _, _, checkpoint = levit_128s
    with pytest.raises(ConversionError, match="does not"):
        load_original("levit-128", checkpoint)
