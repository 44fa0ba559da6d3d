"""LeViT (Graham et al., "LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference", ICCV 2021).

A convolutional stem (four 3x3 convolutions of stride 2 with Hardswish between them) turns the image into a grid of
tokens 16x smaller. Three stages of residual attention and MLP blocks follow on that grid; between two stages a
"shrink" attention block takes its queries on every other token of the grid, halving it, and widens the tokens.
Attention has no position embedding: each head adds a learned bias to its scores, indexed by the absolute offset
(|dy|, |dx|) between query and key. Every linear layer and convolution is followed by a BatchNorm, the activations
are Hardswish, and the mean of the last stage's tokens feeds a classification head and a distillation head (each a
BatchNorm and a linear layer), whose logits are averaged at inference.

Because every BatchNorm directly follows (or, in the heads, precedes) a linear map, it folds into it for inference:
`fuse()` turns the model into plain linear layers and convolutions with biases, computing the same function faster,
and a config with `fused=True` builds (and loads) that form directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_levit import ZooLeViTConfig

# The shrink attention takes its queries on every other token of the grid, in both directions.
SHRINK_STRIDE = 2


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->LeViT
class ZooLeViTDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def _halved(size: int) -> int:
    """The side of a grid after a 3x3 convolution of stride 2 and padding 1, or after taking every other token."""
    return (size - 1) // 2 + 1


def stage_resolutions(config: ZooLeViTConfig, height: int, width: int) -> list[tuple[int, int]]:
    """The (height, width) of each stage's token grid for an input of `height` x `width` pixels."""
    for _ in range(4):
        height, width = _halved(height), _halved(width)
    resolutions = [(height, width)]
    for _ in range(config.num_stages - 1):
        height, width = _halved(height), _halved(width)
        resolutions.append((height, width))
    return resolutions


def _fold_batch_norm(batch_norm: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with which the BatchNorm computes x * scale + shift at inference, per channel."""
    scale = batch_norm.weight / torch.sqrt(batch_norm.running_var + batch_norm.eps)
    return scale, batch_norm.bias - batch_norm.running_mean * scale


class ZooLeViTConvNorm(nn.Module):
    """A 3x3 convolution of stride 2 without bias, then a BatchNorm; in a fused model, one convolution with a bias."""

    def __init__(self, config: ZooLeViTConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.convolution = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=config.fused)
        self.batch_norm = None if config.fused else nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        maps = self.convolution(maps)
        return maps if self.batch_norm is None else self.batch_norm(maps)

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm's inference statistics into the convolution."""
        if self.batch_norm is None:
            return
        scale, shift = _fold_batch_norm(self.batch_norm)
        conv = self.convolution
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, 3, stride=2, padding=1, device=conv.weight.device).to(
            conv.weight.dtype
        )
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_(shift)
        self.convolution, self.batch_norm = fused, None


class ZooLeViTLinearNorm(nn.Module):
    """A linear layer without bias, then a BatchNorm over its output channels with every token a sample; in a fused
    model, one linear layer with a bias. `bn_weight_init` is the BatchNorm's initial scale (0 at the end of a residual
    branch, so that every block starts as the identity)."""

    def __init__(self, config: ZooLeViTConfig, in_features: int, out_features: int, bn_weight_init: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=config.fused)
        self.batch_norm = None
        if not config.fused:
            self.batch_norm = nn.BatchNorm1d(out_features, eps=config.batch_norm_eps)
            # Read by `_init_weights`.
            self.batch_norm.initial_weight = bn_weight_init

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.linear(hidden_states)
        if self.batch_norm is None:
            return hidden_states
        return self.batch_norm(hidden_states.flatten(0, -2)).view_as(hidden_states)

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm's inference statistics into the linear layer."""
        if self.batch_norm is None:
            return
        scale, shift = _fold_batch_norm(self.batch_norm)
        linear = self.linear
        fused = nn.Linear(linear.in_features, linear.out_features, device=linear.weight.device).to(linear.weight.dtype)
        fused.weight.copy_(linear.weight * scale[:, None])
        fused.bias.copy_(shift)
        self.linear, self.batch_norm = fused, None


class ZooLeViTStem(nn.Module):
    """Four 3x3 convolutions of stride 2 (C/8, C/4, C/2 and C channels, each with its BatchNorm), Hardswish between
    them: a 16x smaller grid of C-wide tokens."""

    def __init__(self, config: ZooLeViTConfig):
        super().__init__()
        self.num_channels = config.num_channels
        width = config.hidden_sizes[0]
        channels = [config.num_channels, width // 8, width // 4, width // 2, width]
        self.conv1 = ZooLeViTConvNorm(config, channels[0], channels[1])
        self.conv2 = ZooLeViTConvNorm(config, channels[1], channels[2])
        self.conv3 = ZooLeViTConvNorm(config, channels[2], channels[3])
        self.conv4 = ZooLeViTConvNorm(config, channels[3], channels[4])
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        maps = self.activation(self.conv1(pixel_values))
        maps = self.activation(self.conv2(maps))
        maps = self.activation(self.conv3(maps))
        return self.conv4(maps)


def attention_bias_index(
    query_grid: tuple[int, int], key_grid: tuple[int, int], stride: int, device: torch.device | None = None
) -> torch.Tensor:
    """(queries, keys) indices into a bias table laid out as the key grid of offsets, |dy| * width + |dx|, for
    queries on every `stride`-th token of the key grid (row by row)."""
    query_y = torch.arange(query_grid[0], device=device) * stride
    query_x = torch.arange(query_grid[1], device=device) * stride
    key_y = torch.arange(key_grid[0], device=device)
    key_x = torch.arange(key_grid[1], device=device)
    query_y, query_x = (t.flatten() for t in torch.meshgrid(query_y, query_x, indexing="ij"))
    key_y, key_x = (t.flatten() for t in torch.meshgrid(key_y, key_x, indexing="ij"))
    offset_y = (query_y[:, None] - key_y[None, :]).abs()
    offset_x = (query_x[:, None] - key_x[None, :]).abs()
    return offset_y * key_grid[1] + offset_x


# Copied from hf_vits.modeling.vit.modeling_vit.eager_attention_forward
def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention written out, returning (output in (batch, tokens, heads, head_dim), probabilities)."""
    attn_weights = torch.matmul(query, key.transpose(-2, -1)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class ZooLeViTAttentionBias(nn.Module):
    """The learned attention biases of one attention module: a table per head over the offsets (|dy|, |dx|) of the
    configured key grid, gathered into a (heads, queries, keys) additive mask.

    For another key grid (another input size) the tables are resampled bicubically, as an image of offsets, to the
    new grid. In inference the gathered mask is kept per grid, device and dtype until the table changes."""

    def __init__(self, num_heads: int, key_grid: tuple[int, int], stride: int):
        super().__init__()
        self.key_grid = key_grid
        self.stride = stride
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, key_grid[0] * key_grid[1]))
        self._cache: dict[tuple, torch.Tensor] = {}

    def table(self, key_grid: tuple[int, int]) -> torch.Tensor:
        """The (heads, key_grid offsets) table for `key_grid`: the learned one, or it resampled."""
        if tuple(key_grid) == tuple(self.key_grid):
            return self.attention_biases
        num_heads = self.attention_biases.shape[0]
        grid = self.attention_biases.view(1, num_heads, *self.key_grid)
        resized = F.interpolate(grid.float(), size=key_grid, mode="bicubic", align_corners=False)
        return resized.to(self.attention_biases.dtype).view(num_heads, -1)

    def forward(self, query_grid: tuple[int, int], key_grid: tuple[int, int]) -> torch.Tensor:
        biases = self.attention_biases
        cacheable = not (torch.is_grad_enabled() and biases.requires_grad) and not torch.compiler.is_compiling()
        key = (query_grid, key_grid, biases.device, biases.dtype, biases.data_ptr(), biases._version)
        if cacheable and key in self._cache:
            return self._cache[key]
        index = attention_bias_index(query_grid, key_grid, self.stride, biases.device)
        mask = self.table(key_grid)[:, index]
        if cacheable:
            self._cache = {key: mask}
        return mask


class ZooLeViTAttention(nn.Module):
    """Multi-head attention of a stage's block: queries, keys and values from one linear layer + BatchNorm (per head
    `key_dim`, `key_dim` and `attention_ratio * key_dim` channels, head after head), scores plus the learned
    attention bias, Hardswish, and the output projection + BatchNorm."""

    def __init__(self, config: ZooLeViTConfig, stage: int, grid: tuple[int, int]):
        super().__init__()
        dim = config.hidden_sizes[stage]
        self.config = config
        self.num_heads = config.num_heads[stage]
        self.key_dim = config.key_dim
        self.value_dim = int(config.attention_ratio * config.key_dim)
        self.scaling = config.key_dim**-0.5
        self.is_causal = False
        self.qkv = ZooLeViTLinearNorm(config, dim, self.num_heads * (2 * self.key_dim + self.value_dim))
        self.attention_bias = ZooLeViTAttentionBias(self.num_heads, grid, stride=1)
        self.activation = ACT2FN[config.hidden_act]
        self.projection = ZooLeViTLinearNorm(config, self.num_heads * self.value_dim, dim, bn_weight_init=0.0)

    @torch.no_grad()
    def fold_scaling(self) -> None:
        """Scale the (fused) projection's query rows, head after head, by 1 / sqrt(key_dim)."""
        rows = self.qkv.linear.weight.view(self.num_heads, -1, self.qkv.linear.in_features)[:, : self.key_dim]
        rows.mul_(self.scaling)
        self.qkv.linear.bias.view(self.num_heads, -1)[:, : self.key_dim].mul_(self.scaling)

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, tokens, _ = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch_size, tokens, self.num_heads, -1)
        query, key, value = qkv.split([self.key_dim, self.key_dim, self.value_dim], dim=3)
        query, key, value = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
        mask = self.attention_bias((height, width), (height, width)).to(query.dtype).unsqueeze(0)
        attn_output, attn_weights = _attend(self, query, key, value, mask, output_attentions)
        attn_output = attn_output.reshape(batch_size, tokens, self.num_heads * self.value_dim)
        return self.projection(self.activation(attn_output)), attn_weights


class ZooLeViTShrinkAttention(nn.Module):
    """The shrink attention between two stages: keys and values from every token, queries from every other token of
    the grid (both directions), values `shrink_attention_ratio * key_dim` wide per head, and an output projection to
    the next stage's width. It has `width // key_dim` heads."""

    def __init__(self, config: ZooLeViTConfig, stage: int, grid: tuple[int, int]):
        super().__init__()
        in_dim, out_dim = config.hidden_sizes[stage - 1], config.hidden_sizes[stage]
        self.config = config
        self.num_heads = in_dim // config.key_dim
        self.key_dim = config.key_dim
        self.value_dim = int(config.shrink_attention_ratio * config.key_dim)
        self.scaling = config.key_dim**-0.5
        self.is_causal = False
        self.key_value = ZooLeViTLinearNorm(config, in_dim, self.num_heads * (self.key_dim + self.value_dim))
        self.query = ZooLeViTLinearNorm(config, in_dim, self.num_heads * self.key_dim)
        self.attention_bias = ZooLeViTAttentionBias(self.num_heads, grid, stride=SHRINK_STRIDE)
        self.activation = ACT2FN[config.hidden_act]
        self.projection = ZooLeViTLinearNorm(config, self.num_heads * self.value_dim, out_dim)

    @torch.no_grad()
    def fold_scaling(self) -> None:
        """Scale the (fused) query projection by 1 / sqrt(key_dim)."""
        self.query.linear.weight.mul_(self.scaling)
        self.query.linear.bias.mul_(self.scaling)

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, tokens, channels = hidden_states.shape
        key_value = self.key_value(hidden_states).view(batch_size, tokens, self.num_heads, -1)
        key, value = key_value.split([self.key_dim, self.value_dim], dim=3)
        subsampled = hidden_states.view(batch_size, height, width, channels)[:, ::SHRINK_STRIDE, ::SHRINK_STRIDE]
        query_grid = tuple(subsampled.shape[1:3])
        queries = query_grid[0] * query_grid[1]
        query = self.query(subsampled.reshape(batch_size, queries, channels))
        query = query.view(batch_size, queries, self.num_heads, self.key_dim).transpose(1, 2)
        mask = self.attention_bias(query_grid, (height, width)).to(query.dtype).unsqueeze(0)
        attn_output, attn_weights = _attend(
            self, query, key.transpose(1, 2), value.transpose(1, 2), mask, output_attentions
        )
        attn_output = attn_output.reshape(batch_size, queries, self.num_heads * self.value_dim)
        return self.projection(self.activation(attn_output)), attn_weights


def _attend(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor,
    output_attentions: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled dot-product attention with the additive bias `mask`, through the configured attention interface;
    output (batch, queries, heads, value_dim)."""
    # Fused kernels (sdpa) never materialise the probabilities, so they are asked of eager alone.
    attention_interface: Callable = eager_attention_forward
    if not output_attentions:
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            module.config._attn_implementation, eager_attention_forward
        )
    if module.config.fused:
        # The inference form: the queries' projection carries the 1 / sqrt(key_dim) scale, and sdpa on a CPU runs its
        # fused kernel, which needs queries and keys as wide as the values (else it takes the slower math path): zeros
        # appended to both leave every score unchanged.
        padding = value.shape[-1] - query.shape[-1]
        if attention_interface is not eager_attention_forward and query.device.type == "cpu" and padding > 0:
            query, key = F.pad(query, (0, padding)), F.pad(key, (0, padding))
    else:
        # The queries are scaled here rather than the scores in the kernel, so that every implementation computes the
        # very same scores (sdpa's math path would scale queries and keys by the square root of the scale each).
        query = query * module.scaling
    return attention_interface(module, query, key, value, mask, dropout=0.0, scaling=1.0)


class ZooLeViTMLP(nn.Module):
    """The block's two-layer perceptron: linear + BatchNorm, Hardswish, linear + BatchNorm (which starts at zero)."""

    def __init__(self, config: ZooLeViTConfig, dim: int, hidden: int):
        super().__init__()
        self.linear_up = ZooLeViTLinearNorm(config, dim, hidden)
        self.activation = ACT2FN[config.hidden_act]
        self.linear_down = ZooLeViTLinearNorm(config, hidden, dim, bn_weight_init=0.0)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear_down(self.activation(self.linear_up(hidden_states)))


class ZooLeViTLayer(GradientCheckpointingLayer):
    """A stage's block: x + attention(x), then x + MLP(x), each branch under stochastic depth (no LayerNorm: the
    BatchNorms inside the branches normalise)."""

    def __init__(self, config: ZooLeViTConfig, stage: int, grid: tuple[int, int], drop_path_rate: float):
        super().__init__()
        dim = config.hidden_sizes[stage]
        self.attention = ZooLeViTAttention(config, stage, grid)
        self.mlp = ZooLeViTMLP(config, dim, int(dim * config.mlp_ratio))
        self.drop_path = ZooLeViTDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_output, attn_weights = self.attention(hidden_states, height, width, output_attentions)
        hidden_states = hidden_states + self.drop_path(attn_output)
        hidden_states = hidden_states + self.drop_path(self.mlp(hidden_states))
        return hidden_states, attn_weights


class ZooLeViTShrinkLayer(GradientCheckpointingLayer):
    """The block between two stages: the shrink attention (no residual: it changes the grid and the width), then
    x + MLP(x) under stochastic depth."""

    def __init__(self, config: ZooLeViTConfig, stage: int, grid: tuple[int, int], drop_path_rate: float):
        super().__init__()
        dim = config.hidden_sizes[stage]
        self.attention = ZooLeViTShrinkAttention(config, stage, grid)
        self.mlp = ZooLeViTMLP(config, dim, int(dim * config.shrink_mlp_ratio))
        self.drop_path = ZooLeViTDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden_states, attn_weights = self.attention(hidden_states, height, width, output_attentions)
        hidden_states = hidden_states + self.drop_path(self.mlp(hidden_states))
        return hidden_states, attn_weights


class ZooLeViTStage(nn.Module):
    """One stage: the shrink block from the previous stage (all but the first), then the blocks."""

    def __init__(self, config: ZooLeViTConfig, stage: int, grids: list[tuple[int, int]], drop_path_rates: list[float]):
        super().__init__()
        self.downsample = None
        if stage > 0:
            self.downsample = ZooLeViTShrinkLayer(config, stage, grids[stage - 1], drop_path_rates[0])
            drop_path_rates = drop_path_rates[1:]
        self.layers = nn.ModuleList([ZooLeViTLayer(config, stage, grids[stage], rate) for rate in drop_path_rates])

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, output_attentions: bool = False
    ) -> tuple[torch.Tensor, int, int, tuple[torch.Tensor, ...]]:
        """(the stage's output tokens, its grid's height and width, each block's attention probabilities)."""
        attentions = ()
        if self.downsample is not None:
            hidden_states, attn_weights = self.downsample(hidden_states, height, width, output_attentions)
            height, width = _halved(height), _halved(width)
            if output_attentions:
                attentions += (attn_weights,)
        for layer in self.layers:
            hidden_states, attn_weights = layer(hidden_states, height, width, output_attentions)
            if output_attentions:
                attentions += (attn_weights,)
        return hidden_states, height, width, attentions


class ZooLeViTEncoder(nn.Module):
    """The stages, with the linear stochastic-depth rule over all blocks (shrink blocks included) in order."""

    def __init__(self, config: ZooLeViTConfig):
        super().__init__()
        grids = stage_resolutions(config, *config.image_size_pair)
        blocks = [depth + int(stage > 0) for stage, depth in enumerate(config.depths)]
        total = sum(blocks)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        starts = [sum(blocks[:stage]) for stage in range(config.num_stages)]
        self.stages = nn.ModuleList(
            [
                ZooLeViTStage(config, stage, grids, rates[start : start + count])
                for stage, (start, count) in enumerate(zip(starts, blocks, strict=True))
            ]
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        height: int,
        width: int,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        """`hidden_states`: the stem's tokens, then each stage's output tokens."""
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for stage in self.stages:
            hidden_states, height, width, attentions = stage(hidden_states, height, width, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += attentions
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ZooLeViTClassifier(nn.Module):
    """A head: BatchNorm over the pooled features, dropout, linear layer; in a fused model, the linear layer alone."""

    def __init__(self, config: ZooLeViTConfig):
        super().__init__()
        self.batch_norm = None if config.fused else nn.BatchNorm1d(config.hidden_size, eps=config.batch_norm_eps)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.linear = nn.Linear(config.hidden_size, config.num_labels)
        # Read by `_init_weights`: heads start from a truncated normal, the other layers from PyTorch's default.
        self.linear.is_head = True

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.batch_norm is not None:
            pooled = self.batch_norm(pooled)
        return self.linear(self.dropout(pooled))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm's inference statistics into the linear layer after it."""
        if self.batch_norm is None:
            return
        scale, shift = _fold_batch_norm(self.batch_norm)
        self.linear.bias.add_(self.linear.weight @ shift)
        self.linear.weight.mul_(scale[None, :])
        self.batch_norm = None


@dataclass
class ZooLeViTImageClassifierOutput(ImageClassifierOutput):
    """Classifier output of LeViT. `logits` is what the model predicts: the mean of the classification and
    distillation heads when it has both, the classification head otherwise. `cls_logits` and
    `distillation_logits` are each head alone, for the distillation loss (`distillation_logits` is None without a
    distillation head)."""

    cls_logits: torch.FloatTensor | None = None
    distillation_logits: torch.FloatTensor | None = None


class ZooLeViTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, BatchNorm folding, checkpoint plumbing and shared behaviour of every LeViT model."""

    config_class = ZooLeViTConfig
    config: ZooLeViTConfig
    base_model_prefix = "levit"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooLeViTStem", "ZooLeViTLayer", "ZooLeViTShrinkLayer"]
    # Values are wider than keys, and the biases are a float mask: sdpa and eager only.
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooLeViTModel",
        "AutoModelForImageClassification": "ZooLeViTForImageClassification",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference initialisation: PyTorch's default for the convolutions and linear layers before a
        BatchNorm, BatchNorm scales of 1 (0 at the end of residual branches, so that every block starts as the
        identity), truncated normal heads (std 0.02), zero attention biases."""
        if isinstance(module, nn.Linear) and getattr(module, "is_head", False):
            init.trunc_normal_(module.weight, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.constant_(module.weight, getattr(module, "initial_weight", 1.0))
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, ZooLeViTAttentionBias):
            init.zeros_(module.attention_biases)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: norms, biases and the attention-bias tables (which
        play the part of position embeddings, and which the reference exempts too)."""
        return {name for name, param in self.named_parameters() if param.ndim <= 1 or name.endswith("attention_biases")}

    @torch.no_grad()
    def fuse(self) -> ZooLeViTPreTrainedModel:
        """Fold every BatchNorm into the convolution or linear layer next to it, with the BatchNorm's running
        statistics, fold the attention scale into the query projections, and return the model in eval mode: the same
        function with fewer operations, LeViT's inference form. `config.fused` becomes True, so a saved fused model
        reloads as one. Idempotent."""
        if self.config.fused:
            return self.eval()
        modules = list(self.modules())
        for module in modules:
            if isinstance(module, (ZooLeViTConvNorm, ZooLeViTLinearNorm, ZooLeViTClassifier)):
                module.fuse()
        for module in modules:
            if isinstance(module, (ZooLeViTAttention, ZooLeViTShrinkAttention)):
                module.fold_scaling()
        self.config.fused = True
        return self.eval()

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as transformers does, with every Auto class of this folder in `config.auto_map`."""
        module = type(self).__module__.rsplit(".", 1)[-1]
        remote = {auto: f"{module}.{name}" for auto, name in self._remote_auto_classes.items()}
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **remote}
        return super().save_pretrained(save_directory, *args, **kwargs)


# Copied from hf_vits.modeling.cvt.modeling_cvt._check_pixel_values
def _check_pixel_values(pixel_values: torch.Tensor | None, num_channels: int) -> None:
    if pixel_values is None:
        raise ValueError("pixel_values is required.")
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(
            "pixel_values must be a torch.Tensor of shape (batch, channels, height, width), got "
            f"{type(pixel_values).__name__}; the image processor turns images into one."
        )
    if pixel_values.ndim != 4 or pixel_values.shape[1] != num_channels:
        raise ValueError(
            f"pixel_values must have shape (batch, {num_channels}, height, width), got {tuple(pixel_values.shape)}."
        )


class ZooLeViTModel(ZooLeViTPreTrainedModel):
    """The bare LeViT: the convolutional stem and the three stages.

    `last_hidden_state` holds the last stage's tokens (row by row over its grid), `pooler_output` their mean;
    `hidden_states` the stem's tokens and each stage's output; `attentions` every block's probabilities, (batch,
    heads, queries, keys), the shrink blocks' with a quarter of the queries. Any input of at least 16x16 pixels
    works: for another size than the configured one the attention-bias tables are resampled to the token grids."""

    def __init__(self, config: ZooLeViTConfig):
        super().__init__(config)
        self.stem = ZooLeViTStem(config)
        self.encoder = ZooLeViTEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.stem.conv1.convolution

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        _check_pixel_values(pixel_values, self.config.num_channels)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        pixel_values = pixel_values.to(self.get_input_embeddings().weight.dtype)
        maps = self.stem(pixel_values)
        height, width = maps.shape[-2:]
        tokens = maps.flatten(2).transpose(1, 2)
        encoder_outputs = self.encoder(tokens, height, width, output_attentions, output_hidden_states)
        sequence_output = encoder_outputs.last_hidden_state
        pooled_output = sequence_output.mean(dim=1)

        if not return_dict:
            extras = (encoder_outputs.hidden_states, encoder_outputs.attentions)
            return (sequence_output, pooled_output) + tuple(x for x in extras if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )


class ZooLeViTForImageClassification(ZooLeViTPreTrainedModel):
    """LeViT with a classification head (BatchNorm + linear) on the mean token and, when the config has
    `use_distillation_head` (the paper's models), a distillation head beside it. The pipeline and `labels` use the
    averaged logits, as LeViT evaluates; the trainer's distillation loss reads `cls_logits` and
    `distillation_logits`."""

    def __init__(self, config: ZooLeViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.levit = ZooLeViTModel(config)
        self.classifier = self._make_head(config)
        self.distillation_classifier = self._make_head(config) if config.use_distillation_head else None
        self.post_init()

    @staticmethod
    def _make_head(config: ZooLeViTConfig) -> nn.Module:
        return ZooLeViTClassifier(config) if config.num_labels > 0 else nn.Identity()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ZooLeViTImageClassifierOutput | tuple:
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.levit(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        pooled_output = outputs.pooler_output
        cls_logits = self.classifier(pooled_output)
        distillation_logits = None
        logits = cls_logits
        if self.distillation_classifier is not None:
            distillation_logits = self.distillation_classifier(pooled_output)
            logits = (cls_logits + distillation_logits) / 2
        loss = None if labels is None else self.loss_function(labels, logits, self.config)

        output = ZooLeViTImageClassifierOutput(
            loss=loss,
            logits=logits,
            cls_logits=cls_logits,
            distillation_logits=distillation_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        # The tuple holds every field that is set, in the dataclass's order, as transformers' tuples do.
        return output if return_dict else output.to_tuple()


class ZooLeViTForImageClassificationWithTeacher(ZooLeViTForImageClassification):
    """The distilled LeViT (classification and distillation heads), under the name transformers uses.

    It is [`ZooLeViTForImageClassification`] with a config that has `use_distillation_head=True`, so the Auto
    classes and the pipeline, which map one class per config, load its checkpoints whole."""

    def __init__(self, config: ZooLeViTConfig):
        if not config.use_distillation_head:
            raise ValueError(
                "ZooLeViTForImageClassificationWithTeacher needs a config with `use_distillation_head=True`."
            )
        super().__init__(config)


ZooLeViTModel.register_for_auto_class("AutoModel")
ZooLeViTForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "ZooLeViTForImageClassification",
    "ZooLeViTForImageClassificationWithTeacher",
    "ZooLeViTImageClassifierOutput",
    "ZooLeViTModel",
    "ZooLeViTPreTrainedModel",
]
