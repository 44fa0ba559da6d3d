"""LR-Net (Hu, Zhang, Xie and Lin, "Local Relation Networks for Image Recognition", ICCV 2019).

A ResNet whose spatial convolutions are local relation layers. A local relation layer on C channels computes, at
every output pixel p' and for every neighbour p of the k x k window centred on p', one aggregation weight per group of
m channels (the paper's channel sharing, C / m groups):

    ω_g(p', p) = softmax over the window of ( Φ(q_g(p'), k_g(p)) + G_g(p - p') )
    y_c(p')    = Σ_p ω_{c // m}(p', p) x_c(p)

with q and k 1x1 embeddings of the input (`key_channels_per_group` channels per group; the paper's scalar q and k with
1), Φ the appearance composability (-(q - k)^2 by default) and G the geometry prior, a two-layer perceptron on the
relative position (dy, dx) of the neighbour. The values are the input itself; a 1x1 channel transform follows the
aggregation. With stride s the output pixel (i, j) sits on input pixel (s i, s j).

Borders follow the authors' CUDA op (the `LR-Net` branch of microsoft/Swin-Transformer, `ops/local_relation`):
windows stay centred, a neighbour outside the image gets the constant appearance logit `out_of_image_logit` (-100)
plus its geometry prior, takes part in the softmax and contributes no value.

The aggregation is pure PyTorch and never materialises the k * k neighbours of the values (a naive `unfold` holds
batch x C x k^2 x H x W): the logits and weights, k^2 x batch x C / m x rows x W - m times fewer elements - are built
for chunks of output rows within `config.relation_chunk_size` elements, and the values are summed as k^2 shifted
views of the zero-padded input, each multiplied by its weight.

The stem lifts the image to `embedding_size` channels with a 1x1 convolution (three channels are too few to relate),
then a 7x7 stride-2 local relation layer and a 3x3 stride-2 max-pool replace ResNet's 7x7 convolution. Every
bottleneck is 1x1 reduction, local relation layer carrying the stride, 1x1 expansion, each followed by BatchNorm
(the strided shortcut a 1x1 convolution with BatchNorm, as in torchvision's ResNet).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import BackboneMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput

from .configuration_lrnet import ZooLRNetConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->LRNet
class ZooLRNetDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def relative_positions(kernel_size: int, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(dy, dx) of the k * k neighbours relative to the window's centre, row by row: (k * k, 2)."""
    offsets = torch.arange(kernel_size, device=device) - kernel_size // 2
    grid = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
    return grid.reshape(-1, 2).to(dtype)


def output_size(size: int, stride: int) -> int:
    """Side of a local relation layer's output: one pixel per `stride` input pixels, centred windows."""
    return (size - 1) // stride + 1


def _phase_slice(size: int, offset: int, stride: int, length: int) -> tuple[slice, int, int]:
    """Along one axis of phase `offset`: the input indices s u + offset - k // 2 (given as `offset` - k // 2) it holds
    for u < `length`, as (slice of the input, zeros before, zeros after)."""
    before = max(0, -(offset // stride)) if offset < 0 else 0
    start = stride * before + offset
    count = max(0, min(length - before, (size - start + stride - 1) // stride))
    return slice(start, start + stride * count, stride), before, length - before - count


def _phases(maps: torch.Tensor, kernel_size: int, stride: int, rows: int, cols: int) -> list[list[torch.Tensor]]:
    """Zero-pad `maps` by k // 2 and split it into its stride x stride phases, each (batch, C, rows * cols) and
    contiguous: phase (a, b) holds padded pixel (s u + a, s v + b) at u * cols + v. (For stride 1 the one phase is
    the padded map.) Each phase is padded from a strided view of `maps`, so no padded copy of the whole map exists
    besides the phases."""
    padding = kernel_size // 2
    height, width = maps.shape[-2:]
    phases = []
    for a in range(stride):
        row_slice, top, bottom = _phase_slice(height, a - padding, stride, rows)
        phases.append([])
        for b in range(stride):
            col_slice, left, right = _phase_slice(width, b - padding, stride, cols)
            phase = nn.functional.pad(maps[:, :, row_slice, col_slice], (left, right, top, bottom))
            phases[-1].append(phase.flatten(2))
    return phases


def inside_image(height: int, width: int, kernel_size: int, stride: int, cols: int, device=None) -> torch.Tensor:
    """Whether neighbour o of output pixel (i, j) lies inside the input, (k * k, H_out * cols) booleans on an output
    grid `cols` wide (columns from W_out on are never read)."""
    offsets = torch.arange(kernel_size, device=device) - kernel_size // 2
    rows = torch.arange(output_size(height, stride), device=device) * stride + offsets[:, None]
    columns = torch.arange(cols, device=device) * stride + offsets[:, None]
    rows_inside = (rows >= 0) & (rows < height)
    columns_inside = (columns >= 0) & (columns < width)
    inside = rows_inside[:, None, :, None] & columns_inside[None, :, None, :]
    return inside.reshape(kernel_size * kernel_size, -1)


def local_relation(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    geometry: torch.Tensor,
    kernel_size: int,
    stride: int = 1,
    composability: str = "squared_difference",
    out_of_image_logit: float = -100.0,
    chunk_size: int | None = None,
    output_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Aggregate `value` over centred k x k windows with relation weights.

    Args:
        query: (batch, G * d, H_out, W_out), the query embedding at the output pixels (input pixels (s i, s j)).
        key: (batch, G * d, H, W), the key embedding of the input.
        value: (batch, G * m, H, W), aggregated with weight group c // m for channel c.
        geometry: (G, k * k), the geometry prior's logit of each neighbour, row by row.
        chunk_size: the most logits (batch x G x d x rows x W_out x k^2, about) computed at once; None: all rows.

    Returns:
        The aggregated values (batch, G * m, H_out, W_out) and, with `output_weights`, the weights
        (batch, G, H_out, W_out, k * k).

    Every tensor is laid out flat on an output grid `cols` = W_out + (k - 1) // s wide: neighbour (dy, dx) of all
    output pixels is then one contiguous slice of a phase of the padded input, so each of the k * k steps is a
    plain elementwise operation over long rows (the grid's extra columns are computed and dropped).
    """
    batch, channels, height, width = value.shape
    groups = geometry.shape[0]
    group_channels = channels // groups
    key_channels = key.shape[1] // groups
    out_height, out_width = query.shape[-2:]
    footprint = kernel_size * kernel_size
    reach = (kernel_size - 1) // stride
    # One spare row: the last row's windows run on into it on the flat grid.
    rows, cols = out_height + reach + 1, out_width + reach
    key_phases = _phases(key, kernel_size, stride, rows, cols)
    value_phases = _phases(value, kernel_size, stride, rows, cols)
    query = nn.functional.pad(query, (0, cols - out_width)).flatten(2)
    outside = ~inside_image(height, width, kernel_size, stride, cols, device=value.device)
    geometry = geometry.t().reshape(footprint, 1, groups, 1)

    per_row = batch * groups * max(key_channels, 2) * cols * footprint
    rows_per_chunk = out_height if chunk_size is None else max(1, min(out_height, chunk_size // per_row))
    outputs, all_weights = [], []
    for start in range(0, out_height, rows_per_chunk):
        stop = min(start + rows_per_chunk, out_height)
        first, length = start * cols, (stop - start) * cols
        centre = query[:, :, first : first + length]
        neighbours = []
        for index in range(footprint):
            dy, dx = divmod(index, kernel_size)
            shift = first + (dy // stride) * cols + dx // stride
            neighbours.append(key_phases[dy % stride][dx % stride][:, :, shift : shift + length])
        if composability == "dot_product":
            appearance = torch.stack([centre * neighbour for neighbour in neighbours])
        elif composability == "squared_difference":
            appearance = torch.stack([centre - neighbour for neighbour in neighbours]).square().neg_()
        else:
            appearance = torch.stack([centre - neighbour for neighbour in neighbours]).abs().neg_()
        if key_channels > 1:
            appearance = appearance.view(footprint, batch, groups, key_channels, length).sum(dim=3)
        # (k^2, batch, G, length): the offset outermost, so that every step below runs over long contiguous rows.
        logits = appearance.masked_fill_(outside[:, None, None, first : first + length], out_of_image_logit)
        logits = logits.add_(geometry).float()
        # The softmax, normalised after the aggregation: one division of the output instead of k^2 of weights. A
        # logit more than 80 below its window's largest weighs under 2e-35 of it; clamping it there keeps exp from
        # subnormal numbers, which are a hundred times slower on CPUs.
        exponentials = (logits - logits.amax(dim=0)).clamp_min(-80.0).exp_()
        normaliser = exponentials.sum(dim=0)
        exponentials = exponentials.to(value.dtype)

        aggregated = value.new_zeros(batch, groups, group_channels, length)
        for index in range(footprint):
            dy, dx = divmod(index, kernel_size)
            shift = first + (dy // stride) * cols + dx // stride
            neighbour = value_phases[dy % stride][dx % stride][:, :, shift : shift + length]
            aggregated.addcmul_(exponentials[index].unsqueeze(2), neighbour.view(batch, groups, group_channels, length))
        aggregated = aggregated / normaliser.to(value.dtype).unsqueeze(2)
        outputs.append(aggregated.view(batch, channels, stop - start, cols)[..., :out_width])
        if output_weights:
            weights = (exponentials / normaliser).to(value.dtype)
            all_weights.append(weights.view(footprint, batch, groups, stop - start, cols)[..., :out_width])
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
    if not output_weights:
        return output.contiguous(), None
    return output.contiguous(), torch.cat(all_weights, dim=3).permute(1, 2, 3, 4, 0).contiguous()


class ZooLRNetGeometryPrior(nn.Module):
    """The geometry prior: a two-layer perceptron (ReLU between) from each neighbour's relative position (dy, dx)
    to one logit per aggregation group."""

    def __init__(self, kernel_size: int, num_groups: int, hidden_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.fc1 = nn.Linear(2, hidden_size)
        self.activation = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, num_groups)

    def forward(self) -> torch.Tensor:
        """The logits (groups, k * k), neighbours row by row."""
        positions = relative_positions(self.kernel_size, device=self.fc1.weight.device, dtype=self.fc1.weight.dtype)
        return self.fc2(self.activation(self.fc1(positions))).t()


class ZooLRNetLocalRelation(nn.Module):
    """The local relation layer (the paper's Fig. 2): query and key 1x1 embeddings, appearance composability plus
    geometry prior, softmax over the k x k window, aggregation of the input shared by m channels, 1x1 transform."""

    def __init__(self, config: ZooLRNetConfig, channels: int, stride: int = 1):
        super().__init__()
        self.kernel_size = config.kernel_size
        self.stride = stride
        self.num_groups = channels // config.channels_per_group
        self.composability = config.composability
        self.out_of_image_logit = config.out_of_image_logit
        self.chunk_size = config.relation_chunk_size
        key_channels = self.num_groups * config.key_channels_per_group
        self.query = nn.Conv2d(channels, key_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, key_channels, kernel_size=1)
        # Initialised at PyTorch's fan-in scale (`_init_weights`), not He's fan-out one: the embeddings have m times
        # fewer channels than their input, and at He's scale the squared differences reach tens, the softmax is
        # nearly hard from the start and rounding-level changes of the input pick other neighbours.
        self.query.is_relation_embedding = self.key.is_relation_embedding = True
        hidden_size = max(1, round(self.num_groups * config.geometry_prior_hidden_ratio))
        self.geometry_prior = ZooLRNetGeometryPrior(config.kernel_size, self.num_groups, hidden_size)
        self.projection = nn.Conv2d(channels, channels, kernel_size=1, bias=False)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the transformed aggregation (batch, C, H_out, W_out), the weights (batch, C / m, H_out, W_out, k * k)
        when `output_attentions`)."""
        # A 1x1 convolution commutes with sub-sampling: embed only the pixels the output sits on.
        query = self.query(hidden_states[:, :, :: self.stride, :: self.stride])
        aggregated, weights = local_relation(
            query,
            self.key(hidden_states),
            hidden_states,
            self.geometry_prior(),
            self.kernel_size,
            stride=self.stride,
            composability=self.composability,
            out_of_image_logit=self.out_of_image_logit,
            chunk_size=self.chunk_size,
            output_weights=output_attentions,
        )
        return self.projection(aggregated), weights


class ZooLRNetEmbeddings(nn.Module):
    """The stem: 1x1 convolution to `embedding_size` channels, BatchNorm, ReLU, a 7x7 stride-2 local relation layer,
    BatchNorm, ReLU, 3x3 stride-2 max-pool."""

    def __init__(self, config: ZooLRNetConfig):
        super().__init__()
        self.convolution = nn.Conv2d(config.num_channels, config.embedding_size, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(config.embedding_size, eps=config.batch_norm_eps)
        self.relation = ZooLRNetLocalRelation(config, config.embedding_size, stride=2)
        self.bn2 = nn.BatchNorm2d(config.embedding_size, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden_states = self.activation(self.bn1(self.convolution(pixel_values)))
        hidden_states, weights = self.relation(hidden_states, output_attentions)
        return self.pooler(self.activation(self.bn2(hidden_states))), weights


class ZooLRNetBottleneck(GradientCheckpointingLayer):
    """Bottleneck block: 1x1 reduction to the stage's relation width, a local relation layer carrying the stride,
    1x1 expansion, each with BatchNorm, and a strided 1x1 convolution with BatchNorm (`downsample`) on the shortcut
    when the shape changes."""

    def __init__(
        self,
        config: ZooLRNetConfig,
        in_channels: int,
        width: int,
        out_channels: int,
        stride: int = 1,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        eps = config.batch_norm_eps
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=eps)
        self.relation = ZooLRNetLocalRelation(config, width, stride=stride)
        self.bn2 = nn.BatchNorm2d(width, eps=eps)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=eps)
        # The residual branch's last norm: with `zero_init_residual` its scale starts at zero (`_init_weights`).
        self.bn3.zero_init_scale = config.zero_init_residual
        self.activation = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=eps),
            )
        self.drop_path = ZooLRNetDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        shortcut = hidden_states if self.downsample is None else self.downsample(hidden_states)
        hidden_states = self.activation(self.bn1(self.conv1(hidden_states)))
        hidden_states, weights = self.relation(hidden_states, output_attentions)
        hidden_states = self.bn3(self.conv3(self.activation(self.bn2(hidden_states))))
        return self.activation(self.drop_path(hidden_states) + shortcut), weights


class ZooLRNetStage(nn.Module):
    """One stage (res2 .. res5): bottlenecks, the first one strided (except in the first stage)."""

    def __init__(self, config: ZooLRNetConfig, stage: int, in_channels: int, drop_path_rates: list[float]):
        super().__init__()
        out_channels = config.hidden_sizes[stage]
        width = config.relation_widths[stage]
        stride = 1 if stage == 0 else 2
        self.layers = nn.ModuleList(
            [
                ZooLRNetBottleneck(
                    config,
                    in_channels if index == 0 else out_channels,
                    width,
                    out_channels,
                    stride=stride if index == 0 else 1,
                    drop_path_rate=rate,
                )
                for index, rate in enumerate(drop_path_rates)
            ]
        )

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        attentions = ()
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, output_attentions)
            if output_attentions:
                attentions += (weights,)
        return hidden_states, attentions


class ZooLRNetPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every LR-Net model."""

    config_class = ZooLRNetConfig
    config: ZooLRNetConfig
    base_model_prefix = "lrnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooLRNetEmbeddings", "ZooLRNetBottleneck"]
    # LR-Net computes no dot-product attention: every attention implementation runs the same code.
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooLRNetModel",
        "AutoModelForImageClassification": "ZooLRNetForImageClassification",
        "AutoBackbone": "ZooLRNetBackbone",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation for the convolutions (He normal, fan-out) and BatchNorms (unit, or a
        zero scale for each bottleneck's last with `zero_init_residual`); PyTorch's default for the query and key
        embeddings and for the geometry prior's and the classifier's linears."""
        if isinstance(module, nn.Conv2d) and getattr(module, "is_relation_embedding", False):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(module.weight[0].numel())
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            (init.zeros_ if getattr(module, "zero_init_scale", False) else init.ones_)(module.weight)
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


class ZooLRNetModel(ZooLRNetPreTrainedModel):
    """The bare LR-Net: the relation stem, the stages and global average pooling.

    `last_hidden_state` is the last stage's map (batch, C, H, W); `pooler_output` its spatial average (batch, C);
    `hidden_states` the stem's output and each stage's; `attentions` the aggregation weights of every local relation
    layer (the stem's first), (batch, C / m, H_out, W_out, k * k), each summing to one over its window."""

    def __init__(self, config: ZooLRNetConfig):
        super().__init__(config)
        self.embeddings = ZooLRNetEmbeddings(config)
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        stages = []
        in_channels = config.embedding_size
        for stage, depth in enumerate(config.depths):
            start = sum(config.depths[:stage])
            stages.append(ZooLRNetStage(config, stage, in_channels, rates[start : start + depth]))
            in_channels = config.hidden_sizes[stage]
        self.stages = nn.ModuleList(stages)
        self.pooler = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.embeddings.convolution

    def forward_stages(
        self, pixel_values: torch.Tensor, output_attentions: bool = False
    ) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """(the stem's output map and each stage's, every local relation layer's weights when asked)."""
        pixel_values = pixel_values.to(self.get_input_embeddings().weight.dtype)
        hidden_states, weights = self.embeddings(pixel_values, output_attentions)
        maps = [hidden_states]
        attentions = (weights,) if output_attentions else ()
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


class ZooLRNetForImageClassification(ZooLRNetPreTrainedModel):
    """LR-Net with a linear classifier on the average-pooled last stage, e.g. for ImageNet."""

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.__init__ with NonLocal->LRNet, nonlocal_net->lrnet  # noqa: E501
    def __init__(self, config: ZooLRNetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.lrnet = ZooLRNetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.forward with nonlocal_net->lrnet  # noqa: E501
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
        outputs = self.lrnet(
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


class ZooLRNetBackbone(BackboneMixin, ZooLRNetPreTrainedModel):
    """LR-Net as a backbone for detection and segmentation heads (transformers' backbone API): the maps of the stages
    named in `config.out_features`, each (batch, C_i, H_i, W_i), "stem" being the output of the stem's max-pool."""

    def __init__(self, config: ZooLRNetConfig):
        super().__init__(config)
        self.num_features = [config.embedding_size, *config.hidden_sizes]
        self.lrnet = ZooLRNetModel(config)
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalBackbone.forward with nonlocal_net->lrnet  # noqa: E501
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

        maps, attentions = self.lrnet.forward_stages(pixel_values, output_attentions)
        feature_maps = tuple(
            stage_map for stage, stage_map in zip(self.stage_names, maps, strict=True) if stage in self.out_features
        )
        hidden_states = tuple(maps) if output_hidden_states else None
        attentions = attentions if output_attentions else None

        if not return_dict:
            return (feature_maps,) + tuple(x for x in (hidden_states, attentions) if x is not None)
        return BackboneOutput(feature_maps=feature_maps, hidden_states=hidden_states, attentions=attentions)


ZooLRNetModel.register_for_auto_class("AutoModel")
ZooLRNetForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ZooLRNetBackbone.register_for_auto_class("AutoBackbone")

__all__ = [
    "ZooLRNetBackbone",
    "ZooLRNetForImageClassification",
    "ZooLRNetLocalRelation",
    "ZooLRNetModel",
    "ZooLRNetPreTrainedModel",
    "local_relation",
]
