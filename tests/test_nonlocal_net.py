"""Non-local networks: the battery with the ResNet shape hooks, plus the non-local block against its definition (the
four pairwise functions, the normalisation, sub-sampling, the attention scale), its identity start, where the blocks
go, the trunk against torchvision's and timm's ResNets, the backbone and the evaluation transform."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from battery import ArchitectureBattery, ArchitectureSpec, sharpen
from torch import nn
from transformers import AutoBackbone, AutoModelForImageClassification

import hf_vits
from hf_vits import (
    ZooNonLocalBackbone,
    ZooNonLocalConfig,
    ZooNonLocalForImageClassification,
    ZooNonLocalImageProcessor,
    ZooNonLocalImageProcessorPil,
    ZooNonLocalModel,
)
from hf_vits.conversion.resnet import load_resnet_trunk, resnet_features
from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net import (
    ZooNonLocalBasicBlock,
    ZooNonLocalBlock,
    ZooNonLocalBottleneck,
)

# 64 px: stem 16x16, stages 16, 8, 4 and 2 a side. One non-local block on stage 2 (64 positions attending to 16
# sub-sampled ones) and one on the second block of stage 3 (16 positions, 4 sub-sampled).
TINY_NONLOCAL = {
    "image_size": 64,
    "embedding_size": 8,
    "hidden_sizes": [16, 32, 64, 64],
    "depths": [1, 1, 2, 1],
    "nonlocal_positions": [[], [0], [1], []],
}
PAIRWISE_FUNCTIONS = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")


def conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class NonLocalSpec(ArchitectureSpec):
    """A ResNet's outputs: channel-first maps of the stem and of every stage; one (batch, 1, H * W, N) map per
    non-local block, N the sub-sampled positions."""

    def resolutions(self, config: ZooNonLocalConfig, size=None) -> list[tuple[int, int]]:
        """The stem's map and each stage's."""
        height, width = size or self.input_size(config)
        sides = []
        for side in (height, width):
            side = conv_size(conv_size(side, 7, 2, 3), 3, 2, 1)
            stage_sides = [side, side]
            for _ in config.depths[1:]:
                side = conv_size(side, 3, 2, 1)
                stage_sides.append(side)
            sides.append(stage_sides)
        return list(zip(*sides, strict=True))

    def last_hidden_state_shape(self, config, batch_size, size=None):
        return (batch_size, config.hidden_sizes[-1], *self.resolutions(config, size)[-1])

    def hidden_states_shapes(self, config, batch_size):
        channels = [config.embedding_size, *config.hidden_sizes]
        return [(batch_size, c, h, w) for c, (h, w) in zip(channels, self.resolutions(config), strict=True)]

    def attention_shapes(self, config, batch_size):
        shapes = []
        for (height, width), positions in zip(self.resolutions(config)[1:], config.nonlocal_positions, strict=True):
            keys = (height // 2) * (width // 2) if config.sub_sampling else height * width
            shapes += [(batch_size, 1, height * width, keys)] * len(positions)
        return shapes


NONLOCAL = NonLocalSpec(
    name="nonlocal_net",
    config_class=ZooNonLocalConfig,
    model_class=ZooNonLocalModel,
    classification_class=ZooNonLocalForImageClassification,
    processor_classes={"torchvision": ZooNonLocalImageProcessor, "pil": ZooNonLocalImageProcessorPil},
    tiny_config=TINY_NONLOCAL,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("bn1.weight", "non_local.output_norm.weight", "non_local.theta.bias"),
    invalid_configs=(
        ("depths", {"depths": []}),
        ("depths", {"depths": [1, 0, 2, 1]}),
        ("hidden_sizes", {"hidden_sizes": [16, 32, 64]}),
        ("hidden_sizes", {"hidden_sizes": [16, 32, 64, 66]}),
        ("layer_type", {"layer_type": "preact"}),
        ("nonlocal_positions", {"nonlocal_positions": [[], [0], [1]]}),
        ("nonlocal_positions", {"nonlocal_positions": [[], [1], [1], []]}),
        ("nonlocal_positions", {"nonlocal_positions": [[], [0], [1, 1], []]}),
        ("pairwise_function", {"pairwise_function": "cosine"}),
        ("nonlocal_reduction", {"nonlocal_reduction": 0}),
        ("nonlocal_reduction", {"nonlocal_reduction": 3}),
        ("embedding_size", {"embedding_size": 0}),
        ("image_size", {"image_size": (64, 64)}),
        ("batch_norm_eps", {"batch_norm_eps": 0.0}),
        ("nonlocal_init_std", {"nonlocal_init_std": -0.01}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
        ("out_features", {"out_features": ["stage5"]}),
    ),
    round_trip_overrides={
        "image_size": 96,
        "pairwise_function": "concatenation",
        "sub_sampling": False,
        "nonlocal_reduction": 4,
        "nonlocal_bias": False,
        "use_scale": False,
        "batch_norm_eps": 1e-3,
        "nonlocal_init_std": 0.02,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
        "out_features": ["stem", "stage2"],
    },
    deep_config_overrides={"depths": [2, 2, 2, 1]},
    extra_auto_classes={"AutoBackbone": ZooNonLocalBackbone},
)


class TestNonLocal(ArchitectureBattery):
    spec = NONLOCAL


# --- the non-local block against its definition --------------------------------------------------------------------


def live_block(pairwise_function: str = "embedded_gaussian", seed: int = 0, **overrides) -> ZooNonLocalBlock:
    """A non-local block on 16 channels whose output BatchNorm is not at its zero start, in eval mode."""
    torch.manual_seed(seed)
    config = NONLOCAL.config(pairwise_function=pairwise_function, **overrides)
    block = ZooNonLocalBlock(config, 16).eval()
    sharpen(block, std=0.3, seed=seed)
    with torch.no_grad():
        norm = block.output_norm
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    return block


def reference_non_local(block: ZooNonLocalBlock, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's equations, one position at a time: y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j), z_i = BN(W_z y_i) + x_i,
    with x_j taken from the 2x2 max-pooled map when sub-sampling. Returns (z, the normalised weights f / C)."""
    batch, channels, height, width = maps.shape
    pooled = F.max_pool2d(maps, 2) if block.pool is not None else maps
    x_i, x_j = maps.flatten(2).transpose(1, 2), pooled.flatten(2).transpose(1, 2)
    g = block.g(pooled).flatten(2).transpose(1, 2)
    theta = block.theta(maps).flatten(2).transpose(1, 2) if block.theta is not None else None
    phi = block.phi(pooled).flatten(2).transpose(1, 2) if block.phi is not None else None
    num_keys = x_j.shape[1]
    weights = torch.zeros(batch, 1, height * width, num_keys)
    y = torch.zeros(batch, height * width, g.shape[-1])
    for b in range(batch):
        for i in range(height * width):
            scores = []
            for j in range(num_keys):
                if block.pairwise_function == "gaussian":
                    scores.append(torch.dot(x_i[b, i], x_j[b, j]) * block.scaling)
                elif block.pairwise_function == "embedded_gaussian":
                    scores.append(torch.dot(theta[b, i], phi[b, j]) * block.scaling)
                elif block.pairwise_function == "dot_product":
                    scores.append(torch.dot(theta[b, i], phi[b, j]))
                else:
                    pair = torch.cat((theta[b, i], phi[b, j]))
                    scores.append(torch.relu(torch.dot(block.concat_project.weight[0], pair)))
            scores = torch.stack(scores)
            if block.pairwise_function in ("gaussian", "embedded_gaussian"):
                normalised = torch.exp(scores - scores.max()) / torch.exp(scores - scores.max()).sum()
            else:
                normalised = scores / num_keys
            weights[b, 0, i] = normalised
            y[b, i] = (normalised[:, None] * g[b]).sum(0)
    y = y.transpose(1, 2).reshape(batch, -1, height, width)
    return block.output_norm(block.output_projection(y)) + maps, weights


@pytest.mark.parametrize("sub_sampling", [True, False], ids=["sub-sampled", "full"])
@pytest.mark.parametrize("pairwise_function", PAIRWISE_FUNCTIONS)
def test_block_matches_the_definition(pairwise_function, sub_sampling):
    block = live_block(pairwise_function, sub_sampling=sub_sampling)
    maps = torch.randn(2, 16, 6, 4)
    with torch.no_grad():
        expected, expected_weights = reference_non_local(block, maps)
        output, weights = block(maps, output_attentions=True)
        plain, none = block(maps)
    keys = 6 if sub_sampling else 24
    assert weights.shape == (2, 1, 24, keys) and none is None
    torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(output, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(plain, output, atol=1e-5, rtol=1e-5)
    assert (output - maps).abs().max() > 0.1, "the block did nothing: the comparison would mean nothing"


def test_embedded_gaussian_is_single_head_softmax_attention():
    """θ, φ, g as the query, key and value projections of one head of scaled dot-product attention, scale (C/2)^-1/2,
    keys and values taken from the 2x2 max-pooled map."""
    block = live_block("embedded_gaussian")
    assert block.scaling == pytest.approx(8**-0.5)
    maps = torch.randn(2, 16, 8, 6)
    with torch.no_grad():
        pooled = F.max_pool2d(maps, 2)
        query = block.theta(maps).flatten(2).transpose(1, 2)
        key = block.phi(pooled).flatten(2).transpose(1, 2)
        value = block.g(pooled).flatten(2).transpose(1, 2)
        attended = F.scaled_dot_product_attention(query[:, None], key[:, None], value[:, None], scale=8**-0.5)[:, 0]
        attended = attended.transpose(1, 2).reshape(2, 8, 8, 6)
        expected = block.output_norm(block.output_projection(attended)) + maps
        output, _ = block(maps)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


def test_sub_sampling_is_pooling_the_keys_and_values():
    """The sub-sampled block equals the full one fed the 2x2 max-pooled map for φ and g (the authors' code pools the
    block's input of φ and g)."""
    sub_sampled = live_block("embedded_gaussian", sub_sampling=True)
    full = live_block("embedded_gaussian", sub_sampling=False)
    full.load_state_dict(sub_sampled.state_dict())
    maps = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        output, weights = sub_sampled(maps, output_attentions=True)
        # The full block's keys and values, replaced by those of the pooled map.
        pooled = F.max_pool2d(maps, 2)
        full.phi.register_forward_pre_hook(lambda module, args: (pooled,))
        full.g.register_forward_pre_hook(lambda module, args: (pooled,))
        expected, expected_weights = full(maps, output_attentions=True)
    assert weights.shape == (1, 1, 64, 16)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("pairwise_function", ["dot_product", "concatenation"])
def test_dot_product_and_concatenation_are_normalised_by_the_number_of_positions(pairwise_function):
    block = live_block(pairwise_function)
    maps = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        _, weights = block(maps, output_attentions=True)
        pooled = F.max_pool2d(maps, 2)
        theta = block.theta(maps).flatten(2).transpose(1, 2)
        phi = block.phi(pooled).flatten(2).transpose(1, 2)
    if pairwise_function == "dot_product":
        torch.testing.assert_close(weights[:, 0] * 16, theta @ phi.transpose(1, 2), atol=1e-4, rtol=1e-5)
    else:
        assert (weights >= 0).all() and (weights > 0).any()
    assert not torch.allclose(weights.sum(-1), torch.ones(1, 1, 64)), "not a softmax: the rows need not sum to 1"


def test_use_scale():
    assert live_block("embedded_gaussian", use_scale=False).scaling == 1.0
    assert live_block("gaussian").scaling == pytest.approx(16**-0.5)
    assert live_block("embedded_gaussian", nonlocal_reduction=4).scaling == pytest.approx(4**-0.5)


def test_block_layers_follow_the_pairwise_function():
    layers = {f: {n for n, _ in live_block(f).named_parameters()} for f in PAIRWISE_FUNCTIONS}
    projections = {"g.weight", "g.bias", "output_projection.weight", "output_projection.bias"}
    norm = {"output_norm.weight", "output_norm.bias"}
    embedding = {"theta.weight", "theta.bias", "phi.weight", "phi.bias"}
    assert layers["gaussian"] == projections | norm
    assert layers["embedded_gaussian"] == layers["dot_product"] == projections | norm | embedding
    assert layers["concatenation"] == projections | norm | embedding | {"concat_project.weight"}
    without_bias = {n for n, _ in live_block(nonlocal_bias=False).named_parameters()}
    assert without_bias == {"theta.weight", "phi.weight", "g.weight", "output_projection.weight"} | norm


def test_sdpa_matches_eager_on_a_live_block():
    """The battery's sdpa-vs-eager check runs on fresh blocks, which are the identity; here their outputs count."""
    torch.manual_seed(0)
    sdpa = sharpen(AutoModelForImageClassification.from_config(NONLOCAL.config()).eval())
    with torch.no_grad():
        for module in sdpa.modules():
            if isinstance(module, ZooNonLocalBlock):
                module.output_norm.weight.fill_(1.0)
    eager = AutoModelForImageClassification.from_config(NONLOCAL.config(), attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    assert (sdpa.config._attn_implementation, eager.config._attn_implementation) == ("sdpa", "eager")
    pixel_values = NONLOCAL.pixel_values(sdpa.config)
    with torch.no_grad():
        sdpa_logits = sdpa(pixel_values).logits
        eager_outputs = eager(pixel_values, output_attentions=True)
        reference = ZooNonLocalForImageClassification(NONLOCAL.config()).eval()
        reference.load_state_dict(sdpa.state_dict())
        for module in reference.modules():
            if isinstance(module, ZooNonLocalBlock):
                module.output_norm.weight.fill_(0.0)
        identity_logits = reference(pixel_values).logits
    torch.testing.assert_close(sdpa_logits, eager_outputs.logits, atol=1e-4, rtol=1e-4)
    assert (sdpa_logits - identity_logits).abs().max() > 1e-2, "the non-local blocks do not change the logits"
    assert min(a.amax(-1).mean().item() * a.shape[-1] for a in eager_outputs.attentions) > 1.5


# --- identity start and placement ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pairwise_function", PAIRWISE_FUNCTIONS)
def test_fresh_block_is_the_identity(pairwise_function):
    """W_z's BatchNorm starts with a zero scale: z = x exactly, in training (batch statistics) and in evaluation."""
    torch.manual_seed(0)
    block = ZooNonLocalForImageClassification(NONLOCAL.config(pairwise_function=pairwise_function))
    non_local = block.nonlocal_net.layer2[0].non_local
    assert torch.equal(non_local.output_norm.weight, torch.zeros(32))
    assert torch.equal(non_local.output_norm.bias, torch.zeros(32))
    std = non_local.g.weight.std().item()
    assert 0.005 < std < 0.015, "the authors' normal(0, 0.01) initialisation"
    assert torch.equal(non_local.g.bias, torch.zeros(16))
    maps = torch.randn(2, 32, 8, 8)
    for train in (True, False):
        non_local.train(train)
        output, _ = non_local(maps)
        assert torch.equal(output, maps)


def test_positions_and_names():
    """Blocks go after the residual blocks the config names, as the `non_local` child of that block, so the trunk keeps
    torchvision's names."""
    with torch.device("meta"):
        model = hf_vits.create_model("nonlocal-resnet50-5block")
    places = sorted(
        (name, type(module.non_local).__name__)
        for name, module in model.named_modules()
        if isinstance(module, ZooNonLocalBottleneck) and hasattr(module, "non_local")
    )
    assert places == [
        (f"nonlocal_net.{name}", "ZooNonLocalBlock")
        for name in ("layer2.1", "layer2.3", "layer3.1", "layer3.3", "layer3.5")
    ]
    names = set(model.state_dict())
    assert "nonlocal_net.layer3.1.non_local.theta.weight" in names
    assert {"nonlocal_net.conv1.weight", "nonlocal_net.layer1.0.downsample.0.weight", "classifier.weight"} <= names
    theta = model.nonlocal_net.layer3[1].non_local.theta
    assert (theta.in_channels, theta.out_channels) == (1024, 512) and theta.bias is not None
    assert model.nonlocal_net.layer2[1].non_local.pool.kernel_size == 2


@pytest.mark.parametrize(
    ("variant", "positions"),
    [
        ("nonlocal-resnet50-1block", [[], [], [4], []]),
        ("nonlocal-resnet50-5block", [[], [1, 3], [1, 3, 5], []]),
        ("nonlocal-resnet50-10block", [[], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], []]),
        ("nonlocal-resnet101-1block", [[], [], [21], []]),
        ("nonlocal-resnet101-5block", [[], [1, 3], [6, 13, 20], []]),
    ],
)
def test_variant_positions(variant, positions):
    config = hf_vits.create_config(variant)
    assert config.nonlocal_positions == positions
    assert config.pairwise_function == "embedded_gaussian" and config.sub_sampling and config.nonlocal_bias
    assert hf_vits.get_variant(variant).top1 is None and hf_vits.get_variant(variant).gflops is None


def test_parameter_counts_of_the_issue():
    """ResNet-50 (torchvision's 25.557M) plus 2C^2 + 4.5C per block: 27.66M, 32.92M and 40.27M for 1, 5, 10 blocks."""
    counts = {}
    for blocks in (0, 1, 5, 10):
        positions = {
            0: [[], [], [], []],
            1: [[], [], [4], []],
            5: [[], [1, 3], [1, 3, 5], []],
            10: [[], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], []],
        }[blocks]
        with torch.device("meta"):
            model = ZooNonLocalForImageClassification(ZooNonLocalConfig(num_labels=1000, nonlocal_positions=positions))
        counts[blocks] = sum(p.numel() for p in model.parameters())
    assert counts[0] == 25_557_032
    assert [round(counts[n] / 1e6, 2) for n in (1, 5, 10)] == [27.66, 32.92, 40.27]
    per_block = {c: 2 * c * c + 9 * c // 2 for c in (512, 1024)}
    assert counts[5] - counts[0] == 2 * per_block[512] + 3 * per_block[1024]


# --- the trunk is torchvision's and timm's ResNet ------------------------------------------------------------------


def randomise_batch_norms(resnet: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so that a misplaced norm would show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in resnet.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.weight.copy_(torch.rand(size, generator=generator) * 0.5 + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
    return resnet.eval()


def source_resnet(library: str, name: str) -> nn.Module:
    torch.manual_seed(0)
    if library == "torchvision":
        import torchvision

        return randomise_batch_norms(torchvision.models.get_model(name, weights=None))
    import timm

    return randomise_batch_norms(timm.create_model(name, pretrained=False))


@pytest.mark.parametrize(
    ("library", "name", "config"),
    [
        ("torchvision", "resnet50", {"nonlocal_positions": [[], [1, 3], [1, 3, 5], []]}),
        ("timm", "resnet50", {"nonlocal_positions": [[], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], []]}),
        (
            "torchvision",
            "resnet18",
            {
                "layer_type": "basic",
                "hidden_sizes": [64, 128, 256, 512],
                "depths": [2, 2, 2, 2],
                "nonlocal_positions": [[], [1], [0, 1], []],
            },
        ),
    ],
    ids=["torchvision-resnet50-5block", "timm-resnet50-10block", "torchvision-resnet18"],
)
def test_trunk_with_fresh_blocks_is_the_source_resnet(library, name, config):
    """With its non-local blocks at their identity start, the model computes the source ResNet's features and, with
    its head copied, its logits."""
    resnet = source_resnet(library, name)
    torch.manual_seed(1)
    model = ZooNonLocalForImageClassification(ZooNonLocalConfig(num_labels=1000, **config)).eval()
    unused = load_resnet_trunk(model, resnet.state_dict(), f"{library}:{name}")
    assert unused == []
    pixel_values = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        outputs = model(pixel_values, output_hidden_states=True)
        features, logits = resnet_features(resnet, pixel_values), resnet(pixel_values)
    torch.testing.assert_close(outputs.hidden_states[-1], features, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.nonlocal_net(pixel_values).last_hidden_state, features, atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs.logits, logits, atol=1e-5, rtol=0)
    # The comparison is sensitive: a block that is not the identity moves the features.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ZooNonLocalBlock):
                module.output_norm.weight.fill_(1.0)
        assert (model.nonlocal_net(pixel_values).last_hidden_state - features).abs().max() > 1e-3


# --- backbone --------------------------------------------------------------------------------------------------------


def test_backbone_stage_selection_and_shapes():
    config = NONLOCAL.config(out_features=["stem", "stage2", "stage4"])
    assert config.out_indices == [0, 2, 4]
    torch.manual_seed(0)
    backbone = AutoBackbone.from_config(config).eval()
    assert type(backbone) is ZooNonLocalBackbone and backbone.channels == [8, 32, 64]
    pixel_values = NONLOCAL.pixel_values(config)
    with torch.no_grad():
        outputs = backbone(pixel_values, output_hidden_states=True, output_attentions=True)
        maps = backbone.nonlocal_net(pixel_values, output_hidden_states=True).hidden_states
    assert [tuple(f.shape) for f in outputs.feature_maps] == [(2, 8, 16, 16), (2, 32, 8, 8), (2, 64, 2, 2)]
    for feature, index in zip(outputs.feature_maps, (0, 2, 4), strict=True):
        torch.testing.assert_close(feature, maps[index])
    assert len(outputs.hidden_states) == 5 and len(outputs.attentions) == 2


def test_backbone_loads_a_classifier_checkpoint(tmp_path):
    model = NONLOCAL.model()
    model.save_pretrained(tmp_path)
    backbone, info = ZooNonLocalBackbone.from_pretrained(tmp_path, out_features=["stage3"], output_loading_info=True)
    assert not info["missing_keys"] and set(info["unexpected_keys"]) == {"classifier.weight", "classifier.bias"}
    pixel_values = NONLOCAL.pixel_values(model.config)
    with torch.no_grad():
        expected = model.nonlocal_net(pixel_values, output_hidden_states=True).hidden_states[3]
        torch.testing.assert_close(backbone.eval()(pixel_values).feature_maps[0], expected)


def test_pooler_output_is_the_average_of_the_last_map():
    model = NONLOCAL.model(ZooNonLocalModel)
    with torch.no_grad():
        outputs = model(NONLOCAL.pixel_values(model.config, size=(70, 50)))
    assert outputs.last_hidden_state.shape == (2, 64, 3, 2)
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state.mean((2, 3)))


def test_basic_block_trunk():
    model = NONLOCAL.model(layer_type="basic")
    blocks = {type(m) for m in model.modules() if isinstance(m, (ZooNonLocalBasicBlock, ZooNonLocalBottleneck))}
    assert blocks == {ZooNonLocalBasicBlock}
    with torch.no_grad():
        assert model(NONLOCAL.pixel_values(model.config)).logits.shape == (2, 5)


# --- evaluation transform ------------------------------------------------------------------------------------------


def test_processor_reproduces_the_torchvision_resnet_transform(photos):
    """torchvision's ImageNet evaluation of its ResNets (and the authors' TEST.SCALE 256 / CROP_SIZE 224):
    Resize(256) bilinear, CenterCrop(224), ImageNet mean and std."""
    from torchvision import transforms

    reference = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    processor = hf_vits.create_image_processor("nonlocal-resnet50-1block", backend="pil")
    for name, photo in photos.items():
        ours = torch.as_tensor(np.asarray(processor(photo, return_tensors="np").pixel_values[0]))
        torch.testing.assert_close(ours, reference(photo), atol=1e-5, rtol=0, msg=name)
