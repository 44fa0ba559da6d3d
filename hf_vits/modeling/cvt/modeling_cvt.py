"""CvT (Wu et al., "CvT: Introducing Convolutions to Vision Transformers", ICCV 2021).

Three stages, each starting with a convolutional token embedding (an overlapping strided convolution and a
LayerNorm: 7x7 stride 4, then 3x3 stride 2 twice) and no position embedding. In every block, queries, keys and
values come from a convolutional projection of the token map (depthwise 3x3 convolution and BatchNorm) followed by
a linear layer; keys and values are taken with stride 2 ("squeezed"), so each query attends to a quarter of the
tokens. The last stage prepends a class token, which the convolutions leave untouched and the classifier reads.

As in the reference code, attention scores are scaled by 1 / sqrt(channels of the stage), not of the head.
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

from .configuration_cvt import ZooCvTConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->CvT
class ZooCvTDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def _conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def stage_resolutions(config: ZooCvTConfig, height: int, width: int) -> list[tuple[int, int]]:
    """The (height, width) of each stage's token map for an input of `height` x `width` pixels."""
    resolutions = []
    for kernel, stride, padding in zip(config.patch_sizes, config.patch_strides, config.patch_paddings, strict=True):
        height = _conv_output_size(height, kernel, stride, padding)
        width = _conv_output_size(width, kernel, stride, padding)
        resolutions.append((height, width))
    return resolutions


def _to_tokens(maps: torch.Tensor) -> torch.Tensor:
    """(batch, C, H, W) -> (batch, H * W, C), row by row."""
    return maps.flatten(2).transpose(1, 2)


def _to_maps(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(batch, H * W, C) -> (batch, C, H, W)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)


class ZooCvTConvEmbeddings(nn.Module):
    """Convolutional token embedding: an overlapping strided convolution over the previous map, then a
    LayerNorm over each token's channels."""

    def __init__(self, config: ZooCvTConfig, stage: int):
        super().__init__()
        in_channels = config.num_channels if stage == 0 else config.embed_dims[stage - 1]
        self.num_channels = in_channels
        self.projection = nn.Conv2d(
            in_channels,
            config.embed_dims[stage],
            kernel_size=config.patch_sizes[stage],
            stride=config.patch_strides[stage],
            padding=config.patch_paddings[stage],
        )
        self.norm = nn.LayerNorm(config.embed_dims[stage], eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """(tokens (batch, H * W, C), H, W) of the map `maps`."""
        maps = self.projection(maps)
        height, width = maps.shape[-2:]
        return self.dropout(self.norm(_to_tokens(maps))), height, width


class ZooCvTConvProjection(nn.Module):
    """The convolutional part of a query/key/value projection: a depthwise convolution and a BatchNorm."""

    def __init__(self, config: ZooCvTConfig, dim: int, stride: int, padding: int):
        super().__init__()
        self.convolution = nn.Conv2d(
            dim, dim, kernel_size=config.kernel_qkv, stride=stride, padding=padding, groups=dim, bias=False
        )
        self.normalization = nn.BatchNorm2d(dim, eps=config.batch_norm_eps)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return _to_tokens(self.normalization(self.convolution(maps)))


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


class ZooCvTAttention(nn.Module):
    """Multi-head self-attention with convolutional projections: queries from the token map at stride
    `stride_q`, keys and values at stride `stride_kv`; a class token bypasses the convolutions."""

    def __init__(self, config: ZooCvTConfig, stage: int):
        super().__init__()
        dim = config.embed_dims[stage]
        self.config = config
        self.num_heads = config.num_heads[stage]
        self.head_dim = dim // self.num_heads
        # The reference scales by the stage's width, not the head's.
        self.scaling = dim**-0.5
        self.is_causal = False
        self.attention_dropout = config.attention_probs_dropout_prob
        self.conv_projection_query = ZooCvTConvProjection(config, dim, config.stride_q, config.padding_q)
        self.conv_projection_key = ZooCvTConvProjection(config, dim, config.stride_kv, config.padding_kv)
        self.conv_projection_value = ZooCvTConvProjection(config, dim, config.stride_kv, config.padding_kv)
        self.query = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.key = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.value = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_dropout = nn.Dropout(config.hidden_dropout_prob)

    def _heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, dim) -> (batch, heads, tokens, head_dim)."""
        return tokens.view(tokens.shape[0], tokens.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, hidden_states: torch.Tensor, height: int, width: int, has_class_token: bool, output_attentions: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if has_class_token:
            class_token, hidden_states = hidden_states[:, :1], hidden_states[:, 1:]
        maps = _to_maps(hidden_states, height, width)
        query, key, value = (
            self.conv_projection_query(maps),
            self.conv_projection_key(maps),
            self.conv_projection_value(maps),
        )
        if has_class_token:
            query, key, value = (torch.cat((class_token, tokens), dim=1) for tokens in (query, key, value))
        query, key, value = self._heads(self.query(query)), self._heads(self.key(key)), self._heads(self.value(value))

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
        attn_output = self.proj(attn_output.reshape(attn_output.shape[0], attn_output.shape[1], -1))
        return self.proj_dropout(attn_output), attn_weights


class ZooCvTMLP(nn.Module):
    """The block's two-layer perceptron: dim -> mlp_ratio * dim -> dim."""

    def __init__(self, config: ZooCvTConfig, dim: int):
        super().__init__()
        hidden = int(dim * config.mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.activation = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


class ZooCvTLayer(GradientCheckpointingLayer):
    """Pre-norm block: x + attention(LN(x)), then x + MLP(LN(x)), each branch under stochastic depth."""

    def __init__(self, config: ZooCvTConfig, stage: int, drop_path_rate: float):
        super().__init__()
        dim = config.embed_dims[stage]
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = ZooCvTAttention(config, stage)
        self.layernorm_after = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = ZooCvTMLP(config, dim)
        self.drop_path = ZooCvTDropPath(drop_path_rate)

    def forward(
        self,
        hidden_states: torch.Tensor,
        height: int,
        width: int,
        has_class_token: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        # Rebinding the attention output to `hidden_states` frees it before the MLP runs (peak memory).
        hidden_states, attn_weights = self.attention(
            self.layernorm_before(hidden_states), height, width, has_class_token, output_attentions
        )
        hidden_states = residual + self.drop_path(hidden_states)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attn_weights


class ZooCvTStage(nn.Module):
    """One stage: the convolutional token embedding of the previous map, the class token (last stage only),
    and the blocks."""

    def __init__(self, config: ZooCvTConfig, stage: int, drop_path_rates: list[float]):
        super().__init__()
        self.embeddings = ZooCvTConvEmbeddings(config, stage)
        last = stage == config.num_stages - 1
        has_class_token = config.use_class_token and last
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dims[stage])) if has_class_token else None
        self.layers = nn.ModuleList([ZooCvTLayer(config, stage, rate) for rate in drop_path_rates])

    def forward(
        self, maps: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(the embedded tokens, the stage's output tokens (class token first, if any), its output map, each
        block's attention probabilities)."""
        embedded, height, width = self.embeddings(maps)
        hidden_states = embedded
        has_class_token = self.cls_token is not None
        if has_class_token:
            hidden_states = torch.cat((self.cls_token.expand(hidden_states.shape[0], -1, -1), hidden_states), dim=1)
        attentions = ()
        for layer in self.layers:
            hidden_states, attn_weights = layer(hidden_states, height, width, has_class_token, output_attentions)
            if output_attentions:
                attentions += (attn_weights,)
        spatial = hidden_states[:, 1:] if has_class_token else hidden_states
        return embedded, hidden_states, _to_maps(spatial, height, width), attentions


class ZooCvTEncoder(nn.Module):
    """The stages, with the linear stochastic-depth rule across all blocks of all stages."""

    def __init__(self, config: ZooCvTConfig):
        super().__init__()
        self.config = config
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        starts = [sum(config.depths[:index]) for index in range(config.num_stages)]
        self.stages = nn.ModuleList(
            [
                ZooCvTStage(config, stage, rates[start : start + depth])
                for stage, (start, depth) in enumerate(zip(starts, config.depths, strict=True))
            ]
        )

    def forward(
        self, pixel_values: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> BaseModelOutput:
        """`hidden_states`: the first token embedding, then each stage's output tokens (the last stage's with its
        class token first); `last_hidden_state`: the last stage's output tokens."""
        height, width = pixel_values.shape[-2:]
        resolutions = stage_resolutions(self.config, height, width)
        if min(min(resolution) for resolution in resolutions) < 1:
            raise ValueError(
                f"Input size {height}x{width} is too small for this CvT: its token maps would be {resolutions}."
            )
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        maps = pixel_values
        for index, stage in enumerate(self.stages):
            embedded, hidden_states, maps, attentions = stage(maps, output_attentions)
            if output_hidden_states:
                all_hidden_states += (embedded, hidden_states) if index == 0 else (hidden_states,)
            if output_attentions:
                all_attentions += attentions
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ZooCvTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every CvT model."""

    config_class = ZooCvTConfig
    config: ZooCvTConfig
    base_model_prefix = "cvt"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooCvTConvEmbeddings", "ZooCvTLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooCvTModel",
        "AutoModelForImageClassification": "ZooCvTForImageClassification",
        "AutoBackbone": "ZooCvTBackbone",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference initialisation: truncated normal linears and class token (std 0.02), unit norms."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            # PyTorch's own default for the convolutions, which the reference keeps.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm2d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, ZooCvTStage) and module.cls_token is not None:
            init.trunc_normal_(module.cls_token, std=std)

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


class ZooCvTModel(ZooCvTPreTrainedModel):
    """The bare CvT: three stages and the final LayerNorm.

    `last_hidden_state` holds the last stage's normed tokens, class token first; `pooler_output` is the normed class
    token (the average token without one); `hidden_states` the first token embedding and each stage's output
    tokens; `attentions` every block's probabilities, (batch, heads, queries, squeezed keys)."""

    def __init__(self, config: ZooCvTConfig):
        super().__init__(config)
        self.encoder = ZooCvTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.encoder.stages[0].embeddings.projection

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
        encoder_outputs = self.encoder(pixel_values, output_attentions, output_hidden_states)
        sequence_output = self.layernorm(encoder_outputs.last_hidden_state)
        pooled_output = sequence_output[:, 0] if self.config.use_class_token else sequence_output.mean(dim=1)

        if not return_dict:
            extras = (encoder_outputs.hidden_states, encoder_outputs.attentions)
            return (sequence_output, pooled_output) + tuple(x for x in extras if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )


class ZooCvTForImageClassification(ZooCvTPreTrainedModel):
    """CvT with a linear classifier on the normed class token, e.g. for ImageNet."""

    def __init__(self, config: ZooCvTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.cvt = ZooCvTModel(config)
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
        outputs = self.cvt(
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


class ZooCvTBackbone(BackboneMixin, ZooCvTPreTrainedModel):
    """CvT as a backbone for detection and segmentation heads (transformers' backbone API): the token maps of the
    stages named in `config.out_features` ("stem" is the first convolutional token embedding), each
    (batch, C_i, H_i, W_i), the class token left out."""

    def __init__(self, config: ZooCvTConfig):
        super().__init__(config)
        self.num_features = [config.embed_dims[0], *config.embed_dims]
        self.cvt = ZooCvTModel(config)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        _check_pixel_values(pixel_values, self.config.num_channels)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        height, width = pixel_values.shape[-2:]
        resolutions = stage_resolutions(self.config, height, width)
        pixel_values = pixel_values.to(self.cvt.get_input_embeddings().weight.dtype)
        encoder_outputs = self.cvt.encoder(pixel_values, output_attentions, output_hidden_states=True)
        maps = []
        for (map_height, map_width), tokens in zip(
            [resolutions[0], *resolutions], encoder_outputs.hidden_states, strict=True
        ):
            # Each stage's map, channels first, the class token (first, when there is one) left out.
            spatial = tokens[:, tokens.shape[1] - map_height * map_width :]
            maps.append(_to_maps(spatial, map_height, map_width).contiguous())
        feature_maps = tuple(
            stage_map for stage, stage_map in zip(self.stage_names, maps, strict=True) if stage in self.out_features
        )
        hidden_states = tuple(maps) if output_hidden_states else None

        if not return_dict:
            extras = (hidden_states, encoder_outputs.attentions)
            return (feature_maps,) + tuple(x for x in extras if x is not None)
        return BackboneOutput(
            feature_maps=feature_maps, hidden_states=hidden_states, attentions=encoder_outputs.attentions
        )


ZooCvTModel.register_for_auto_class("AutoModel")
ZooCvTForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooCvTBackbone.register_for_auto_class("AutoBackbone")

__all__ = [
    "ZooCvTBackbone",
    "ZooCvTForImageClassification",
    "ZooCvTModel",
    "ZooCvTPreTrainedModel",
]
