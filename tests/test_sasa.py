"""Stand-Alone Self-Attention: the battery with the ResNet shape hooks, plus the local attention and the attention
stem against explicit loops over neighbourhoods (borders and corners included), the relative position indexing,
chunking, downsampling, the conv-stem models and the paper's parameter counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec, as_pair

import hf_vits
from hf_vits import (
    ZooSASAConfig,
    ZooSASAForImageClassification,
    ZooSASAImageProcessor,
    ZooSASAImageProcessorPil,
    ZooSASAModel,
)
from hf_vits.modeling.sasa import modeling_sasa
from hf_vits.modeling.sasa.modeling_sasa import ZooSASAAttentionStem, ZooSASALocalAttention

# 32 px: the attention stem's 4x4 blocks give an 8x8 map, then two stages of 8x8 and 4x4. A 3x3 neighbourhood in
# 3x3 query blocks leaves partial blocks at the bottom and right of both maps (8 and 4 are not multiples of 3).
# Widths of 16 and 32 channels in the attention (8 and 16 a head) keep the attention far from uniform on the
# battery's sharpened weights; with one block in the last stage, sdpa's fused kernel and eager stay within fp32
# rounding of the battery's tolerance (a second block there amplifies the sharpened activations past 20).
TINY_SASA = {
    "image_size": 32,
    "stem_hidden_size": 32,
    "stem_num_heads": 2,
    "stem_num_mixtures": 2,
    "hidden_sizes": [64, 128],
    "depths": [2, 1],
    "kernel_size": 3,
    "num_attention_heads": 2,
}


@dataclass(frozen=True)
class SASASpec(ArchitectureSpec):
    """A ResNet's outputs: maps (batch, C, H, W) per stage, per-pixel attention weights over the neighbourhood."""

    def resolutions(self, config: ZooSASAConfig, size=None) -> list[tuple[int, int]]:
        """The stem's map, then each stage's."""
        height, width = size or self.input_size(config)
        resolution = (height // config.stem_window_size, width // config.stem_window_size)
        resolutions = [resolution]
        for _ in config.depths:
            resolutions.append(resolution)
            resolution = (math.ceil(resolution[0] / 2), math.ceil(resolution[1] / 2))
        for stage in range(2, len(resolutions)):
            previous = resolutions[stage - 1]
            resolutions[stage] = (math.ceil(previous[0] / 2), math.ceil(previous[1] / 2))
        return resolutions

    def last_hidden_state_shape(self, config, batch_size, size=None):
        return (batch_size, config.hidden_sizes[-1], *self.resolutions(config, size)[-1])

    def hidden_states_shapes(self, config, batch_size):
        resolutions = self.resolutions(config)
        widths = [config.stem_hidden_size, *config.hidden_sizes]
        return [(batch_size, width, *resolution) for width, resolution in zip(widths, resolutions, strict=True)]

    def attention_shapes(self, config, batch_size):
        resolutions = self.resolutions(config)
        height, width = self.input_size(config)
        shapes = [(batch_size, config.stem_num_heads, height, width, config.stem_window_size**2)]
        keys = config.kernel_size**2
        for stage, depth in enumerate(config.depths):
            # The first block of a downsampling stage attends at the previous resolution, then pools.
            first = resolutions[stage] if stage > 0 else resolutions[1]
            shapes.append((batch_size, config.num_attention_heads, *first, keys))
            shapes += [(batch_size, config.num_attention_heads, *resolutions[stage + 1], keys)] * (depth - 1)
        return shapes


SASA = SASASpec(
    name="sasa",
    config_class=ZooSASAConfig,
    model_class=ZooSASAModel,
    classification_class=ZooSASAForImageClassification,
    processor_classes={"torchvision": ZooSASAImageProcessor, "pil": ZooSASAImageProcessorPil},
    tiny_config=TINY_SASA,
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("position_embeddings", "mixture_embeddings"),
    invalid_configs=(
        ("stem_type", {"stem_type": "patchify"}),
        ("kernel_size", {"kernel_size": 4}),
        ("kernel_size", {"kernel_size": 0}),
        ("num_attention_heads", {"num_attention_heads": 3}),
        ("hidden_sizes", {"hidden_sizes": [16, 30]}),
        ("depths", {"depths": [1, 2, 1]}),
        ("depths", {"depths": [1, 0]}),
        ("stem_num_heads", {"stem_num_heads": 3}),
        ("stem_window_size", {"stem_window_size": 0}),
        ("stem_num_mixtures", {"stem_num_mixtures": 0}),
        ("image_size", {"image_size": 30}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
    ),
    round_trip_overrides={
        "image_size": (32, 48),
        "stem_type": "convolution",
        "stem_window_size": 2,
        "stem_num_mixtures": 3,
        "bottleneck_ratio": 2,
        "hidden_act": "gelu",
        "batch_norm_eps": 1e-3,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
        "initializer_range": 0.01,
    },
    deep_config_overrides={"depths": [2, 2]},
)


class TestSASA(ArchitectureBattery):
    spec = SASA


# --- the local attention against its definition -------------------------------------------------------------------


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter redrawn from N(0, 1), so that no term of the logits hides below the tolerance."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype))
    return module


def reference_local_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    row_embeddings: torch.Tensor,
    column_embeddings: torch.Tensor,
    num_heads: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's equation 3, pixel by pixel: softmax over the neighbourhood's pixels inside the image of
    q_ij . (k_ab + [r_row[a - i], r_col[b - j]]), the head's own halves of the embeddings; weights 0 outside."""
    batch, channels, height, width = query.shape
    kernel = row_embeddings.shape[0]
    pad, head_dim = kernel // 2, channels // num_heads
    half = head_dim // 2
    output = torch.zeros_like(query)
    weights = torch.zeros(batch, num_heads, height, width, kernel * kernel, dtype=query.dtype)
    for b in range(batch):
        for head in range(num_heads):
            channels_of_head = slice(head * head_dim, (head + 1) * head_dim)
            halves = slice(head * half, (head + 1) * half)
            for i in range(height):
                for j in range(width):
                    logits, values, slots = [], [], []
                    for row_offset in range(-pad, pad + 1):
                        for column_offset in range(-pad, pad + 1):
                            a, c = i + row_offset, j + column_offset
                            if not (0 <= a < height and 0 <= c < width):
                                continue
                            relative = torch.cat(
                                (
                                    row_embeddings[row_offset + pad, halves],
                                    column_embeddings[column_offset + pad, halves],
                                )
                            )
                            q = query[b, channels_of_head, i, j]
                            logits.append(q @ (key[b, channels_of_head, a, c] + relative))
                            values.append(value[b, channels_of_head, a, c])
                            slots.append((row_offset + pad) * kernel + column_offset + pad)
                    probabilities = torch.softmax(torch.stack(logits), dim=0)
                    output[b, channels_of_head, i, j] = probabilities @ torch.stack(values)
                    weights[b, head, i, j, slots] = probabilities
    return output, weights


def local_attention_layer(dim: int, heads: int, kernel: int, attn_implementation: str) -> ZooSASALocalAttention:
    widths = {"hidden_sizes": [8 * heads, 16 * heads]}  # bottleneck widths 2 and 4 channels a head
    config = ZooSASAConfig(**{**TINY_SASA, **widths, "num_attention_heads": heads, "kernel_size": kernel})
    config._attn_implementation = attn_implementation
    return randomise(ZooSASALocalAttention(config, dim).double()).eval()


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize(
    ("dim", "heads", "kernel", "height", "width"),
    [
        (8, 2, 3, 5, 7),  # partial query blocks at the bottom and the right
        (12, 3, 5, 4, 6),  # neighbourhood taller than the map: every pixel is near a border
        (8, 1, 7, 9, 8),  # the paper's k = 7
        (4, 2, 3, 1, 1),  # a single pixel: it attends to itself alone
    ],
)
def test_local_attention_equals_the_explicit_loop(attn_implementation, dim, heads, kernel, height, width):
    layer = local_attention_layer(dim, heads, kernel, attn_implementation)
    hidden_states = torch.randn(2, dim, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # Logits of a few units: eager takes the softmax in float32 whatever the input's precision.
    hidden_states = hidden_states * 0.3
    with torch.no_grad():
        output, _ = layer(hidden_states)
        _, weights = layer(hidden_states, output_attentions=True)
        expected, expected_weights = reference_local_attention(
            layer.query(hidden_states),
            layer.key(hidden_states),
            layer.value(hidden_states),
            layer.row_position_embeddings,
            layer.column_position_embeddings,
            heads,
        )
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=0)


def test_local_attention_in_float32_matches_the_loop():
    layer = local_attention_layer(16, 2, 7, "sdpa").float()
    hidden_states = torch.randn(1, 16, 10, 9, generator=torch.Generator().manual_seed(2)) * 0.3
    with torch.no_grad():
        output, _ = layer(hidden_states)
        expected, _ = reference_local_attention(
            *(projection(hidden_states).double() for projection in (layer.query, layer.key, layer.value)),
            layer.row_position_embeddings.double(),
            layer.column_position_embeddings.double(),
            2,
        )
    torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=0)


def test_relative_positions_point_the_right_way_at_the_corners():
    """With no content logits and embeddings that reward the offset (row +1, column -1), every pixel attends to the
    pixel below-left of it. Where that pixel lies outside the image, the weight goes evenly to the neighbours that
    share the remaining rewarded offset, and at the bottom-left corner, where neither offset exists, evenly to all
    pixels of the neighbourhood inside the image."""
    kernel, pad, height, width, strength = 3, 1, 4, 5, 60.0
    layer = local_attention_layer(4, 1, kernel, "eager")
    with torch.no_grad():
        layer.key.weight.zero_()
        layer.query.weight.zero_()
        layer.query.weight[0, 0] = layer.query.weight[2, 0] = strength  # q = [s, 0, s, 0] on an input of ones
        layer.row_position_embeddings.zero_()
        layer.column_position_embeddings.zero_()
        layer.row_position_embeddings[pad + 1, 0] = 1.0  # row offset +1: the row below
        layer.column_position_embeddings[pad - 1, 0] = 1.0  # column offset -1: the column to the left
        _, weights = layer(torch.ones(1, 4, height, width, dtype=torch.float64), output_attentions=True)
    weights = weights[0, 0].view(height, width, kernel, kernel)  # (i, j, row offset + pad, column offset + pad)

    def expected(i: int, j: int) -> torch.Tensor:
        inside = torch.zeros(kernel, kernel, dtype=torch.bool)
        for r in range(kernel):
            for c in range(kernel):
                inside[r, c] = 0 <= i + r - pad < height and 0 <= j + c - pad < width
        score = torch.zeros(kernel, kernel, dtype=torch.float64)
        score[pad + 1, :] += 1
        score[:, pad - 1] += 1
        score = torch.where(inside, score, torch.tensor(-1.0))
        best = (score == score.max()) & inside
        return best.double() / best.sum()

    for i, j in [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1), (1, 2), (height - 1, 2), (1, 0)]:
        torch.testing.assert_close(weights[i, j], expected(i, j), atol=1e-12, rtol=0, msg=f"pixel {(i, j)}")
    assert weights[1, 2, pad + 1, pad - 1] == pytest.approx(1.0)  # an inner pixel: the one below-left
    assert weights[height - 1, 0].count_nonzero() == 4  # the corner: its 2x2 neighbours inside the image


def test_chunked_attention_equals_one_chunk(monkeypatch):
    """The block-row chunks that bound memory change nothing, in the body and in the evaluation stem."""
    torch.manual_seed(0)
    model = SASA.model(ZooSASAModel)
    pixel_values = SASA.pixel_values(model.config, batch_size=2)
    with torch.no_grad():
        whole = model(pixel_values, output_attentions=True)
        monkeypatch.setattr(modeling_sasa, "ATTENTION_CHUNK_BYTES", 1)
        chunked = model(pixel_values, output_attentions=True)
    torch.testing.assert_close(chunked.last_hidden_state, whole.last_hidden_state, atol=1e-6, rtol=0)
    for chunked_weights, whole_weights in zip(chunked.attentions, whole.attentions, strict=True):
        torch.testing.assert_close(chunked_weights, whole_weights, atol=1e-6, rtol=0)


# --- the attention stem ---------------------------------------------------------------------------------------------


def reference_attention_stem(stem: ZooSASAAttentionStem, pixel_values: torch.Tensor) -> torch.Tensor:
    """The attention stem pixel by pixel: within each w x w block, q_ij . (k_ab + [r_row[a - i], r_col[b - j]])
    over the block's pixels, values (sum_m p(a, b, m) W_V^m) x_ab with p = softmax_m((emb_row(a) + emb_col(b)) .
    nu_m); then BatchNorm (evaluation), ReLU and the maximum over each block."""
    batch, _, height, width = pixel_values.shape
    window, heads = stem.window, stem.num_heads
    dim = stem.query.out_channels
    head_dim = dim // heads
    half = head_dim // 2
    query = torch.einsum("oi,biyx->boyx", stem.query.weight[:, :, 0, 0], pixel_values)
    key = torch.einsum("oi,biyx->boyx", stem.key.weight[:, :, 0, 0], pixel_values)
    attended = torch.zeros(batch, dim, height, width, dtype=pixel_values.dtype)
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                top, left = i - i % window, j - j % window
                for head in range(heads):
                    channels = slice(head * head_dim, (head + 1) * head_dim)
                    halves = slice(head * half, (head + 1) * half)
                    logits, values = [], []
                    for a in range(top, top + window):
                        for c in range(left, left + window):
                            relative = torch.cat(
                                (
                                    stem.row_position_embeddings[a - i + window - 1, halves],
                                    stem.column_position_embeddings[c - j + window - 1, halves],
                                )
                            )
                            logits.append(query[b, channels, i, j] @ (key[b, channels, a, c] + relative))
                            mixture = torch.softmax(
                                (stem.row_mixture_embeddings[a - top] + stem.column_mixture_embeddings[c - left])
                                @ stem.mixture_embeddings.T,
                                dim=0,
                            )
                            value_matrix = torch.einsum("m,moi->oi", mixture, stem.value_weights)
                            values.append(value_matrix[channels] @ pixel_values[b, :, a, c])
                    attended[b, channels, i, j] = torch.softmax(torch.stack(logits), dim=0) @ torch.stack(values)
    normalised = torch.relu(stem.normalization(attended))
    return torch.nn.functional.max_pool2d(normalised, window)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_attention_stem_equals_the_explicit_loop(attn_implementation):
    config = ZooSASAConfig(**{**TINY_SASA, "stem_window_size": 2, "stem_num_mixtures": 3})
    config._attn_implementation = attn_implementation
    stem = randomise(ZooSASAAttentionStem(config).double()).eval()
    with torch.no_grad():
        stem.normalization.running_var.abs_().add_(0.5)
    pixel_values = torch.randn(2, 3, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        output, _ = stem(pixel_values)
        expected = reference_attention_stem(stem, pixel_values)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)


def test_attention_stem_in_training_uses_batch_statistics_over_the_full_map():
    config = ZooSASAConfig(**TINY_SASA)
    stem = randomise(ZooSASAAttentionStem(config)).train()
    pixel_values = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(4))
    output, _ = stem(pixel_values)
    attended, _ = stem.attend(pixel_values)
    attended = attended.view(2, 2, 3, 4, 4, -1).permute(0, 5, 1, 3, 2, 4).reshape(2, -1, 8, 12)
    flat = attended.transpose(0, 1).reshape(attended.shape[1], -1)
    normalised = (attended - flat.mean(1)[:, None, None]) / (flat.var(1, unbiased=False)[:, None, None] + 1e-5).sqrt()
    normalised = normalised * stem.normalization.weight[:, None, None] + stem.normalization.bias[:, None, None]
    torch.testing.assert_close(output, torch.nn.functional.max_pool2d(torch.relu(normalised), 4), atol=1e-5, rtol=1e-5)


def test_attention_stem_refuses_sizes_its_window_does_not_divide():
    model = SASA.model()
    with pytest.raises(ValueError, match="not divisible"), torch.no_grad():
        model(torch.randn(1, 3, 30, 32))


# --- the ResNet around it -------------------------------------------------------------------------------------------


def test_downsampling_block_pools_after_the_attention():
    """The first block of a later stage: attention at the input resolution, then 2x2 average pooling, as the paper
    replaces a strided 3x3 convolution; odd maps round up like the strided 1x1 shortcut."""
    model = SASA.model(ZooSASAModel)
    block = model.encoder.stages[1][0]
    hidden_states = torch.randn(2, 64, 5, 7)
    with torch.no_grad():
        output = block(hidden_states)[0]
        reduced = block.activation(block.reduction_norm(block.reduction(hidden_states)))
        attended, _ = block.attention(reduced)
        pooled = torch.nn.functional.avg_pool2d(attended, 2, ceil_mode=True)
        branch = block.expansion_norm(block.expansion(block.activation(block.attention_norm(pooled))))
        expected = block.activation(block.shortcut(hidden_states) + branch)
    assert output.shape == (2, 128, 3, 4)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [(32, 32), (45, 37)])
def test_conv_stem_model(size):
    """The "conv-stem + attention" models: the ResNet stem (stride 4) before the same attention stages, at any size."""
    model = SASA.model(stem_type="convolution")
    assert type(model.sasa.embedder).__name__ == "ZooSASAConvolutionStem"
    pixel_values = torch.randn(2, 3, *size)
    outputs = model(pixel_values, output_hidden_states=True, output_attentions=True, labels=torch.tensor([0, 1]))
    stem_size = [(side + 1) // 2 for side in size]
    stem_size = [(side + 1) // 2 for side in stem_size]
    assert outputs.hidden_states[0].shape == (2, 32, *stem_size)
    assert len(outputs.attentions) == sum(TINY_SASA["depths"]), "no stem attention"
    outputs.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("variant", "paper_params", "plain_resnet_params"),
    [("sasa-resnet-26", 10.3, 13.7), ("sasa-resnet-38", 14.1, 19.6), ("sasa-resnet-50", 18.0, 25.6)],
)
def test_parameter_counts_against_the_paper(variant, paper_params, plain_resnet_params):
    """Table 1: the attention models and, for scale, the ResNets they come from (torchvision's, 1000 classes)."""
    import torchvision

    with torch.device("meta"):
        model = hf_vits.create_model(variant)
        conv_stem = hf_vits.create_model(f"{variant}-conv-stem")
        plain = torchvision.models.resnet.ResNet(
            torchvision.models.resnet.Bottleneck, model.config.depths, num_classes=1000
        )
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert count == pytest.approx(paper_params, rel=0.01)
    assert sum(p.numel() for p in conv_stem.parameters()) / 1e6 == pytest.approx(paper_params, rel=0.01)
    assert sum(p.numel() for p in plain.parameters()) / 1e6 == pytest.approx(plain_resnet_params, rel=0.005)
    # A 3x3 convolution (9 c^2) becomes three 1x1 projections and 7 c relative embeddings (3 c^2 + 7 c).
    assert as_pair(model.config.image_size) == (224, 224)
