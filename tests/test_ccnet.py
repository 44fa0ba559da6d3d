"""CCNet: the battery on the image classifier (RCCA on the last stage), criss-cross attention against its
definition (an explicit loop and dense masked attention), its memory at 97x97, and the semantic segmenter (shapes
at 1/8, the two-head loss with ignore index 255, save/load, Auto class, pipeline, remote code, the variant)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from battery import LABELS, ArchitectureBattery, ArchitectureSpec
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation, pipeline

import hf_vits
from hf_vits import (
    ZooCCNetConfig,
    ZooCCNetForImageClassification,
    ZooCCNetForSemanticSegmentation,
    ZooCCNetImageProcessor,
    ZooCCNetImageProcessorPil,
    ZooCCNetModel,
)
from hf_vits.modeling.ccnet.modeling_ccnet import ZooCCNetCrissCrossAttention
from hf_vits.modeling.ccnet.variants import IMAGENET_PROCESSOR

# 32 px with the authors' deep stem and dilations (output stride 8): 16 -> 9 (ceil-mode pool) -> 9, 5, 5, 5.
TINY_CCNET = {
    "image_size": 32,
    "embedding_size": 8,
    "hidden_sizes": [16, 32, 64, 128],
    "depths": [1, 1, 2, 1],
    "head_hidden_size": 32,
}


def _conv_out(size: int) -> int:
    """A 3x3 (or 7x7, padded 3) stride-2 convolution's output side."""
    return (size - 1) // 2 + 1


def _pool_out(size: int, ceil_mode: bool) -> int:
    """The 3x3 stride-2 max-pool's output side (padding 1); in ceil mode the last window must start inside."""
    if not ceil_mode:
        return (size - 1) // 2 + 1
    out = math.ceil((size - 1) / 2) + 1
    return out - 1 if (out - 1) * 2 >= size + 1 else out


@dataclass(frozen=True)
class CCNetSpec(ArchitectureSpec):
    """CCNet's outputs: (B, C, H, W) maps per stage, and one (B, H, W, H + W) map per recurrence."""

    def input_size(self, config):
        return (config.image_size, config.image_size)

    def processor(self, backend: str = "torchvision"):
        """The classifier's processor: the ImageNet ResNets' evaluation transform, scaled to the tiny model (the
        registry's variant is the segmenter, whose processor feeds 0..255 pixels)."""
        size = self.input_size(self.config())[0]
        scaled = {"size": {"shortest_edge": size * 8 // 7}, "crop_size": {"height": size, "width": size}}
        return self.processor_classes[backend](**{**IMAGENET_PROCESSOR, **scaled})

    def resolutions(self, config: ZooCCNetConfig, size=None) -> list[tuple[int, int]]:
        """The stem's output side, then each stage's."""
        sides = []
        for side in size or self.input_size(config):
            side = _pool_out(_conv_out(side), config.stem_type == "deep")
            stage_sides = [side]
            for stage, dilation in enumerate(config.dilations):
                if stage > 0 and dilation == 1:
                    side = _conv_out(side)
                stage_sides.append(side)
            sides.append(stage_sides)
        return list(zip(*sides, strict=True))

    def last_hidden_state_shape(self, config, batch_size, size=None):
        return (batch_size, config.hidden_sizes[-1], *self.resolutions(config, size)[-1])

    def pooler_output_shape(self, config, batch_size):
        return (batch_size, config.hidden_sizes[-1])

    def hidden_states_shapes(self, config, batch_size):
        channels = [config.stem_channels, *config.hidden_sizes]
        return [(batch_size, c, *r) for c, r in zip(channels, self.resolutions(config), strict=True)]

    def attention_shapes(self, config, batch_size):
        height, width = self.resolutions(config)[-1]
        return [(batch_size, height, width, height + width)] * config.recurrence


SPEC = CCNetSpec(
    name="ccnet",
    config_class=ZooCCNetConfig,
    model_class=ZooCCNetModel,
    classification_class=ZooCCNetForImageClassification,
    processor_classes={"torchvision": ZooCCNetImageProcessor, "pil": ZooCCNetImageProcessorPil},
    tiny_config=TINY_CCNET,
    uses_attention_interface=False,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("gamma", "bn1.weight"),
    invalid_configs=(
        ("stem_type", {"stem_type": "wide"}),
        ("hidden_sizes", {"hidden_sizes": [16, 32, 64]}),
        ("hidden_sizes", {"hidden_sizes": [16, 32, 64, 126]}),
        ("dilations", {"dilations": [2, 1, 1, 1]}),
        ("dilations", {"dilations": [1, 1, 4, 2]}),
        ("attention_reduction", {"attention_reduction": 256}),
        ("recurrence", {"recurrence": 0}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("head_dropout_prob", {"head_dropout_prob": -0.1}),
        ("auxiliary_loss_weight", {"auxiliary_loss_weight": -0.4}),
    ),
    round_trip_overrides={"recurrence": 1, "stem_type": "standard", "dilations": [1, 1, 1, 2], "drop_path_rate": 0.1},
    deep_config_overrides={"depths": [2, 2, 2, 2]},
    # The registry's variant is the segmenter: its checks are below.
    check_variants=False,
    extra_auto_classes={"AutoModelForSemanticSegmentation": ZooCCNetForSemanticSegmentation},
)


def with_gamma(model: nn.Module, value: float = 0.7) -> nn.Module:
    """Give every criss-cross attention a non-zero residual weight (it starts at 0, the identity)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ZooCCNetCrissCrossAttention):
                module.gamma.fill_(value)
    return model


class TestCCNet(ArchitectureBattery):
    spec = SPEC

    # Criss-cross attention is no dense dot-product attention: it has one implementation, the default "eager".
    @pytest.mark.parametrize("attn_implementation", ["eager"])
    def test_output_attentions(self, attn_implementation):
        super().test_output_attentions(attn_implementation)

    def test_create_model_honours_overrides(self):
        """The registry's variant is the authors' segmenter; overrides reach it."""
        with torch.device("meta"):
            model = hf_vits.create_model("ccnet-resnet101", num_labels=10, drop_path_rate=0.1)
        assert type(model) is ZooCCNetForSemanticSegmentation
        assert model.config.num_labels == 10 and len(model.config.id2label) == 10
        assert model.decode_head.classifier.out_channels == 10
        assert model.auxiliary_head.classifier.out_channels == 10
        rates = [m.drop_prob for m in model.modules() if type(m).__name__.endswith("DropPath")]
        assert max(rates) == pytest.approx(0.1)


# ------------------------------------------------------------------------------------- criss-cross attention


def loop_criss_cross(module: ZooCCNetCrissCrossAttention, hidden_states: torch.Tensor) -> torch.Tensor:
    """One criss-cross attention by its definition, position by position: a softmax over the position's column
    (without itself) and its row (with itself), γ · the weighted values + the input."""
    query, key, value = module.query(hidden_states), module.key(hidden_states), module.value(hidden_states)
    batch, _, height, width = hidden_states.shape
    output = torch.empty_like(hidden_states)
    for b in range(batch):
        for h in range(height):
            for w in range(width):
                positions = [(i, w) for i in range(height) if i != h] + [(h, j) for j in range(width)]
                assert len(positions) == height + width - 1
                keys = torch.stack([key[b, :, i, j] for i, j in positions])
                values = torch.stack([value[b, :, i, j] for i, j in positions])
                weights = (keys @ query[b, :, h, w]).softmax(0)
                output[b, :, h, w] = module.gamma * (weights @ values) + hidden_states[b, :, h, w]
    return output


def dense_masked_attention(module: ZooCCNetCrissCrossAttention, hidden_states: torch.Tensor) -> torch.Tensor:
    """Dense softmax attention over all HW positions with a mask keeping each position's row and column."""
    batch, channels, height, width = hidden_states.shape
    query = module.query(hidden_states).flatten(2).transpose(1, 2)
    key = module.key(hidden_states).flatten(2)
    value = module.value(hidden_states).flatten(2).transpose(1, 2)
    rows = torch.arange(height).repeat_interleave(width)
    cols = torch.arange(width).repeat(height)
    keep = (rows[:, None] == rows[None, :]) | (cols[:, None] == cols[None, :])
    scores = (query @ key).masked_fill(~keep, float("-inf"))
    context = (scores.softmax(-1) @ value).transpose(1, 2).reshape(batch, channels, height, width)
    return module.gamma * context + hidden_states


@pytest.fixture
def attention() -> ZooCCNetCrissCrossAttention:
    torch.manual_seed(0)
    config = ZooCCNetConfig(**TINY_CCNET)
    module = ZooCCNetCrissCrossAttention(config, 16).eval()
    for conv in (module.query, module.key, module.value):
        nn.init.normal_(conv.weight, std=0.5)
        nn.init.normal_(conv.bias, std=0.5)
    return with_gamma(module)


def test_criss_cross_attention_matches_its_definition(attention):
    hidden_states = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        output, probabilities = attention.attend(hidden_states)
        expected = loop_criss_cross(attention, hidden_states)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)
    # The position itself has weight 0 in its column part: counted once, in its row.
    column = probabilities[..., :5]
    assert torch.all(column.diagonal(dim1=1, dim2=3) == 0)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(2, 5, 7))


def test_criss_cross_attention_equals_dense_masked_attention(attention):
    hidden_states = torch.randn(2, 16, 6, 9)
    with torch.no_grad():
        output, _ = attention.attend(hidden_states)
        torch.testing.assert_close(output, dense_masked_attention(attention, hidden_states), atol=1e-5, rtol=1e-5)


def test_recurrence_shares_weights(attention):
    hidden_states = torch.randn(1, 16, 4, 5)
    with torch.no_grad():
        output, maps = attention(hidden_states)
        once, first = attention.attend(hidden_states)
        twice, second = attention.attend(once)
    assert attention.recurrence == 2 and len(maps) == 2
    torch.testing.assert_close(output, twice, atol=0, rtol=0)
    torch.testing.assert_close(maps[0], first, atol=0, rtol=0)
    torch.testing.assert_close(maps[1], second, atol=0, rtol=0)


class LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for tensor in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return result


def test_criss_cross_memory_at_97x97_is_linear_in_row_plus_column():
    """At CCNet's 97x97 map (769 px / 8), no intermediate of the criss-cross attention is larger than its
    (B, H, W, H + W) weights or its input: nothing of the (HW)² map of dense attention (48x larger) is built."""
    config = ZooCCNetConfig(**TINY_CCNET)
    module = ZooCCNetCrissCrossAttention(config, 16).eval()
    side, channels = 97, 16
    hidden_states = torch.randn(1, channels, side, side)
    largest = LargestTensor()
    with torch.no_grad(), largest:
        module(hidden_states)
    positions = side * side
    assert largest.largest == max(positions * (2 * side), channels * positions)
    assert positions**2 / largest.largest > 48


# ------------------------------------------------------------------------------------------------ segmenter


def segmenter(seed: int = 0, **overrides) -> ZooCCNetForSemanticSegmentation:
    return SPEC.model(ZooCCNetForSemanticSegmentation, seed=seed, **overrides)


def test_segmenter_logits_are_at_one_eighth():
    model = segmenter()
    for side in (32, 64, 769 // 8):
        with torch.no_grad():
            outputs = model(torch.randn(1, 3, side, side), output_hidden_states=True, output_attentions=True)
        map_side = SPEC.resolutions(model.config, (side, side))[-1][0]
        assert outputs.logits.shape == (1, len(LABELS), map_side, map_side)
        assert [tuple(a.shape) for a in outputs.attentions] == [(1, map_side, map_side, 2 * map_side)] * 2
        assert len(outputs.hidden_states) == 5
    # The authors' 769 px crops give the 97x97 map of the paper.
    assert SPEC.resolutions(hf_vits.create_config("ccnet-resnet101"))[-1] == (97, 97)


def test_segmenter_loss_is_head_plus_04_auxiliary_with_ignore_index():
    model = segmenter()
    pixel_values = torch.randn(2, 3, 32, 32)
    labels = torch.randint(0, len(LABELS), (2, 32, 32), generator=torch.Generator().manual_seed(0))
    labels[:, :8] = 255
    with torch.no_grad():
        outputs = model(pixel_values, labels=labels, output_hidden_states=True)
        auxiliary = model.auxiliary_head(outputs.hidden_states[-2])

    def cross_entropy(logits):
        upsampled = nn.functional.interpolate(logits, size=(32, 32), mode="bilinear", align_corners=True)
        per_pixel = nn.functional.cross_entropy(upsampled, labels.clamp(max=len(LABELS) - 1), reduction="none")
        kept = labels != 255
        return per_pixel[kept].mean()

    expected = cross_entropy(outputs.logits) + 0.4 * cross_entropy(auxiliary)
    torch.testing.assert_close(outputs.loss, expected)
    # Ignored pixels change nothing.
    relabelled = labels.clone()
    relabelled[:, :8] = 0
    with torch.no_grad():
        assert not torch.allclose(model(pixel_values, labels=relabelled).loss, outputs.loss)
    with pytest.raises(ValueError, match="num_labels"):
        segmenter(num_labels=1)(pixel_values, labels=labels.clamp(max=0))


def test_segmenter_trains_every_parameter():
    model = with_gamma(segmenter()).train()
    labels = torch.randint(0, len(LABELS), (2, 32, 32))
    model(torch.randn(2, 3, 32, 32), labels=labels).loss.backward()
    without = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not without, without


def test_segmenter_return_dict_false():
    model = segmenter()
    pixel_values = torch.randn(1, 3, 32, 32)
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    with torch.no_grad():
        as_dict = model(pixel_values, labels=labels, output_attentions=True, output_hidden_states=True)
        as_tuple = model(
            pixel_values, labels=labels, output_attentions=True, output_hidden_states=True, return_dict=False
        )
    assert torch.equal(as_tuple[0], as_dict.loss) and torch.equal(as_tuple[1], as_dict.logits)
    assert len(as_tuple[2]) == len(as_dict.hidden_states) and len(as_tuple[3]) == 2


def test_segmenter_variant_parameters_and_registry():
    variant = hf_vits.get_variant("ccnet-resnet101")
    assert variant.task == "semantic-segmentation" and variant.resolution == 769
    with torch.device("meta"):
        model = hf_vits.create_model("ccnet-resnet101")
    assert type(model) is ZooCCNetForSemanticSegmentation
    assert model.config.num_labels == 19 and model.config.id2label[0] == "road"
    assert sum(p.numel() for p in model.parameters()) == 71_287_911
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == variant.params_m
    assert hf_vits.ARCHITECTURES["ccnet"].segmentation_class is ZooCCNetForSemanticSegmentation
    config = model.config
    assert (config.stem_type, config.depths, config.dilations, config.recurrence) == (
        "deep",
        [3, 4, 23, 3],
        [1, 1, 2, 4],
        2,
    )
    assert config.output_stride == 8
    processor = hf_vits.create_image_processor("ccnet-resnet101")
    assert type(processor) is ZooCCNetImageProcessor and not processor.do_resize


def test_processor_subtracts_the_authors_mean_in_rgb(chelsea):
    """The authors' input is the BGR image minus (104.008, 116.669, 122.675), at full size, unscaled: ours is the same
    in RGB order (the converter reorders the first convolution's channels)."""
    bgr = np.asarray(chelsea, dtype=np.float32)[:, :, ::-1] - np.array([104.00698793, 116.66876762, 122.67891434])
    expected = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None]
    for processor in (ZooCCNetImageProcessor(), ZooCCNetImageProcessorPil()):
        pixel_values = processor(chelsea, return_tensors="pt").pixel_values
        torch.testing.assert_close(pixel_values, expected, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ccnet-segmenter")
    model = with_gamma(segmenter())
    model.save_pretrained(folder)
    hf_vits.create_image_processor("ccnet-resnet101").save_pretrained(folder)
    return folder, model


def test_segmenter_save_load_and_auto_class(saved_segmenter):
    folder, model = saved_segmenter
    pixel_values = torch.randn(2, 3, 32, 32)
    loaded, info = AutoModelForSemanticSegmentation.from_pretrained(folder, output_loading_info=True)
    assert type(loaded) is ZooCCNetForSemanticSegmentation
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values).logits, model(pixel_values).logits)
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForSemanticSegmentation"] == "modeling_ccnet.ZooCCNetForSemanticSegmentation"
    # The base model of a segmenter's folder is its trunk (the RCCA of the classifier starts as the identity).
    trunk = AutoModel.from_pretrained(folder)
    with torch.no_grad():
        features = trunk(pixel_values, output_hidden_states=True).hidden_states[-1]
        expected = model.ccnet(pixel_values).last_hidden_state
    torch.testing.assert_close(features, expected, atol=0, rtol=0)


def test_post_process_semantic_segmentation(saved_segmenter):
    folder, model = saved_segmenter
    processor = AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 32, 32))
    maps = processor.post_process_semantic_segmentation(outputs, target_sizes=[(40, 50), (32, 32)])
    assert [tuple(m.shape) for m in maps] == [(40, 50), (32, 32)]
    upsampled = nn.functional.interpolate(outputs.logits[:1], size=(40, 50), mode="bilinear", align_corners=True)
    assert torch.equal(maps[0], upsampled[0].argmax(0))
    at_logits = processor.post_process_semantic_segmentation(outputs)
    assert torch.equal(at_logits[1], outputs.logits[1].argmax(0))
    with pytest.raises(ValueError, match="target sizes"):
        processor.post_process_semantic_segmentation(outputs, target_sizes=[(4, 4)])


def test_image_segmentation_pipeline(saved_segmenter, chelsea):
    """One mask per class present, together covering the photo, each the pixels where the class is the argmax."""
    folder, model = saved_segmenter
    segment = pipeline("image-segmentation", model=str(folder))
    assert type(segment.model) is ZooCCNetForSemanticSegmentation
    results = segment(chelsea)
    processor = AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        outputs = model(**processor(chelsea, return_tensors="pt"))
    expected = processor.post_process_semantic_segmentation(outputs, target_sizes=[chelsea.size[::-1]])[0]
    present = sorted(expected.unique().tolist())
    assert len(present) > 1, "a single class everywhere tests little"
    assert [r["label"] for r in results] == [model.config.id2label[i] for i in present]
    coverage = np.zeros(chelsea.size[::-1], dtype=int)
    for result, index in zip(results, present, strict=True):
        mask = np.asarray(result["mask"]) > 0
        assert mask.shape == chelsea.size[::-1]
        assert np.array_equal(mask, expected.numpy() == index)
        coverage += mask
    assert (coverage == 1).all()


REMOTE_SEGMENTER_PROBE = textwrap.dedent(
    """
    import sys
    sys.modules["hf_vits"] = None
    import json
    import torch
    from PIL import Image
    from transformers import AutoModelForSemanticSegmentation, pipeline

    folder, workdir, photo = sys.argv[1:4]
    torch.set_num_threads(1)
    model = AutoModelForSemanticSegmentation.from_pretrained(folder, trust_remote_code=True).eval()
    expected = torch.load(f"{workdir}/expected.pt", weights_only=True)
    with torch.no_grad():
        logits = model(expected["pixel_values"]).logits
    segment = pipeline("image-segmentation", model=folder, trust_remote_code=True)
    results = segment(Image.open(photo))
    torch.save({"logits": logits}, f"{workdir}/remote.pt")
    report = {
        "model": [type(model).__name__, type(model).__module__],
        "labels": [r["label"] for r in results],
        "hf_vits": sorted(n for n, m in sys.modules.items() if n.startswith("hf_vits") and m is not None),
    }
    print(json.dumps(report))
    """
)


def test_segmenter_remote_code(saved_segmenter, chelsea, tmp_path):
    """The saved segmenter loads and segments in a process where hf_vits cannot be imported."""
    folder, model = saved_segmenter
    pixel_values = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(pixel_values).logits
    torch.save({"pixel_values": pixel_values}, tmp_path / "expected.pt")
    chelsea.save(tmp_path / "photo.png")
    local_labels = [r["label"] for r in pipeline("image-segmentation", model=str(folder))(chelsea)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SEGMENTER_PROBE, str(folder), str(tmp_path), str(tmp_path / "photo.png")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"][0] == "ZooCCNetForSemanticSegmentation"
    assert report["model"][1].startswith("transformers_modules.")
    assert report["hf_vits"] == []
    assert report["labels"] == local_labels
    remote = torch.load(tmp_path / "remote.pt", weights_only=True)
    torch.testing.assert_close(remote["logits"], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_processor_takes_any_image_mode(chelsea, mode):
    """Grayscale, alpha, palette and 16-bit photos become RGB (a 16-bit photo reads as its 8-bit twin)."""
    image = chelsea.convert("L") if mode == "I;16" else chelsea.convert(mode)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
        twin = chelsea.convert("L").convert("RGB")
    else:
        twin = image.convert("RGB")
    for processor in (ZooCCNetImageProcessor(), ZooCCNetImageProcessorPil()):
        pixel_values = processor(image, return_tensors="pt").pixel_values
        torch.testing.assert_close(pixel_values, processor(twin, return_tensors="pt").pixel_values, atol=1e-4, rtol=0)
