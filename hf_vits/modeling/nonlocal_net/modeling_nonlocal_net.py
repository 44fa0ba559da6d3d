"""Non-local networks (Wang et al., "Non-local Neural Networks", CVPR 2018) on a ResNet.

A non-local block computes, at every position i of a feature map x, y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j) over all
positions j, then adds z_i = BN(W_z y_i) + x_i. As in the authors' code (facebookresearch/video-nonlocal-net,
`lib/models/nonlocal_helper.py`): θ, φ and g are 1x1 convolutions to C/2 channels with a bias; φ and g see the
input max-pooled 2x2 (stride 2); the embedded-Gaussian f is a softmax over j of θ(x_i)·φ(x_j) scaled by (C/2)^-1/2;
W_z is a 1x1 convolution back to C channels followed by a BatchNorm whose scale starts at zero, so that a new block is
the identity and can be inserted into a trained ResNet. The embedded Gaussian is single-head softmax attention with
queries θ(x), keys φ(x) and values g(x), and runs through transformers' attention interface.

The trunk is torchvision's ResNet, with its parameter names (`conv1`, `bn1`, `layer1` .. `layer4`, blocks with
`conv1` .. `bn3` and `downsample`), so that torchvision's and timm's ImageNet weights load into it as they are; the
non-local block that follows a residual block is that block's `non_local` child.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import BackboneMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_nonlocal_net import ZooNonLocalConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->NonLocal
class ZooNonLocalDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class ZooNonLocalBasicBlock(GradientCheckpointingLayer):
    """torchvision's BasicBlock (ResNet-18/34): two 3x3 convolutions with BatchNorm, the first one strided, and a
    1x1 strided convolution with BatchNorm (`downsample`) on the shortcut when the shape changes."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        drop_path_rate: float = 0.0,
        batch_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=batch_norm_eps)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=batch_norm_eps)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=batch_norm_eps),
            )
        self.drop_path = ZooNonLocalDropPath(drop_path_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.relu(self.bn1(self.conv1(hidden_states)))
        hidden_states = self.bn2(self.conv2(hidden_states))
        return self.relu(self.drop_path(hidden_states) + shortcut)


class ZooNonLocalBottleneck(GradientCheckpointingLayer):
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
        self.drop_path = ZooNonLocalDropPath(drop_path_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.relu(self.bn1(self.conv1(hidden_states)))
        hidden_states = self.relu(self.bn2(self.conv2(hidden_states)))
        hidden_states = self.bn3(self.conv3(hidden_states))
        return self.relu(self.drop_path(hidden_states) + shortcut)


def _to_tokens(maps: torch.Tensor) -> torch.Tensor:
    """(batch, C, H, W) -> (batch, H * W, C), row by row."""
    return maps.flatten(2).transpose(1, 2)


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


class ZooNonLocalBlock(GradientCheckpointingLayer):
    """The non-local block: z = BN(W_z y) + x, with y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j).

    The pairwise function f and its normalisation C(x):
    - embedded Gaussian: softmax over j of θ(x_i)·φ(x_j) (scaled by (C/2)^-1/2 with `use_scale`), i.e. single-head
      softmax attention, through transformers' attention interface;
    - Gaussian: softmax over j of x_i·x_j (scaled by C^-1/2 with `use_scale`), the same attention without θ and φ;
    - dot product: θ(x_i)·φ(x_j) / N;
    - concatenation: ReLU(w_f·[θ(x_i), φ(x_j)]) / N;
    N being the number of positions j (a quarter of the map's with sub-sampling).
    """

    def __init__(self, config: ZooNonLocalConfig, channels: int):
        super().__init__()
        self.config = config
        self.pairwise_function = config.pairwise_function
        inner = channels // config.nonlocal_reduction
        bias = config.nonlocal_bias
        embedded = self.pairwise_function != "gaussian"
        self.theta = nn.Conv2d(channels, inner, kernel_size=1, bias=bias) if embedded else None
        self.phi = nn.Conv2d(channels, inner, kernel_size=1, bias=bias) if embedded else None
        self.g = nn.Conv2d(channels, inner, kernel_size=1, bias=bias)
        # w_f, the weight vector that maps a concatenated pair [θ(x_i), φ(x_j)] to a scalar.
        self.concat_project = nn.Linear(2 * inner, 1, bias=False) if self.pairwise_function == "concatenation" else None
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2) if config.sub_sampling else None
        self.output_projection = nn.Conv2d(inner, channels, kernel_size=1, bias=bias)
        self.output_norm = nn.BatchNorm2d(channels, eps=config.batch_norm_eps)
        # For models outside its own package, transformers skips the modules without parameters of their own (this
        # block) when it initialises: these flags tell `_init_weights` which layers take the authors' initialisation.
        for layer in (self.theta, self.phi, self.g, self.concat_project, self.output_projection):
            if layer is not None:
                layer.is_nonlocal_projection = True
        self.output_norm.starts_at_zero = True
        compared = inner if embedded else channels
        self.scaling = compared**-0.5 if config.use_scale else 1.0
        self.is_causal = False

    def _softmax_attention(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, output_attentions: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Single-head softmax attention of (batch, tokens, dim) queries, keys and values."""
        # Fused kernels (sdpa, flash) never materialise the probabilities, so they are asked of eager alone.
        attention_interface: Callable = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        attn_output, attn_weights = attention_interface(
            self, query[:, None], key[:, None], value[:, None], None, dropout=0.0, scaling=self.scaling
        )
        return attn_output[:, :, 0], attn_weights

    def _normalised_pairwise(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """f(x_i, x_j) / N for the dot product and the concatenation, (batch, 1, queries, keys)."""
        if self.pairwise_function == "dot_product":
            pairwise = query @ key.transpose(1, 2)
        else:
            # w_f·[θ_i, φ_j] = w_θ·θ_i + w_φ·φ_j: the pair's score without building the N x N concatenations.
            weight_query, weight_key = self.concat_project.weight.chunk(2, dim=-1)
            pairwise = nn.functional.relu(query @ weight_query.t() + (key @ weight_key.t()).transpose(1, 2))
        return (pairwise / key.shape[1])[:, None]

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z, the normalised pairwise weights (batch, 1, H * W, N) when `output_attentions`)."""
        height, width = hidden_states.shape[-2:]
        context = hidden_states if self.pool is None else self.pool(hidden_states)
        value = _to_tokens(self.g(context))
        if self.theta is None:
            query, key = _to_tokens(hidden_states), _to_tokens(context)
        else:
            query, key = _to_tokens(self.theta(hidden_states)), _to_tokens(self.phi(context))

        if self.pairwise_function in ("embedded_gaussian", "gaussian"):
            attended, attn_weights = self._softmax_attention(query, key, value, output_attentions)
        else:
            attn_weights = self._normalised_pairwise(query, key)
            attended = attn_weights[:, 0] @ value
        # Back to a contiguous (batch, C/2, H, W) map: a channels-last view here would make every later convolution
        # of the trunk run channels-last, with other kernels (and other roundings) than the plain ResNet.
        attended = attended.transpose(1, 2).reshape(attended.shape[0], -1, height, width).contiguous()
        hidden_states = self.output_norm(self.output_projection(attended)) + hidden_states
        return hidden_states, attn_weights if output_attentions else None


class ZooNonLocalStage(nn.ModuleList):
    """One ResNet stage (torchvision's `layerN`): residual blocks, the first one strided. A non-local block that
    follows a residual block is that block's `non_local` child, so that the trunk keeps torchvision's names."""

    def __init__(
        self, config: ZooNonLocalConfig, stage: int, in_channels: int, stride: int, drop_path_rates: list[float]
    ):
        block_class = ZooNonLocalBottleneck if config.layer_type == "bottleneck" else ZooNonLocalBasicBlock
        out_channels = config.hidden_sizes[stage]
        blocks = []
        for index, rate in enumerate(drop_path_rates):
            block = block_class(
                in_channels if index == 0 else out_channels,
                out_channels,
                stride=stride if index == 0 else 1,
                drop_path_rate=rate,
                batch_norm_eps=config.batch_norm_eps,
            )
            if index in config.nonlocal_positions[stage]:
                block.non_local = ZooNonLocalBlock(config, out_channels)
            blocks.append(block)
        super().__init__(blocks)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(the stage's output map, the attention maps of its non-local blocks when `output_attentions`)."""
        attentions = ()
        for block in self:
            hidden_states = block(hidden_states)
            non_local = getattr(block, "non_local", None)
            if non_local is not None:
                hidden_states, attn_weights = non_local(hidden_states, output_attentions=output_attentions)
                if output_attentions:
                    attentions += (attn_weights,)
        return hidden_states, attentions


class ZooNonLocalPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every Non-local model."""

    config_class = ZooNonLocalConfig
    config: ZooNonLocalConfig
    base_model_prefix = "nonlocal_net"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooNonLocalStage"]
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooNonLocalModel",
        "AutoModelForImageClassification": "ZooNonLocalForImageClassification",
        "AutoBackbone": "ZooNonLocalBackbone",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation (He normal, fan-out, for the convolutions; unit BatchNorms), the
        authors' for the classifier (normal std 0.01) and the non-local blocks (normal std `nonlocal_init_std`, zero
        biases, and a zero scale in the BatchNorm after W_z, so that every non-local block starts as the identity)."""
        if isinstance(module, (nn.Conv2d, nn.Linear)) and getattr(module, "is_nonlocal_projection", False):
            init.normal_(module.weight, std=self.config.nonlocal_init_std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, std=0.01)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.constant_(module.weight, 0.0 if getattr(module, "starts_at_zero", False) else 1.0)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

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


class ZooNonLocalModel(ZooNonLocalPreTrainedModel):
    """The bare Non-local ResNet: stem (7x7 convolution, BatchNorm, ReLU, max-pool), stages `layer1` ..
    `layer4` with their non-local blocks, and global average pooling.

    `last_hidden_state` is the last stage's map (batch, C, H, W); `pooler_output` its spatial average (batch, C);
    `hidden_states` the stem's output and each stage's; `attentions` every non-local block's normalised pairwise
    weights, (batch, 1, H * W, N) with N the number of positions attended to."""

    def __init__(self, config: ZooNonLocalConfig):
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
        in_channels = config.embedding_size
        for stage, depth in enumerate(config.depths):
            start = sum(config.depths[:stage])
            stride = 1 if stage == 0 else 2
            self.add_module(
                f"layer{stage + 1}",
                ZooNonLocalStage(config, stage, in_channels, stride, rates[start : start + depth]),
            )
            in_channels = config.hidden_sizes[stage]
        self.pooler = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    @property
    def stages(self) -> list[ZooNonLocalStage]:
        """`layer1` .. `layerN`, in order."""
        return [getattr(self, f"layer{index}") for index in range(1, self.config.num_stages + 1)]

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.conv1

    def forward_stages(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """(the stem's output map and each stage's, every non-local block's attention maps)."""
        pixel_values = pixel_values.to(self.conv1.weight.dtype)
        maps = [self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))]
        attentions = ()
        for stage in self.stages:
            hidden_states, stage_attentions = stage(maps[-1], output_attentions)
            maps.append(hidden_states)
            attentions += stage_attentions
        return maps, attentions

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


class ZooNonLocalForImageClassification(ZooNonLocalPreTrainedModel):
    """Non-local ResNet with a linear classifier on the average-pooled last stage, e.g. for ImageNet."""

    def __init__(self, config: ZooNonLocalConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.nonlocal_net = ZooNonLocalModel(config)
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
        outputs = self.nonlocal_net(
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


class ZooNonLocalBackbone(BackboneMixin, ZooNonLocalPreTrainedModel):
    """The Non-local ResNet as a backbone for detection and segmentation heads (transformers' backbone API; the
    paper's COCO models use one): the maps of the stages named in `config.out_features`, each (batch, C_i, H_i, W_i),
    "stem" being the output of the stem's max-pool."""

    def __init__(self, config: ZooNonLocalConfig):
        super().__init__(config)
        self.num_features = [config.embedding_size, *config.hidden_sizes]
        self.nonlocal_net = ZooNonLocalModel(config)
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

        maps, attentions = self.nonlocal_net.forward_stages(pixel_values, output_attentions)
        feature_maps = tuple(
            stage_map for stage, stage_map in zip(self.stage_names, maps, strict=True) if stage in self.out_features
        )
        hidden_states = tuple(maps) if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            return (feature_maps,) + tuple(x for x in (hidden_states, attentions) if x is not None)
        return BackboneOutput(feature_maps=feature_maps, hidden_states=hidden_states, attentions=attentions)


ZooNonLocalModel.register_for_auto_class("AutoModel")
ZooNonLocalForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooNonLocalBackbone.register_for_auto_class("AutoBackbone")

__all__ = [
    "ZooNonLocalBackbone",
    "ZooNonLocalBasicBlock",
    "ZooNonLocalBlock",
    "ZooNonLocalBottleneck",
    "ZooNonLocalForImageClassification",
    "ZooNonLocalModel",
    "ZooNonLocalPreTrainedModel",
]
