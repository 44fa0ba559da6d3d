"""Stand-Alone Self-Attention (Ramachandran et al., "Stand-Alone Self-Attention in Vision Models", NeurIPS 2019).

A bottleneck ResNet in which every spatial (3x3) convolution is replaced by local self-attention: each pixel ij
attends to the k x k pixels ab centred on it (k = 7), in heads that each own a slice of the channels,

    y_ij = sum_ab softmax_ab(q_ij . (k_ab + r_{a-i, b-j})) v_ab,    q = W_Q x_ij, k = W_K x_ab, v = W_V x_ab,

where the relative position embedding r_{a-i, b-j} concatenates a row-offset embedding r_{a-i} and a column-offset
embedding r_{b-j} of half the channels each. Here each head's channels are split that way: the first half of a
head's query meets the row embedding, the second half the column embedding, so every head sees both offsets. As in
the paper, logits are not scaled by 1 / sqrt(head channels). Where a block downsamples, a 2x2 average pooling with
stride 2 follows the attention.

Borders: the paper leaves open what a neighbourhood that crosses the image border holds, and the authors released
no code. Here keys outside the image are masked out (logit -inf), so a pixel near the border attends only to the
pixels of its neighbourhood that exist; the centre pixel always does, so no softmax is empty.

The attention stem (the paper's section 3.3 and appendix) attends within each non-overlapping w x w block of the
image (w = 4, the window of the max pool that follows) with spatially-aware values v_ab = (sum_m p(a, b, m) W_V^m)
x_ab, a convex combination of m value matrices whose weights p(a, b, m) = softmax_m((emb_row(a) + emb_col(b)) . nu_m)
depend on the key's place in its block, and with the relative logits of the layer above (offsets -(w-1) .. w-1);
then BatchNorm, ReLU and the w x w max pool with stride w. Its heads and mixtures are configurable
(`stem_num_heads`, `stem_num_mixtures`); the defaults, 8 heads as in the body and m = 4, are this implementation's,
as no released code fixes them. The "conv-stem" models keep the ResNet stem (7x7 convolution with stride 2, 3x3 max
pool with stride 2).

Computation: the attention runs as standard dot-product attention through transformers' attention interface
(sdpa by default, eager for the weights). The queries of each k x k block attend to the (2k - 1) x (2k - 1) halo
of keys around their block; the additive bias holds the relative logits and a mask that keeps each query to its own
neighbourhood inside the image (see `ZooSASALocalAttention`). Memory: a direct `unfold` materialises
batch x channels x k^2 x H x W values; here the halo blocks hold (2k - 1)^2 / k^2 (3.4 for k = 7) times the keys and
values, and the layer runs over chunks of block rows sized by `ATTENTION_CHUNK_BYTES`, so its temporaries are
bounded whatever the resolution. In evaluation the attention stem likewise runs a few block rows at a time through
its BatchNorm and max pool, so its full-resolution activations never exist at once.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_sasa import ZooSASAConfig

# Upper bound on the bytes of one chunk's attention logits (and of the stem's per-chunk activations); the chunk
# loop trades a few Python iterations for a bounded peak memory.
ATTENTION_CHUNK_BYTES = 8 * 2**20


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->SASA
class ZooSASADropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def _rows_per_chunk(bytes_per_row: int, rows: int) -> int:
    """How many rows fit in `ATTENTION_CHUNK_BYTES` (at least one)."""
    return max(1, min(rows, ATTENTION_CHUNK_BYTES // max(bytes_per_row, 1)))


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


def _attend(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor,
    output_attentions: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Unscaled softmax attention with an additive bias, through transformers' attention interface: (output (batch,
    tokens, heads, d), weights or None). Fused kernels (sdpa) never materialise the weights, so they are asked of
    eager alone."""
    attention_interface = eager_attention_forward
    if not output_attentions:
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            module.config._attn_implementation, eager_attention_forward
        )
    return attention_interface(module, query, key, value, bias, dropout=0.0, scaling=1.0)


def _relative_bias(row_logits: torch.Tensor, column_logits: torch.Tensor) -> torch.Tensor:
    """(..., queries, R) and (..., queries, C), the logits q . r of each key row and key column -> (..., queries,
    R * C): q . r_{a-i, b-j} = q_row . r_row[a-i] + q_col . r_col[b-j] for every key (a, b) in row-major order."""
    return (row_logits[..., :, None] + column_logits[..., None, :]).flatten(-2)


class ZooSASALocalAttention(nn.Module):
    """The paper's attention layer (its equation 3): 1x1 query, key and value projections and multi-head attention
    of every pixel over its k x k neighbourhood, with row and column offset embeddings, keys outside the image masked.

    It runs as standard dot-product attention, through transformers' attention interface (sdpa, eager): the queries
    of each k x k block of the map attend to the (2k - 1) x (2k - 1) "halo" of keys around the block, and a mask
    keeps each query to its own k x k neighbourhood inside the image. The relative logits enter with the mask as the
    additive bias: q . r_{a-i, b-j} = q_row . r_row[a-i] + q_col . r_col[b-j], k row terms and k column terms per
    query, summed over the halo's rows and columns."""

    def __init__(self, config: ZooSASAConfig, dim: int):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = dim // self.num_heads
        self.kernel_size = config.kernel_size
        self.is_causal = False
        self.query = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        self.key = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        self.value = nn.Conv2d(dim, dim, kernel_size=1, bias=False)
        # Rows n * d/2 .. (n + 1) * d/2 - 1 belong to head n; row t embeds the offset t - (k - 1) / 2.
        self.row_position_embeddings = nn.Parameter(torch.empty(self.kernel_size, dim // 2))
        self.column_position_embeddings = nn.Parameter(torch.empty(self.kernel_size, dim // 2))

    def _query_blocks(self, maps: torch.Tensor, block: int) -> torch.Tensor:
        """(batch, C, R * b, N * b) -> (R * N, batch * heads, b * b, d): the queries of each block."""
        batch, _, height, width = maps.shape
        maps = maps.view(batch, self.num_heads, self.head_dim, height // block, block, width // block, block)
        return maps.permute(3, 5, 0, 1, 4, 6, 2).reshape(-1, batch * self.num_heads, block * block, self.head_dim)

    def _halo_blocks(self, maps: torch.Tensor, block: int, halo: int) -> torch.Tensor:
        """(batch, C, R * b + halo - b, N * b + halo - b) -> (R * N, batch * heads, halo * halo, d): the keys (or
        values) of each block's halo."""
        batch = maps.shape[0]
        windows = maps.unfold(2, halo, block).unfold(3, halo, block)
        rows, columns = windows.shape[2:4]
        windows = windows.reshape(batch, self.num_heads, self.head_dim, rows, columns, halo, halo)
        return windows.permute(3, 4, 0, 1, 5, 6, 2).reshape(rows * columns, batch * self.num_heads, -1, self.head_dim)

    def _relative_bias(self, query: torch.Tensor, block: int, halo: int) -> torch.Tensor:
        """(blocks, batch * heads, b * b, d) -> (blocks, batch * heads, b * b, halo * halo): q . r_{a-i, b-j} for
        every key of the halo; for a query in block row u, halo row u + t has row offset t - (k - 1) / 2 (t = 0 ..
        k - 1). Keys outside the neighbourhood get 0, the mask removes them."""
        blocks, batch_heads, tokens, _ = query.shape
        kernel, half, heads = self.kernel_size, self.head_dim // 2, self.num_heads
        query = query.view(blocks, batch_heads // heads, heads, tokens, self.head_dim)
        position = torch.arange(block, device=query.device)
        offsets = torch.arange(kernel, device=query.device)
        features = []
        for embeddings, query_half, start in (
            (self.row_position_embeddings, query[..., :half], position.repeat_interleave(block)),
            (self.column_position_embeddings, query[..., half:], position.repeat(block)),
        ):
            logits = torch.einsum("nbhqd,khd->nbhqk", query_half, embeddings.view(kernel, heads, half))
            index = (start[:, None] + offsets).expand(logits.shape)
            features.append(logits.new_zeros(*logits.shape[:-1], halo).scatter(-1, index, logits))
        return _relative_bias(*features).view(blocks, batch_heads, tokens, halo * halo)

    def _mask(
        self,
        block_rows: int,
        block_columns: int,
        height: int,
        width: int,
        reference: torch.Tensor,
    ) -> torch.Tensor:
        """(blocks, 1, b * b, halo * halo) additive mask: 0 where a key is in the query's k x k neighbourhood and
        inside the image, -inf elsewhere. Queries in the padding that completes the last blocks (discarded) may
        see every key of their neighbourhood, so that no softmax row is empty."""
        block, pad = self.kernel_size, self.kernel_size // 2
        halo = block + 2 * pad
        device = reference.device
        query_position = torch.arange(block, device=device)
        key_position = torch.arange(halo, device=device)
        # Along one axis: is the key (halo coordinate) within the query's neighbourhood, (b, halo).
        near = (key_position[None, :] - query_position[:, None] - pad).abs() <= pad
        neighbourhood = (near[:, None, :, None] & near[None, :, None, :]).reshape(block * block, halo * halo)
        block_row = torch.arange(block_rows, device=device)
        block_column = torch.arange(block_columns, device=device)
        key_row = block_row[:, None] * block + key_position[None, :] - pad
        key_column = block_column[:, None] * block + key_position[None, :] - pad
        key_inside = ((key_row >= 0) & (key_row < height))[:, None, :, None] & (
            (key_column >= 0) & (key_column < width)
        )[None, :, None, :]
        query_row = block_row[:, None] * block + query_position[None, :]
        query_column = block_column[:, None] * block + query_position[None, :]
        query_inside = (query_row < height)[:, None, :, None] & (query_column < width)[None, :, None, :]
        key_inside = key_inside.reshape(block_rows * block_columns, 1, halo * halo)
        query_inside = query_inside.reshape(block_rows * block_columns, block * block, 1)
        allowed = neighbourhood & (key_inside | ~query_inside)
        mask = torch.zeros(allowed.shape, dtype=reference.dtype, device=device)
        return mask.masked_fill(~allowed, float("-inf"))[:, None]

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(batch, C, H, W) -> (batch, C, H, W) and, if asked, the weights (batch, heads, H, W, k * k): the
        weights of each pixel's neighbourhood in row-major order, 0 outside the image."""
        batch, channels, height, width = hidden_states.shape
        block, pad = self.kernel_size, self.kernel_size // 2
        halo = block + 2 * pad
        block_rows, block_columns = -(-height // block), -(-width // block)
        extra_rows, extra_columns = block_rows * block - height, block_columns * block - width
        query = nn.functional.pad(self.query(hidden_states), (0, extra_columns, 0, extra_rows))
        padding = (pad, pad + extra_columns, pad, pad + extra_rows)
        key = nn.functional.pad(self.key(hidden_states), padding)
        value = nn.functional.pad(self.value(hidden_states), padding)

        # Per block row: the bias (and the logits, for eager), the queries, keys and values.
        per_block_row = block_columns * batch * self.num_heads * hidden_states.element_size()
        per_block_row *= 2 * block * block * halo * halo + (2 * halo * halo + block * block) * self.head_dim
        chunk = _rows_per_chunk(per_block_row, block_rows)
        mask = self._mask(block_rows, block_columns, height, width, query)
        outputs, all_weights = [], []
        for first in range(0, block_rows, chunk):
            rows = min(chunk, block_rows - first)
            query_blocks = self._query_blocks(query[:, :, first * block : (first + rows) * block], block)
            key_blocks = self._halo_blocks(key[:, :, first * block : (first + rows) * block + 2 * pad], block, halo)
            value_blocks = self._halo_blocks(value[:, :, first * block : (first + rows) * block + 2 * pad], block, halo)
            bias = self._relative_bias(query_blocks, block, halo)
            # In place: the sum's backward needs neither operand, and the chunk's largest tensor exists once.
            bias = bias.add_(mask[first * block_columns : (first + rows) * block_columns])
            output, weights = _attend(self, query_blocks, key_blocks, value_blocks, bias, output_attentions)
            # (blocks, b * b, batch * heads, d) -> (batch, C, rows * b, N * b)
            output = output.reshape(rows, block_columns, block, block, batch, channels)
            outputs.append(output.permute(4, 5, 0, 2, 1, 3).reshape(batch, channels, rows * block, -1))
            if output_attentions:
                all_weights.append(self._neighbourhood_weights(weights, rows, block_columns, batch))
        output = torch.cat(outputs, dim=2)[:, :, :height, :width]
        if not output_attentions:
            return output, None
        return output, torch.cat(all_weights, dim=2)[:, :, :height, :width]

    def _neighbourhood_weights(self, weights: torch.Tensor, rows: int, columns: int, batch: int) -> torch.Tensor:
        """(blocks, batch * heads, b * b, halo * halo) -> (batch, heads, rows * b, N * b, k * k): each query's
        weights over its own k x k neighbourhood."""
        block = kernel = self.kernel_size
        halo = 2 * kernel - 1
        position = torch.arange(block, device=weights.device)
        offsets = torch.arange(kernel, device=weights.device)
        # Halo row of the key at offset index t for a query in block row u: u + t (and the same for columns).
        halo_row = position[:, None, None, None] + offsets[None, None, :, None]
        halo_column = position[None, :, None, None] + offsets[None, None, None, :]
        index = (halo_row * halo + halo_column).reshape(block * block, kernel * kernel)
        picked = weights.gather(-1, index.expand(*weights.shape[:2], -1, -1))
        picked = picked.view(rows, columns, batch, self.num_heads, block, block, kernel * kernel)
        return picked.permute(2, 3, 0, 4, 1, 5, 6).reshape(batch, self.num_heads, rows * block, -1, kernel * kernel)


class ZooSASAAttentionStem(nn.Module):
    """The attention stem: self-attention within each w x w block of the image, with relative row and column offset
    embeddings and spatially-aware values, then BatchNorm, the activation and a w x w max pool with stride w.

    Everything happens in the block layout (batch, R, N, w * w pixels, channels), where the max pool over a block is
    a maximum over its pixels, so the full-resolution maps are never rearranged. The attention goes through
    transformers' attention interface with the relative logits as its additive bias; no mask is needed, every key
    of a block being in the image."""

    def __init__(self, config: ZooSASAConfig):
        super().__init__()
        dim, window = config.stem_hidden_size, config.stem_window_size
        self.config = config
        self.window = window
        self.num_heads = config.stem_num_heads
        self.head_dim = dim // self.num_heads
        self.is_causal = False
        self.query = nn.Conv2d(config.num_channels, dim, kernel_size=1, bias=False)
        self.key = nn.Conv2d(config.num_channels, dim, kernel_size=1, bias=False)
        # The m value matrices W_V^m, (m, out, in).
        self.value_weights = nn.Parameter(torch.empty(config.stem_num_mixtures, dim, config.num_channels))
        # p(a, b, m) = softmax_m((emb_row(a) + emb_col(b)) . nu_m), a and b the key's row and column in its block.
        self.row_mixture_embeddings = nn.Parameter(torch.empty(window, dim))
        self.column_mixture_embeddings = nn.Parameter(torch.empty(window, dim))
        self.mixture_embeddings = nn.Parameter(torch.empty(config.stem_num_mixtures, dim))
        # Offsets between two pixels of a block run from -(w - 1) to w - 1 (row t embeds offset t - (w - 1)).
        self.row_position_embeddings = nn.Parameter(torch.empty(2 * window - 1, dim // 2))
        self.column_position_embeddings = nn.Parameter(torch.empty(2 * window - 1, dim // 2))
        self.normalization = nn.BatchNorm2d(dim, eps=config.batch_norm_eps)
        self.activation = ACT2FN[config.hidden_act]

    def mixture_weights(self) -> torch.Tensor:
        """p(a, b, m) as (w * w, m): the weights of the value matrices for a key in row a, column b of its block."""
        embeddings = self.row_mixture_embeddings[:, None] + self.column_mixture_embeddings[None, :]
        return (embeddings @ self.mixture_embeddings.T).softmax(dim=-1).flatten(0, 1)

    def _relative_bias(self, query: torch.Tensor) -> torch.Tensor:
        """(blocks, heads, w * w, d) -> (blocks, heads, w * w, w * w): q . r_{a-i, b-j} for every key of the block,
        from q_row . r_row[a - i] for every key row a and q_col . r_col[b - j] for every key column b."""
        window, heads, half = self.window, self.num_heads, self.head_dim // 2
        position = torch.arange(window, device=query.device)
        offsets = position[None, :] - position[:, None] + window - 1  # (query, key) -> embedding row
        features = []
        for embeddings, query_half, index in (
            (self.row_position_embeddings, query[..., :half], offsets.repeat_interleave(window, dim=0)),
            (self.column_position_embeddings, query[..., half:], offsets.repeat(window, 1)),
        ):
            logits = torch.einsum("nhqd,khd->nhqk", query_half, embeddings.view(-1, heads, half))
            features.append(logits.gather(-1, index.expand(*logits.shape[:-1], window)))
        return _relative_bias(*features)

    def attend(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Block attention over (batch, C_in, R * w, N * w): the output (batch, R, N, w * w, C) and, if asked, the
        weights (batch, heads, R * w, N * w, w * w), keys in row-major order within the block."""
        batch, in_channels, height, width = pixel_values.shape
        window, heads = self.window, self.num_heads
        rows, columns = height // window, width // window
        pixels = pixel_values.view(batch, in_channels, rows, window, columns, window).permute(0, 2, 4, 3, 5, 1)
        pixels = pixels.reshape(batch * rows * columns, window**2, in_channels)
        # The 1x1 convolutions W_Q and W_K, applied as matrices to the block layout.
        query = nn.functional.linear(pixels, self.query.weight.flatten(1))
        key = nn.functional.linear(pixels, self.key.weight.flatten(1))
        # v_ab = sum_m p(a, b, m) W_V^m x_ab = [p(a, b, 1) x_ab, ..., p(a, b, m) x_ab] . [W_V^1, ..., W_V^m]: one
        # product with the m matrices side by side.
        mixed = (self.mixture_weights()[:, :, None] * pixels[..., None, :]).flatten(-2)
        value = nn.functional.linear(mixed, self.value_weights.permute(1, 0, 2).flatten(1))
        query, key, value = (
            tensor.view(-1, window**2, heads, self.head_dim).transpose(1, 2) for tensor in (query, key, value)
        )

        output, weights = _attend(self, query, key, value, self._relative_bias(query), output_attentions)
        output = output.reshape(batch, rows, columns, window**2, -1)
        if not output_attentions:
            return output, None
        weights = weights.view(batch, rows, columns, heads, window, window, window**2).permute(0, 3, 1, 4, 2, 5, 6)
        return output, weights.reshape(batch, heads, height, width, window**2)

    def forward(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, _, height, width = pixel_values.shape
        if height % self.window or width % self.window:
            raise ValueError(
                f"Input size {height}x{width} is not divisible by the attention stem's window ({self.window})."
            )
        rows = height
        if not self.training:
            # In evaluation BatchNorm is per pixel, so the stem can run a few block rows at a time; in training it
            # needs the statistics of the whole batch.
            per_block_row = batch * width * self.window * self.num_heads * pixel_values.element_size()
            per_block_row *= self.window**2 + 4 * self.head_dim
            rows = self.window * _rows_per_chunk(per_block_row, height // self.window)
        outputs, all_weights = [], []
        for top in range(0, height, rows):
            hidden_states, weights = self.attend(pixel_values[:, :, top : top + rows], output_attentions)
            shape = hidden_states.shape
            # BatchNorm over the channels of every pixel, then the max pool: the maximum over each block's pixels.
            hidden_states = self.activation(self.normalization(hidden_states.view(-1, shape[-1], 1, 1)))
            outputs.append(hidden_states.view(shape).amax(dim=3).permute(0, 3, 1, 2))
            all_weights.append(weights)
        weights = torch.cat(all_weights, dim=2) if output_attentions else None
        return torch.cat(outputs, dim=2).contiguous(), weights


class ZooSASAConvolutionStem(nn.Module):
    """The ResNet stem of the "conv-stem" models: 7x7 convolution with stride 2, BatchNorm, activation, 3x3 max
    pool with stride 2."""

    def __init__(self, config: ZooSASAConfig):
        super().__init__()
        self.convolution = nn.Conv2d(
            config.num_channels, config.stem_hidden_size, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.normalization = nn.BatchNorm2d(config.stem_hidden_size, eps=config.batch_norm_eps)
        self.activation = ACT2FN[config.hidden_act]
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False) -> tuple[torch.Tensor, None]:
        return self.pooler(self.activation(self.normalization(self.convolution(pixel_values)))), None


class ZooSASABottleneck(GradientCheckpointingLayer):
    """The ResNet bottleneck with its 3x3 convolution replaced: 1x1 reduction, local attention (then 2x2 average
    pooling where the block downsamples), 1x1 expansion, each with BatchNorm, and the residual sum."""

    def __init__(self, config: ZooSASAConfig, in_channels: int, out_channels: int, stride: int, drop_path_rate: float):
        super().__init__()
        width = out_channels // config.bottleneck_ratio
        self.reduction = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.reduction_norm = nn.BatchNorm2d(width, eps=config.batch_norm_eps)
        self.attention = ZooSASALocalAttention(config, width)
        # ceil_mode: an odd map shrinks to the size the strided 1x1 shortcut gives it.
        self.pooler = nn.AvgPool2d(kernel_size=2, stride=2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.attention_norm = nn.BatchNorm2d(width, eps=config.batch_norm_eps)
        self.expansion = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.expansion_norm = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.activation = ACT2FN[config.hidden_act]
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps),
            )
        self.drop_path = ZooSASADropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        block_input = hidden_states
        hidden_states = self.activation(self.reduction_norm(self.reduction(hidden_states)))
        hidden_states, weights = self.attention(hidden_states, output_attentions)
        hidden_states = self.activation(self.attention_norm(self.pooler(hidden_states)))
        hidden_states = self.drop_path(self.expansion_norm(self.expansion(hidden_states)))
        # The shortcut comes last, so that its map is not held through the attention, and is added in place (no
        # backward needs the branch's output): peak memory.
        hidden_states += block_input if self.shortcut is None else self.shortcut(block_input)
        return self.activation(hidden_states), weights


class ZooSASAEncoder(nn.Module):
    """The stages of bottlenecks; every stage but the first halves the resolution in its first block. Stochastic
    depth rises linearly over all blocks."""

    def __init__(self, config: ZooSASAConfig):
        super().__init__()
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = iter([config.drop_path_rate * index / max(total - 1, 1) for index in range(total)])
        in_channels = config.stem_hidden_size
        self.stages = nn.ModuleList()
        for stage, (out_channels, depth) in enumerate(zip(config.hidden_sizes, config.depths, strict=True)):
            blocks = nn.ModuleList()
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ZooSASABottleneck(config, in_channels, out_channels, stride, next(rates)))
                in_channels = out_channels
            self.stages.append(blocks)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """(the last stage's map, each stage's output map, each block's attention weights)."""
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for blocks in self.stages:
            for block in blocks:
                hidden_states, weights = block(hidden_states, output_attentions)
                if output_attentions:
                    all_attentions += (weights,)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        return hidden_states, all_hidden_states, all_attentions


class ZooSASAPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every SASA model."""

    config_class = ZooSASAConfig
    config: ZooSASAConfig
    base_model_prefix = "sasa"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooSASAAttentionStem", "ZooSASABottleneck"]
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooSASAModel",
        "AutoModelForImageClassification": "ZooSASAForImageClassification",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """ResNet's initialisation (He normal, fan out, for every projection; unit BatchNorms); relative position
        embeddings N(0, 1 / head channels); the classifier and mixture embeddings truncated normal (std 0.02)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, ZooSASALocalAttention):
            head_dim = module.query.out_channels // module.num_heads
            init.normal_(module.row_position_embeddings, std=head_dim**-0.5)
            init.normal_(module.column_position_embeddings, std=head_dim**-0.5)
        elif isinstance(module, ZooSASAAttentionStem):
            head_dim = module.query.out_channels // module.num_heads
            init.normal_(module.row_position_embeddings, std=head_dim**-0.5)
            init.normal_(module.column_position_embeddings, std=head_dim**-0.5)
            # The value matrices are m 1x1 convolutions: He normal with fan out = output channels.
            init.normal_(module.value_weights, std=math.sqrt(2.0 / module.value_weights.shape[1]))
            for embeddings in (
                module.row_mixture_embeddings,
                module.column_mixture_embeddings,
                module.mixture_embeddings,
            ):
                init.trunc_normal_(embeddings, std=std)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: BatchNorms, biases and the position and mixture
        embeddings."""
        return {name for name, param in self.named_parameters() if param.ndim <= 1 or name.endswith("_embeddings")}

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


class ZooSASAModel(ZooSASAPreTrainedModel):
    """The bare SASA ResNet: the stem and the stages of attention bottlenecks.

    `last_hidden_state` is the last stage's map (batch, C, H / 32, W / 32); `pooler_output` its spatial average;
    `hidden_states` the stem's output and each stage's output map; `attentions` the weights of every attention layer
    (the attention stem's first, if the model has one), each (batch, heads, H_l, W_l, keys): the weights each pixel
    gives to the k * k pixels of its neighbourhood in row-major order (0 where one lies outside the image), or, in
    the stem, to the w * w pixels of its block."""

    def __init__(self, config: ZooSASAConfig):
        super().__init__(config)
        self.embedder = (
            ZooSASAAttentionStem(config) if config.stem_type == "attention" else ZooSASAConvolutionStem(config)
        )
        self.encoder = ZooSASAEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embedder

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

        pixel_values = pixel_values.to(self.embedder.normalization.weight.dtype)
        embedded, stem_weights = self.embedder(pixel_values, output_attentions)
        last_hidden_state, hidden_states, attentions = self.encoder(embedded, output_attentions, output_hidden_states)
        if output_hidden_states:
            hidden_states = (embedded,) + hidden_states
        if output_attentions and stem_weights is not None:
            attentions = (stem_weights,) + attentions
        pooled_output = last_hidden_state.mean(dim=(-2, -1))

        if not return_dict:
            return (last_hidden_state, pooled_output) + tuple(x for x in (hidden_states, attentions) if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=last_hidden_state,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )


class ZooSASAForImageClassification(ZooSASAPreTrainedModel):
    """SASA ResNet with a linear classifier on the pooled last map, e.g. for ImageNet."""

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.__init__ with NonLocal->SASA, nonlocal_net->sasa  # noqa: E501
    def __init__(self, config: ZooSASAConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.sasa = ZooSASAModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.forward with nonlocal_net->sasa  # noqa: E501
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.sasa(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None if labels is None else self.loss_function(labels, logits, self.config)

        if not return_dict:
            output = (logits,) + tuple(x for x in (outputs.hidden_states, outputs.attentions) if x is not None)
            return (loss,) + output if loss is not None else output
        return ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


ZooSASAModel.register_for_auto_class("AutoModel")
ZooSASAForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "ZooSASAForImageClassification",
    "ZooSASAModel",
    "ZooSASAPreTrainedModel",
]
