"""DeiT (Touvron et al., "Training data-efficient image transformers & distillation through attention", 2021).

The ViT architecture, plus, in the distilled models, a distillation token that attends with the class token
and the patches and feeds its own linear head, trained to reproduce a teacher's predictions. At inference the
two heads' logits are averaged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_deit import ZooDeiTConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->DeiT
class ZooDeiTDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPatchEmbeddings with ViT->DeiT
class ZooDeiTPatchEmbeddings(nn.Module):
    """Cuts the image into non-overlapping patches and embeds each one linearly (a strided convolution)."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__()
        self.num_channels = config.num_channels
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(
            config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.num_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}."
            )
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"Input size {height}x{width} is not divisible by the patch size {self.patch_size}.")
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ZooDeiTEmbeddings(nn.Module):
    """Patch embeddings, prefixed by the class token (and the distillation token), plus learned position
    embeddings that cover the prefix tokens too."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__()
        self.patch_embeddings = ZooDeiTPatchEmbeddings(config)
        self.image_size = config.image_size_pair
        self.patch_size = config.patch_size
        self.grid_size = (self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.distillation_token = None
        if config.use_distillation_token:
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.num_prefix_tokens = 1 + int(config.use_distillation_token)
        num_positions = self.grid_size[0] * self.grid_size[1] + self.num_prefix_tokens
        self.position_embeddings = nn.Parameter(torch.zeros(1, num_positions, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTEmbeddings.interpolate_pos_encoding
    def interpolate_pos_encoding(self, height: int, width: int) -> torch.Tensor:
        """Resample the patch position grid bicubically to an input of `height` x `width` pixels."""
        new_grid = (height // self.patch_size, width // self.patch_size)
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
        height, width = pixel_values.shape[-2:]
        if not interpolate_pos_encoding and (height, width) != self.image_size:
            raise ValueError(
                f"Input image size {height}x{width} does not match the model's {self.image_size[0]}x"
                f"{self.image_size[1]}; pass `interpolate_pos_encoding=True` to resample the position embeddings."
            )
        embeddings = self.patch_embeddings(pixel_values)
        prefix = [self.cls_token, self.distillation_token] if self.distillation_token is not None else [self.cls_token]
        prefix = [token.expand(embeddings.shape[0], -1, -1) for token in prefix]
        embeddings = torch.cat((*prefix, embeddings), dim=1)
        if interpolate_pos_encoding:
            embeddings = embeddings + self.interpolate_pos_encoding(height, width)
        else:
            embeddings = embeddings + self.position_embeddings
        return self.dropout(embeddings)


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


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTAttention with ViT->DeiT
class ZooDeiTAttention(nn.Module):
    """Multi-head self-attention with one fused query/key/value projection."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
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


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTMLP with ViT->DeiT
class ZooDeiTMLP(nn.Module):
    """The block's two-layer perceptron: hidden_size -> intermediate_size -> hidden_size."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.activation(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTLayer with ViT->DeiT
class ZooDeiTLayer(GradientCheckpointingLayer):
    """Pre-norm transformer block: x + MSA(LN(x)), then x + MLP(LN(x)), each branch under stochastic depth."""

    def __init__(self, config: ZooDeiTConfig, drop_path_rate: float = 0.0):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = ZooDeiTAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = ZooDeiTMLP(config)
        self.drop_path = ZooDeiTDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        # Rebinding the attention output to `hidden_states` frees it before the MLP runs (peak memory).
        hidden_states, attn_weights = self.attention(self.layernorm_before(hidden_states), output_attentions)
        hidden_states = residual + self.drop_path(hidden_states)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attn_weights


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTEncoder with ViT->DeiT
class ZooDeiTEncoder(nn.Module):
    """The stack of transformer blocks, with the linear stochastic-depth rule across them."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__()
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        last = max(config.num_hidden_layers - 1, 1)
        rates = [config.drop_path_rate * index / last for index in range(config.num_hidden_layers)]
        self.layers = nn.ModuleList([ZooDeiTLayer(config, rate) for rate in rates])

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


@dataclass
class ZooDeiTImageClassifierOutput(ImageClassifierOutput):
    """Classifier output of DeiT. `logits` is what the model predicts: the mean of the class-token and
    distillation-token heads in distilled models, the class-token head otherwise. `cls_logits` and
    `distillation_logits` are each head alone, for the distillation loss (`distillation_logits` is None
    without a distillation token)."""

    cls_logits: torch.FloatTensor | None = None
    distillation_logits: torch.FloatTensor | None = None


class ZooDeiTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every DeiT model."""

    config_class = ZooDeiTConfig
    config: ZooDeiTConfig
    base_model_prefix = "deit"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooDeiTEmbeddings", "ZooDeiTLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooDeiTModel",
        "AutoModelForImageClassification": "ZooDeiTForImageClassification",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The DeiT initialisation: truncated normal linears, position embeddings and distillation token."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            # PyTorch's own default for the patch projection, which the references keep.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, ZooDeiTEmbeddings):
            init.trunc_normal_(module.position_embeddings, std=std)
            init.trunc_normal_(module.cls_token, std=std)
            if module.distillation_token is not None:
                init.trunc_normal_(module.distillation_token, std=std)

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


class ZooDeiTModel(ZooDeiTPreTrainedModel):
    """The bare DeiT: embeddings, encoder and final norm; `pooler_output` is the normed class token."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__(config)
        self.embeddings = ZooDeiTEmbeddings(config)
        self.encoder = ZooDeiTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> ZooDeiTPatchEmbeddings:
        return self.embeddings.patch_embeddings

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

        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
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


class ZooDeiTForImageClassification(ZooDeiTPreTrainedModel):
    """DeiT with a linear head on the class token and, when the config has a distillation token, a second
    head on it. The pipeline and `labels` use the averaged logits, as DeiT evaluates; the trainer's
    distillation loss reads `cls_logits` and `distillation_logits`."""

    def __init__(self, config: ZooDeiTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.deit = ZooDeiTModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = self._make_head(config)
        self.distillation_classifier = self._make_head(config) if config.use_distillation_token else None
        self.post_init()

    @staticmethod
    def _make_head(config: ZooDeiTConfig) -> nn.Module:
        return nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ZooDeiTImageClassifierOutput | tuple:
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.deit(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            interpolate_pos_encoding=interpolate_pos_encoding,
            return_dict=True,
        )
        sequence_output = self.dropout(outputs.last_hidden_state)
        cls_logits = self.classifier(sequence_output[:, 0])
        distillation_logits = None
        logits = cls_logits
        if self.distillation_classifier is not None:
            distillation_logits = self.distillation_classifier(sequence_output[:, 1])
            logits = (cls_logits + distillation_logits) / 2
        loss = None if labels is None else self.loss_function(labels, logits, self.config)

        output = ZooDeiTImageClassifierOutput(
            loss=loss,
            logits=logits,
            cls_logits=cls_logits,
            distillation_logits=distillation_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        # The tuple holds every field that is set, in the dataclass's order, as transformers' tuples do.
        return output if return_dict else output.to_tuple()


class ZooDeiTForImageClassificationWithTeacher(ZooDeiTForImageClassification):
    """The distilled DeiT (class and distillation tokens, two heads), under the name transformers uses.

    It is [`ZooDeiTForImageClassification`] with a config that has `use_distillation_token=True`, so the Auto
    classes and the pipeline, which map one class per config, load its checkpoints whole."""

    def __init__(self, config: ZooDeiTConfig):
        if not config.use_distillation_token:
            raise ValueError(
                "ZooDeiTForImageClassificationWithTeacher needs a config with `use_distillation_token=True`."
            )
        super().__init__(config)


ZooDeiTModel.register_for_auto_class("AutoModel")
ZooDeiTForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "ZooDeiTForImageClassification",
    "ZooDeiTForImageClassificationWithTeacher",
    "ZooDeiTImageClassifierOutput",
    "ZooDeiTModel",
    "ZooDeiTPreTrainedModel",
]
