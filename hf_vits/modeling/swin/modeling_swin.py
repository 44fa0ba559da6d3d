"""Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021).

The image is partitioned into 4x4 patches, linearly embedded, and processed by four stages of Swin blocks. Each
block attends within non-overlapping M x M windows (W-MSA); every second block first shifts the map cyclically by
M // 2 so that windows straddle the previous ones' borders (SW-MSA), masking attention between tokens that the
shift brought together from opposite edges. Attention scores carry a learned relative position bias, read from a
table of (2M - 1)^2 entries per head. Between stages, patch merging concatenates each 2x2 neighbourhood (4C
channels), normalises it and projects it to 2C. The classifier reads the average of the last stage's tokens.

Hidden states are kept as (batch, height, width, channels) maps inside the encoder and returned as token sequences.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers import BackboneMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BackboneOutput,
    BaseModelOutput,
    BaseModelOutputWithPooling,
    ImageClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_swin import ZooSwinConfig

# The reference implementation's additive mask between tokens of different regions of a shifted window.
SHIFTED_WINDOW_MASK_VALUE = -100.0


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->Swin
class ZooSwinDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def stage_resolutions(config: ZooSwinConfig, height: int, width: int) -> list[tuple[int, int]]:
    """The (height, width) of each stage's map for an input of `height` x `width` pixels: the patch grid (padded up
    to whole patches), halved (rounding up, as patch merging pads odd maps) before every stage but the first."""
    resolution = (math.ceil(height / config.patch_size), math.ceil(width / config.patch_size))
    resolutions = [resolution]
    for _ in range(1, config.num_stages):
        resolution = ((resolution[0] + 1) // 2, (resolution[1] + 1) // 2)
        resolutions.append(resolution)
    return resolutions


def window_geometry(window_size: int, shifted: bool, height: int, width: int) -> tuple[int, int]:
    """(window, shift) of a block on a `height` x `width` map: a map no larger than the window is attended whole
    and never shifted, as in the reference implementation; otherwise shifted blocks shift by half a window."""
    if min(height, width) <= window_size:
        return min(height, width), 0
    return window_size, window_size // 2 if shifted else 0


def relative_position_index(window: int, table_window: int, device: torch.device | None = None) -> torch.Tensor:
    """For every pair of positions (i, j) of a `window` x `window` window, the row of the (2T - 1)^2-entry bias
    table (T = `table_window` >= `window`) that holds the bias of their offset (dy, dx) = position i - position j."""
    coords = torch.arange(window, device=device)
    rows = coords.repeat_interleave(window)  # row of each flattened position
    cols = coords.repeat(window)
    offset_rows = rows[:, None] - rows[None, :] + table_window - 1
    offset_cols = cols[:, None] - cols[None, :] + table_window - 1
    return offset_rows * (2 * table_window - 1) + offset_cols


def window_partition(hidden_states: torch.Tensor, window: int) -> torch.Tensor:
    """(batch, H, W, C) -> (batch, windows, window * window, C), windows in row-major order."""
    batch_size, height, width, channels = hidden_states.shape
    hidden_states = hidden_states.view(batch_size, height // window, window, width // window, window, channels)
    return hidden_states.permute(0, 1, 3, 2, 4, 5).reshape(batch_size, -1, window * window, channels)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """The inverse of `window_partition`: (batch, windows, window * window, C) -> (batch, H, W, C)."""
    batch_size, _, _, channels = windows.shape
    windows = windows.view(batch_size, height // window, width // window, window, window, channels)
    return windows.permute(0, 1, 3, 2, 4, 5).reshape(batch_size, height, width, channels)


def shifted_window_mask(
    height: int, width: int, window: int, shift: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """The additive mask (windows, window * window, window * window) of shifted-window attention on a padded
    `height` x `width` map: after the cyclic shift, the last row and column of windows hold tokens from up to
    three regions per axis that were not neighbours; attention between different regions is suppressed."""
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    # Regions along an axis: [0, size - window), [size - window, size - shift), [size - shift, size).
    row_region = (rows >= height - window).long() + (rows >= height - shift).long()
    col_region = (cols >= width - window).long() + (cols >= width - shift).long()
    regions = (row_region[:, None] * 3 + col_region[None, :]).view(1, height, width, 1)
    regions = window_partition(regions, window).squeeze(-1)[0]  # (windows, window * window)
    different = regions[:, :, None] != regions[:, None, :]
    return torch.zeros(different.shape, device=device, dtype=dtype).masked_fill(different, SHIFTED_WINDOW_MASK_VALUE)


class ZooSwinPatchEmbeddings(nn.Module):
    """Patch partition and linear embedding in one strided convolution; an input that is not a whole number of
    patches is padded at the bottom and right, as the reference detection code and transformers do."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__()
        self.num_channels = config.num_channels
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(
            config.num_channels, config.embed_dim, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.num_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}."
            )
        height, width = pixel_values.shape[-2:]
        pad_bottom, pad_right = -height % self.patch_size, -width % self.patch_size
        if pad_bottom or pad_right:
            pixel_values = nn.functional.pad(pixel_values, (0, pad_right, 0, pad_bottom))
        return self.projection(pixel_values).permute(0, 2, 3, 1)


class ZooSwinEmbeddings(nn.Module):
    """Patch embeddings followed by a LayerNorm (the reference's `patch_norm`), as (batch, H/4, W/4, C) maps."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__()
        self.patch_embeddings = ZooSwinPatchEmbeddings(config)
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.norm(self.patch_embeddings(pixel_values)))


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


class ZooSwinWindowAttention(nn.Module):
    """Multi-head self-attention within each window, with the learned relative position bias (and, in shifted
    blocks, the shifted-window mask) added to the scores as one additive attention mask.

    Every window of every image is one sequence, (batch * windows, heads, tokens, head_dim): the bias alone is
    broadcast over all of them; with the shifted-window mask, which differs between windows, it is expanded to one
    mask per sequence (the layout the fused CPU and GPU kernels are fastest with)."""

    def __init__(self, config: ZooSwinConfig, dim: int, num_heads: int, table_window: int):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.attention_dropout = config.attention_probs_dropout_prob
        self.table_window = table_window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * table_window - 1) ** 2, num_heads))
        self.register_buffer(
            "relative_position_index", relative_position_index(table_window, table_window), persistent=False
        )
        self.qkv = nn.Linear(dim, 3 * dim, bias=config.qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_dropout = nn.Dropout(config.hidden_dropout_prob)

    def relative_position_bias(self, window: int) -> torch.Tensor:
        """The bias (heads, window^2, window^2) of a `window` x `window` window. A window smaller than the table's
        (a map smaller than the one the model was built for) reads the table's central offsets."""
        if window == self.table_window:
            index = self.relative_position_index
        elif window < self.table_window:
            index = relative_position_index(window, self.table_window, device=self.relative_position_index.device)
        else:
            table = f"{self.table_window}x{self.table_window}"
            raise ValueError(
                f"A {window}x{window} attention window needs relative position biases for offsets up to {window - 1}, "
                f"but this stage's table was built for {table} windows (the stage's map at the configured image_size "
                f"{self.config.image_size}); build the model for a larger image_size."
            )
        tokens = window * window
        bias = self.relative_position_bias_table[index.view(-1)].view(tokens, tokens, self.num_heads)
        return bias.permute(2, 0, 1)

    def forward(
        self,
        windows: torch.Tensor,
        window: int,
        shift_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, num_windows, tokens, channels = windows.shape
        qkv = self.qkv(windows).view(batch_size * num_windows, tokens, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

        mask = self.relative_position_bias(window).unsqueeze(0)  # (1, heads, tokens, tokens)
        if shift_mask is not None:
            mask = mask + shift_mask.unsqueeze(1)  # (windows, heads, tokens, tokens)
            mask = mask.expand(batch_size, -1, -1, -1, -1).reshape(batch_size * num_windows, -1, tokens, tokens)
        mask = mask.to(query.dtype)

        # Fused kernels (sdpa, flash) never materialise the probabilities, so they are asked of eager alone.
        attention_interface: Callable = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        attn_output = self.proj(attn_output.reshape(batch_size, num_windows, tokens, channels))
        return self.proj_dropout(attn_output), attn_weights


class ZooSwinMLP(nn.Module):
    """The block's two-layer perceptron: dim -> mlp_ratio * dim -> dim."""

    def __init__(self, config: ZooSwinConfig, dim: int):
        super().__init__()
        hidden = int(dim * config.mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.activation = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


class ZooSwinLayer(GradientCheckpointingLayer):
    """A Swin block: x + (S)W-MSA(LN(x)), then x + MLP(LN(x)), each branch under stochastic depth.

    The window and shift are decided by the stage for the map at hand (see `window_geometry`); the map is padded
    at the bottom and right to whole windows before the cyclic shift, as in the reference detection code."""

    def __init__(self, config: ZooSwinConfig, dim: int, num_heads: int, table_window: int, drop_path_rate: float):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = ZooSwinWindowAttention(config, dim, num_heads, table_window)
        self.layernorm_after = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = ZooSwinMLP(config, dim)
        self.drop_path = ZooSwinDropPath(drop_path_rate)

    def forward(
        self,
        hidden_states: torch.Tensor,
        window: int,
        shift: int,
        shift_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        _, height, width, _ = hidden_states.shape
        residual = hidden_states
        hidden_states = self.layernorm_before(hidden_states)
        pad_bottom, pad_right = -height % window, -width % window
        if pad_bottom or pad_right:
            hidden_states = nn.functional.pad(hidden_states, (0, 0, 0, pad_right, 0, pad_bottom))
        if shift:
            hidden_states = torch.roll(hidden_states, shifts=(-shift, -shift), dims=(1, 2))
        padded_height, padded_width = hidden_states.shape[1:3]
        # Rebinding the attention output to `hidden_states` frees its input before the MLP runs (peak memory).
        hidden_states, attn_weights = self.attention(
            window_partition(hidden_states, window), window, shift_mask, output_attentions
        )
        hidden_states = window_merge(hidden_states, window, padded_height, padded_width)
        if shift:
            hidden_states = torch.roll(hidden_states, shifts=(shift, shift), dims=(1, 2))
        if pad_bottom or pad_right:
            hidden_states = hidden_states[:, :height, :width]
        hidden_states = residual + self.drop_path(hidden_states)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attn_weights


class ZooSwinPatchMerging(nn.Module):
    """Patch merging: each 2x2 neighbourhood's four C-channel tokens are concatenated (4C), normalised and
    projected to 2C, halving the resolution. An odd map is padded at the bottom or right first."""

    def __init__(self, config: ZooSwinConfig, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=config.layer_norm_eps)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        _, height, width, _ = hidden_states.shape
        if height % 2 or width % 2:
            hidden_states = nn.functional.pad(hidden_states, (0, 0, 0, width % 2, 0, height % 2))
        # The reference's order of the four neighbours: top-left, bottom-left, top-right, bottom-right.
        neighbours = (
            hidden_states[:, 0::2, 0::2],
            hidden_states[:, 1::2, 0::2],
            hidden_states[:, 0::2, 1::2],
            hidden_states[:, 1::2, 1::2],
        )
        return self.reduction(self.norm(torch.cat(neighbours, dim=-1)))


class ZooSwinStage(nn.Module):
    """One stage: Swin blocks alternating regular and shifted windows, then patch merging (all stages but the
    last), where the original code and transformers have it."""

    def __init__(self, config: ZooSwinConfig, index: int, resolution: tuple[int, int], drop_path_rates: list[float]):
        super().__init__()
        dim = config.embed_dim * 2**index
        self.window_size = config.window_size
        # The reference sizes the bias table for the window the stage's map at the configured size allows.
        table_window = window_geometry(config.window_size, False, *resolution)[0]
        self.blocks = nn.ModuleList(
            [ZooSwinLayer(config, dim, config.num_heads[index], table_window, rate) for rate in drop_path_rates]
        )
        self.downsample = ZooSwinPatchMerging(config, dim) if index < config.num_stages - 1 else None

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(the stage's output map, the next stage's input map, each block's attention probabilities)."""
        height, width = hidden_states.shape[1:3]
        window, _ = window_geometry(self.window_size, False, height, width)
        _, shift = window_geometry(self.window_size, True, height, width)
        shift_mask = None
        if shift:
            padded = (height + -height % window, width + -width % window)
            shift_mask = shifted_window_mask(*padded, window, shift, hidden_states.device, hidden_states.dtype)
        attentions = ()
        for index, block in enumerate(self.blocks):
            shifted = index % 2 == 1
            hidden_states, attn_weights = block(
                hidden_states, window, shift if shifted else 0, shift_mask if shifted else None, output_attentions
            )
            if output_attentions:
                attentions += (attn_weights,)
        downsampled = hidden_states if self.downsample is None else self.downsample(hidden_states)
        return hidden_states, downsampled, attentions


class ZooSwinEncoder(nn.Module):
    """The stages, with the linear stochastic-depth rule across all blocks of all stages."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__()
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        resolutions = stage_resolutions(config, *config.image_size_pair)
        starts = [sum(config.depths[:index]) for index in range(config.num_stages)]
        self.stages = nn.ModuleList(
            [
                ZooSwinStage(config, index, resolutions[index], rates[start : start + depth])
                for index, (start, depth) in enumerate(zip(starts, config.depths, strict=True))
            ]
        )

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> BaseModelOutput:
        """`hidden_states` are (batch, H, W, C) maps: the embeddings and each stage's output (before merging);
        `last_hidden_state` is the last stage's output map."""
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        stage_output = hidden_states
        for stage in self.stages:
            stage_output, hidden_states, attentions = stage(hidden_states, output_attentions)
            if output_hidden_states:
                all_hidden_states += (stage_output,)
            if output_attentions:
                all_attentions += attentions
        return BaseModelOutput(
            last_hidden_state=stage_output, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ZooSwinPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every Swin model."""

    config_class = ZooSwinConfig
    config: ZooSwinConfig
    base_model_prefix = "swin"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooSwinLayer", "ZooSwinPatchMerging"]
    _supports_sdpa = True
    # The relative position bias is an additive float mask, which flash attention cannot take.
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_attention_backend = False
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooSwinModel",
        "AutoModelForImageClassification": "ZooSwinForImageClassification",
        "AutoBackbone": "ZooSwinBackbone",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference initialisation: truncated normal linears and relative position biases (std 0.02)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            # PyTorch's own default for the patch projection, which the reference keeps.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, ZooSwinWindowAttention):
            init.trunc_normal_(module.relative_position_bias_table, std=std)
            # A non-persistent buffer: never in a checkpoint, so it is recomputed whenever weights are loaded.
            init.copy_(
                module.relative_position_index, relative_position_index(module.table_window, module.table_window)
            )

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: norms, biases and relative position bias tables."""
        return {
            name
            for name, param in self.named_parameters()
            if param.ndim <= 1 or name.endswith("relative_position_bias_table")
        }

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as transformers does, with every Auto class of this folder in `config.auto_map`."""
        module = type(self).__module__.rsplit(".", 1)[-1]
        remote = {auto: f"{module}.{name}" for auto, name in self._remote_auto_classes.items()}
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **remote}
        return super().save_pretrained(save_directory, *args, **kwargs)


def _check_pixel_values(pixel_values: torch.Tensor | None) -> None:
    if pixel_values is None:
        raise ValueError("pixel_values is required.")
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(
            "pixel_values must be a torch.Tensor of shape (batch, channels, height, width), got "
            f"{type(pixel_values).__name__}; the image processor turns images into one."
        )


def _to_sequence(hidden_states: torch.Tensor) -> torch.Tensor:
    """(batch, H, W, C) map -> (batch, H * W, C) tokens, row by row."""
    return hidden_states.flatten(1, 2)


class ZooSwinModel(ZooSwinPreTrainedModel):
    """The bare Swin Transformer: embeddings, four stages, final norm; `pooler_output` is the average token.

    `last_hidden_state` holds the last stage's normed tokens (H/32 x W/32 of them for patch size 4);
    `hidden_states` the embeddings' and each stage's tokens (before patch merging), as (batch, tokens, channels);
    `attentions` every block's per-window probabilities, (batch * windows, heads, window^2, window^2)."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__(config)
        self.embeddings = ZooSwinEmbeddings(config)
        self.encoder = ZooSwinEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> ZooSwinPatchEmbeddings:
        return self.embeddings.patch_embeddings

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        _check_pixel_values(pixel_values)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        encoder_outputs = self.encoder(self.embeddings(pixel_values), output_attentions, output_hidden_states)
        sequence_output = self.layernorm(_to_sequence(encoder_outputs.last_hidden_state))
        pooled_output = sequence_output.mean(dim=1)
        hidden_states = None
        if output_hidden_states:
            hidden_states = tuple(_to_sequence(hidden) for hidden in encoder_outputs.hidden_states)

        if not return_dict:
            extras = (hidden_states, encoder_outputs.attentions)
            return (sequence_output, pooled_output) + tuple(x for x in extras if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=encoder_outputs.attentions,
        )


class ZooSwinForImageClassification(ZooSwinPreTrainedModel):
    """Swin with a linear classifier on the average of the last stage's tokens, e.g. for ImageNet."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.swin = ZooSwinModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

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
        outputs = self.swin(
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


class ZooSwinBackbone(BackboneMixin, ZooSwinPreTrainedModel):
    """Swin as a backbone for detection and segmentation heads (transformers' backbone API): the feature maps of
    the stages named in `config.out_features` ("stem" is the patch embeddings), each (batch, C_i, H_i, W_i) after
    its own LayerNorm, as the reference detection code adds them."""

    def __init__(self, config: ZooSwinConfig):
        super().__init__(config)
        self.num_features = [config.embed_dim] + [config.embed_dim * 2**index for index in range(config.num_stages)]
        self.swin = ZooSwinModel(config)
        self.hidden_states_norms = nn.ModuleDict(
            {
                stage: nn.LayerNorm(channels, eps=config.layer_norm_eps)
                for stage, channels in zip(self.out_features, self.channels, strict=True)
            }
        )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        _check_pixel_values(pixel_values)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        swin = self.swin
        pixel_values = pixel_values.to(swin.embeddings.patch_embeddings.projection.weight.dtype)
        encoder_outputs = swin.encoder(swin.embeddings(pixel_values), output_attentions, output_hidden_states=True)
        # Each stage's map, channels first: the layout detection and segmentation heads take.
        maps = tuple(hidden.permute(0, 3, 1, 2) for hidden in encoder_outputs.hidden_states)
        feature_maps = tuple(
            self.hidden_states_norms[stage](hidden).permute(0, 3, 1, 2).contiguous()
            for stage, hidden in zip(self.stage_names, encoder_outputs.hidden_states, strict=True)
            if stage in self.out_features
        )
        hidden_states = maps if output_hidden_states else None

        if not return_dict:
            extras = (hidden_states, encoder_outputs.attentions)
            return (feature_maps,) + tuple(x for x in extras if x is not None)
        return BackboneOutput(
            feature_maps=feature_maps, hidden_states=hidden_states, attentions=encoder_outputs.attentions
        )


ZooSwinModel.register_for_auto_class("AutoModel")
ZooSwinForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooSwinBackbone.register_for_auto_class("AutoBackbone")

__all__ = [
    "ZooSwinBackbone",
    "ZooSwinForImageClassification",
    "ZooSwinModel",
    "ZooSwinPreTrainedModel",
]
