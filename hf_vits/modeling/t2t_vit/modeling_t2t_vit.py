"""T2T-ViT (Yuan et al., "Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet", ICCV 2021).

The Tokens-to-Token module replaces ViT's hard patch split. A "soft split" unfolds the image into overlapping
patches (kernel 7, stride 4); each of the next two iterations runs a T2T layer on the tokens at a small width (64),
folds them back into an image ("re-structurization") and soft-splits that again (kernel 3, stride 2), so that every
token aggregates its neighbours. A linear projection takes the last split to the width of a deep-narrow ViT
backbone with a class token and a fixed sinusoidal position table.

The T2T layer is a Performer (attention linear in the number of tokens, through positive random features) in
`T2T-ViT-*` and a softmax transformer layer in `T2T-ViT_t-*`. Its attention maps the input width to the token
width, so its residual connection is taken from the values rather than from the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_t2t_vit import ZooT2TViTConfig, soft_split_grid


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->T2TViT
class ZooT2TViTDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def sinusoid_position_table(num_positions: int, dim: int) -> torch.Tensor:
    """The fixed position table of "Attention is all you need" (1, num_positions, dim): sin at even channels, cos at
    odd ones, channel pair i at wavelength 10000^(2i/dim). Computed in float64, as the reference does with NumPy."""
    positions = torch.arange(num_positions, dtype=torch.float64, device="cpu")[:, None]
    exponents = 2 * torch.div(torch.arange(dim, dtype=torch.float64, device="cpu"), 2, rounding_mode="floor") / dim
    angles = positions / torch.pow(torch.tensor(10000.0, dtype=torch.float64, device="cpu"), exponents)
    table = torch.empty(num_positions, dim, dtype=torch.float64, device="cpu")
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(torch.float32)[None]


def positive_random_features(hidden_states: torch.Tensor, random_features: torch.Tensor) -> torch.Tensor:
    """phi(x) = exp(w_i . x - |x|^2 / 2) / sqrt(m) for the m rows w_i of `random_features` (Choromanski et al.,
    "Rethinking Attention with Performers", 2021). For w_i ~ N(0, I), E[phi(q) . phi(k)] = exp(q . k): the
    unnormalised softmax kernel, estimated without bias by positive features."""
    num_features = random_features.shape[0]
    projected = hidden_states @ random_features.transpose(0, 1)
    squared_norm = hidden_states.pow(2).sum(dim=-1, keepdim=True) / 2
    return torch.exp(projected - squared_norm) / math.sqrt(num_features)


def draw_random_features(num_features: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The reference's draw of the Performer's features: an orthogonal (num_features, dim) matrix scaled by
    sqrt(num_features). Its rows all have norm sqrt(m), where Gaussian rows spread around sqrt(dim), so with them
    phi(q) . phi(k) estimates a kernel close to, but not exactly, exp(q . k); the released models were trained with
    such features, and a checkpoint carries its own."""
    features = torch.empty(num_features, dim, device="cpu")
    return nn.init.orthogonal_(features, generator=generator) * math.sqrt(num_features)


class ZooT2TViTMLP(nn.Module):
    """Two-layer perceptron: in_features -> hidden_features -> in_features."""

    def __init__(self, in_features: int, hidden_features: int, activation: str, dropout_prob: float):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.activation = ACT2FN[activation]
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.dropout = nn.Dropout(dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


class ZooT2TViTPerformerAttention(nn.Module):
    """Single-head Performer attention of the T2T layer: softmax(q k^T) v (without a 1/sqrt(d) scale) approximated
    by positive random features, sum_s phi(q_t) . phi(k_s) v_s / sum_s phi(q_t) . phi(k_s), in time linear in the
    number of tokens. Returns the projected attention output and the values, from which the T2T layer takes its
    residual."""

    def __init__(self, config: ZooT2TViTConfig, in_features: int):
        super().__init__()
        self.token_dim = config.token_dim
        self.epsilon = config.performer_epsilon
        # One projection to keys, queries and values, in that order (the reference's `kqv`).
        self.key_query_value = nn.Linear(in_features, 3 * config.token_dim)
        self.proj = nn.Linear(config.token_dim, config.token_dim)
        self.dropout = nn.Dropout(config.performer_dropout_prob)
        num_features = int(config.token_dim * config.performer_kernel_ratio)
        # Drawn once and never trained (the reference's parameter without gradient): a persistent buffer, so that
        # every checkpoint carries the features its model was trained with, and no optimiser or loader makes them
        # trainable.
        self.register_buffer("random_features", torch.empty(num_features, config.token_dim))

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key, query, value = self.key_query_value(hidden_states).split(self.token_dim, dim=-1)
        # The exponentials and their sums run in float32, as the reference does under mixed precision.
        random_features = self.random_features.float()
        query_features = positive_random_features(query.float(), random_features)
        key_features = positive_random_features(key.float(), random_features)
        normaliser = query_features @ key_features.sum(dim=1).unsqueeze(-1)
        context = key_features.transpose(1, 2) @ value.float()
        attended = (query_features @ context) / (normaliser + self.epsilon)
        return self.dropout(self.proj(attended.to(value.dtype))), value


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


class ZooT2TViTTokenAttention(nn.Module):
    """Single-head softmax attention of the transformer T2T layer, from the input width to `token_dim`. As in the
    reference, the scores are scaled by the input width^-0.5 and the query/key/value projection has no bias.
    Returns the projected attention output and the values, from which the T2T layer takes its residual."""

    def __init__(self, config: ZooT2TViTConfig, in_features: int):
        super().__init__()
        self.config = config
        self.token_dim = config.token_dim
        self.scaling = in_features**-0.5
        self.is_causal = False
        self.query_key_value = nn.Linear(in_features, 3 * config.token_dim, bias=False)
        self.proj = nn.Linear(config.token_dim, config.token_dim)

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, num_tokens, _ = hidden_states.shape
        qkv = self.query_key_value(hidden_states).reshape(batch_size, num_tokens, 3, 1, self.token_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attended, _ = attention_interface(self, query, key, value, None, dropout=0.0, scaling=self.scaling)
        attended = self.proj(attended.reshape(batch_size, num_tokens, self.token_dim))
        return attended, value[:, 0]


class ZooT2TViTTokenLayer(GradientCheckpointingLayer):
    """The T2T layer: v + Attention(LN(x)), then + MLP(LN(.)), all at `token_dim`. The attention changes the width
    (input width -> token_dim), so the first residual is its values v instead of its input."""

    def __init__(self, config: ZooT2TViTConfig, in_features: int):
        super().__init__()
        performer = config.tokens_to_token_type == "performer"
        self.layernorm_before = nn.LayerNorm(in_features, eps=config.layer_norm_eps)
        attention_class = ZooT2TViTPerformerAttention if performer else ZooT2TViTTokenAttention
        self.attention = attention_class(config, in_features)
        self.layernorm_after = nn.LayerNorm(config.token_dim, eps=config.layer_norm_eps)
        hidden_features = int(config.token_dim * config.tokens_to_token_mlp_ratio)
        dropout = config.performer_dropout_prob if performer else 0.0
        self.mlp = ZooT2TViTMLP(config.token_dim, hidden_features, config.hidden_act, dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        attended, value = self.attention(self.layernorm_before(hidden_states))
        hidden_states = value + attended
        return hidden_states + self.mlp(self.layernorm_after(hidden_states))


class ZooT2TViTTokensToToken(nn.Module):
    """The Tokens-to-Token module: soft split, then (T2T layer, re-structurization, soft split) per iteration,
    then a linear projection to the backbone width."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__()
        self.num_channels = config.num_channels
        self.kernel_sizes = config.soft_split_kernel_sizes
        self.strides = config.soft_split_strides
        self.paddings = config.soft_split_paddings
        split_widths = [config.num_channels * self.kernel_sizes[0] ** 2]
        split_widths += [config.token_dim * kernel**2 for kernel in self.kernel_sizes[1:]]
        self.layers = nn.ModuleList([ZooT2TViTTokenLayer(config, width) for width in split_widths[:-1]])
        self.projection = nn.Linear(split_widths[-1], config.hidden_size)

    def soft_split(self, image: torch.Tensor, index: int) -> torch.Tensor:
        """Overlapping patches of `image` as tokens (batch, patches, channels * kernel^2), channel-major within a
        patch as `nn.Unfold` lays them out."""
        kernel, stride, padding = self.kernel_sizes[index], self.strides[index], self.paddings[index]
        return nn.functional.unfold(image, kernel_size=kernel, stride=stride, padding=padding).transpose(1, 2)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        height, width = pixel_values.shape[-2:]
        tokens = self.soft_split(pixel_values, 0)
        for index, layer in enumerate(self.layers):
            tokens = layer(tokens)
            # Re-structurization: the tokens back into an image, on the grid the last split left.
            height, width = soft_split_grid(
                (height, width), [self.kernel_sizes[index]], [self.strides[index]], [self.paddings[index]]
            )
            image = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[-1], height, width)
            tokens = self.soft_split(image, index + 1)
        return self.projection(tokens)


class ZooT2TViTEmbeddings(nn.Module):
    """Tokens-to-Token tokens, prefixed by the class token, plus the fixed sinusoidal position table."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__()
        self.config = config
        self.tokens_to_token = ZooT2TViTTokensToToken(config)
        self.image_size = config.image_size_pair
        self.grid_size = config.grid_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.num_prefix_tokens = 1
        num_positions = self.grid_size[0] * self.grid_size[1] + self.num_prefix_tokens
        # Never trained (the reference's parameter without gradient), but a persistent buffer rather than recomputed:
        # a checkpoint brings its own table, which fine-tuning at another resolution may have resampled.
        self.register_buffer("position_embeddings", torch.empty(1, num_positions, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def interpolate_pos_encoding(self, height: int, width: int) -> torch.Tensor:
        """The patch positions of the table resampled bicubically to the token grid of a `height` x `width` input,
        as the reference's transfer-learning code resizes them (the class position is kept)."""
        config = self.config
        new_grid = soft_split_grid(
            (height, width), config.soft_split_kernel_sizes, config.soft_split_strides, config.soft_split_paddings
        )
        if new_grid == self.grid_size and not torch.jit.is_tracing():
            return self.position_embeddings
        prefix_positions = self.position_embeddings[:, : self.num_prefix_tokens]
        patch_positions = self.position_embeddings[:, self.num_prefix_tokens :]
        dim = patch_positions.shape[-1]
        patch_positions = patch_positions.reshape(1, *self.grid_size, dim).permute(0, 3, 1, 2)
        patch_positions = nn.functional.interpolate(
            patch_positions.float(), size=new_grid, mode="bicubic", align_corners=False
        ).to(patch_positions.dtype)
        patch_positions = patch_positions.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((prefix_positions, patch_positions), dim=1)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.config.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}."
            )
        height, width = pixel_values.shape[-2:]
        if not interpolate_pos_encoding and (height, width) != self.image_size:
            raise ValueError(
                f"Input image size {height}x{width} does not match the model's {self.image_size[0]}x"
                f"{self.image_size[1]}; pass `interpolate_pos_encoding=True` to resample the position embeddings."
            )
        config = self.config
        grid = soft_split_grid(
            (height, width), config.soft_split_kernel_sizes, config.soft_split_strides, config.soft_split_paddings
        )
        if min(grid) < 1:
            raise ValueError(f"Input size {height}x{width} is too small for the soft splits: no token is left.")
        embeddings = self.tokens_to_token(pixel_values)
        embeddings = torch.cat((self.cls_token.expand(embeddings.shape[0], -1, -1), embeddings), dim=1)
        if interpolate_pos_encoding:
            embeddings = embeddings + self.interpolate_pos_encoding(height, width)
        else:
            embeddings = embeddings + self.position_embeddings
        return self.dropout(embeddings)


class ZooT2TViTAttention(nn.Module):
    """Multi-head self-attention of the backbone, with one fused query/key/value projection and the config's
    score scale."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = config.scaling
        self.is_causal = False
        self.attention_dropout = config.attention_probs_dropout_prob
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.proj_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, num_tokens, hidden_size = hidden_states.shape
        qkv = self.qkv(hidden_states).reshape(batch_size, num_tokens, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

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
            None,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        attn_output = self.proj(attn_output.reshape(batch_size, num_tokens, hidden_size))
        return self.proj_dropout(attn_output), attn_weights


class ZooT2TViTLayer(GradientCheckpointingLayer):
    """Pre-norm backbone block: x + MSA(LN(x)), then x + MLP(LN(x)), each branch under stochastic depth."""

    def __init__(self, config: ZooT2TViTConfig, drop_path_rate: float = 0.0):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = ZooT2TViTAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        hidden_features = int(config.hidden_size * config.mlp_ratio)
        self.mlp = ZooT2TViTMLP(config.hidden_size, hidden_features, config.hidden_act, config.hidden_dropout_prob)
        self.drop_path = ZooT2TViTDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        hidden_states, attn_weights = self.attention(self.layernorm_before(hidden_states), output_attentions)
        hidden_states = residual + self.drop_path(hidden_states)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attn_weights


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTEncoder with ViT->T2TViT
class ZooT2TViTEncoder(nn.Module):
    """The stack of transformer blocks, with the linear stochastic-depth rule across them."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__()
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        last = max(config.num_hidden_layers - 1, 1)
        rates = [config.drop_path_rate * index / last for index in range(config.num_hidden_layers)]
        self.layers = nn.ModuleList([ZooT2TViTLayer(config, rate) for rate in rates])

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> BaseModelOutput:
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, attn_weights = layer(hidden_states, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (attn_weights,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ZooT2TViTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every T2T-ViT model."""

    config_class = ZooT2TViTConfig
    config: ZooT2TViTConfig
    base_model_prefix = "t2t_vit"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooT2TViTEmbeddings", "ZooT2TViTLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooT2TViTModel",
        "AutoModelForImageClassification": "ZooT2TViTForImageClassification",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference initialisation: truncated normal linears and class token (std 0.02), the sinusoid table and
        orthogonal random features scaled by sqrt(m)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, ZooT2TViTEmbeddings):
            init.trunc_normal_(module.cls_token, std=std)
            init.copy_(module.position_embeddings, sinusoid_position_table(*module.position_embeddings.shape[1:]))
        elif isinstance(module, ZooT2TViTPerformerAttention):
            init.copy_(module.random_features, draw_random_features(*module.random_features.shape))

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPreTrainedModel.no_weight_decay
    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: norms, biases, position embeddings, tokens."""
        return {
            name
            for name, param in self.named_parameters()
            if param.ndim <= 1 or name.endswith(("position_embeddings", "_token"))
        }

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as transformers does, with every Auto class of this folder in `config.auto_map`."""
        module = type(self).__module__.rsplit(".", 1)[-1]
        remote = {auto: f"{module}.{name}" for auto, name in self._remote_auto_classes.items()}
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **remote}
        return super().save_pretrained(save_directory, *args, **kwargs)


class ZooT2TViTModel(ZooT2TViTPreTrainedModel):
    """The bare T2T-ViT: Tokens-to-Token embeddings, backbone, final norm; `pooler_output` is the class token."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__(config)
        self.embeddings = ZooT2TViTEmbeddings(config)
        self.encoder = ZooT2TViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> ZooT2TViTTokensToToken:
        return self.embeddings.tokens_to_token

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        if pixel_values is None:
            raise ValueError("pixel_values is required.")
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(
                "pixel_values must be a torch.Tensor of shape (batch, channels, height, width), got "
                f"{type(pixel_values).__name__}; the image processor turns images into one."
            )
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        pixel_values = pixel_values.to(self.embeddings.cls_token.dtype)
        embeddings = self.embeddings(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
        encoder_outputs = self.encoder(embeddings, output_attentions, output_hidden_states)
        sequence_output = self.layernorm(encoder_outputs.last_hidden_state)
        pooled_output = sequence_output[:, 0]

        if not return_dict:
            extras = (encoder_outputs.hidden_states, encoder_outputs.attentions)
            return (sequence_output, pooled_output) + tuple(x for x in extras if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )


class ZooT2TViTForImageClassification(ZooT2TViTPreTrainedModel):
    """T2T-ViT with a linear classifier on the class token, e.g. for ImageNet."""

    def __init__(self, config: ZooT2TViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.t2t_vit = ZooT2TViTModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.t2t_vit(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            interpolate_pos_encoding=interpolate_pos_encoding,
            return_dict=True,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = None if labels is None else self.loss_function(labels, logits, self.config)

        if not return_dict:
            output = (logits,) + tuple(x for x in (outputs.hidden_states, outputs.attentions) if x is not None)
            return (loss,) + output if loss is not None else output
        return ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


ZooT2TViTModel.register_for_auto_class("AutoModel")
ZooT2TViTForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = ["ZooT2TViTForImageClassification", "ZooT2TViTModel", "ZooT2TViTPreTrainedModel"]
