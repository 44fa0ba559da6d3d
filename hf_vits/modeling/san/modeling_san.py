"""SAN (Zhao, Jia and Koltun, "Exploring Self-attention for Image Recognition", CVPR 2020).

A ResNet whose spatial convolutions are local self-attention: y_i = sum_{j in R(i)} alpha(x_i, x_j) ⊙ beta(x_j) over
a k x k footprint R(i). Pairwise self-attention computes each weight from the relation delta(x_i, x_j) of the pixel
to one neighbour (plus their relative position), mapped by gamma and normalised by a softmax over the footprint;
patchwise self-attention computes the weights of the whole footprint from the patch at once. One weight serves
`share_planes` channels of the values, interleaved: value channel c uses weight channel c mod (number of weights).

Borders follow the authors' CUDA kernels (`lib/sa/functions/*_refpad.py`), which reflect indices: every pixel has
k * k neighbours, the missing ones mirrored across the border without repeating it (as `nn.ReflectionPad2d`), for
keys, values and relative positions alike. Their single reflection needs padding < map size, so their models fail
below 128 px (7x7 footprints on a 3x3 map); here the reflection is repeated as often as needed (numpy's "reflect"
mode, a 1-pixel axis repeating its pixel), which is the same wherever theirs is defined and lets any input of at
least 2 ** (number of stages) pixels through.

The aggregation is pure PyTorch. It never materialises the k * k neighbours of the values: it sums k * k shifted
views of the padded value map, each multiplied by its weight. In evaluation the footprint-sized intermediates
(relations, weights) are built for chunks of output rows within `config.attention_chunk_size` elements. The 1x1
convolutions are matrix products over the positions, which on the CPU beat the convolution kernels on these thin maps.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from .configuration_san import ZooSANConfig


# Copied from hf_vits.modeling.vit.modeling_vit.drop_path
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample, rescaling the survivors."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1.0 - drop_prob
    mask_shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep_mask = hidden_states.new_empty(mask_shape).bernoulli_(keep_prob)
    return hidden_states * keep_mask / keep_prob


# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTDropPath with ViT->SAN
class ZooSANDropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016) on a residual branch."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class ZooSANPointwiseConvolution(nn.Conv2d):
    """A 1x1 convolution computed as one matrix product over all positions: the function and parameters of
    `nn.Conv2d(kernel_size=1)`, several times faster on the CPU for SAN's thin maps (e.g. 18 channels over k * k
    neighbours of every pixel), which the convolution kernels first reorder into blocked layouts."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size=1, bias=bias)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        batch, channels = maps.shape[:2]
        weight = self.weight.view(self.out_channels, channels).expand(batch, -1, -1)
        flat = maps.reshape(batch, channels, -1)
        if self.bias is None:
            output = torch.bmm(weight, flat)
        else:
            output = torch.baddbmm(self.bias.view(1, -1, 1), weight, flat)
        return output.view(batch, self.out_channels, *maps.shape[2:])


def reflection_indices(size: int, padding: int, device: torch.device | None = None) -> torch.Tensor:
    """The source index of each of the `size + 2 * padding` positions of an axis padded by reflection: -1 reads 1,
    `size` reads `size - 2`, reflected again as often as needed (period 2 * (size - 1)); a 1-pixel axis repeats it."""
    positions = torch.arange(-padding, size + padding, device=device)
    if size == 1:
        return torch.zeros_like(positions)
    period = 2 * (size - 1)
    positions = positions.remainder(period)
    return torch.where(positions < size, positions, period - positions)


def reflection_pad(maps: torch.Tensor, padding: int) -> torch.Tensor:
    """`maps` (..., H, W) padded by `padding` on every side by reflection (equal to `nn.ReflectionPad2d` where that
    is defined, padding < H and W)."""
    if padding == 0:
        return maps
    if padding < min(maps.shape[-2:]):
        return nn.functional.pad(maps, (padding, padding, padding, padding), mode="reflect")
    rows = reflection_indices(maps.shape[-2], padding, maps.device)
    columns = reflection_indices(maps.shape[-1], padding, maps.device)
    return maps.index_select(-2, rows).index_select(-1, columns)


def footprints(padded: torch.Tensor, kernel_size: int, start: int, stop: int) -> torch.Tensor:
    """(batch, C, k * k, stop - start, W): the k x k neighbours of every pixel of output rows start:stop, read from
    the map padded by k // 2. Neighbour kh * k + kw lies at offset (kh - k // 2, kw - k // 2), the authors' order."""
    batch, channels = padded.shape[:2]
    rows, width = stop - start, padded.shape[-1] - kernel_size + 1
    windows = padded[:, :, start : stop + kernel_size - 1].unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(batch, channels, kernel_size * kernel_size, rows, width)


def aggregate(padded_values: torch.Tensor, weights: torch.Tensor, start: int = 0) -> torch.Tensor:
    """sum_j w_ij * v_j over each pixel's footprint, for the output rows start:start + R.

    `padded_values` (batch, C, H + k - 1, W + k - 1) is the value map padded by k // 2; `weights`
    (batch, C_w, k * k, R, W) the footprint weights, C_w dividing C: value channel c uses weight channel c mod C_w.
    Returns (batch, C, R, W). The sum runs over k * k shifted views of the value map, so that no tensor holds the
    k * k neighbours of every value.
    """
    batch, channels = padded_values.shape[:2]
    weight_channels, footprint, rows, width = weights.shape[1:]
    kernel_size = math.isqrt(footprint)
    values = padded_values[:, :, start : start + rows + kernel_size - 1]
    # Channel c = group * C_w + (c mod C_w): the groups broadcast over one set of weights.
    values = values.reshape(batch, channels // weight_channels, weight_channels, *values.shape[-2:])
    weights = weights.unsqueeze(1)
    output = None
    for index in range(footprint):
        row, column = divmod(index, kernel_size)
        shifted = values[..., row : row + rows, column : column + width]
        if output is None:
            output = weights[:, :, :, index] * shifted
        else:
            output = torch.addcmul(output, weights[:, :, :, index], shifted)
    return output.reshape(batch, channels, rows, width)


def coordinates(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(1, 2, H, W): each pixel's horizontal (channel 0) and vertical (channel 1) coordinate, normalised to [-1, 1]
    (the paper's position encoding; a 1-pixel axis has the coordinate -1)."""
    columns = torch.linspace(-1.0, 1.0, width, dtype=dtype, device=device).expand(height, width)
    rows = torch.linspace(-1.0, 1.0, height, dtype=dtype, device=device).unsqueeze(1).expand(height, width)
    return torch.stack((columns, rows)).unsqueeze(0)


class ZooSANWeightEncoding(nn.Module):
    """The mapping gamma from relations to aggregation weights: BatchNorm, ReLU, 1x1 convolution, BatchNorm, ReLU,
    1x1 convolution (the reference's `conv_w`)."""

    def __init__(self, config: ZooSANConfig, in_channels: int, hidden_channels: int, out_channels: int):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(in_channels, eps=config.batch_norm_eps)
        self.input_projection = ZooSANPointwiseConvolution(in_channels, hidden_channels, bias=False)
        self.hidden_norm = nn.BatchNorm2d(hidden_channels, eps=config.batch_norm_eps)
        self.output_projection = ZooSANPointwiseConvolution(hidden_channels, out_channels)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, relations: torch.Tensor) -> torch.Tensor:
        hidden = self.input_projection(self.activation(self.input_norm(relations)))
        return self.output_projection(self.activation(self.hidden_norm(hidden)))


class ZooSANSelfAttention(nn.Module):
    """Pairwise or patchwise self-attention over a k x k footprint (the reference's `SAM`).

    phi (`query`) and psi (`key`) map the C input channels to C / relation_reduction for the relation delta, beta
    (`value`) to C / bottleneck_reduction; gamma (`weight_encoding`) maps relations to C / (bottleneck_reduction *
    share_planes) weights per neighbour. Pairwise weights are softmax-normalised over the footprint.
    """

    def __init__(self, config: ZooSANConfig, channels: int, kernel_size: int):
        super().__init__()
        relation_channels = channels // config.relation_reduction
        value_channels = channels // config.bottleneck_reduction
        self.weight_channels = value_channels // config.share_planes
        self.kernel_size = kernel_size
        self.pairwise = config.self_attention_type == "pairwise"
        self.relation_type = config.relation_type
        self.chunk_size = config.attention_chunk_size
        self.query = ZooSANPointwiseConvolution(channels, relation_channels)
        self.key = ZooSANPointwiseConvolution(channels, relation_channels)
        self.value = ZooSANPointwiseConvolution(channels, value_channels)
        footprint = kernel_size**2
        if self.pairwise:
            delta_channels = {"concatenation": 2 * relation_channels, "dot_product": 1}.get(
                self.relation_type, relation_channels
            )
            self.position_encoding = ZooSANPointwiseConvolution(2, 2) if config.use_position_encoding else None
            delta_channels += 2 if config.use_position_encoding else 0
            self.weight_encoding = ZooSANWeightEncoding(config, delta_channels, relation_channels, self.weight_channels)
            # Per pixel: delta_channels (or the hidden relation_channels) for each of the k * k neighbours.
            self.footprint_elements = footprint * max(delta_channels, relation_channels, self.weight_channels)
        else:
            delta_channels = {
                "star_product": footprint,
                "clique_product": footprint**2,
                "concatenation": relation_channels * (footprint + 1),
            }[self.relation_type]
            self.position_encoding = None
            self.weight_encoding = ZooSANWeightEncoding(
                config, delta_channels, self.weight_channels, footprint * self.weight_channels
            )
            self.footprint_elements = max(delta_channels, footprint * max(relation_channels, self.weight_channels))

    def rows_per_chunk(self, batch_size: int, height: int, width: int) -> int:
        """Output rows whose footprint intermediates fit `attention_chunk_size` elements (whole map in training,
        where the BatchNorms of gamma normalise over the whole map)."""
        if self.training or self.chunk_size is None:
            return height
        return max(1, min(height, self.chunk_size // (batch_size * width * self.footprint_elements)))

    def pairwise_weights(
        self, query: torch.Tensor, key: torch.Tensor, position: torch.Tensor | None, start: int, stop: int
    ) -> torch.Tensor:
        """Softmax-normalised weights (batch, C_w, k * k, R, W) of output rows start:stop."""
        padding = self.kernel_size // 2
        center = query[:, :, start:stop].unsqueeze(2)
        neighbours = footprints(key, self.kernel_size, start, stop)
        if self.relation_type == "subtraction":
            relations = center - neighbours
        elif self.relation_type == "summation":
            relations = center + neighbours
        elif self.relation_type == "hadamard_product":
            relations = center * neighbours
        elif self.relation_type == "dot_product":
            relations = (center * neighbours).sum(dim=1, keepdim=True)
        else:
            relations = torch.cat((center.expand_as(neighbours), neighbours), dim=1)
        if position is not None:
            width = query.shape[-1]
            position_center = position[:, :, start + padding : stop + padding, padding : padding + width]
            relative = position_center.unsqueeze(2) - footprints(position, self.kernel_size, start, stop)
            relations = torch.cat((relations, relative.expand(relations.shape[0], -1, -1, -1, -1)), dim=1)
        batch, _, footprint, rows, width = relations.shape
        weights = self.weight_encoding(relations.reshape(batch, -1, footprint, rows * width))
        return weights.softmax(dim=2).view(batch, self.weight_channels, footprint, rows, width)

    def patchwise_weights(self, query: torch.Tensor, key: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Weights (batch, C_w, k * k, R, W) of output rows start:stop, from each pixel's whole footprint."""
        padding = self.kernel_size // 2
        neighbours = footprints(key, self.kernel_size, start, stop)
        batch, _, footprint, rows, width = neighbours.shape
        if self.relation_type == "clique_product":
            # phi of every neighbour against psi of every neighbour: (k * k) ** 2 products per pixel.
            query_neighbours = footprints(query, self.kernel_size, start, stop)
            relations = torch.einsum("bcjrw,bckrw->bjkrw", query_neighbours, neighbours).flatten(1, 2)
        else:
            center = query[:, :, start + padding : stop + padding, padding : padding + width]
            if self.relation_type == "star_product":
                relations = (center.unsqueeze(2) * neighbours).sum(dim=1)
            else:
                relations = torch.cat((center, neighbours.flatten(1, 2)), dim=1)
        # gamma's k * k * C_w outputs are C_w blocks of k * k, as the reference views them.
        return self.weight_encoding(relations).view(batch, self.weight_channels, footprint, rows, width)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the aggregated values (batch, C / bottleneck_reduction, H, W), the weights (batch, C_w, H, W, k * k)
        when `output_attentions`)."""
        batch, _, height, width = hidden_states.shape
        padding = self.kernel_size // 2
        query = self.query(hidden_states)
        key = reflection_pad(self.key(hidden_states), padding)
        values = reflection_pad(self.value(hidden_states), padding)
        position = None
        if self.pairwise and self.position_encoding is not None:
            grid = coordinates(height, width, hidden_states.dtype, hidden_states.device)
            position = reflection_pad(self.position_encoding(grid), padding)
        elif not self.pairwise:
            query = reflection_pad(query, padding)

        rows = self.rows_per_chunk(batch, height, width)
        outputs, attentions = [], []
        for start in range(0, height, rows):
            stop = min(start + rows, height)
            if self.pairwise:
                weights = self.pairwise_weights(query, key, position, start, stop)
            else:
                weights = self.patchwise_weights(query, key, start, stop)
            outputs.append(aggregate(values, weights, start))
            if output_attentions:
                attentions.append(weights)
        output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
        attention = torch.cat(attentions, dim=3).permute(0, 1, 3, 4, 2) if output_attentions else None
        return output, attention


class ZooSANLayer(GradientCheckpointingLayer):
    """Pre-activation bottleneck block (the reference's `Bottleneck`): x + conv1x1(ReLU(BN(SA(ReLU(BN(x))))))."""

    def __init__(self, config: ZooSANConfig, stage: int, drop_path_rate: float):
        super().__init__()
        channels = config.hidden_sizes[stage]
        value_channels = channels // config.bottleneck_reduction
        self.normalization_before = nn.BatchNorm2d(channels, eps=config.batch_norm_eps)
        self.attention = ZooSANSelfAttention(config, channels, config.kernel_sizes[stage])
        self.normalization_after = nn.BatchNorm2d(value_channels, eps=config.batch_norm_eps)
        self.projection = ZooSANPointwiseConvolution(value_channels, channels)
        # In place, as the reference: every ReLU of SAN takes a BatchNorm's fresh output, which nothing else reads.
        self.activation = nn.ReLU(inplace=True)
        self.drop_path = ZooSANDropPath(drop_path_rate)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        hidden_states, attention = self.attention(
            self.activation(self.normalization_before(hidden_states)), output_attentions
        )
        hidden_states = self.projection(self.activation(self.normalization_after(hidden_states)))
        return residual + self.drop_path(hidden_states), attention


class ZooSANEmbeddings(nn.Module):
    """The stem: a 1x1 convolution at full resolution, BatchNorm and ReLU."""

    def __init__(self, config: ZooSANConfig):
        super().__init__()
        self.convolution = ZooSANPointwiseConvolution(config.num_channels, config.embedding_size, bias=False)
        self.normalization = nn.BatchNorm2d(config.embedding_size, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.activation(self.normalization(self.convolution(pixel_values)))


class ZooSANStage(nn.Module):
    """One stage, entered through the encoder's 2x2 max-pool: a 1x1 convolution to the stage's width, the blocks,
    then BatchNorm and ReLU."""

    def __init__(self, config: ZooSANConfig, stage: int, drop_path_rates: list[float]):
        super().__init__()
        in_channels = config.embedding_size if stage == 0 else config.hidden_sizes[stage - 1]
        channels = config.hidden_sizes[stage]
        self.transition = ZooSANPointwiseConvolution(in_channels, channels, bias=False)
        self.layers = nn.ModuleList([ZooSANLayer(config, stage, rate) for rate in drop_path_rates])
        self.normalization = nn.BatchNorm2d(channels, eps=config.batch_norm_eps)
        self.activation = nn.ReLU(inplace=True)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        hidden_states = self.transition(hidden_states)
        attentions = ()
        for layer in self.layers:
            hidden_states, attention = layer(hidden_states, output_attentions)
            if output_attentions:
                attentions += (attention,)
        return self.activation(self.normalization(hidden_states)), attentions


class ZooSANEncoder(nn.Module):
    """The stem, then each stage behind a 2x2 max-pool, with the linear stochastic-depth rule across all blocks of
    all stages."""

    def __init__(self, config: ZooSANConfig):
        super().__init__()
        self.embeddings = ZooSANEmbeddings(config)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        total = sum(config.depths)
        # Python floats, not torch.linspace, so that models can be built on the meta device.
        rates = [config.drop_path_rate * index / max(total - 1, 1) for index in range(total)]
        starts = [sum(config.depths[:index]) for index in range(config.num_stages)]
        self.stages = nn.ModuleList(
            [
                ZooSANStage(config, stage, rates[start : start + depth])
                for stage, (start, depth) in enumerate(zip(starts, config.depths, strict=True))
            ]
        )

    def forward(
        self, pixel_values: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> BaseModelOutputWithPooling:
        hidden_states = self.embeddings(pixel_values)
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for stage in self.stages:
            # Pooled before the stage is called, so that the map before the pool (the stem's, 4x the size) is freed
            # while the stage runs, unless it is kept as a hidden state.
            hidden_states = self.pool(hidden_states)
            hidden_states, attentions = stage(hidden_states, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += attentions
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class ZooSANPreTrainedModel(PreTrainedModel):
    """Weight initialisation, checkpoint plumbing and shared behaviour of every SAN model."""

    config_class = ZooSANConfig
    config: ZooSANConfig
    base_model_prefix = "san"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ZooSANEmbeddings", "ZooSANLayer"]
    # SAN computes no dot-product attention: every attention implementation runs the same code.
    _supports_sdpa = True
    # Auto classes this folder is loadable with as remote code, besides the one of the saved object.
    _remote_auto_classes = {
        "AutoModel": "ZooSANModel",
        "AutoModelForImageClassification": "ZooSANForImageClassification",
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference initialisation, PyTorch's defaults: Kaiming-uniform convolutions and linears, unit norms."""
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that take no weight decay: norms and biases."""
        return {name for name, param in self.named_parameters() if param.ndim <= 1}

    # Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as transformers does, with every Auto class of this folder in `config.auto_map`."""
        module = type(self).__module__.rsplit(".", 1)[-1]
        remote = {auto: f"{module}.{name}" for auto, name in self._remote_auto_classes.items()}
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **remote}
        return super().save_pretrained(save_directory, *args, **kwargs)


def _check_pixel_values(pixel_values: torch.Tensor | None, config: ZooSANConfig) -> None:
    if pixel_values is None:
        raise ValueError("pixel_values is required.")
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(
            "pixel_values must be a torch.Tensor of shape (batch, channels, height, width), got "
            f"{type(pixel_values).__name__}; the image processor turns images into one."
        )
    if pixel_values.ndim != 4 or pixel_values.shape[1] != config.num_channels:
        raise ValueError(
            f"pixel_values must have shape (batch, {config.num_channels}, height, width), got "
            f"{tuple(pixel_values.shape)}."
        )
    height, width = pixel_values.shape[-2:]
    if min(height, width) < config.min_input_size:
        raise ValueError(
            f"pixel_values of {height}x{width} pixels are too small: each of the {config.num_stages} stages halves "
            f"the map, so SAN needs at least {config.min_input_size}x{config.min_input_size}."
        )


class ZooSANModel(ZooSANPreTrainedModel):
    """The bare SAN: stem and stages.

    `last_hidden_state` is the last stage's map (batch, C, H / 32, W / 32); `pooler_output` its spatial average
    (batch, C); `hidden_states` the stem's map and each stage's; `attentions` every block's aggregation weights,
    (batch, C_w, H_i, W_i, k * k): per pixel and weight channel, the weights of its footprint (a distribution for
    pairwise self-attention; patchwise weights are not normalised)."""

    def __init__(self, config: ZooSANConfig):
        super().__init__(config)
        self.encoder = ZooSANEncoder(config)
        self.pooler = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.encoder.embeddings.convolution

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        _check_pixel_values(pixel_values, self.config)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict

        pixel_values = pixel_values.to(self.get_input_embeddings().weight.dtype)
        encoder_outputs = self.encoder(pixel_values, output_attentions, output_hidden_states)
        last_hidden_state = encoder_outputs.last_hidden_state
        pooled_output = self.pooler(last_hidden_state).flatten(1)

        if not return_dict:
            extras = (encoder_outputs.hidden_states, encoder_outputs.attentions)
            return (last_hidden_state, pooled_output) + tuple(x for x in extras if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=last_hidden_state,
            pooler_output=pooled_output,
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )


class ZooSANForImageClassification(ZooSANPreTrainedModel):
    """SAN with a linear classifier on the average-pooled last map, e.g. for ImageNet."""

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.__init__ with NonLocal->SAN, nonlocal_net->san  # noqa: E501
    def __init__(self, config: ZooSANConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.san = ZooSANModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    # Copied from hf_vits.modeling.nonlocal_net.modeling_nonlocal_net.ZooNonLocalForImageClassification.forward with nonlocal_net->san  # noqa: E501
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
        outputs = self.san(
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


ZooSANModel.register_for_auto_class("AutoModel")
ZooSANForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "ZooSANForImageClassification",
    "ZooSANModel",
    "ZooSANPreTrainedModel",
]
