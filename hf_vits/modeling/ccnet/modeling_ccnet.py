"""CCNet (Huang et al., "CCNet: Criss-Cross Attention for Semantic Segmentation", ICCV 2019).

Criss-cross attention gives every position the context of its row and its column: queries and keys are 1x1
projections to C/8 channels, values to C; each position's softmax runs over the H + W - 1 positions of its row and
column (itself counted once: its column entry is masked out), and the output is γ · (the weighted sum of the values)
+ the input, with γ starting at 0. Applied twice with shared weights (recurrent criss-cross attention, RCCA, R = 2),
every position gathers context from every other at O(HW · (H + W)) cost instead of non-local attention's O((HW)²).

`ZooCCNetForSemanticSegmentation` is the authors' Cityscapes model: a ResNet-101 with the deep stem (three 3x3
convolutions, ceil-mode max-pool), dilated res4 (2) and res5 (4) for output stride 8, and the RCCA head: a 3x3
convolution 2048 -> 512, RCCA, a 3x3 convolution 512 -> 512, concatenation with the trunk's features, a 3x3
convolution 2560 -> 512, Dropout2d and a 1x1 classifier; an auxiliary head on res4 adds 0.4 of its loss. Every
convolution of the heads is followed by BatchNorm and a leaky ReLU (slope 0.01); the trunk's by BatchNorm and ReLU.
Its logits are at 1/8 of the input resolution, as transformers' segmenters return them.

`ZooCCNetForImageClassification` puts the RCCA on an ImageNet ResNet's last stage and classifies its global
average: with γ at 0 it is the ResNet, so it starts from torchvision's or timm's weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    ImageClassifierOutput,
    SemanticSegmenterOutput,
)

from .configuration_ccnet import ZooCCNetConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->CCNet
class ZooCCNetDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


# Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalBottleneck with NonLocal->CCNet
class ZooCCNetBottleneck(GradientCheckpointingLayer):
    """torchvision's Bottleneck ("ResNet v1.5", as timm's): 1x1 reduction to a quarter of the output channels,
    3x3 convolution carrying the stride (and any dilation), 1x1 expansion, each with BatchNorm, and a 1x1 strided
    convolution with BatchNorm (`downsample`) on the shortcut when the shape changes."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        drop_path_rate: float = 0.0,
        batch_norm_eps: float = 1e-5,
        dilation: int = 1,
    ):
        super().__init__()
        width = out_channels // self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=batch_norm_eps)
        self.conv2 = nn.Conv2d(
            width, width, kernel_size=3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width, eps=batch_norm_eps)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=batch_norm_eps)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=batch_norm_eps),
            )
        self.drop_path = ZooCCNetDropPath(drop_path_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.relu(self.bn1(self.conv1(hidden_states)))
        hidden_states = self.relu(self.bn2(self.conv2(hidden_states)))
        hidden_states = self.bn3(self.conv3(hidden_states))
        return self.relu(self.drop_path(hidden_states) + shortcut)


class ZooCCNetCrissCrossAttention(nn.Module):
    """Recurrent criss-cross attention: the criss-cross attention below, applied `config.recurrence` times with the
    same weights. Each position (h, w) attends over its column (h', w), h' != h, and its row (h, w'), one softmax
    over the H + W - 1 of them; the output is γ · Σ attention · value + input.

    The energies of the column and the row are computed separately, (B, H, W, H) and (B, H, W, W), so that memory
    grows as HW · (H + W), never as the (HW)² of a dense attention map."""

    def __init__(self, config: ZooCCNetConfig, channels: int):
        super().__init__()
        reduced = channels // config.attention_reduction
        self.recurrence = config.recurrence
        self.query = nn.Conv2d(channels, reduced, kernel_size=1)
        self.key = nn.Conv2d(channels, reduced, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        # The residual weight γ starts at 0: the module starts as the identity.
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One criss-cross attention: its output, and each position's weights (B, H, W, H + W) over its column
        (the first H, its own entry 0) and its row (the last W)."""
        height, width = hidden_states.shape[-2:]
        query, key, value = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        column_energy = torch.einsum("bchw,bciw->bhwi", query, key)
        row_energy = torch.einsum("bchw,bchj->bhwj", query, key)
        # The position itself is in its row and its column: it is counted once, in the row.
        itself = torch.eye(height, dtype=torch.bool, device=hidden_states.device)[:, None, :]
        column_energy = column_energy.masked_fill(itself, float("-inf"))
        probabilities = torch.cat([column_energy, row_energy], dim=-1).softmax(dim=-1)
        column_weights, row_weights = probabilities.split([height, width], dim=-1)
        context = torch.einsum("bhwi,bciw->bchw", column_weights, value) + torch.einsum(
            "bhwj,bchj->bchw", row_weights, value
        )
        return self.gamma * context + hidden_states, probabilities

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The output after R criss-cross attentions, and the weights of each."""
        maps = []
        for _ in range(self.recurrence):
            hidden_states, probabilities = self.attend(hidden_states)
            maps.append(probabilities)
        return hidden_states, tuple(maps)


class ZooCCNetConvNormActivation(nn.Module):
    """A 3x3 convolution, BatchNorm and leaky ReLU: the authors' convolution + InPlaceABN of the heads."""

    def __init__(self, config: ZooCCNetConfig, in_channels: int, out_channels: int, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=bias)
        self.norm = nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps)
        self.activation = nn.LeakyReLU(config.leaky_relu_slope)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(hidden_states)))


class ZooCCNetPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every CCNet model."""

    config_class = ZooCCNetConfig
    config: ZooCCNetConfig
    base_model_prefix = "ccnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooCCNetBottleneck", "ZooCCNetCrissCrossAttention"]
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooCCNetModel",
        "AutoModelForImageClassification": "ZooCCNetForImageClassification",
        "AutoModelForSemanticSegmentation": "ZooCCNetForSemanticSegmentation",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation (He normal, fan-out, for every convolution; unit BatchNorms, the last
        of each block at zero with `zero_init_residual`), PyTorch's default for the linear classifier, γ at 0."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(module.in_features)
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, ZooCCNetCrissCrossAttention):
            init.zeros_(module.gamma)
        if isinstance(module, ZooCCNetBottleneck) and self.config.zero_init_residual:
            init.zeros_(module.bn3.weight)

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


class ZooCCNetModel(ZooCCNetPreTrainedModel):
    """The ResNet trunk (torchvision's names: `conv1`, `bn1`, `layer1` ..; the deep stem adds `conv2`, `bn2`,
    `conv3`, `bn3`) and, unless `add_criss_cross_attention=False`, the RCCA on its last stage (`rcca`).

    `last_hidden_state` is the last stage's feature map after the RCCA (B, C, H, W); `pooler_output` its global
    average (B, C); `hidden_states` the stem's output and each stage's; `attentions` the RCCA's weights, one
    (B, H, W, H + W) map per recurrence (see `ZooCCNetCrissCrossAttention.attend`)."""

    def __init__(self, config: ZooCCNetConfig, add_criss_cross_attention: bool = True):
        super().__init__(config)
        stem, eps = config.embedding_size, config.batch_norm_eps
        if config.stem_type == "deep":
            self.conv1 = nn.Conv2d(config.num_channels, stem, kernel_size=3, stride=2, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(stem, eps=eps)
            self.conv2 = nn.Conv2d(stem, stem, kernel_size=3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(stem, eps=eps)
            self.conv3 = nn.Conv2d(stem, 2 * stem, kernel_size=3, padding=1, bias=False)
            self.bn3 = nn.BatchNorm2d(2 * stem, eps=eps)
        else:
            self.conv1 = nn.Conv2d(config.num_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem, eps=eps)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=config.stem_type == "deep")

        total = sum(config.depths)
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        in_channels = config.stem_channels
        for stage, (depth, out_channels, dilation) in enumerate(
            zip(config.depths, config.hidden_sizes, config.dilations, strict=True)
        ):
            # A dilated stage keeps its input's resolution, as do the first stage (after the stem's pool).
            stride = 1 if stage == 0 or dilation > 1 else 2
            blocks = []
            for index in range(depth):
                block_stride = stride if index == 0 else 1
                blocks.append(ZooCCNetBottleneck(in_channels, out_channels, block_stride, rates.pop(0), eps, dilation))
                in_channels = out_channels
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.rcca = ZooCCNetCrissCrossAttention(config, config.hidden_size) if add_criss_cross_attention else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.conv1

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{stage + 1}") for stage in range(self.config.num_stages)]

    def stem(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_states = self.relu(self.bn1(self.conv1(pixel_values)))
        if self.config.stem_type == "deep":
            hidden_states = self.relu(self.bn2(self.conv2(hidden_states)))
            hidden_states = self.relu(self.bn3(self.conv3(hidden_states)))
        return self.maxpool(hidden_states)

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

        hidden_states = self.stem(pixel_values.to(self.conv1.weight.dtype))
        all_hidden_states = [hidden_states]
        for stage in self.stages:
            hidden_states = stage(hidden_states)
            all_hidden_states.append(hidden_states)
        attentions = None
        if self.rcca is not None:
            hidden_states, attentions = self.rcca(hidden_states)
        pooled_output = hidden_states.mean(dim=(2, 3))
        all_hidden_states = tuple(all_hidden_states) if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            return (hidden_states, pooled_output) + tuple(x for x in (all_hidden_states, attentions) if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states,
            pooler_output=pooled_output,
            hidden_states=all_hidden_states,
            attentions=attentions,
        )


class ZooCCNetForImageClassification(ZooCCNetPreTrainedModel):
    """The RCCA on the trunk's last stage, global average pooling and a linear classifier, e.g. for ImageNet."""

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.__init__ with NonLocal->CCNet, nonlocal_net->ccnet  # noqa: E501
    def __init__(self, config: ZooCCNetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.ccnet = ZooCCNetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.forward with nonlocal_net->ccnet  # noqa: E501
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
        outputs = self.ccnet(
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


class ZooCCNetSegmentationHead(nn.Module):
    """The authors' RCCA head: reduce the trunk's features (3x3 convolution), RCCA, a 3x3 convolution, concatenate
    with the trunk's features, fuse them (3x3 convolution), Dropout2d and classify each position (1x1)."""

    def __init__(self, config: ZooCCNetConfig):
        super().__init__()
        channels = config.head_hidden_size
        self.reduction = ZooCCNetConvNormActivation(config, config.hidden_size, channels)
        self.rcca = ZooCCNetCrissCrossAttention(config, channels)
        self.projection = ZooCCNetConvNormActivation(config, channels, channels)
        self.fusion = ZooCCNetConvNormActivation(config, config.hidden_size + channels, channels)
        self.dropout = nn.Dropout2d(config.head_dropout_prob)
        self.classifier = nn.Conv2d(channels, config.num_labels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        hidden_states, attentions = self.rcca(self.reduction(features))
        hidden_states = self.fusion(torch.cat([features, self.projection(hidden_states)], dim=1))
        return self.classifier(self.dropout(hidden_states)), attentions


class ZooCCNetAuxiliaryHead(nn.Module):
    """The authors' auxiliary ("deep supervision") head on the second-to-last stage: a 3x3 convolution (with bias),
    BatchNorm, leaky ReLU, Dropout2d and a 1x1 classifier."""

    def __init__(self, config: ZooCCNetConfig):
        super().__init__()
        self.conv = ZooCCNetConvNormActivation(config, config.hidden_sizes[-2], config.head_hidden_size, bias=True)
        self.dropout = nn.Dropout2d(config.head_dropout_prob)
        self.classifier = nn.Conv2d(config.head_hidden_size, config.num_labels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.conv(features)))


class ZooCCNetForSemanticSegmentation(ZooCCNetPreTrainedModel):
    """The authors' CCNet for semantic segmentation: the dilated trunk, the RCCA head and, for the loss, the
    auxiliary head. `logits` are at the last stage's resolution (1/8 of the input for CCNet), (B, classes, h, w);
    `labels` (B, H, W), at the input's resolution, with `config.semantic_loss_ignore_index` (255) for pixels to
    ignore, give the cross-entropy of both heads' logits upsampled to them (bilinear, corners aligned, as the
    authors do): head + `config.auxiliary_loss_weight` (0.4) x auxiliary head. `attentions` are the head's RCCA
    weights, one (B, h, w, h + w) map per recurrence."""

    def __init__(self, config: ZooCCNetConfig):
        super().__init__(config)
        self.ccnet = ZooCCNetModel(config, add_criss_cross_attention=False)
        self.decode_head = ZooCCNetSegmentationHead(config)
        self.auxiliary_head = ZooCCNetAuxiliaryHead(config)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SemanticSegmenterOutput | tuple:
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if labels is not None and self.config.num_labels < 2:
            raise ValueError(f"The segmentation loss needs num_labels >= 2, got {self.config.num_labels}.")
        outputs = self.ccnet(pixel_values, output_hidden_states=True, return_dict=True)
        logits, attentions = self.decode_head(outputs.last_hidden_state)

        loss = None
        if labels is not None:
            auxiliary_logits = self.auxiliary_head(outputs.hidden_states[-2])
            loss = self.segmentation_loss(logits, labels) + self.config.auxiliary_loss_weight * self.segmentation_loss(
                auxiliary_logits, labels
            )
        hidden_states = outputs.hidden_states if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            output = (logits,) + tuple(x for x in (hidden_states, attentions) if x is not None)
            return (loss,) + output if loss is not None else output
        return SemanticSegmenterOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions)

    def segmentation_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of `logits` upsampled to the labels' resolution, ignoring the ignore index."""
        upsampled = nn.functional.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=True)
        return nn.functional.cross_entropy(
            upsampled.float(), labels.long(), ignore_index=self.config.semantic_loss_ignore_index
        )


ZooCCNetModel.register_for_auto_class("AutoModel")
ZooCCNetForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooCCNetForSemanticSegmentation.register_for_auto_class("AutoModelForSemanticSegmentation")

__all__ = [
    "ZooCCNetForImageClassification",
    "ZooCCNetForSemanticSegmentation",
    "ZooCCNetModel",
    "ZooCCNetPreTrainedModel",
]
