"""LR-Net: the battery with convolutional shape hooks, plus the local relation layer against an explicit loop over
neighbourhoods (borders included), the geometry prior's indexing at the corners, the bounded memory of the
aggregation and the paper's parameter counts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec
from transformers import AutoBackbone

import hf_vits
from hf_vits import (
    ZooLRNetBackbone,
    ZooLRNetConfig,
    ZooLRNetForImageClassification,
    ZooLRNetImageProcessor,
    ZooLRNetImageProcessorPil,
    ZooLRNetModel,
)
from hf_vits.modeling.lrnet.modeling_lrnet import ZooLRNetLocalRelation, local_relation, relative_positions

# 48 px: the stem's relation layer works at 24 px, the stages at 12, 6, 3 and 2, so that 5x5 windows overhang every
# border. Groups of 4 channels give two groups per relation layer.
TINY_LRNET = {
    "image_size": 48,
    "embedding_size": 8,
    "hidden_sizes": [16, 16, 32, 32],
    "relation_widths": [8, 8, 8, 8],
    "depths": [1, 1, 1, 1],
    "kernel_size": 5,
    "channels_per_group": 4,
}


def side(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


@dataclass(frozen=True)
class LRNetSpec(ArchitectureSpec):
    """LR-Net's outputs: maps (batch, C, H, W); hidden states after the stem and each stage; one weight map per local
    relation layer (the stem's, then every bottleneck's), (batch, groups, H_out, W_out, k * k)."""

    def resolutions(self, config: ZooLRNetConfig, size=None) -> list[tuple[int, int]]:
        """The stem relation layer's output, the stem's (after the max-pool) and each stage's."""
        height, width = size or self.input_size(config)
        height, width = side(height, 2), side(width, 2)
        sizes = [(height, width), ((height + 1) // 2, (width + 1) // 2)]
        for stage in range(len(config.depths)):
            stride = 1 if stage == 0 else 2
            sizes.append((side(sizes[-1][0], stride), side(sizes[-1][1], stride)))
        return sizes

    def last_hidden_state_shape(self, config, batch_size, size=None):
        return (batch_size, config.hidden_sizes[-1], *self.resolutions(config, size)[-1])

    def hidden_states_shapes(self, config, batch_size):
        sizes = self.resolutions(config)
        channels = [config.embedding_size, *config.hidden_sizes]
        return [(batch_size, c, *hw) for c, hw in zip(channels, sizes[1:], strict=True)]

    def attention_shapes(self, config, batch_size):
        sizes = self.resolutions(config)
        footprint = config.kernel_size**2
        shapes = [(batch_size, config.embedding_size // config.channels_per_group, *sizes[0], footprint)]
        for stage, depth in enumerate(config.depths):
            groups = config.relation_widths[stage] // config.channels_per_group
            shapes += [(batch_size, groups, *sizes[stage + 2], footprint)] * depth
        return shapes


LRNET = LRNetSpec(
    name="lrnet",
    config_class=ZooLRNetConfig,
    model_class=ZooLRNetModel,
    classification_class=ZooLRNetForImageClassification,
    processor_classes={"torchvision": ZooLRNetImageProcessor, "pil": ZooLRNetImageProcessorPil},
    tiny_config=TINY_LRNET,
    uses_attention_interface=False,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=(),
    invalid_configs=(
        ("relation_widths", {"relation_widths": [6, 8, 8, 8]}),
        ("embedding_size", {"embedding_size": 10}),
        ("hidden_sizes", {"hidden_sizes": [16, 16, 32]}),
        ("depths", {"depths": [], "hidden_sizes": [], "relation_widths": []}),
        ("kernel_size", {"kernel_size": 4}),
        ("channels_per_group", {"channels_per_group": 0}),
        ("key_channels_per_group", {"key_channels_per_group": 0}),
        ("composability", {"composability": "cosine"}),
        ("geometry_prior_hidden_ratio", {"geometry_prior_hidden_ratio": 0.0}),
        ("relation_chunk_size", {"relation_chunk_size": 0}),
        ("image_size", {"image_size": (32, 32)}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
        ("out_features", {"out_features": ["stage5"]}),
    ),
    round_trip_overrides={
        "kernel_size": 3,
        "key_channels_per_group": 2,
        "composability": "dot_product",
        "geometry_prior_hidden_ratio": 2.0,
        "out_of_image_logit": -50.0,
        "relation_chunk_size": None,
        "batch_norm_eps": 1e-3,
        "zero_init_residual": True,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
        "out_features": ["stem", "stage2"],
    },
    deep_config_overrides={"depths": [1, 2, 2, 1]},
    other_input_size=(40, 24),
    extra_auto_classes={"AutoBackbone": ZooLRNetBackbone},
)


class TestLRNet(ArchitectureBattery):
    spec = LRNET


# --- the local relation layer by definition ------------------------------------------------------------------------


def reference_local_relation(query, key, value, geometry, kernel_size, stride, composability, out_of_image_logit):
    """The layer written out: a loop over output pixels, groups and the k x k neighbours of each, in float64."""
    batch, channels, height, width = value.shape
    groups = geometry.shape[0]
    group_channels, key_channels = channels // groups, key.shape[1] // groups
    out_height, out_width = query.shape[-2:]
    half = kernel_size // 2
    output = torch.zeros(batch, channels, out_height, out_width, dtype=torch.float64)
    weights = torch.zeros(batch, groups, out_height, out_width, kernel_size**2, dtype=torch.float64)
    for b, g, i, j in itertools.product(range(batch), range(groups), range(out_height), range(out_width)):
        keys = slice(g * key_channels, (g + 1) * key_channels)
        values = slice(g * group_channels, (g + 1) * group_channels)
        logits, neighbours = [], []
        for dy, dx in itertools.product(range(kernel_size), range(kernel_size)):
            y, x = i * stride + dy - half, j * stride + dx - half
            inside = 0 <= y < height and 0 <= x < width
            if inside:
                q, k = query[b, keys, i, j].double(), key[b, keys, y, x].double()
                appearance = {
                    "squared_difference": -((q - k) ** 2).sum(),
                    "absolute_difference": -(q - k).abs().sum(),
                    "dot_product": (q * k).sum(),
                }[composability]
            else:
                appearance = torch.tensor(out_of_image_logit, dtype=torch.float64)
            logits.append(appearance + geometry[g, dy * kernel_size + dx].double())
            neighbours.append(value[b, values, y, x].double() if inside else None)
        probabilities = torch.softmax(torch.stack(logits), dim=0)
        weights[b, g, i, j] = probabilities
        for probability, neighbour in zip(probabilities, neighbours, strict=True):
            if neighbour is not None:
                output[b, values, i, j] += probability * neighbour
    return output, weights


@pytest.mark.parametrize("composability", ["squared_difference", "absolute_difference", "dot_product"])
@pytest.mark.parametrize(("kernel_size", "stride", "key_channels"), [(3, 1, 1), (5, 1, 2), (7, 2, 1), (5, 2, 2)])
def test_local_relation_equals_the_explicit_loop(kernel_size, stride, key_channels, composability):
    """Odd and even sides smaller than the window: every output pixel has neighbours outside the image."""
    generator = torch.Generator().manual_seed(kernel_size * 10 + stride)
    groups, group_channels, height, width = 3, 2, 5, 6
    out_height, out_width = side(height, stride), side(width, stride)
    query = torch.randn(2, groups * key_channels, out_height, out_width, generator=generator)
    key = torch.randn(2, groups * key_channels, height, width, generator=generator)
    value = torch.randn(2, groups * group_channels, height, width, generator=generator)
    geometry = torch.randn(groups, kernel_size**2, generator=generator)
    expected, expected_weights = reference_local_relation(
        query, key, value, geometry, kernel_size, stride, composability, -100.0
    )
    for chunk_size in (None, 1):  # all rows at once, and one row per chunk
        output, weights = local_relation(
            query, key, value, geometry, kernel_size, stride, composability, -100.0, chunk_size, output_weights=True
        )
        torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(weights.double(), expected_weights, atol=1e-5, rtol=0)


def test_out_of_image_neighbours_get_the_constant_logit_and_no_value():
    """With equal queries and keys every inside neighbour has logit 0 + prior, every outside one -100 + prior: at the
    top-left corner of a 7x7 window 16 of the 49 neighbours are inside, and only they are summed."""
    groups, kernel_size = 1, 7
    query, key = torch.zeros(1, groups, 4, 4), torch.zeros(1, groups, 4, 4)
    value = torch.arange(16.0).view(1, 1, 4, 4)
    geometry = torch.zeros(groups, kernel_size**2)
    output, weights = local_relation(query, key, value, geometry, kernel_size, output_weights=True)
    corner = weights[0, 0, 0, 0].view(kernel_size, kernel_size)
    inside = torch.zeros(kernel_size, kernel_size, dtype=torch.bool)
    inside[3:, 3:] = True
    outside_weight = torch.exp(torch.tensor(-100.0)) / (16 + 33 * torch.exp(torch.tensor(-100.0)))
    torch.testing.assert_close(corner[inside], torch.full((16,), 1 / 16))
    torch.testing.assert_close(corner[~inside], outside_weight.expand(33))
    # Centred windows: the corner pixel averages the 4x4 image, it is not clamped onto a window inside it.
    torch.testing.assert_close(output[0, 0, 0, 0], value.mean())


def test_out_of_image_logit_is_the_configured_constant():
    """A logit of 0 instead of -100 gives the outside neighbours (zero values) the weight of the inside ones."""
    query, key = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    value = torch.ones(1, 1, 4, 4)
    output, _ = local_relation(query, key, value, torch.zeros(1, 49), 7, out_of_image_logit=0.0)
    assert output[0, 0, 0, 0].item() == pytest.approx(16 / 49)


def test_geometry_prior_indexing_at_the_corners():
    """A prior that favours one relative position (dy, dx) makes every pixel copy the neighbour at that offset: at
    each corner, the offsets pointing into the image read the right pixel and those pointing out read nothing."""
    kernel_size, height, width = 5, 4, 6
    value = torch.arange(float(height * width)).view(1, 1, height, width)
    query, key = torch.zeros(1, 1, height, width), torch.zeros(1, 1, height, width)
    positions = relative_positions(kernel_size)
    corners = [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]
    for index, (dy, dx) in enumerate(positions.long().tolist()):
        geometry = torch.full((1, kernel_size**2), -1e4)
        geometry[0, index] = 0.0
        output, _ = local_relation(query, key, value, geometry, kernel_size)
        for i, j in corners:
            y, x = i + dy, j + dx
            expected = value[0, 0, y, x] if 0 <= y < height and 0 <= x < width else torch.tensor(0.0)
            torch.testing.assert_close(output[0, 0, i, j], expected, msg=f"corner {(i, j)}, offset {(dy, dx)}")


def test_relative_positions_run_row_by_row():
    positions = relative_positions(3)
    assert positions.tolist() == [[dy, dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def test_layer_equals_the_explicit_loop_with_its_embeddings_and_prior():
    """The module: queries from the pixels the strided output sits on, keys from all, the input as the values, the
    prior from its perceptron on (dy, dx), then the 1x1 transform."""
    config = ZooLRNetConfig(**{**TINY_LRNET, "kernel_size": 7})
    torch.manual_seed(0)
    layer = ZooLRNetLocalRelation(config, channels=8, stride=2).eval()
    hidden_states = torch.randn(2, 8, 7, 6)
    with torch.no_grad():
        output, weights = layer(hidden_states, output_attentions=True)
        query = layer.query(hidden_states)[:, :, ::2, ::2]
        prior = layer.geometry_prior
        geometry = prior.fc2(torch.relu(prior.fc1(relative_positions(7)))).t()
        aggregated, expected_weights = reference_local_relation(
            query, layer.key(hidden_states), hidden_states, geometry, 7, 2, "squared_difference", -100.0
        )
        expected = layer.projection(aggregated.float())
    assert output.shape == (2, 8, 4, 3) and weights.shape == (2, 2, 4, 3, 49)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights.double(), expected_weights, atol=1e-5, rtol=0)


def test_chunked_aggregation_bounds_memory_and_changes_nothing(monkeypatch):
    """The logits of a chunk stay within `relation_chunk_size` elements, whatever the map, and the chunks agree with
    one pass to float precision, forward and backward."""
    config = ZooLRNetConfig(**TINY_LRNET)
    torch.manual_seed(0)
    layer = ZooLRNetLocalRelation(config, channels=8)
    hidden_states = torch.randn(2, 8, 24, 20, requires_grad=True)
    # Each chunk takes the exponential of its logits once, in place: record their sizes.
    sizes = []
    exponential = torch.Tensor.exp_

    def recording_exponential(tensor):
        sizes.append(tensor.numel())
        return exponential(tensor)

    monkeypatch.setattr(torch.Tensor, "exp_", recording_exponential)
    results = []
    for chunk_size in (None, 10_000):
        sizes.clear()
        layer.chunk_size = chunk_size
        output, _ = layer(hidden_states)
        (grad,) = torch.autograd.grad(output.square().sum(), hidden_states)
        results.append((output.detach(), grad, list(sizes)))
    (full, full_grad, full_sizes), (chunked, chunked_grad, chunked_sizes) = results
    assert len(full_sizes) == 1 and len(chunked_sizes) > 1
    assert max(chunked_sizes) <= 10_000 < full_sizes[0]
    torch.testing.assert_close(chunked, full, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(chunked_grad, full_grad, atol=1e-6, rtol=1e-6)


# --- the network ---------------------------------------------------------------------------------------------------


def test_every_spatial_layer_is_a_local_relation_layer():
    """No convolution wider than 1x1 is left: the stem's and every bottleneck's spatial layer is a relation layer."""
    model = LRNET.model(ZooLRNetModel)
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.kernel_size == (1, 1) for m in convolutions)
    relations = [m for m in model.modules() if isinstance(m, ZooLRNetLocalRelation)]
    assert len(relations) == 1 + sum(model.config.depths)
    assert [m.stride for m in relations] == [2, 1, 2, 2, 2]


def test_attention_weights_are_those_of_the_layers():
    model = LRNET.model(ZooLRNetModel)
    pixel_values = LRNET.pixel_values(model.config)
    captured = []
    for module in model.modules():
        if isinstance(module, ZooLRNetLocalRelation):
            module.register_forward_hook(lambda module, args, output: captured.append(output[1]))
    with torch.no_grad():
        attentions = model(pixel_values, output_attentions=True).attentions
    assert len(attentions) == len(captured)
    for attention, weights in zip(attentions, captured, strict=True):
        assert torch.equal(attention, weights)


def test_backbone_returns_the_requested_stages():
    model = LRNET.model(ZooLRNetBackbone, out_features=["stem", "stage2", "stage4"])
    pixel_values = LRNET.pixel_values(model.config)
    with torch.no_grad():
        outputs = model(pixel_values)
        maps = model.lrnet(pixel_values, output_hidden_states=True).hidden_states
    assert [tuple(m.shape) for m in outputs.feature_maps] == [(2, 8, 12, 12), (2, 16, 6, 6), (2, 32, 2, 2)]
    for feature_map, index in zip(outputs.feature_maps, (0, 2, 4), strict=True):
        assert torch.equal(feature_map, maps[index])
    assert model.channels == [8, 16, 32]
    assert type(AutoBackbone.from_config(model.config)) is ZooLRNetBackbone


def test_zero_init_residual_makes_every_block_start_as_the_identity_branch():
    model = LRNET.model(ZooLRNetModel, zero_init_residual=True)
    blocks = [layer for stage in model.stages for layer in stage.layers]
    assert all(torch.equal(block.bn3.weight, torch.zeros_like(block.bn3.weight)) for block in blocks)


@pytest.mark.parametrize(
    ("name", "paper_millions"), [("lrnet-26", 14.7), ("lrnet-50", 23.3)], ids=["lrnet-26", "lrnet-50"]
)
def test_parameter_counts_match_the_paper(name, paper_millions):
    """Hu et al. 2019: LR-Net-26 has 14.7M parameters and LR-Net-50 23.3M (ResNet-26: 16.0M, ResNet-50: 25.5M)."""
    with torch.device("meta"):
        model = hf_vits.create_model(name)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert count == pytest.approx(paper_millions, rel=0.01)
    assert hf_vits.get_variant(name).params_m == paper_millions
