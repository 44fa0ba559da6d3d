"""The Swin Transformer: the battery with the hierarchical shape hooks, plus windows, shifts, masks, padding, the
relative position table, the backbone and the feature-extraction pipeline."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec, as_pair
from PIL import Image
from transformers import AutoBackbone

import hf_vits
from hf_vits import (
    ZooSwinBackbone,
    ZooSwinConfig,
    ZooSwinForImageClassification,
    ZooSwinImageProcessor,
    ZooSwinImageProcessorPil,
    ZooSwinModel,
)
from hf_vits.modeling.swin.modeling_swin import relative_position_index, shifted_window_mask, window_partition

# 32 px, patch 2, window 4: two stages with 16x16 and 8x8 maps, both with regular and shifted (masked) windows
# and patch merging between them. Two stages keep the battery's sdpa-vs-eager comparison, on sharpened weights,
# within fp32 rounding of its tolerance, as two layers do for ViT (each further stage doubles the width and the
# hidden states' magnitude).
TINY_SWIN = {
    "image_size": 32,
    "patch_size": 2,
    "embed_dim": 8,
    "depths": [2, 2],
    "num_heads": [1, 2],
    "window_size": 4,
}
# Four stages on the same input: maps of 16, 8, 4 and 2 tokens a side. Stages 1 and 2 shift, stage 3 is exactly one
# window (no shift), stage 4's map is smaller than the window (the window shrinks to 2, and its table with it).
FOUR_STAGES = {"embed_dim": 16, "depths": [2, 2, 2, 1], "num_heads": [1, 2, 2, 4]}


@dataclass(frozen=True)
class SwinSpec(ArchitectureSpec):
    """Swin's outputs: tokens of the last stage, one hidden state per stage, per-window attention maps."""

    def resolutions(self, config: ZooSwinConfig, size=None) -> list[tuple[int, int]]:
        height, width = size or self.input_size(config)
        resolution = (math.ceil(height / config.patch_size), math.ceil(width / config.patch_size))
        resolutions = [resolution]
        for _ in config.depths[1:]:
            resolution = ((resolution[0] + 1) // 2, (resolution[1] + 1) // 2)
            resolutions.append(resolution)
        return resolutions

    def last_hidden_state_shape(self, config, batch_size, size=None):
        height, width = self.resolutions(config, size)[-1]
        return (batch_size, height * width, config.embed_dim * 2 ** (len(config.depths) - 1))

    def hidden_states_shapes(self, config, batch_size):
        """The embeddings, then each stage's output before patch merging."""
        resolutions = self.resolutions(config)
        shapes = [(batch_size, resolutions[0][0] * resolutions[0][1], config.embed_dim)]
        for index, (height, width) in enumerate(resolutions):
            shapes.append((batch_size, height * width, config.embed_dim * 2**index))
        return shapes

    def attention_shapes(self, config, batch_size):
        shapes = []
        for (height, width), depth, heads in zip(
            self.resolutions(config), config.depths, config.num_heads, strict=True
        ):
            window = min(config.window_size, height, width)
            windows = math.ceil(height / window) * math.ceil(width / window)
            shapes += [(batch_size * windows, heads, window * window, window * window)] * depth
        return shapes


SWIN = SwinSpec(
    name="swin",
    config_class=ZooSwinConfig,
    model_class=ZooSwinModel,
    classification_class=ZooSwinForImageClassification,
    processor_classes={"torchvision": ZooSwinImageProcessor, "pil": ZooSwinImageProcessorPil},
    tiny_config=TINY_SWIN,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("relative_position_bias_table",),
    invalid_configs=(
        ("num_heads", {"depths": [2, 2], "num_heads": [1, 2, 2, 4]}),
        ("num_heads", {"num_heads": [3, 2]}),
        ("depths", {"depths": [], "num_heads": []}),
        ("image_size", {"image_size": 33}),
        ("patch_size", {"patch_size": 0}),
        ("window_size", {"window_size": 0}),
        ("mlp_ratio", {"mlp_ratio": 0}),
        ("hidden_dropout_prob", {"hidden_dropout_prob": 1.5}),
        ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
        ("out_features", {"out_features": ["stage9"]}),
    ),
    round_trip_overrides={
        "image_size": (32, 48),
        "qkv_bias": False,
        "layer_norm_eps": 1e-6,
        "hidden_act": "gelu_new",
        "mlp_ratio": 2.0,
        "window_size": 2,
        "drop_path_rate": 0.1,
        "hidden_dropout_prob": 0.05,
        "attention_probs_dropout_prob": 0.02,
        "classifier_dropout_prob": 0.2,
        "initializer_range": 0.01,
        "out_features": ["stem", "stage2"],
    },
    deep_config_overrides={"depths": [2, 3]},
    extra_auto_classes={"AutoBackbone": ZooSwinBackbone},
)


class TestSwin(ArchitectureBattery):
    spec = SWIN


# --- windows, shifts and the relative position bias ---------------------------------------------------------------


def reference_shift_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """The paper's SW-MSA mask, built the slow way: label the nine regions of the shifted map by slicing, then
    forbid attention between tokens of a window whose labels differ."""
    labels = np.zeros((height, width))
    label = 0
    for rows in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for cols in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            labels[rows, cols] = label
            label += 1
    masks = []
    for top in range(0, height, window):
        for left in range(0, width, window):
            window_labels = labels[top : top + window, left : left + window].reshape(-1)
            masks.append(np.where(window_labels[:, None] == window_labels[None, :], 0.0, -100.0))
    return torch.tensor(np.stack(masks), dtype=torch.float32)


@pytest.mark.parametrize(("height", "width", "window"), [(8, 8, 4), (14, 14, 7), (12, 8, 4), (56, 56, 7)])
def test_shifted_window_mask_matches_the_paper(height, width, window):
    shift = window // 2
    mask = shifted_window_mask(height, width, window, shift, torch.device("cpu"), torch.float32)
    torch.testing.assert_close(mask, reference_shift_mask(height, width, window, shift), atol=0, rtol=0)
    # Only the last row and column of windows mix regions; every other window attends freely.
    masked_windows = {index for index in range(mask.shape[0]) if mask[index].any()}
    per_row = width // window
    expected = {
        index for index in range(mask.shape[0]) if index % per_row == per_row - 1 or index >= mask.shape[0] - per_row
    }
    assert masked_windows == expected


def test_relative_position_index_covers_every_offset_once():
    window = 3
    index = relative_position_index(window, window)
    assert index.shape == (9, 9)
    assert set(index.view(-1).tolist()) == set(range((2 * window - 1) ** 2)), "(2M-1)^2 distinct offsets"
    positions = [(row, col) for row in range(window) for col in range(window)]
    for i, (row_i, col_i) in enumerate(positions):
        for j, (row_j, col_j) in enumerate(positions):
            offset = (row_i - row_j + window - 1) * (2 * window - 1) + (col_i - col_j + window - 1)
            assert index[i, j] == offset
    # A smaller window reads the same offsets from a larger table.
    small, large = relative_position_index(2, 4), relative_position_index(4, 4)
    assert torch.equal(small, large[[0, 1, 4, 5]][:, [0, 1, 4, 5]])


def test_window_partition_round_trip():
    from hf_vits.modeling.swin.modeling_swin import window_merge

    maps = torch.arange(2 * 8 * 12 * 3.0).view(2, 8, 12, 3)
    windows = window_partition(maps, 4)
    assert windows.shape == (2, 6, 16, 3)
    assert torch.equal(windows[0, 1, 0], maps[0, 0, 4]), "windows in row-major order"
    assert torch.equal(window_merge(windows, 4, 8, 12), maps)


def test_blocks_alternate_regular_and_shifted_windows():
    """A token's output in a regular block depends on its window only; a shifted block mixes neighbouring windows."""
    model = SWIN.model(ZooSwinModel)
    first_stage = model.encoder.stages[0]
    maps = torch.randn(1, 16, 16, 8)
    with torch.no_grad():
        regular, _ = first_stage.blocks[0](maps, 4, 0)
        changed = maps.clone()
        changed[0, 0, 0, 0] += 1.0  # one channel of a token of the top-left window
        regular_changed, _ = first_stage.blocks[0](changed, 4, 0)
        shifted, _ = first_stage.blocks[1](maps, 4, 2, shifted_window_mask(16, 16, 4, 2, maps.device, maps.dtype))
        shifted_changed, _ = first_stage.blocks[1](
            changed, 4, 2, shifted_window_mask(16, 16, 4, 2, maps.device, maps.dtype)
        )
    moved = (regular_changed - regular).abs().sum(-1)[0] > 0
    assert moved[:4, :4].all() and not moved[4:].any() and not moved[:, 4:].any()
    moved_shifted = (shifted_changed - shifted).abs().sum(-1)[0] > 0
    # After the shift by 2, the token sits in the bottom-right window, with the tokens of the last rows and columns
    # that the cyclic shift brought next to it masked out: it reaches only rows and columns 0-1.
    assert moved_shifted[:2, :2].all() and not moved_shifted[2:, 2:].any() and not moved_shifted[-2:].any()


def test_window_shrinks_to_a_small_map_and_its_table_with_it():
    model = SWIN.model(ZooSwinModel, **FOUR_STAGES)
    tables = [stage.blocks[0].attention.relative_position_bias_table.shape for stage in model.encoder.stages]
    assert tables == [(49, 1), (49, 2), (49, 2), (9, 4)], "stage 4's 2x2 map gets a 2x2 window's table"


def test_smaller_input_reads_the_central_offsets_of_the_tables():
    """A 16 px input shrinks stage 3's and 4's windows below their tables: the model then reads the central part of
    each table, which is what a model built for 16 px, given those central parts, computes."""
    model = SWIN.model(**FOUR_STAGES)
    small = SWIN.model(image_size=16, **FOUR_STAGES)
    state = model.state_dict()
    for key, table in small.state_dict().items():
        if key.endswith("relative_position_bias_table") and table.shape != state[key].shape:
            side, small_side = math.isqrt(state[key].shape[0]), math.isqrt(table.shape[0])
            margin = (side - small_side) // 2
            grid = state[key].view(side, side, -1)[margin : margin + small_side, margin : margin + small_side]
            state = {**state, key: grid.reshape(table.shape)}
    small.load_state_dict(state)
    pixel_values = SWIN.pixel_values(model.config, size=(16, 16))
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values).logits, small(pixel_values).logits, atol=1e-6, rtol=1e-5)


def test_larger_window_than_the_table_is_a_clear_error():
    model = SWIN.model(**FOUR_STAGES)
    with pytest.raises(ValueError, match="table was built for 2x2 windows.*larger image_size"), torch.no_grad():
        model(SWIN.pixel_values(model.config, size=(64, 64)))


@pytest.mark.parametrize("size", [(30, 34), (36, 28), (20, 52)])
def test_sizes_not_divisible_by_patch_or_window_are_padded(size):
    model = SWIN.model(**FOUR_STAGES)
    with torch.no_grad():
        outputs = model(SWIN.pixel_values(model.config, size=size), output_hidden_states=True)
    assert outputs.logits.shape == (2, 5) and torch.isfinite(outputs.logits).all()
    expected = [shape[1] for shape in SWIN.hidden_states_shapes(model.config, 2)]
    resolutions = SWIN.resolutions(model.config, size)
    assert [h.shape[1] for h in outputs.hidden_states[1:]] == [h * w for h, w in resolutions]
    assert len(expected) == len(outputs.hidden_states)


def test_patch_merging_order_and_shape():
    """The four neighbours of each 2x2 block are concatenated top-left, bottom-left, top-right, bottom-right."""
    model = SWIN.model(ZooSwinModel, **FOUR_STAGES)
    merging = model.encoder.stages[0].downsample
    maps = torch.randn(1, 4, 6, 16)
    with torch.no_grad():
        merged = merging(maps)
        expected = torch.cat([maps[:, 0, 0], maps[:, 1, 0], maps[:, 0, 1], maps[:, 1, 1]], dim=-1)
        expected = merging.reduction(merging.norm(expected))
    assert merged.shape == (1, 2, 3, 32)
    torch.testing.assert_close(merged[:, 0, 0], expected)
    assert model.encoder.stages[-1].downsample is None, "no merging after the last stage"


def test_pooler_output_is_the_mean_token():
    model = SWIN.model(ZooSwinModel)
    with torch.no_grad():
        outputs = model(SWIN.pixel_values(model.config))
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state.mean(1))


def test_reference_initialisation():
    model = SWIN.model(initializer_range=0.02, **FOUR_STAGES)
    table = model.swin.encoder.stages[0].blocks[0].attention.relative_position_bias_table
    assert 0.01 < table.std() < 0.03, "std 0.02, as the reference's trunc_normal_(std=.02)"
    fc1 = model.swin.encoder.stages[1].blocks[0].mlp.fc1
    assert 0.01 < fc1.weight.std() < 0.03 and torch.count_nonzero(fc1.bias) == 0


def test_loading_recomputes_the_relative_position_index(tmp_path):
    model = SWIN.model(**FOUR_STAGES)
    model.save_pretrained(tmp_path)
    assert not any("relative_position_index" in key for key in model.state_dict()), "a non-persistent buffer"
    loaded = ZooSwinForImageClassification.from_pretrained(tmp_path)
    for stage in loaded.swin.encoder.stages:
        attention = stage.blocks[0].attention
        expected = relative_position_index(attention.table_window, attention.table_window)
        assert torch.equal(attention.relative_position_index, expected)


# --- backbone and feature extraction -------------------------------------------------------------------------------


def test_backbone_stage_selection_and_shapes():
    config = SWIN.config(out_features=["stem", "stage2", "stage4"], **FOUR_STAGES)
    assert config.out_indices == [0, 2, 4]
    torch.manual_seed(0)
    backbone = AutoBackbone.from_config(config).eval()
    assert type(backbone) is ZooSwinBackbone
    assert backbone.channels == [16, 32, 128]
    pixel_values = SWIN.pixel_values(config)
    with torch.no_grad():
        outputs = backbone(pixel_values, output_hidden_states=True)
    assert [tuple(f.shape) for f in outputs.feature_maps] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 128, 2, 2)]
    assert len(outputs.hidden_states) == 5 and outputs.hidden_states[3].shape == (2, 64, 4, 4)
    # Each feature map is its stage's map under the backbone's own norm for that stage.
    for feature, stage, index in zip(outputs.feature_maps, config.out_features, config.out_indices, strict=True):
        normed = backbone.hidden_states_norms[stage](outputs.hidden_states[index].permute(0, 2, 3, 1))
        torch.testing.assert_close(feature, normed.permute(0, 3, 1, 2))
    with torch.no_grad():
        plain = backbone(pixel_values)
        as_tuple = backbone(pixel_values, return_dict=False)
    assert plain.hidden_states is None
    for a, b in zip(as_tuple[0], plain.feature_maps, strict=True):
        assert torch.equal(a, b)


def test_backbone_by_indices_and_bad_stage():
    backbone = ZooSwinBackbone(SWIN.config(out_indices=[1, 3], **FOUR_STAGES))
    assert backbone.out_features == ["stage1", "stage3"]
    assert backbone.channels == [16, 64]
    with pytest.raises(ValueError, match="out_features"):
        SWIN.config(out_features=["stage3", "stage1"])


def test_backbone_loads_a_classifier_checkpoint(tmp_path):
    """(transformers 5's AutoBackbone.from_pretrained asks the Hub whether a local folder is a repo, and fails, so
    the folder is loaded through the class the auto_map names.)"""
    model = SWIN.model(**FOUR_STAGES)
    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoBackbone"] == "modeling_swin.ZooSwinBackbone"
    backbone, info = ZooSwinBackbone.from_pretrained(
        tmp_path, out_features=["stage1", "stage4"], output_loading_info=True
    )
    assert type(backbone) is ZooSwinBackbone
    assert sorted(info["missing_keys"]) == sorted(
        f"hidden_states_norms.{stage}.{kind}" for stage in ("stage1", "stage4") for kind in ("weight", "bias")
    )
    assert set(info["unexpected_keys"]) == {"classifier.bias", "classifier.weight"}
    pixel_values = SWIN.pixel_values(model.config)
    with torch.no_grad():
        hidden = model.swin(pixel_values, output_hidden_states=True).hidden_states
        features = backbone.eval()(pixel_values).feature_maps
    last = backbone.hidden_states_norms["stage4"](hidden[4].view(2, 2, 2, 128)).permute(0, 3, 1, 2)
    torch.testing.assert_close(features[1], last)


def test_backbone_feeds_a_segmentation_head():
    """transformers' UperNet builds its backbone from `backbone_config` through AutoBackbone and reads its channels."""
    from transformers import UperNetConfig, UperNetForSemanticSegmentation

    backbone_config = SWIN.config(out_features=["stage1", "stage2", "stage3", "stage4"], **FOUR_STAGES)
    config = UperNetConfig(backbone_config=backbone_config, hidden_size=16, auxiliary_in_channels=64, num_labels=3)
    torch.manual_seed(0)
    model = UperNetForSemanticSegmentation(config).eval()
    assert type(model.backbone) is ZooSwinBackbone and model.backbone.channels == [16, 32, 64, 128]
    with torch.no_grad():
        outputs = model(SWIN.pixel_values(backbone_config), labels=torch.zeros(2, 32, 32, dtype=torch.long))
    assert outputs.logits.shape == (2, 3, 32, 32) and torch.isfinite(outputs.loss)


# --- variants and processor ----------------------------------------------------------------------------------------


def test_swin_variant_figures():
    names = {v.name: v for v in hf_vits.list_variants("swin")}
    assert set(names) == {
        "swin-tiny-patch4-window7-224",
        "swin-small-patch4-window7-224",
        "swin-base-patch4-window7-224",
        "swin-base-patch4-window12-384",
        "swin-large-patch4-window7-224",
        "swin-large-patch4-window12-384",
    }
    paper = {  # Table 1: params (rounded to millions), GFLOPs, top-1
        "swin-tiny-patch4-window7-224": (28, 4.5, 81.2),
        "swin-small-patch4-window7-224": (50, 8.7, 83.2),
        "swin-base-patch4-window7-224": (88, 15.4, 83.5),
        "swin-base-patch4-window12-384": (88, 47.0, 84.5),
        "swin-large-patch4-window7-224": (197, 34.5, 86.3),
        "swin-large-patch4-window12-384": (197, 103.9, 87.3),
    }
    for name, (params, gflops, top1) in paper.items():
        variant = names[name]
        assert variant.params_m == pytest.approx(params, abs=0.5) and (variant.gflops, variant.top1) == (gflops, top1)
    base384 = hf_vits.create_config("swin-base-patch4-window12-384")
    assert (base384.window_size, base384.embed_dim, base384.depths) == (12, 128, [2, 2, 18, 2])
    with torch.device("meta"):
        model = hf_vits.create_model("swin-base-patch4-window12-384")
    tables = [stage.blocks[0].attention.relative_position_bias_table.shape[0] for stage in model.swin.encoder.stages]
    assert tables == [23 * 23] * 4, "384 px with window 12: every stage (96, 48, 24, 12) keeps the full window"


@pytest.mark.parametrize(
    ("variant", "resize", "crop"),
    [("swin-tiny-patch4-window7-224", 256, 224), ("swin-base-patch4-window12-384", None, 384)],
)
def test_processor_reproduces_the_reference_transform(photos, variant, resize, crop):
    """The reference `build_transform`: Resize(256) + CenterCrop(224) at 224 px, Resize((384, 384)) at 384 px,
    bicubic, ImageNet mean and std (here with torchvision's PIL transforms)."""
    from torchvision import transforms

    steps = [
        transforms.Resize(
            (crop, crop) if resize is None else resize, interpolation=transforms.InterpolationMode.BICUBIC
        )
    ]
    if resize is not None:
        steps.append(transforms.CenterCrop(crop))
    reference = transforms.Compose(
        [*steps, transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    )
    processor = hf_vits.create_image_processor(variant, backend="pil")
    for name, photo in photos.items():
        ours = torch.as_tensor(np.asarray(processor(photo, return_tensors="np").pixel_values[0]))
        expected = reference(photo)
        assert ours.shape == expected.shape == (3, crop, crop), name
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0, msg=name)
    grey = Image.fromarray(np.full((50, 70), 128, dtype=np.uint8))
    assert hf_vits.create_image_processor(variant)(grey, return_tensors="pt").pixel_values.shape == (1, 3, crop, crop)
    assert as_pair(hf_vits.create_config(variant).image_size) == (crop, crop)
