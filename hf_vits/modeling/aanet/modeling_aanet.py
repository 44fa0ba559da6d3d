"""Attention-Augmented ResNets (Bello et al., "Attention Augmented Convolutional Networks", ICCV 2019).

An attention-augmented convolution with F_out output filters splits them: F_out - d_v come from the convolution,
d_v from multi-head self-attention over all positions of the map, and the two are concatenated (Sec. 3.2):

    AAConv(X) = Concat[Conv(X), MHA(X)],    MHA(X) = Concat[O_1, ..., O_Nh] W^O,
    O_h = Softmax((Q_h K_h^T + S_H^rel + S_W^rel) / sqrt(d_k^h)) V_h,

with queries, keys and values from one 1x1 convolution of the input (d_k, d_k and d_v filters), W^O a 1x1
convolution, and the 2D relative position logits [S_H^rel]_ij = q_i . r^H_{j_y - i_y}, [S_W^rel]_ij = q_i . r^W_{j_x -
i_x} (Sec. 3.1.1): separate learned height and width embeddings, shared across heads, computed with the
relative-to-absolute indexing trick of the paper's appendix. The relative logits are the additive mask of standard
scaled dot-product attention, which runs through transformers' attention interface.

In AA-ResNets (Sec. 4, ImageNet classification with ResNets), every 3x3 convolution of the residual blocks of the
last three stages is augmented with kappa = 2 upsilon = 0.2 and N_h = 8, and the augmented convolution is followed by
the block's BatchNorm. In the first augmented stage the attention sees its input average-pooled (3x3, stride 2) and
its output is upsampled bilinearly, to save memory (Sec. 3.2). A strided augmented convolution (the first block of a
stage, stride on the 3x3 convolution as in torchvision's ResNet) average-pools the attention's input to the output
resolution.

The trunk is torchvision's ResNet with its parameter names (`conv1`, `bn1`, `layer1` .. `layer4`, blocks with `conv1`
.. `bn3` and `downsample`); an augmented convolution is the block's `conv1`/`conv2` module, holding the 3x3
convolution as `convolution`, the query/key/value projection as `qkv`, W^O as `output_projection` and the relative
embeddings as `relative_height` and `relative_width`.

ImageNet ResNet weights (`hf-vits convert torchvision:resnet50 OUT --variant aa-resnet-50`, or `timm:resnet50`):
every weight of the source ResNet goes to the same name here, except that an augmented convolution's 3x3
convolution takes the first F_out - d_v filters of the source's (its output channels are then exactly the source's
first F_out - d_v); the source's last d_v filters, which attention replaces, are dropped, and the attention starts
from its initialisation. The BatchNorm after it keeps all the source's channels. Such a model is a warm start, not
the source ResNet: its features differ through the attention channels. With no augmented stage
(`augmented_stages=[False] * 4`) the model is a ResNet and computes the source's features exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers import BackboneMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_aanet import ZooAANetConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->AANet
class ZooAANetDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def _pooled_size(size: int, stride: int) -> int:
    """Side of a map after a 3x3 convolution or pooling with padding 1 and `stride`."""
    return (size - 1) // stride + 1


def stage_resolutions(config: ZooAANetConfig, height: int, width: int) -> list[tuple[int, int]]:
    """The (height, width) of each stage's output map for an input of `height` x `width` pixels."""
    # The stem: 7x7 stride-2 convolution (padding 3), then 3x3 stride-2 max-pool (padding 1).
    height, width = _pooled_size(_pooled_size(height, 2), 2), _pooled_size(_pooled_size(width, 2), 2)
    resolutions = []
    for stage in range(config.num_stages):
        stride = 1 if stage == 0 else 2
        height, width = _pooled_size(height, stride), _pooled_size(width, stride)
        resolutions.append((height, width))
    return resolutions


def attention_resolutions(config: ZooAANetConfig, height: int, width: int) -> list[tuple[int, int] | None]:
    """The (height, width) each stage's attention runs at (None for a stage without attention)."""
    resolutions = []
    for stage, (stage_height, stage_width) in enumerate(stage_resolutions(config, height, width)):
        if not config.augmented_stages[stage]:
            resolutions.append(None)
        elif config.downsampled_attention_stages[stage]:
            resolutions.append((_pooled_size(stage_height, 2), _pooled_size(stage_width, 2)))
        else:
            resolutions.append((stage_height, stage_width))
    return resolutions


def relative_to_absolute(logits: torch.Tensor) -> torch.Tensor:
    """(..., L, 2L - 1) logits indexed by relative distance (column m: distance m - (L - 1)) -> (..., L, L) indexed
    by absolute position: out[..., i, j] = logits[..., i, j - i + L - 1].

    The paper's trick: with a zero column appended, rows are 2L long, so that reading the flattened rows in rows of
    2L - 1 shifts each row one further left: read from offset L - 1, row i starts at distance -i. The appendix pads
    the flattened rows by L - 1 more zeros to reshape them; slicing the L rows that are kept needs no second copy.
    """
    *batch, length, _ = logits.shape
    flat = nn.functional.pad(logits, (0, 1)).reshape(*batch, 2 * length * length)
    shifted = flat[..., length - 1 : length - 1 + length * (2 * length - 1)]
    return shifted.reshape(*batch, length, 2 * length - 1)[..., :length]


def relative_position_logits(
    query: torch.Tensor, relative_height: torch.Tensor, relative_width: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """S_H^rel + S_W^rel for queries (batch, heads, height * width, dim) laid out row by row: (batch, heads,
    height * width, height * width), [i, j] = q_i . r^H_{j_y - i_y} + q_i . r^W_{j_x - i_x}."""
    batch, heads, _, dim = query.shape
    # Every query against every relative embedding of both axes, in one product: (batch, heads, H, W, 2W - 1 + 2H - 1).
    logits = query.reshape(batch, heads, height, width, dim) @ torch.cat((relative_width, relative_height)).t()
    width_logits, height_logits = logits.split([2 * width - 1, 2 * height - 1], dim=-1)
    # [b, n, y, x, x'], then broadcast over the key row y'.
    width_logits = relative_to_absolute(width_logits)[:, :, :, :, None, :]
    # Along the columns on the transposed map, [b, n, x, y, y'] -> [b, n, y, x, y'], broadcast over the key column x'.
    height_logits = relative_to_absolute(height_logits.transpose(2, 3)).transpose(2, 3)[..., None]
    return (width_logits + height_logits).reshape(batch, heads, height * width, height * width)


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


class ZooAANetAugmentedConv(nn.Module):
    """Attention-augmented 3x3 convolution: Concat[Conv(X), MHA(X)] with F_out - d_v and d_v filters."""

    def __init__(
        self,
        config: ZooAANetConfig,
        in_channels: int,
        out_channels: int,
        stride: int,
        attention_size: tuple[int, int],
        downsample_attention: bool,
    ):
        super().__init__()
        self.config = config
        self.key_dim, self.value_dim = config.attention_dims(out_channels)
        self.num_heads = config.num_attention_heads
        self.key_dim_per_head = self.key_dim // self.num_heads
        self.scaling = self.key_dim_per_head**-0.5
        self.is_causal = False
        self.stride = stride
        self.downsample_attention = downsample_attention
        self.attention_size = tuple(attention_size)
        self.convolution = nn.Conv2d(
            in_channels, out_channels - self.value_dim, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.qkv = nn.Conv2d(in_channels, 2 * self.key_dim + self.value_dim, kernel_size=1)
        self.output_projection = nn.Conv2d(self.value_dim, self.value_dim, kernel_size=1)
        if config.use_relative_position_logits:
            height, width = self.attention_size
            self.relative_height = nn.Parameter(torch.empty(2 * height - 1, self.key_dim_per_head))
            self.relative_width = nn.Parameter(torch.empty(2 * width - 1, self.key_dim_per_head))
        else:
            self.relative_height = self.relative_width = None

    def _relative_embeddings(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of the relative embeddings for distances -(L - 1) .. L - 1 on a `height` x `width` map."""
        built_height, built_width = self.attention_size
        if height > built_height or width > built_width:
            raise ValueError(
                f"The attention of this model runs on maps of at most {built_height}x{built_width} (its relative "
                f"position embeddings were built for `image_size` {self.config.image_size}); the input gives "
                f"{height}x{width}. Use an input no larger than `image_size`, or build the model with a larger one."
            )
        return (
            self.relative_height[built_height - height : built_height + height - 1],
            self.relative_width[built_width - width : built_width + width - 1],
        )

    def _heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, H * W, heads * head_dim) -> (batch, heads, H * W, head_dim), channels of a head contiguous (as
        fused attention kernels need)."""
        batch, length, channels = tokens.shape
        return tokens.view(batch, length, self.num_heads, channels // self.num_heads).transpose(1, 2)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        convolved = self.convolution(hidden_states)

        attended = hidden_states
        if self.stride > 1:
            attended = nn.functional.avg_pool2d(attended, 3, self.stride, padding=1, count_include_pad=False)
        if self.downsample_attention:
            attended = nn.functional.avg_pool2d(attended, 3, 2, padding=1, count_include_pad=False)
        batch, _, height, width = attended.shape
        # One copy to (batch, H * W, channels), row by row; queries, keys and values are views of it.
        tokens = self.qkv(attended).flatten(2).transpose(1, 2).contiguous()
        query, key, value = (
            self._heads(states) for states in tokens.split([self.key_dim, self.key_dim, self.value_dim], dim=-1)
        )

        # The relative logits enter the softmax with the content logits, both scaled by d_k^h ** -0.5 (applied to the
        # small embedding tables rather than to the queries).
        relative_logits = None
        if self.relative_height is not None:
            relative_height, relative_width = self._relative_embeddings(height, width)
            relative_logits = relative_position_logits(
                query, relative_height * self.scaling, relative_width * self.scaling, height, width
            )

        # Fused kernels (sdpa, flash) never materialise the probabilities, so they are asked of eager alone.
        attention_interface: Callable = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        value_dim_per_head = value.shape[-1]
        if attention_interface is not eager_attention_forward:
            # Fused kernels (PyTorch's CPU flash attention, FlashAttention) need one head size for queries, keys
            # and values; zeros pad the smaller ones (they change no logit and add only zero output channels),
            # which is several times faster than the unfused fallback.
            head_dim = max(self.key_dim_per_head, value_dim_per_head)
            query, key, value = (
                nn.functional.pad(states, (0, head_dim - states.shape[-1])) for states in (query, key, value)
            )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            relative_logits,
            dropout=self.config.attention_probs_dropout_prob if self.training else 0.0,
            scaling=self.scaling,
        )
        attn_output = attn_output[..., :value_dim_per_head]
        # (batch, H * W, heads, head_dim) -> (batch, d_v, H, W), heads concatenated channel-wise.
        attn_output = attn_output.reshape(batch, height, width, self.value_dim).permute(0, 3, 1, 2)
        attn_output = self.output_projection(attn_output)
        if attn_output.shape[-2:] != convolved.shape[-2:]:
            attn_output = nn.functional.interpolate(
                attn_output, size=convolved.shape[-2:], mode="bilinear", align_corners=False
            )
        return torch.cat((convolved, attn_output), dim=1), attn_weights if output_attentions else None


def _conv3x3(
    config: ZooAANetConfig,
    in_channels: int,
    out_channels: int,
    stride: int,
    attention_size: tuple[int, int] | None,
    downsample_attention: bool,
) -> nn.Module:
    """A block's 3x3 convolution: attention-augmented in an augmented stage (`attention_size` given), else plain."""
    if attention_size is None:
        return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
    return ZooAANetAugmentedConv(config, in_channels, out_channels, stride, attention_size, downsample_attention)


def _apply_conv(
    conv: nn.Module, hidden_states: torch.Tensor, output_attentions: bool, attentions: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run a plain or augmented convolution, collecting the augmented one's attention maps."""
    if isinstance(conv, ZooAANetAugmentedConv):
        hidden_states, attn_weights = conv(hidden_states, output_attentions)
        if output_attentions:
            attentions += (attn_weights,)
        return hidden_states, attentions
    return conv(hidden_states), attentions


def _shortcut(config: ZooAANetConfig, in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """torchvision's projection shortcut (1x1 strided convolution, BatchNorm) when the shape changes."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps),
    )


class ZooAANetBasicBlock(GradientCheckpointingLayer):
    """torchvision's BasicBlock (ResNet-18/34): two 3x3 convolutions with BatchNorm, the first one strided, both
    attention-augmented in an augmented stage, and the projection shortcut (`downsample`) when the shape changes."""

    def __init__(
        self,
        config: ZooAANetConfig,
        in_channels: int,
        out_channels: int,
        stride: int,
        attention_size: tuple[int, int] | None,
        downsample_attention: bool,
        drop_path_rate: float,
    ):
        super().__init__()
        self.conv1 = _conv3x3(config, in_channels, out_channels, stride, attention_size, downsample_attention)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.conv2 = _conv3x3(config, out_channels, out_channels, 1, attention_size, downsample_attention)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(config, in_channels, out_channels, stride)
        self.drop_path = ZooAANetDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states, attentions = _apply_conv(self.conv1, hidden_states, output_attentions, ())
        hidden_states = self.relu(self.bn1(hidden_states))
        hidden_states, attentions = _apply_conv(self.conv2, hidden_states, output_attentions, attentions)
        hidden_states = self.drop_path(self.bn2(hidden_states))
        # In place, as torchvision's blocks: the branch's tensor is the block's own, and BatchNorm's backward does not
        # need its output.
        hidden_states += shortcut
        return self.relu(hidden_states), attentions


class ZooAANetBottleneck(GradientCheckpointingLayer):
    """torchvision's Bottleneck ("ResNet v1.5", as timm's): 1x1 reduction to a quarter of the output channels, 3x3
    convolution carrying the stride (attention-augmented in an augmented stage), 1x1 expansion, each with BatchNorm,
    and the projection shortcut (`downsample`) when the shape changes."""

    def __init__(
        self,
        config: ZooAANetConfig,
        in_channels: int,
        out_channels: int,
        stride: int,
        attention_size: tuple[int, int] | None,
        downsample_attention: bool,
        drop_path_rate: float,
    ):
        super().__init__()
        width = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=config.batch_norm_eps)
        self.conv2 = _conv3x3(config, width, width, stride, attention_size, downsample_attention)
        self.bn2 = nn.BatchNorm2d(width, eps=config.batch_norm_eps)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(config, in_channels, out_channels, stride)
        self.drop_path = ZooAANetDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.relu(self.bn1(self.conv1(hidden_states)))
        hidden_states, attentions = _apply_conv(self.conv2, hidden_states, output_attentions, ())
        hidden_states = self.relu(self.bn2(hidden_states))
        hidden_states = self.drop_path(self.bn3(self.conv3(hidden_states)))
        # In place, as torchvision's blocks: the branch's tensor is the block's own, and BatchNorm's backward does not
        # need its output.
        hidden_states += shortcut
        return self.relu(hidden_states), attentions


class ZooAANetStage(nn.ModuleList):
    """One ResNet stage (torchvision's `layerN`): residual blocks, the first one strided."""

    def __init__(
        self,
        config: ZooAANetConfig,
        stage: int,
        in_channels: int,
        attention_size: tuple[int, int] | None,
        drop_path_rates: list[float],
    ):
        block_class = ZooAANetBottleneck if config.layer_type == "bottleneck" else ZooAANetBasicBlock
        out_channels = config.hidden_sizes[stage]
        stride = 1 if stage == 0 else 2
        super().__init__(
            [
                block_class(
                    config,
                    in_channels if index == 0 else out_channels,
                    out_channels,
                    stride if index == 0 else 1,
                    attention_size,
                    config.downsampled_attention_stages[stage],
                    rate,
                )
                for index, rate in enumerate(drop_path_rates)
            ]
        )

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(the stage's output map, the attention maps of its augmented convolutions when `output_attentions`)."""
        attentions = ()
        for block in self:
            hidden_states, block_attentions = block(hidden_states, output_attentions)
            attentions += block_attentions
        return hidden_states, attentions


class ZooAANetPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every AA-ResNet model."""

    config_class = ZooAANetConfig
    config: ZooAANetConfig
    base_model_prefix = "aanet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooAANetStage"]
    # The relative logits are an additive mask that differs per head: sdpa and eager take it; transformers' flex
    # attention reads one head's mask for all, and FlashAttention takes no additive mask.
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooAANetModel",
        "AutoModelForImageClassification": "ZooAANetForImageClassification",
        "AutoBackbone": "ZooAANetBackbone",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation (He normal, fan-out, for every convolution, the attention's 1x1
        projections included; unit BatchNorms; PyTorch's default for the classifier) and the paper's for the relative
        embeddings (normal, std d_k^h ** -0.5)."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, ZooAANetAugmentedConv) and module.relative_height is not None:
            init.normal_(module.relative_height, std=module.key_dim_per_head**-0.5)
            init.normal_(module.relative_width, std=module.key_dim_per_head**-0.5)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: norms, biases and the relative position embeddings."""
        return {
            name
            for name, param in self.named_parameters()
            if param.ndim <= 1 or name.endswith(("relative_height", "relative_width"))
        }

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


class ZooAANetModel(ZooAANetPreTrainedModel):
    """The bare AA-ResNet: stem (7x7 convolution, BatchNorm, ReLU, max-pool), stages `layer1` .. `layer4` and
    global average pooling.

    `last_hidden_state` is the last stage's map (batch, C, H, W); `pooler_output` its spatial average (batch, C);
    `hidden_states` the stem's output and each stage's; `attentions` the probabilities of every augmented convolution,
    (batch, heads, H * W, H * W) at the resolution its attention runs at."""

    def __init__(self, config: ZooAANetConfig):
        super().__init__(config)
        self.conv1 = nn.Conv2d(
            config.num_channels, config.embedding_size, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.bn1 = nn.BatchNorm2d(config.embedding_size, eps=config.batch_norm_eps)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        attention_sizes = attention_resolutions(config, *config.image_size_pair)
        in_channels = config.embedding_size
        for stage, depth in enumerate(config.depths):
            start = sum(config.depths[:stage])
            self.add_module(
                f"layer{stage + 1}",
                ZooAANetStage(config, stage, in_channels, attention_sizes[stage], rates[start : start + depth]),
            )
            in_channels = config.hidden_sizes[stage]
        self.pooler = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    @property
    def stages(self) -> list[ZooAANetStage]:
        """`layer1` .. `layer4`, in order."""
        return [getattr(self, f"layer{index}") for index in range(1, self.config.num_stages + 1)]

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.conv1

    def forward_stages(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """(the stem's output map and each stage's, every augmented convolution's attention maps)."""
        pixel_values = pixel_values.to(self.conv1.weight.dtype)
        maps = [self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))]
        attentions = ()
        for stage in self.stages:
            hidden_states, stage_attentions = stage(maps[-1], output_attentions)
            maps.append(hidden_states)
            attentions += stage_attentions
        return maps, attentions

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalModel.forward
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

        maps, attentions = self.forward_stages(pixel_values, output_attentions)
        last_hidden_state = maps[-1]
        pooled_output = self.pooler(last_hidden_state).flatten(1)
        hidden_states = tuple(maps) if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            return (last_hidden_state, pooled_output) + tuple(x for x in (hidden_states, attentions) if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=last_hidden_state,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )


class ZooAANetForImageClassification(ZooAANetPreTrainedModel):
    """AA-ResNet with a linear classifier on the average-pooled last stage, e.g. for ImageNet."""

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.__init__ with NonLocal->AANet, nonlocal_net->aanet  # noqa: E501
    def __init__(self, config: ZooAANetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.aanet = ZooAANetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.forward with nonlocal_net->aanet  # noqa: E501
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
        outputs = self.aanet(
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


class ZooAANetBackbone(BackboneMixin, ZooAANetPreTrainedModel):
    """The AA-ResNet as a backbone for detection and segmentation heads (transformers' backbone API; the paper's COCO
    RetinaNets use one): the maps of the stages named in `config.out_features`, each (batch, C_i, H_i, W_i), "stem"
    being the output of the stem's max-pool."""

    def __init__(self, config: ZooAANetConfig):
        super().__init__(config)
        self.num_features = [config.embedding_size, *config.hidden_sizes]
        self.aanet = ZooAANetModel(config)
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalBackbone.forward with nonlocal_net->aanet  # noqa: E501
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

        maps, attentions = self.aanet.forward_stages(pixel_values, output_attentions)
        feature_maps = tuple(
            stage_map for stage, stage_map in zip(self.stage_names, maps, strict=True) if stage in self.out_features
        )
        hidden_states = tuple(maps) if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            return (feature_maps,) + tuple(x for x in (hidden_states, attentions) if x is not None)
        return BackboneOutput(feature_maps=feature_maps, hidden_states=hidden_states, attentions=attentions)


ZooAANetModel.register_for_auto_class("AutoModel")
ZooAANetForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooAANetBackbone.register_for_auto_class("AutoBackbone")

__all__ = [
    "ZooAANetAugmentedConv",
    "ZooAANetBackbone",
    "ZooAANetForImageClassification",
    "ZooAANetModel",
    "ZooAANetPreTrainedModel",
]
