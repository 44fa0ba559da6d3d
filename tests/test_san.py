"""SAN: the battery (pairwise and patchwise), and each self-attention layer against a plain reference written as an
explicit loop over neighbourhoods (every relation function, reflected borders, interleaved weight sharing), the
relative positions at the corners, chunked evaluation, small inputs and the authors' exact parameter counts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from battery import LABELS, ArchitectureBattery, ArchitectureSpec
from torch import nn

import hf_vits
from hf_vits import (
    ZooSANConfig,
    ZooSANForImageClassification,
    ZooSANImageProcessor,
    ZooSANImageProcessorPil,
    ZooSANModel,
)
from hf_vits.modeling.san.configuration_san import RELATION_TYPES
from hf_vits.modeling.san.modeling_san import (
    ZooSANPointwiseConvolution,
    ZooSANSelfAttention,
    aggregate,
    coordinates,
    footprints,
    reflection_indices,
    reflection_pad,
)
from hf_vits.modeling.san.variants import PARAMETER_COUNTS

# 64 px: maps of 64 (stem), 32, 16, 8, 4 and 2 a side. The 5x5 footprints of stage 3 and the 3x3 of stage 5 reach
# past their maps' borders everywhere; a chunk of 512 elements makes evaluation run row by row (training whole).
TINY_SAN = {
    "image_size": 64,
    "embedding_size": 8,
    "hidden_sizes": [8, 16, 16, 16, 16],
    "depths": [1, 1, 1, 1, 1],
    "kernel_sizes": [3, 3, 5, 5, 3],
    "relation_reduction": 4,
    "bottleneck_reduction": 2,
    "share_planes": 2,
    "attention_chunk_size": 512,
}


@dataclass(frozen=True)
class SANSpec(ArchitectureSpec):
    """SAN's outputs: channels-first maps (stem and one per stage), the average-pooled last map, and per block the
    aggregation weights (batch, weight channels, H, W, k * k)."""

    def resolutions(self, config: ZooSANConfig, size=None) -> list[tuple[int, int]]:
        height, width = size or self.input_size(config)
        return [(height >> stage, width >> stage) for stage in range(config.num_stages + 1)]

    def last_hidden_state_shape(self, config, batch_size, size=None):
        return (batch_size, config.hidden_sizes[-1], *self.resolutions(config, size)[-1])

    def hidden_states_shapes(self, config, batch_size):
        resolutions = self.resolutions(config)
        channels = [config.embedding_size, *config.hidden_sizes]
        return [(batch_size, c, *size) for c, size in zip(channels, resolutions, strict=True)]

    def attention_shapes(self, config, batch_size):
        shapes = []
        for stage, (height, width) in enumerate(self.resolutions(config)[1:]):
            weight_channels = config.hidden_sizes[stage] // (config.bottleneck_reduction * config.share_planes)
            footprint = config.kernel_sizes[stage] ** 2
            shapes += [(batch_size, weight_channels, height, width, footprint)] * config.depths[stage]
        return shapes


INVALID_CONFIGS = (
    ("hidden_sizes", {"hidden_sizes": [8, 16, 16, 16]}),
    ("hidden_sizes", {"hidden_sizes": [8, 16, 16, 16, 18]}),
    ("depths", {"depths": [], "hidden_sizes": [], "kernel_sizes": []}),
    ("kernel_sizes", {"kernel_sizes": [3, 3, 4, 5, 3]}),
    ("kernel_sizes", {"kernel_sizes": [3, 3, 0, 5, 3]}),
    ("self_attention_type", {"self_attention_type": "global"}),
    ("relation_type", {"self_attention_type": "pairwise", "relation_type": "star_product"}),
    ("relation_type", {"self_attention_type": "patchwise", "relation_type": "subtraction"}),
    ("share_planes", {"share_planes": 0}),
    ("attention_chunk_size", {"attention_chunk_size": 0}),
    ("image_size", {"image_size": (64, 64, 3)}),
    ("drop_path_rate", {"drop_path_rate": 1.0}),
    ("classifier_dropout_prob", {"classifier_dropout_prob": -0.5}),
)

SAN = SANSpec(
    name="san",
    config_class=ZooSANConfig,
    model_class=ZooSANModel,
    classification_class=ZooSANForImageClassification,
    processor_classes={"torchvision": ZooSANImageProcessor, "pil": ZooSANImageProcessorPil},
    tiny_config=TINY_SAN,
    uses_attention_interface=False,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("normalization.weight", "bias"),
    invalid_configs=INVALID_CONFIGS,
    round_trip_overrides={
        "image_size": (64, 96),
        "relation_type": "hadamard_product",
        "use_position_encoding": False,
        "batch_norm_eps": 1e-3,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
        "attention_chunk_size": None,
    },
    deep_config_overrides={"depths": [1, 2, 1, 2, 1]},
)

PATCHWISE = SANSpec(
    **{
        **SAN.__dict__,
        "tiny_config": {**TINY_SAN, "self_attention_type": "patchwise"},
        "round_trip_overrides": {**SAN.round_trip_overrides, "relation_type": "star_product"},
        "check_variants": False,
    }
)


class TestSAN(ArchitectureBattery):
    spec = SAN


class TestSANPatchwise(ArchitectureBattery):
    spec = PATCHWISE

    @pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
    def test_output_attentions(self, attn_implementation):
        """Patchwise weights are not a distribution (no softmax): they must have the shapes, leave the prediction
        alone, and be the weights the aggregation used."""
        model = self.spec.model(attn_implementation=attn_implementation)
        pixel_values = self.spec.pixel_values(model.config)
        with torch.no_grad():
            plain = model(pixel_values)
            outputs = model(pixel_values, output_attentions=True, output_hidden_states=True)
        assert plain.attentions is None
        assert [tuple(a.shape) for a in outputs.attentions] == self.spec.attention_shapes(model.config, 2)
        torch.testing.assert_close(outputs.logits, plain.logits, atol=1e-5, rtol=1e-5)
        # Stage 3's block, rebuilt from its returned weights.
        stage = model.san.encoder.stages[2]
        layer = stage.layers[0]
        with torch.no_grad():
            hidden = stage.transition(model.san.encoder.pool(outputs.hidden_states[2]))
            normed = layer.activation(layer.normalization_before(hidden))
            expected, _ = layer.attention(normed)
            weights = outputs.attentions[2].permute(0, 1, 4, 2, 3)
            values = reflection_pad(layer.attention.value(normed), layer.attention.kernel_size // 2)
            torch.testing.assert_close(aggregate(values, weights), expected, atol=1e-5, rtol=1e-5)


# --- references written as explicit loops --------------------------------------------------------------------------


def reflect(index: int, size: int) -> int:
    """The authors' CUDA index rule (`*_refpad.py`): one reflection across the border."""
    if index < 0:
        index = -index
    if index >= size:
        index = 2 * (size - 1) - index
    return index


def footprint_of(h: int, w: int, height: int, width: int, kernel_size: int) -> list[tuple[int, int]]:
    """The (row, column) each of the k * k neighbours of pixel (h, w) reads, neighbour kh * k + kw at offset
    (kh - k // 2, kw - k // 2)."""
    padding = kernel_size // 2
    return [
        (reflect(h + kh - padding, height), reflect(w + kw - padding, width))
        for kh, kw in itertools.product(range(kernel_size), repeat=2)
    ]


def gamma(module: ZooSANSelfAttention, relations: torch.Tensor) -> torch.Tensor:
    """The mapping gamma on a (D, N) stack of N relation vectors: (outputs, N)."""
    return module.weight_encoding(relations[None, :, :, None])[0, :, :, 0]


def pairwise_relation(relation_type: str, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """delta(x_i, x_j) of the paper's Section 3.1 for phi(x_i) = `query` and psi(x_j) = `key`."""
    if relation_type == "summation":
        return query + key
    if relation_type == "subtraction":
        return query - key
    if relation_type == "concatenation":
        return torch.cat((query, key))
    if relation_type == "hadamard_product":
        return query * key
    return (query * key).sum().reshape(1)


def reference_self_attention(module: ZooSANSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each output pixel computed on its own: its neighbours read with the authors' reflected indices, the relation
    delta of the paper's Section 3, gamma, (pairwise) the softmax over the footprint, and the sum over neighbours with
    value channel c weighted by weight channel c mod C_w. Returns (output (B, C, H, W), weights (B, C_w, H, W, k*k))."""
    batch, _, height, width = x.shape
    k = module.kernel_size
    query, key, value = module.query(x), module.key(x), module.value(x)
    weight_channels = module.weight_channels
    channels = torch.arange(value.shape[1])
    output = torch.zeros(batch, value.shape[1], height, width, dtype=torch.float64)
    all_weights = torch.zeros(batch, weight_channels, height, width, k * k, dtype=torch.float64)
    position = None
    if module.position_encoding is not None:
        position = module.position_encoding(coordinates(height, width, x.dtype, x.device))[0]
    for b, h, w in itertools.product(range(batch), range(height), range(width)):
        neighbours = footprint_of(h, w, height, width, k)
        q_i = query[b, :, h, w]
        if module.pairwise:
            relations = []
            for hh, ww in neighbours:
                delta = pairwise_relation(module.relation_type, q_i, key[b, :, hh, ww])
                if position is not None:
                    delta = torch.cat((delta, position[:, h, w] - position[:, hh, ww]))
                relations.append(delta)
            weights = gamma(module, torch.stack(relations, dim=1)).softmax(dim=1)  # (C_w, k * k)
        else:
            if module.relation_type == "star_product":
                relation = torch.stack([q_i @ key[b, :, hh, ww] for hh, ww in neighbours])
            elif module.relation_type == "clique_product":
                # phi(x_j) . psi(x_k) for every pair (j, k) of the footprint, j major.
                queries = torch.stack([query[b, :, hh, ww] for hh, ww in neighbours])
                keys = torch.stack([key[b, :, hh, ww] for hh, ww in neighbours], dim=1)
                relation = (queries @ keys).flatten()
            else:  # [phi(x_i), psi(x_j) for every j], channel-major as the authors' unfold orders it
                keys = torch.stack([key[b, :, hh, ww] for hh, ww in neighbours], dim=1)
                relation = torch.cat((q_i, keys.flatten()))
            weights = gamma(module, relation[:, None])[:, 0].reshape(weight_channels, k * k)
        all_weights[b, :, h, w] = weights.double()
        for j, (hh, ww) in enumerate(neighbours):
            output[b, :, h, w] += weights[channels % weight_channels, j].double() * value[b, :, hh, ww].double()
    return output, all_weights


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, so that no term hides at an initial zero or one."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
        for name, buffer in module.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
    return module


def attention_module(kind: str, relation: str, kernel_size: int, **overrides) -> ZooSANSelfAttention:
    config = ZooSANConfig(
        **{**TINY_SAN, "self_attention_type": kind, "relation_type": relation, **overrides},
    )
    return randomize(ZooSANSelfAttention(config, channels=16, kernel_size=kernel_size)).eval()


RELATIONS = [(kind, relation) for kind, relations in RELATION_TYPES.items() for relation in relations]


@pytest.mark.parametrize("kind, relation", RELATIONS, ids=[f"{k}-{r}" for k, r in RELATIONS])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_self_attention_equals_the_explicit_loop(kind, relation, kernel_size):
    """Every relation function, on a 5x6 map whose borders the footprint crosses (a 5x5 footprint reaches two
    pixels out of every border pixel), chunked by single rows and whole. In float64, so that the tolerance is far
    below 1e-5 and no difference of summation order (625 products per pixel for the clique) hides an error."""
    module = attention_module(kind, relation, kernel_size).double()
    x = torch.randn(2, 16, 5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected, expected_weights = reference_self_attention(module, x)
    assert expected.abs().max() > 0.1
    for chunk_size in (1, None):
        module.chunk_size = chunk_size
        with torch.no_grad():
            output, weights = module(x, output_attentions=True)
        torch.testing.assert_close(output, expected, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(weights, expected_weights, atol=1e-10, rtol=1e-10)


def test_pairwise_self_attention_without_position_encoding():
    module = attention_module("pairwise", "subtraction", 3, use_position_encoding=False).double()
    assert module.position_encoding is None
    assert module.weight_encoding.input_norm.num_features == 4, "delta only: no position channels"
    x = torch.randn(1, 16, 4, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(module(x)[0], reference_self_attention(module, x)[0], atol=1e-10, rtol=1e-10)


def test_pairwise_weights_are_a_softmax_over_the_footprint():
    module = attention_module("pairwise", "subtraction", 3)
    with torch.no_grad():
        _, weights = module(torch.randn(2, 16, 4, 4), output_attentions=True)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-6, rtol=0)


# --- borders, relative positions and weight sharing ---------------------------------------------------------------


@pytest.mark.parametrize("size, padding", [(5, 1), (5, 3), (4, 3), (2, 1), (7, 2)])
def test_reflection_equals_reflection_pad2d_where_that_is_defined(size, padding):
    """The authors test their kernels against `nn.ReflectionPad2d`; so does this."""
    maps = torch.randn(2, 3, size, size + 1)
    torch.testing.assert_close(reflection_pad(maps, padding), nn.ReflectionPad2d(padding)(maps), atol=0, rtol=0)
    rows = [reflect(i - padding, size) for i in range(size + 2 * padding)]
    assert reflection_indices(size, padding).tolist() == rows


@pytest.mark.parametrize("size, padding", [(2, 3), (3, 3), (1, 3), (2, 5), (3, 7)])
def test_reflection_beyond_the_map_repeats_as_numpy_reflect(size, padding):
    """Where the authors' single reflection would index out of the map (padding >= size), the reflection repeats."""
    maps = torch.randn(1, 2, size, size)
    expected = np.pad(maps.numpy(), ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="reflect")
    if size == 1:
        expected = np.broadcast_to(maps.numpy(), expected.shape)
    np.testing.assert_array_equal(reflection_pad(maps, padding).numpy(), expected)


def test_relative_positions_at_the_corners():
    """The 3x3 footprint of each corner of a 4x5 map: the missing neighbours are the mirrored pixels, so the
    relative coordinate p_i - p_j of a mirrored neighbour is that of the pixel it mirrors."""
    height, width, k = 4, 5, 3
    grid = coordinates(height, width, torch.float64, torch.device("cpu"))
    xs, ys = torch.linspace(-1, 1, width, dtype=torch.float64), torch.linspace(-1, 1, height, dtype=torch.float64)
    assert torch.equal(grid[0, 0, 2], xs) and torch.equal(grid[0, 1, :, 3], ys)
    neighbours = footprints(reflection_pad(grid, 1), k, 0, height)  # (1, 2, 9, H, W)
    # Neighbour rows/columns of each corner, mirrored: (0, 0) sees rows 1, 0, 1 and columns 1, 0, 1.
    corners = {(0, 0): ([1, 0, 1], [1, 0, 1]), (0, 4): ([1, 0, 1], [3, 4, 3]), (3, 0): ([2, 3, 2], [1, 0, 1])}
    corners[(3, 4)] = ([2, 3, 2], [3, 4, 3])
    for (h, w), (rows, columns) in corners.items():
        expected_x = torch.stack([xs[c] for r in rows for c in columns])
        expected_y = torch.stack([ys[r] for r in rows for c in columns])
        assert torch.equal(neighbours[0, 0, :, h, w], expected_x), (h, w)
        assert torch.equal(neighbours[0, 1, :, h, w], expected_y), (h, w)
        relative = grid[0, :, h, w, None] - neighbours[0, :, :, h, w]
        assert torch.equal(relative[:, 4], torch.zeros(2, dtype=torch.float64)), "the centre is the pixel itself"


def test_aggregation_shares_weights_interleaved():
    """Value channel c uses weight channel c mod C_w (the authors' `c % weight_channels`), not c // (C / C_w)."""
    values = torch.randn(1, 6, 3, 4, dtype=torch.float64)
    weights = torch.randn(1, 2, 9, 3, 4, dtype=torch.float64)
    output = aggregate(reflection_pad(values, 1), weights)
    expected = torch.zeros_like(output)
    for c, h, w in itertools.product(range(6), range(3), range(4)):
        for j, (hh, ww) in enumerate(footprint_of(h, w, 3, 4, 3)):
            expected[0, c, h, w] += weights[0, c % 2, j, h, w] * values[0, c, hh, ww]
    torch.testing.assert_close(output, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_convolution_is_a_1x1_convolution(bias):
    torch.manual_seed(0)
    convolution = ZooSANPointwiseConvolution(6, 5, bias=bias)
    assert isinstance(convolution, nn.Conv2d) and convolution.weight.shape == (5, 6, 1, 1)
    for maps in (torch.randn(3, 6, 4, 7), torch.randn(2, 6, 9, 4, 5)[:, :, 1]):
        expected = nn.functional.conv2d(maps, convolution.weight, convolution.bias)
        torch.testing.assert_close(convolution(maps), expected, atol=1e-6, rtol=1e-5)
    relations = torch.randn(2, 6, 9, 20)  # (batch, channels, k * k, pixels), as the weight encoding takes them
    expected = nn.functional.conv2d(relations, convolution.weight, convolution.bias)
    torch.testing.assert_close(convolution(relations), expected, atol=1e-6, rtol=1e-5)


# --- chunks, memory and input sizes --------------------------------------------------------------------------------


def test_chunked_evaluation_bounds_the_footprint_tensors():
    """In evaluation no footprint-sized tensor exceeds `attention_chunk_size` elements (or one row's, when a row is
    more), and the logits do not depend on the chunking; in training each map is whole, as the BatchNorms of gamma
    need."""
    chunk_size = 2048
    chunked = SAN.model(attention_chunk_size=chunk_size)
    whole = SAN.model(attention_chunk_size=None)
    pixel_values = SAN.pixel_values(chunked.config, batch_size=2)
    sizes = {stage: [] for stage in range(chunked.config.num_stages)}
    for stage, module in enumerate(chunked.san.encoder.stages):
        module.layers[0].attention.weight_encoding.register_forward_hook(
            lambda _, inputs, output, stage=stage: sizes[stage].append(max(inputs[0].numel(), output.numel()))
        )
    with torch.no_grad():
        torch.testing.assert_close(chunked(pixel_values).logits, whole(pixel_values).logits, atol=1e-5, rtol=1e-5)
    for stage, module in enumerate(chunked.san.encoder.stages):
        side = 64 >> (stage + 1)
        one_row = 2 * side * module.layers[0].attention.footprint_elements
        assert max(sizes[stage]) <= max(chunk_size, one_row), stage
        assert len(sizes[stage]) == min(side, max(1, side // max(1, chunk_size // one_row))), stage
    assert len(sizes[0]) > 1, "no map was split"
    attention = chunked.san.encoder.stages[0].layers[0].attention
    attention.train()
    assert attention.rows_per_chunk(2, 32, 32) == 32


def test_small_inputs_run_and_too_small_ones_are_refused():
    """The authors' SAN fails below 128 px (a 7x7 footprint on a 3x3 map); ours repeats the reflection and runs down
    to 32 px, the size its five 2x2 max-pools leave one pixel of."""
    with torch.device("meta"):
        config = hf_vits.create_config("san10-pairwise", num_labels=5, attention_chunk_size=None)
    model = ZooSANForImageClassification(config).eval()
    with torch.no_grad():
        for size in (32, 64, 100):
            logits = model(torch.randn(1, 3, size, size)).logits
            assert logits.shape == (1, 5) and torch.isfinite(logits).all()
        with pytest.raises(ValueError, match="at least 32x32"):
            model(torch.randn(1, 3, 31, 64))


def test_other_input_sizes_run():
    model = SAN.model()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 80, 48), output_hidden_states=True)
    assert outputs.logits.shape == (1, len(LABELS))
    assert outputs.hidden_states[-1].shape == (1, 16, 2, 1)


# --- the paper's models --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(PARAMETER_COUNTS))
def test_parameter_counts_are_the_authors_exactly(variant):
    with torch.device("meta"):
        model = hf_vits.create_model(variant)
    assert sum(p.numel() for p in model.parameters()) == PARAMETER_COUNTS[variant]


def test_released_relations_and_footprints():
    for variant in hf_vits.list_variants("san"):
        config = hf_vits.create_config(variant.name)
        expected = "subtraction" if config.self_attention_type == "pairwise" else "concatenation"
        assert config.relation_type == expected
        assert config.kernel_sizes == [3, 7, 7, 7, 7] and config.share_planes == 8
        assert (config.relation_reduction, config.bottleneck_reduction) == (16, 4)


def test_reference_initialisation():
    """PyTorch's defaults, which the authors keep: unit BatchNorms, Kaiming-uniform convolutions."""
    model = SAN.model()
    layer = model.san.encoder.stages[1].layers[0]
    assert torch.equal(layer.normalization_before.weight, torch.ones(16))
    weight = layer.attention.value.weight
    bound = 1 / weight[0].numel() ** 0.5
    assert weight.abs().max() <= bound and weight.std() > bound / 3
