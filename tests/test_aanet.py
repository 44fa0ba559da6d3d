"""AA-ResNet: the battery with CNN shape hooks, plus the augmented convolution against definitions written out (the
relative-to-absolute trick against an explicit gather, the attention against plain einsums), the paper's attention
depths, and ImageNet ResNet weights of torchvision and timm in the trunk."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import timm
import torch
import torchvision
from battery import ArchitectureBattery, ArchitectureSpec, sharpen
from torch import nn
from transformers import AutoBackbone

import hf_vits
from hf_vits import (
    ZooAANetBackbone,
    ZooAANetConfig,
    ZooAANetForImageClassification,
    ZooAANetImageProcessor,
    ZooAANetImageProcessorPil,
    ZooAANetModel,
)
from hf_vits.conversion.resnet import TRUNK_ADAPTERS, load_resnet_trunk, resnet_features
from hf_vits.modeling.aanet.modeling_aanet import (
    ZooAANetAugmentedConv,
    attention_resolutions,
    relative_position_logits,
    relative_to_absolute,
    stage_resolutions,
)

# 64 px: stem 16x16, stages 16, 8, 4 and 2 a side; the first augmented stage attends at 4x4 (downsampled). Two heads
# with 4 key dimensions each (the floor of `min_key_dim_per_head`), so that the widths stay tiny.
TINY_AANET = {
    "image_size": 64,
    "embedding_size": 8,
    "hidden_sizes": [16, 32, 64, 64],
    "depths": [1, 1, 1, 1],
    "num_attention_heads": 2,
    "min_key_dim_per_head": 4,
}
TINY_BASIC = {**TINY_AANET, "layer_type": "basic", "hidden_sizes": [8, 16, 24, 32], "min_key_dim_per_head": 0}
NOT_AUGMENTED = {"augmented_stages": [False] * 4, "downsampled_attention_stages": [False] * 4}


@dataclass(frozen=True)
class AANetSpec(ArchitectureSpec):
    """AA-ResNet's outputs: feature maps (batch, C, H, W), the stem's and each stage's as hidden states, and one
    attention map (batch, heads, H * W, H * W) per augmented convolution."""

    def last_hidden_state_shape(self, config, batch_size, size=None):
        height, width = stage_resolutions(config, *(size or self.input_size(config)))[-1]
        return (batch_size, config.hidden_sizes[-1], height, width)

    def hidden_states_shapes(self, config, batch_size):
        height, width = self.input_size(config)
        stem = ((height - 1) // 2 // 2 + 1, (width - 1) // 2 // 2 + 1)
        shapes = [(batch_size, config.embedding_size, *stem)]
        for channels, resolution in zip(config.hidden_sizes, stage_resolutions(config, height, width), strict=True):
            shapes.append((batch_size, channels, *resolution))
        return shapes

    def attention_shapes(self, config, batch_size):
        convs_per_block = 2 if config.layer_type == "basic" else 1
        shapes = []
        for depth, resolution in zip(
            config.depths, attention_resolutions(config, *self.input_size(config)), strict=True
        ):
            if resolution is not None:
                tokens = resolution[0] * resolution[1]
                shapes += [(batch_size, config.num_attention_heads, tokens, tokens)] * depth * convs_per_block
        return shapes


AANET = AANetSpec(
    name="aanet",
    config_class=ZooAANetConfig,
    model_class=ZooAANetModel,
    classification_class=ZooAANetForImageClassification,
    processor_classes={"torchvision": ZooAANetImageProcessor, "pil": ZooAANetImageProcessorPil},
    tiny_config=TINY_AANET,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("relative_height", "relative_width"),
    invalid_configs=(
        ("layer_type", {"layer_type": "preactivation"}),
        ("depths", {"depths": [1, 1, 1]}),
        ("hidden_sizes", {"hidden_sizes": [16, 32, 64, 66]}),
        ("embedding_size", {"embedding_size": 0}),
        ("downsampled_attention_stages", {"augmented_stages": [False, False, True, True]}),
        ("num_attention_heads", {"num_attention_heads": 0}),
        ("min_key_dim_per_head", {"min_key_dim_per_head": -1}),
        ("dim_rounding", {"dim_rounding": "down"}),
        ("key_ratio", {"key_ratio": 0.0}),
        ("value_ratio", {"value_ratio": 1.0}),
        ("value_ratio", {"value_ratio": 0.9}),
        ("image_size", {"image_size": (64, 64, 3)}),
        ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
        ("out_features", {"out_features": ["stage5"]}),
    ),
    round_trip_overrides={
        "image_size": (64, 48),
        "layer_type": "basic",
        "augmented_stages": [False, False, True, True],
        "downsampled_attention_stages": [False, False, True, False],
        "key_ratio": 0.5,
        "value_ratio": 0.25,
        "dim_rounding": "up",
        "use_relative_position_logits": False,
        "batch_norm_eps": 1e-3,
        "attention_probs_dropout_prob": 0.1,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
    },
    deep_config_overrides={"depths": [2, 2, 2, 1]},
    extra_auto_classes={"AutoBackbone": ZooAANetBackbone},
)


class TestAANet(ArchitectureBattery):
    spec = AANET


def test_basic_blocks_augment_both_convolutions():
    """The basic-block trunk (AA-ResNet-34): both 3x3 convolutions of a block are augmented, the strided one
    included; sdpa and eager agree on sharpened weights, and every parameter takes part in the loss."""
    config = ZooAANetConfig(**TINY_BASIC, num_labels=3)
    torch.manual_seed(0)
    sdpa = sharpen(ZooAANetForImageClassification(config).eval())
    eager = ZooAANetForImageClassification._from_config(config, attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    for block in sdpa.aanet.layer2:
        assert isinstance(block.conv1, ZooAANetAugmentedConv) and isinstance(block.conv2, ZooAANetAugmentedConv)
    assert not isinstance(sdpa.aanet.layer1[0].conv1, ZooAANetAugmentedConv)
    pixel_values = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = eager(pixel_values, output_attentions=True)
        logits = sdpa(pixel_values).logits
    shapes = [tuple(a.shape) for a in expected.attentions]
    assert shapes == AANET.attention_shapes(config, 2)
    assert len(shapes) == 2 * 3
    torch.testing.assert_close(logits, expected.logits, atol=1e-5, rtol=1e-5)

    sdpa.train()
    sdpa(pixel_values, labels=torch.tensor([0, 2])).loss.backward()
    assert all(p.grad is not None for p in sdpa.parameters())


# ------------------------------------------------------------------------------------- correctness by definition


def test_relative_to_absolute_indexes_by_distance():
    length = 5
    logits = torch.randn(3, length, 2 * length - 1)
    absolute = relative_to_absolute(logits)
    assert absolute.shape == (3, length, length)
    for i in range(length):
        for j in range(length):
            assert torch.equal(absolute[:, i, j], logits[:, i, j - i + length - 1])


@pytest.mark.parametrize("height, width", [(3, 5), (4, 4), (1, 3)])
def test_relative_logits_equal_an_explicit_gather(height, width):
    """S_H^rel + S_W^rel of the trick equal q_i . r^H_{j_y - i_y} + q_i . r^W_{j_x - i_x}, gathered pair by pair."""
    generator = torch.Generator().manual_seed(0)
    batch, heads, dim = 2, 3, 4
    query = torch.randn(batch, heads, height * width, dim, generator=generator)
    relative_height = torch.randn(2 * height - 1, dim, generator=generator)
    relative_width = torch.randn(2 * width - 1, dim, generator=generator)
    logits = relative_position_logits(query, relative_height, relative_width, height, width)

    expected = torch.empty(batch, heads, height * width, height * width)
    for i in range(height * width):
        i_y, i_x = divmod(i, width)
        for j in range(height * width):
            j_y, j_x = divmod(j, width)
            embedding = relative_height[j_y - i_y + height - 1] + relative_width[j_x - i_x + width - 1]
            expected[:, :, i, j] = query[:, :, i] @ embedding
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def reference_augmented_conv(module: ZooAANetAugmentedConv, inputs: torch.Tensor) -> torch.Tensor:
    """The paper's Eq. 1-2 and Sec. 3.1.1 with plain einsums and an explicit gather of the relative embeddings."""
    heads, key_dim, value_dim = module.num_heads, module.key_dim, module.value_dim
    convolved = nn.functional.conv2d(inputs, module.convolution.weight, stride=module.stride, padding=1)
    attended = inputs
    for stride in ([module.stride] if module.stride > 1 else []) + ([2] if module.downsample_attention else []):
        attended = nn.functional.avg_pool2d(attended, 3, stride, padding=1, count_include_pad=False)
    batch, _, height, width = attended.shape
    pixels = attended.flatten(2)  # (batch, F_in, HW)
    projected = torch.einsum("oc,bcp->bop", module.qkv.weight[:, :, 0, 0], pixels) + module.qkv.bias[:, None]
    query, key, value = projected.split([key_dim, key_dim, value_dim], dim=1)
    query = query.reshape(batch, heads, key_dim // heads, -1)
    key = key.reshape(batch, heads, key_dim // heads, -1)
    value = value.reshape(batch, heads, value_dim // heads, -1)
    logits = torch.einsum("bndi,bndj->bnij", query, key)

    built_height, built_width = module.attention_size
    rows = torch.arange(height * width) // width
    columns = torch.arange(height * width) % width
    height_index = rows[None, :] - rows[:, None] + built_height - 1  # [i, j] -> row of r^H_{j_y - i_y}
    width_index = columns[None, :] - columns[:, None] + built_width - 1
    embeddings = module.relative_height[height_index] + module.relative_width[width_index]  # (HW, HW, d)
    logits = logits + torch.einsum("bndi,ijd->bnij", query, embeddings)

    weights = (logits / (key_dim // heads) ** 0.5).softmax(-1)
    heads_output = torch.einsum("bnij,bndj->bndi", weights, value).reshape(batch, value_dim, height, width)
    output = torch.einsum("oc,bchw->bohw", module.output_projection.weight[:, :, 0, 0], heads_output)
    output = output + module.output_projection.bias[:, None, None]
    if output.shape[-2:] != convolved.shape[-2:]:
        output = nn.functional.interpolate(output, size=convolved.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat((convolved, output), dim=1)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize(
    "stride, downsample, size", [(1, False, (5, 7)), (2, False, (8, 6)), (1, True, (8, 8)), (2, True, (9, 10))]
)
def test_augmented_conv_equals_the_definition(attn_implementation, stride, downsample, size):
    config = ZooAANetConfig(num_attention_heads=2, min_key_dim_per_head=3, key_ratio=0.5, value_ratio=0.25)
    config._attn_implementation = attn_implementation
    height, width = size
    attention_size = [(side - 1) // stride + 1 for side in size]
    if downsample:
        attention_size = [(side - 1) // 2 + 1 for side in attention_size]
    torch.manual_seed(0)
    module = ZooAANetAugmentedConv(config, 6, 16, stride, tuple(attention_size), downsample).eval()
    for parameter in module.parameters():
        nn.init.normal_(parameter, std=0.5)
    assert (module.key_dim, module.value_dim) == (8, 4)
    inputs = torch.randn(2, 6, height, width)
    with torch.no_grad():
        output, weights = module(inputs, output_attentions=True)
        fused, _ = module(inputs)
        expected = reference_augmented_conv(module, inputs)
    assert output.shape == (2, 16, (height - 1) // stride + 1, (width - 1) // stride + 1)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 2, attention_size[0] * attention_size[1], attention_size[0] * attention_size[1])


def test_smaller_inputs_use_the_central_relative_embeddings():
    """A map smaller than the one the model was built for takes the embeddings of the distances it has: the model
    equals one built for its size carrying those rows. A larger one is refused."""
    torch.manual_seed(0)
    model = ZooAANetModel(ZooAANetConfig(**TINY_AANET)).eval()
    small = ZooAANetModel(ZooAANetConfig(**{**TINY_AANET, "image_size": 32})).eval()
    state = model.state_dict()
    for name, tensor in small.state_dict().items():
        if name.endswith(("relative_height", "relative_width")):
            margin = (state[name].shape[0] - tensor.shape[0]) // 2
            state[name] = state[name][margin : margin + tensor.shape[0]]
            assert margin > 0
    small.load_state_dict(state)
    pixel_values = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values).last_hidden_state, small(pixel_values).last_hidden_state)
        with pytest.raises(ValueError, match="image_size"):
            model(torch.randn(1, 3, 96, 64))


def test_relative_logits_can_be_switched_off():
    model = ZooAANetModel(ZooAANetConfig(**TINY_AANET, use_relative_position_logits=False))
    augmented = [m for m in model.modules() if isinstance(m, ZooAANetAugmentedConv)]
    assert augmented and all(m.relative_height is None and m.relative_width is None for m in augmented)
    assert not any("relative" in name for name, _ in model.named_parameters())


def test_backbone_returns_the_stage_maps():
    config = AANET.config(out_features=["stem", "stage2", "stage4"])
    assert config.out_indices == [0, 2, 4]
    torch.manual_seed(0)
    backbone = AutoBackbone.from_config(config).eval()
    assert type(backbone) is ZooAANetBackbone and backbone.channels == [8, 32, 64]
    pixel_values = AANET.pixel_values(config)
    with torch.no_grad():
        outputs = backbone(pixel_values, output_hidden_states=True, output_attentions=True)
        expected = backbone.aanet(pixel_values, output_hidden_states=True, output_attentions=True)
    assert [tuple(f.shape) for f in outputs.feature_maps] == [(2, 8, 16, 16), (2, 32, 8, 8), (2, 64, 2, 2)]
    for feature_map, index in zip(outputs.feature_maps, config.out_indices, strict=True):
        torch.testing.assert_close(feature_map, expected.hidden_states[index])
    assert len(outputs.hidden_states) == 5 and len(outputs.attentions) == 3
    with torch.no_grad():
        assert backbone(pixel_values).hidden_states is None


def test_backbone_loads_a_classifier_checkpoint(tmp_path):
    model = AANET.model()
    model.save_pretrained(tmp_path)
    backbone, info = ZooAANetBackbone.from_pretrained(tmp_path, out_features=["stage4"], output_loading_info=True)
    assert not info["missing_keys"] and set(info["unexpected_keys"]) == {"classifier.weight", "classifier.bias"}
    pixel_values = AANET.pixel_values(model.config)
    with torch.no_grad():
        torch.testing.assert_close(
            backbone.eval()(pixel_values).feature_maps[0], model.aanet(pixel_values).last_hidden_state
        )


# ------------------------------------------------------------------------------------------- the paper's models


def test_the_paper_variants_attention_depths():
    """(d_k, d_v) of the augmented convolutions in stages 2-4, and which stages attend and where."""
    expected = {
        "aa-resnet-34": [(32, 16), (56, 32), (104, 56)],
        "aa-resnet-50": [(160, 16), (160, 24), (160, 48)],
        "aa-resnet-101": [(160, 16), (160, 24), (160, 48)],
        "aa-resnet-152": [(160, 16), (160, 24), (160, 48)],
    }
    for name, dims in expected.items():
        config = hf_vits.create_config(name)
        assert (config.key_ratio, config.value_ratio, config.num_attention_heads) == (0.2, 0.1, 8)
        assert config.augmented_stages == [False, True, True, True]
        assert config.downsampled_attention_stages == [False, True, False, False]
        assert [config.attention_dims(width) for width in config.conv_widths[1:]] == dims, name
        assert attention_resolutions(config, 224, 224) == [None, (14, 14), (14, 14), (7, 7)]
    with torch.device("meta"):
        resnet50 = hf_vits.create_model("aa-resnet-50")
    augmented = [m for m in resnet50.modules() if isinstance(m, ZooAANetAugmentedConv)]
    assert len(augmented) == 4 + 6 + 3
    with torch.device("meta"):
        resnet34 = hf_vits.create_model("aa-resnet-34")
    assert len([m for m in resnet34.modules() if isinstance(m, ZooAANetAugmentedConv)]) == 2 * (4 + 6 + 3)


# -------------------------------------------------------------------------------------- ImageNet ResNet weights


def _randomise_batch_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine terms, so that a mix-up of norms cannot go unseen."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


# The ResNets of torchvision and timm at full width, with one or two blocks per stage to keep the tests fast (our
# config takes the same depths): torchvision's resnet18 and timm's resnet34 layout (basic blocks), both libraries'
# resnet50 layout (bottlenecks).
SOURCES = {
    "torchvision-resnet18": (lambda: torchvision.models.resnet18(weights=None), "aa-resnet-34", [2, 2, 2, 2]),
    "torchvision-resnet50": (
        lambda: torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 2, 1, 1]),
        "aa-resnet-50",
        [1, 2, 1, 1],
    ),
    "timm-resnet50": (
        lambda: timm.models.resnet.ResNet(block=timm.models.resnet.Bottleneck, layers=[1, 2, 1, 1]),
        "aa-resnet-50",
        [1, 2, 1, 1],
    ),
    "timm-resnet34": (
        lambda: timm.models.resnet.ResNet(block=timm.models.resnet.BasicBlock, layers=[2, 1, 1, 1]),
        "aa-resnet-34",
        [2, 1, 1, 1],
    ),
}


def _source_and_config(source: str, **overrides) -> tuple[nn.Module, ZooAANetConfig]:
    build, variant, depths = SOURCES[source]
    torch.manual_seed(0)
    resnet = _randomise_batch_norms(build())
    config = hf_vits.create_config(variant, image_size=64, **({"depths": depths} if depths else {}), **overrides)
    return resnet, config


@pytest.mark.parametrize("source", list(SOURCES))
def test_without_augmentation_the_trunk_is_the_source_resnet(source):
    """With no augmented stage an AA-ResNet is a ResNet: the source's weights give its features and logits."""
    resnet, config = _source_and_config(source, **NOT_AUGMENTED)
    model = ZooAANetForImageClassification(config).eval()
    assert load_resnet_trunk(model, resnet.state_dict(), source) == []
    pixel_values = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outputs = model(pixel_values, output_hidden_states=True)
        torch.testing.assert_close(
            outputs.hidden_states[-1], resnet_features(resnet, pixel_values), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(outputs.logits, resnet(pixel_values), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("source", ["torchvision-resnet50", "timm-resnet34"])
def test_with_augmentation_the_source_weights_are_kept_where_they_fit(source):
    """Every trunk weight is the source's; an augmented convolution's 3x3 convolution is the source's first
    F_out - d_v filters, so its output channels are the source convolution's first F_out - d_v exactly; the
    attention keeps its initialisation."""
    resnet, config = _source_and_config(source)
    torch.manual_seed(1)
    model = ZooAANetForImageClassification(config).eval()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    load_resnet_trunk(model, resnet.state_dict(), source)
    ours = model.state_dict()
    sources = resnet.state_dict()
    augmented = {
        name.removeprefix("aanet."): module
        for name, module in model.named_modules()
        if isinstance(module, ZooAANetAugmentedConv)
    }
    assert augmented
    for key, tensor in sources.items():
        target = key if key.startswith("fc.") else f"aanet.{key}"
        if target.replace("fc.", "classifier.") in ours:
            assert torch.equal(ours[target.replace("fc.", "classifier.")], tensor), key
        else:
            conv = augmented[key.removesuffix(".weight")]
            kept = conv.convolution.out_channels
            assert kept == tensor.shape[0] - conv.value_dim
            assert torch.equal(ours[f"{target.removesuffix('.weight')}.convolution.weight"], tensor[:kept])
    for name, tensor in ours.items():
        if any(part in name for part in (".qkv.", ".output_projection.", "relative_")):
            assert torch.equal(tensor, before[name]), name

    source_convs = dict(resnet.named_modules())
    inputs = torch.randn(2, next(iter(augmented.values())).qkv.in_channels, 8, 8)
    name, conv = next(iter(augmented.items()))
    with torch.no_grad():
        ours_out, _ = conv(inputs)
        expected = source_convs[name](inputs)
    torch.testing.assert_close(
        ours_out[:, : conv.convolution.out_channels], expected[:, : conv.convolution.out_channels]
    )


def test_the_adapter_is_declared_and_not_exact():
    adapter = TRUNK_ADAPTERS["aanet"]
    assert adapter.exact is False
    model = ZooAANetForImageClassification(ZooAANetConfig(**TINY_AANET))
    width = model.config.hidden_sizes[1] // 4
    source = torch.randn(width, width, 3, 3)
    adapted = adapter.adapt(model, "aanet.layer2.0.conv2.weight", source)
    assert list(adapted) == ["aanet.layer2.0.conv2.convolution.weight"]
    assert torch.equal(adapted["aanet.layer2.0.conv2.convolution.weight"], source[: width - 2])
    assert adapter.adapt(model, "aanet.layer2.0.conv2.bias", source) is None
    assert adapter.adapt(model, "aanet.layer1.0.conv2.weight", source) is None


def test_convert_a_torchvision_checkpoint_into_aa_resnet_50(tmp_path, caplog):
    """`hf-vits convert torchvision:resnet50 OUT --variant aa-resnet-50`: the source's weights where they fit, the
    feature comparison skipped (an AA-ResNet is not the source ResNet) and said so."""
    from safetensors.torch import save_file

    from hf_vits.conversion import load_source

    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None, num_classes=7)
    checkpoint = tmp_path / "resnet50.safetensors"
    save_file(resnet.state_dict(), str(checkpoint))
    with caplog.at_level("WARNING"):
        converted = load_source("torchvision:resnet50", checkpoint=checkpoint, variant="aa-resnet-50")
    assert converted.max_abs_diff is None
    assert "is not the source ResNet" in caplog.text
    model = converted.model
    assert type(model) is ZooAANetForImageClassification and model.config.num_labels == 7
    ours = model.state_dict()
    torch.testing.assert_close(ours["classifier.weight"], resnet.fc.weight, atol=0, rtol=0)
    torch.testing.assert_close(ours["aanet.layer1.0.conv2.weight"], resnet.layer1[0].conv2.weight, atol=0, rtol=0)
    torch.testing.assert_close(
        ours["aanet.layer3.5.conv2.convolution.weight"], resnet.layer3[5].conv2.weight[: 256 - 24], atol=0, rtol=0
    )
    torch.testing.assert_close(ours["aanet.layer3.5.bn2.running_var"], resnet.layer3[5].bn2.running_var, atol=0, rtol=0)
