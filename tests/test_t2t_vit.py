"""T2T-ViT: the battery (Performer and transformer T2T layers), and correctness from the definitions, since no library
ships the architecture: the soft split against an explicit patch-gathering loop, re-structurization against explicit
indexing, the Performer's kernel estimate (unbiased) and its attention (converging to softmax attention), the
attention scales, the sinusoid table, and the authors' parameter counts and MACs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec, drop_path_modules
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import hf_vits
from hf_vits import (
    ZooT2TViTConfig,
    ZooT2TViTForImageClassification,
    ZooT2TViTImageProcessor,
    ZooT2TViTImageProcessorPil,
    ZooT2TViTModel,
)
from hf_vits.modeling.t2t_vit.configuration_t2t_vit import soft_split_grid
from hf_vits.modeling.t2t_vit.modeling_t2t_vit import (
    ZooT2TViTPerformerAttention,
    positive_random_features,
    sinusoid_position_table,
)

# 64 px: soft splits to 16, 8 and 4 tokens a side (16 tokens and the class token in the backbone). The Performer's
# dropout is off, as every other dropout of the battery's models: it compares separate training passes.
TINY_T2T_VIT = {
    "image_size": 64,
    "token_dim": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "mlp_ratio": 2.0,
    "performer_dropout_prob": 0.0,
}


@dataclass(frozen=True)
class T2TViTSpec(ArchitectureSpec):
    """T2T-ViT's token grid is the soft splits' (stride 16 overall, with overlapping padded kernels)."""

    def sequence_length(self, config, height, width):
        rows, columns = soft_split_grid(
            (height, width), config.soft_split_kernel_sizes, config.soft_split_strides, config.soft_split_paddings
        )
        return rows * columns + self.num_prefix_tokens


# The reference's parameters without gradient, which its parameter counts include: persistent buffers here.
COUNTED_BUFFERS = ("position_embeddings", "random_features")

INVALID_CONFIGS = (
    ("hidden_size", {"hidden_size": 30, "num_attention_heads": 4}),
    ("tokens_to_token_type", {"tokens_to_token_type": "convolution"}),
    ("soft_split_strides", {"soft_split_strides": [4, 2]}),
    ("soft_split_kernel_sizes", {"soft_split_kernel_sizes": [7, 0, 3]}),
    ("soft_split_paddings", {"soft_split_paddings": [2, -1, 1]}),
    ("token_dim", {"token_dim": 0}),
    ("performer_kernel_ratio", {"performer_kernel_ratio": 0.05}),
    ("attention_scale", {"attention_scale": -1.0}),
    ("mlp_ratio", {"mlp_ratio": 0.0}),
    ("image_size", {"image_size": 2}),
    ("image_size", {"image_size": (64, 64, 3)}),
    ("performer_dropout_prob", {"performer_dropout_prob": 1.0}),
    ("hidden_dropout_prob", {"hidden_dropout_prob": 1.5}),
    ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
    ("drop_path_rate", {"drop_path_rate": 1.0}),
)

T2T_VIT = T2TViTSpec(
    name="t2t_vit",
    config_class=ZooT2TViTConfig,
    model_class=ZooT2TViTModel,
    classification_class=ZooT2TViTForImageClassification,
    processor_classes={"torchvision": ZooT2TViTImageProcessor, "pil": ZooT2TViTImageProcessorPil},
    tiny_config=TINY_T2T_VIT,
    no_weight_decay_suffixes=("cls_token",),
    invalid_configs=INVALID_CONFIGS,
    counted_buffers=COUNTED_BUFFERS,
    round_trip_overrides={
        "image_size": (64, 48),
        "tokens_to_token_type": "transformer",
        "soft_split_kernel_sizes": [5, 3, 3],
        "soft_split_strides": [2, 2, 2],
        "soft_split_paddings": [1, 1, 1],
        "tokens_to_token_mlp_ratio": 2.0,
        "performer_kernel_ratio": 1.0,
        "performer_epsilon": 1e-6,
        "performer_dropout_prob": 0.0,
        "qkv_bias": True,
        "attention_scale": 0.125,
        "hidden_act": "relu",
        "layer_norm_eps": 1e-6,
        "hidden_dropout_prob": 0.05,
        "attention_probs_dropout_prob": 0.02,
        "drop_path_rate": 0.1,
        "initializer_range": 0.01,
    },
)


class TestT2TViT(ArchitectureBattery):
    spec = T2T_VIT


class TestT2TViTTransformerLayer(ArchitectureBattery):
    """T2T-ViT_t: the T2T layers are softmax transformer layers, through the attention interface as well. Narrower
    than the Performer's tiny model: three softmax stages ahead of the backbone, on the sdpa-vs-eager check's
    sharpened weights, would otherwise bring the two kernels' float32 rounding alone close to its 1e-5. The saved
    folder's remote code is the one the Performer battery loads, so that slow check runs there only."""

    test_remote_code = None

    spec = T2TViTSpec(
        name="t2t_vit",
        config_class=ZooT2TViTConfig,
        model_class=ZooT2TViTModel,
        classification_class=ZooT2TViTForImageClassification,
        processor_classes={"torchvision": ZooT2TViTImageProcessor, "pil": ZooT2TViTImageProcessorPil},
        tiny_config={
            **TINY_T2T_VIT,
            "tokens_to_token_type": "transformer",
            "token_dim": 4,
            "hidden_size": 16,
            "num_attention_heads": 2,
        },
        no_weight_decay_suffixes=("cls_token",),
        invalid_configs=INVALID_CONFIGS[:2],
        check_variants=False,
    )


def tiny(seed: int = 0, **overrides) -> ZooT2TViTForImageClassification:
    return T2T_VIT.model(seed=seed, **overrides)


# --- soft split and re-structurization ----------------------------------------------------------------------------


def gather_patches(image: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """Soft split by definition: for each patch position (row-major), the padded image's values under the kernel,
    channel by channel and, within a channel, row by row."""
    batch, channels, height, width = image.shape
    padded = torch.zeros(batch, channels, height + 2 * padding, width + 2 * padding, dtype=image.dtype)
    padded[:, :, padding : padding + height, padding : padding + width] = image
    rows = (height + 2 * padding - kernel) // stride + 1
    columns = (width + 2 * padding - kernel) // stride + 1
    tokens = torch.empty(batch, rows * columns, channels * kernel * kernel, dtype=image.dtype)
    for row in range(rows):
        for column in range(columns):
            feature = 0
            for channel in range(channels):
                for i in range(kernel):
                    for j in range(kernel):
                        tokens[:, row * columns + column, feature] = padded[
                            :, channel, row * stride + i, column * stride + j
                        ]
                        feature += 1
    return tokens


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), [(7, 4, 2, (13, 10)), (3, 2, 1, (7, 9))])
def test_soft_split_equals_explicit_patch_gathering(kernel, stride, padding, size):
    splits = {"soft_split_kernel_sizes": [kernel, 3, 3], "soft_split_strides": [stride, 2, 2]}
    model = tiny(**splits, soft_split_paddings=[padding, 1, 1])
    tokens_to_token = model.t2t_vit.embeddings.tokens_to_token
    image = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = gather_patches(image, kernel, stride, padding)
    assert torch.equal(tokens_to_token.soft_split(image, 0), expected)


def test_soft_split_patches_overlap():
    """Kernel 7 at stride 4: neighbouring patches share 3 columns of pixels, so a pixel feeds several tokens."""
    model = tiny()
    image = torch.zeros(1, 3, 64, 64)
    image[0, 0, 10, 10] = 1.0
    tokens = model.t2t_vit.embeddings.tokens_to_token.soft_split(image, 0)
    # Padded, the pixel sits at (12, 12): under the patches of rows 2 and 3 and columns 2 and 3 (4r .. 4r + 6).
    touched = (tokens[0] != 0).any(dim=-1).nonzero().flatten().tolist()
    assert touched == [2 * 16 + 2, 2 * 16 + 3, 3 * 16 + 2, 3 * 16 + 3]


def test_tokens_to_token_equals_its_definition():
    """Split, T2T layer, fold back row by row, split again, twice, then project: the module equals the steps
    written out with the explicit patch gathering and explicit indexing."""
    model = tiny(tokens_to_token_type="transformer")
    module = model.t2t_vit.embeddings.tokens_to_token
    pixel_values = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tokens = gather_patches(pixel_values, 7, 4, 2)
        rows, columns = 12, 10
        for layer in module.layers:
            tokens = layer(tokens)
            image = torch.empty(2, tokens.shape[-1], rows, columns)
            for row in range(rows):
                for column in range(columns):
                    image[:, :, row, column] = tokens[:, row * columns + column]
            tokens = gather_patches(image, 3, 2, 1)
            rows, columns = (rows + 1) // 2, (columns + 1) // 2
        expected = module.projection(tokens)
        actual = module(pixel_values)
    assert actual.shape == (2, 3 * 3, 32)
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)


def test_token_grid_of_the_paper():
    """224 px: 56, 28 and 14 tokens a side after the three soft splits (196 backbone tokens), 24 a side at 384."""
    config = hf_vits.create_config("t2t-vit-14")
    assert soft_split_grid((224, 224), [7], [4], [2]) == (56, 56)
    assert soft_split_grid((224, 224), [7, 3], [4, 2], [2, 1]) == (28, 28)
    assert config.grid_size == (14, 14)
    assert hf_vits.create_config("t2t-vit-14-384").grid_size == (24, 24)


# --- the T2T layers -----------------------------------------------------------------------------------------------


def test_t2t_layer_residual_comes_from_the_values():
    """The attention maps the input width to token_dim; the residual is its values, then the MLP's is ordinary."""
    model = tiny(tokens_to_token_type="transformer")
    layer = model.t2t_vit.embeddings.tokens_to_token.layers[1]
    attention = layer.attention
    tokens = torch.randn(2, 64, 8 * 9, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        normed = layer.layernorm_before(tokens)
        query, key, value = attention.query_key_value(normed).split(8, dim=-1)
        probabilities = (query @ key.transpose(1, 2) * 72**-0.5).softmax(-1)
        hidden = value + attention.proj(probabilities @ value)
        expected = hidden + layer.mlp.fc2(nn.functional.gelu(layer.mlp.fc1(layer.layernorm_after(hidden))))
        actual = layer(tokens)
    assert attention.scaling == 72**-0.5, "the reference scales by the input width, not token_dim"
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)


def test_performer_attention_equals_its_kernel_formula():
    """y_t = sum_s phi(q_t).phi(k_s) v_s / (sum_s phi(q_t).phi(k_s) + eps), with keys, queries and values taken in
    that order from the fused projection (the reference's `kqv`)."""
    model = tiny()
    attention = model.t2t_vit.embeddings.tokens_to_token.layers[0].attention
    tokens = torch.randn(2, 5, 147, generator=torch.Generator().manual_seed(3)) * 0.3
    with torch.no_grad():
        projected = attention.key_query_value(tokens)
        key, query, value = projected[..., :8], projected[..., 8:16], projected[..., 16:]
        features = attention.random_features
        expected = torch.empty(2, 5, 8)
        for b in range(2):
            for t in range(5):
                weights = []
                for s in range(5):
                    phi_q = torch.exp(features @ query[b, t] - query[b, t].dot(query[b, t]) / 2) / math.sqrt(4)
                    phi_k = torch.exp(features @ key[b, s] - key[b, s].dot(key[b, s]) / 2) / math.sqrt(4)
                    weights.append(phi_q.dot(phi_k))
                weights = torch.stack(weights)
                expected[b, t] = (weights[:, None] * value[b]).sum(0) / (weights.sum() + 1e-8)
        output, values = attention(tokens)
    torch.testing.assert_close(values, value)
    torch.testing.assert_close(output, attention.proj(expected), atol=1e-6, rtol=1e-5)


def test_positive_random_features_are_unbiased():
    """With w ~ N(0, I), every single feature's product exp(w.q - |q|^2/2) exp(w.k - |k|^2/2) has expectation
    exp(q.k): the sample mean over many independent draws lies within 4 standard errors of it for every pair."""
    generator = torch.Generator().manual_seed(4)
    queries = torch.randn(6, 4, generator=generator) * 0.4
    keys = torch.randn(6, 4, generator=generator) * 0.4
    draws = torch.randn(200_000, 4, generator=generator, dtype=torch.float64)
    # One feature per draw (m = 1): phi(q) phi(k) is a single unbiased sample of the kernel.
    samples = positive_random_features(queries.double(), draws) * positive_random_features(keys.double(), draws)
    samples = samples * draws.shape[0]  # undo the 1/sqrt(m) of each factor: per-feature products
    mean, standard_error = samples.mean(-1), samples.std(-1) / math.sqrt(draws.shape[0])
    exact = torch.exp((queries.double() * keys.double()).sum(-1))
    assert ((mean - exact).abs() < 4 * standard_error).all(), (mean, exact, standard_error)
    assert (standard_error / exact < 0.01).all(), "too few draws for the check to mean anything"


def test_performer_attention_converges_to_softmax_attention():
    """With Gaussian random features, the Performer's output approaches softmax(q k^T) v (unscaled scores) as the
    number of features grows; the error falls roughly as 1/sqrt(m)."""
    config = ZooT2TViTConfig(**{**TINY_T2T_VIT, "token_dim": 4, "performer_kernel_ratio": 2**16 / 4})
    torch.manual_seed(5)
    attention = ZooT2TViTPerformerAttention(config, in_features=6).eval()
    generator = torch.Generator().manual_seed(6)
    with torch.no_grad():
        attention.key_query_value.weight.copy_(torch.randn(12, 6, generator=generator) * 0.1)
        attention.key_query_value.bias.zero_()
        attention.proj.weight.copy_(torch.eye(4))
        attention.proj.bias.zero_()
        tokens = torch.randn(2, 10, 6, generator=generator)
        key, query, value = attention.key_query_value(tokens).split(4, dim=-1)
        exact = (query @ key.transpose(1, 2)).softmax(-1) @ value
        all_features = torch.randn(2**16, 4, generator=generator)
        errors = []
        for num_features in (16, 256, 4096, 2**16):
            attention.random_features = all_features[:num_features]
            errors.append((attention(tokens)[0] - exact).abs().max().item())
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 0.005 and errors[-1] < errors[0] / 8, errors
    # The scores are far from uniform: plain averaging of the values is nowhere near.
    assert (exact - value.mean(dim=1, keepdim=True)).abs().max() > 10 * errors[-1]


def test_performer_features_of_the_reference_initialisation():
    """The reference draws an orthogonal (m, d) matrix scaled by sqrt(m): orthogonal rows of norm sqrt(m), m = d/2."""
    model = tiny(token_dim=16)
    features = model.t2t_vit.embeddings.tokens_to_token.layers[0].attention.random_features
    assert features.shape == (8, 16)
    assert "t2t_vit.embeddings.tokens_to_token.layers.0.attention.random_features" in dict(model.named_buffers())
    torch.testing.assert_close(features @ features.T, 8 * torch.eye(8), atol=1e-5, rtol=0)


def test_performer_runs_its_kernel_in_float32_under_bfloat16():
    model = tiny().to(torch.bfloat16)
    attention = model.t2t_vit.embeddings.tokens_to_token.layers[0].attention
    tokens = torch.randn(1, 256, 147, dtype=torch.bfloat16)
    with torch.no_grad():
        output, _ = attention(tokens)
    assert output.dtype == torch.bfloat16 and torch.isfinite(output).all()


# --- backbone -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention_scale", [None, 32**-0.5])
def test_backbone_attention_scale(attention_scale):
    """Scores scaled by head_dim^-0.5 by default, by `attention_scale` when set (hidden_size^-0.5 for the authors'
    released weights), on eager and sdpa alike."""
    model = tiny(attention_scale=attention_scale)
    attention = model.t2t_vit.encoder.layers[0].attention
    scale = 16**-0.5 if attention_scale is None else attention_scale
    assert attention.scaling == scale
    with torch.no_grad():
        for parameter in attention.qkv.parameters():
            parameter.mul_(15)
    tokens = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        output, probabilities = attention(tokens, output_attentions=True)
        sdpa_output, _ = attention(tokens)
        query, key, _ = attention.qkv(tokens).reshape(2, 17, 3, 2, 16).permute(2, 0, 3, 1, 4)
        expected = (query @ key.transpose(-2, -1) * scale).softmax(-1)
    torch.testing.assert_close(probabilities, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sdpa_output, output, atol=1e-5, rtol=1e-5)


def test_sinusoid_table_equals_its_formula():
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), in float64, then float32."""
    num_positions, dim = 17, 10
    expected = np.empty((num_positions, dim))
    for position in range(num_positions):
        for channel in range(dim):
            angle = position / 10000 ** (2 * (channel // 2) / dim)
            expected[position, channel] = math.sin(angle) if channel % 2 == 0 else math.cos(angle)
    table = sinusoid_position_table(num_positions, dim)
    assert table.shape == (1, num_positions, dim) and table.dtype == torch.float32
    assert torch.equal(table[0], torch.from_numpy(expected).float())


def test_position_table_is_fixed_and_saved():
    model = tiny()
    table = model.t2t_vit.embeddings.position_embeddings
    assert torch.equal(table, sinusoid_position_table(17, 32))
    assert "t2t_vit.embeddings.position_embeddings" in model.state_dict()
    assert not any(name.endswith(COUNTED_BUFFERS) for name, _ in model.named_parameters()), "never trained"


def test_loading_keeps_a_checkpoints_own_position_table_and_features(tmp_path):
    """A checkpoint's table (resampled by fine-tuning, say) and random features are loaded, not recomputed."""
    model = tiny()
    with torch.no_grad():
        model.t2t_vit.embeddings.position_embeddings.add_(0.5)
        model.t2t_vit.embeddings.tokens_to_token.layers[1].attention.random_features.mul_(2)
    model.save_pretrained(tmp_path)
    loaded = ZooT2TViTForImageClassification.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_interpolated_position_table_is_the_bicubic_resampling():
    """As the reference's transfer-learning code resizes it: the class position kept, the grid resampled bicubically
    (here from 4x4 to 3x3 for a 48x40 input)."""
    embeddings = tiny().t2t_vit.embeddings
    table = embeddings.position_embeddings
    grid = table[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    resampled = nn.functional.interpolate(grid, size=(3, 3), mode="bicubic", align_corners=False)
    expected = torch.cat((table[:, :1], resampled.permute(0, 2, 3, 1).reshape(1, 9, 32)), dim=1)
    torch.testing.assert_close(embeddings.interpolate_pos_encoding(48, 40), expected)


def test_classifier_reads_the_normed_class_token():
    model = tiny()
    pixel_values = T2T_VIT.pixel_values(model.config)
    with torch.no_grad():
        outputs = model.t2t_vit(pixel_values, output_hidden_states=True)
        logits = model(pixel_values).logits
    torch.testing.assert_close(outputs.pooler_output, model.t2t_vit.layernorm(outputs.hidden_states[-1])[:, 0])
    torch.testing.assert_close(logits, model.classifier(outputs.pooler_output))


def test_stochastic_depth_is_in_the_backbone_only():
    with torch.device("meta"):
        model = hf_vits.create_model("t2t-vit-7", drop_path_rate=0.1)
    rates = [module.drop_prob for module in drop_path_modules(model)]
    assert rates == pytest.approx([0.1 * index / 6 for index in range(7)])


def test_performer_dropout_is_active_in_training_only():
    model = tiny(performer_dropout_prob=0.5)
    layer = model.t2t_vit.embeddings.tokens_to_token.layers[0]
    tokens = torch.randn(1, 256, 147)
    with torch.no_grad():
        evaluated = layer(tokens)
        assert torch.equal(layer(tokens), evaluated)
        layer.train()
        assert not torch.allclose(layer(tokens), evaluated)


def test_input_too_small_is_a_clear_error():
    model = tiny()
    with pytest.raises(ValueError, match="too small"), torch.no_grad():
        model(torch.randn(1, 3, 2, 2), interpolate_pos_encoding=True)


def test_reference_initialisation():
    model = tiny(initializer_range=0.02, hidden_size=64, num_attention_heads=2)
    cls_token = model.t2t_vit.embeddings.cls_token
    assert 0.015 < cls_token.std() < 0.025
    weight = model.t2t_vit.encoder.layers[0].attention.qkv.weight
    assert 0.015 < weight.std() < 0.025
    assert torch.equal(model.t2t_vit.encoder.layers[0].mlp.fc1.bias, torch.zeros(128))


# --- variants: the authors' figures ---------------------------------------------------------------------------------

AUTHORS_TABLE = {  # name: (T2T layer, hidden, depth, heads, mlp ratio, params M, G MACs, top-1)
    "t2t-vit-7": ("performer", 256, 7, 4, 2.0, 4.3, 1.1, 71.7),
    "t2t-vit-10": ("performer", 256, 10, 4, 2.0, 5.9, 1.5, 75.2),
    "t2t-vit-12": ("performer", 256, 12, 4, 2.0, 6.9, 1.8, 76.5),
    "t2t-vit-14": ("performer", 384, 14, 6, 3.0, 21.5, 4.8, 81.5),
    "t2t-vit-19": ("performer", 448, 19, 7, 3.0, 39.2, 8.5, 81.9),
    "t2t-vit-24": ("performer", 512, 24, 8, 3.0, 64.1, 13.8, 82.3),
    "t2t-vit-t-14": ("transformer", 384, 14, 6, 3.0, 21.5, 6.1, 81.7),
    "t2t-vit-t-19": ("transformer", 448, 19, 7, 3.0, 39.2, 9.8, 82.4),
    "t2t-vit-t-24": ("transformer", 512, 24, 8, 3.0, 64.1, 15.0, 82.6),
    "t2t-vit-14-384": ("performer", 384, 14, 6, 3.0, 21.7, None, 83.3),
}


def test_variants_are_the_authors():
    variants = {v.name: v for v in hf_vits.list_variants("t2t_vit")}
    assert set(variants) == set(AUTHORS_TABLE)
    for name, (layer, hidden, depth, heads, ratio, params, macs, top1) in AUTHORS_TABLE.items():
        config = hf_vits.create_config(name)
        assert (config.tokens_to_token_type, config.hidden_size, config.num_hidden_layers) == (layer, hidden, depth)
        assert (config.num_attention_heads, config.mlp_ratio, config.token_dim) == (heads, ratio, 64)
        assert (variants[name].params_m, variants[name].gflops, variants[name].top1) == (params, macs, top1)
        assert "MACs" in variants[name].source


@pytest.mark.parametrize("name", list(AUTHORS_TABLE))
def test_parameter_count_rounds_to_the_authors(name):
    """Counted as the authors count (their frozen position table and random features included), every model rounds
    to the published one-decimal figure."""
    with torch.device("meta"):
        model = hf_vits.create_model(name)
    count = sum(p.numel() for p in model.parameters())
    count += sum(b.numel() for buffer_name, b in model.named_buffers() if buffer_name.endswith(COUNTED_BUFFERS))
    assert round(count / 1e6, 1) == AUTHORS_TABLE[name][5], count


@pytest.mark.parametrize("name", [name for name, row in AUTHORS_TABLE.items() if row[6] is not None])
def test_multiply_accumulates_match_the_authors(name):
    """Matrix-product MACs (FLOPs / 2, counted on the meta device) within 5% of the authors' rounded figures."""
    with torch.device("meta"):
        model = hf_vits.create_model(name, attn_implementation="eager").eval()
        pixel_values = torch.randn(1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(pixel_values)
    macs = counter.get_total_flops() / 2e9
    assert macs == pytest.approx(AUTHORS_TABLE[name][6], rel=0.05), macs


def test_processor_reproduces_the_reference_transform(photos):
    """timm 0.3.4's evaluation transform with the models' crop_pct 0.9: Resize(floor(224 / 0.9) = 248, bicubic),
    CenterCrop(224), ImageNet mean and std (here with torchvision's PIL transforms)."""
    from torchvision import transforms

    reference = transforms.Compose(
        [
            transforms.Resize(248, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    processor = hf_vits.create_image_processor("t2t-vit-14", backend="pil")
    for name, photo in photos.items():
        ours = torch.as_tensor(np.asarray(processor(photo, return_tensors="np").pixel_values[0]))
        torch.testing.assert_close(ours, reference(photo), atol=1e-5, rtol=0, msg=name)
    processor_384 = hf_vits.create_image_processor("t2t-vit-14-384")
    assert processor_384.size.shortest_edge == 426 and processor_384.crop_size.height == 384
