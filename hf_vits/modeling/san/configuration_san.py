"""Configuration of SAN (Zhao, Jia and Koltun, "Exploring Self-attention for Image Recognition", CVPR 2020)."""

from __future__ import annotations

from transformers import PreTrainedConfig

SELF_ATTENTION_TYPES = ("pairwise", "patchwise")
# The relation functions delta of the paper's Section 3, for each kind of self-attention.
RELATION_TYPES = {
    "pairwise": ("summation", "subtraction", "concatenation", "hadamard_product", "dot_product"),
    "patchwise": ("star_product", "clique_product", "concatenation"),
}


class ZooSANConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooSANModel`]. The defaults give SAN10 with pairwise (subtraction) self-attention at 224 px.

    SAN is a ResNet whose 3x3 convolutions are replaced by local self-attention: a 1x1 convolution stem at full
    resolution, then five stages, each opened by a 2x2 max-pool and a 1x1 convolution and made of pre-activation
    bottleneck blocks (BatchNorm, ReLU, self-attention, BatchNorm, ReLU, 1x1 convolution, residual sum).

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the model is evaluated at. SAN has no absolute position embedding and takes any input of at
            least 2 ** (number of stages) pixels a side (each stage halves the map).
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        embedding_size (`int`, defaults to 64):
            Channels of the 1x1 convolution stem.
        hidden_sizes (`list[int]`, defaults to `[64, 256, 512, 1024, 2048]`):
            Channels C of each stage (its blocks' input and output).
        depths (`list[int]`, defaults to `[2, 1, 2, 4, 1]`):
            Blocks in each stage (SAN10; SAN15 `[3, 2, 3, 5, 2]`, SAN19 `[3, 3, 4, 6, 3]`).
        kernel_sizes (`list[int]`, defaults to `[3, 7, 7, 7, 7]`):
            Side of each stage's self-attention footprint R(i), odd.
        self_attention_type (`str`, defaults to `"pairwise"`):
            `"pairwise"`: each weight comes from the relation of the pixel to one neighbour (Eq. 2 of the paper),
            normalised by a softmax over the footprint. `"patchwise"`: the weights of the whole footprint come from
            the patch at once (Eq. 4), unnormalised.
        relation_type (`str`, *optional*):
            The relation function delta. Pairwise: `"summation"`, `"subtraction"` (the released models),
            `"concatenation"`, `"hadamard_product"`, `"dot_product"`. Patchwise: `"star_product"`,
            `"clique_product"`, `"concatenation"` (the released models). Defaults to the released models' choice.
        use_position_encoding (`bool`, defaults to `True`):
            Pairwise only: concatenate the relative position p_i - p_j (a learned linear map of the coordinates
            normalised to [-1, 1]) to the relation before the mapping gamma. Patchwise weights are position-specific
            by construction and take none.
        relation_reduction (`int`, defaults to 16):
            The transforms phi and psi map C channels to C / relation_reduction ("rel_planes" in the reference).
        bottleneck_reduction (`int`, defaults to 4):
            The value transform beta maps C channels to C / bottleneck_reduction ("mid_planes").
        share_planes (`int`, defaults to 8):
            Channels that share one aggregation weight: the mapping gamma yields C / (bottleneck_reduction *
            share_planes) weights per neighbour, and channel c of the values uses weight c mod that number.
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks (the paper trains without).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled representation before the classifier (the paper uses none).
        attention_chunk_size (`int`, *optional*, defaults to 4194304):
            The most elements any footprint-sized intermediate (relations, weights: k * k entries per pixel) may
            hold at once in evaluation: the output rows are processed in chunks that fit (at least one row at a
            time), which bounds the peak memory without changing the result. `None` processes each map whole. In
            training the map is always processed whole, since the BatchNorms of the mapping gamma normalise over
            all of it (gradient checkpointing bounds training memory).
    """

    model_type = "hfvits_san"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        embedding_size: int = 64,
        hidden_sizes: list[int] | tuple[int, ...] = (64, 256, 512, 1024, 2048),
        depths: list[int] | tuple[int, ...] = (2, 1, 2, 4, 1),
        kernel_sizes: list[int] | tuple[int, ...] = (3, 7, 7, 7, 7),
        self_attention_type: str = "pairwise",
        relation_type: str | None = None,
        use_position_encoding: bool = True,
        relation_reduction: int = 16,
        bottleneck_reduction: int = 4,
        share_planes: int = 8,
        batch_norm_eps: float = 1e-5,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        attention_chunk_size: int | None = 4194304,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        stages = {"hidden_sizes": list(hidden_sizes), "depths": list(depths), "kernel_sizes": list(kernel_sizes)}
        if not stages["depths"]:
            raise ValueError("`depths` must have at least one stage.")
        for name, values in stages.items():
            if len(values) != len(stages["depths"]):
                raise ValueError(
                    f"`{name}` ({values}) must have one entry per stage, like `depths` ({stages['depths']})."
                )
            if any(not isinstance(value, int) or value < 1 for value in values):
                raise ValueError(f"`{name}` must hold ints >= 1, got {values}.")
        if any(kernel % 2 == 0 for kernel in stages["kernel_sizes"]):
            raise ValueError(f"`kernel_sizes` must be odd (a footprint centred on its pixel), got {kernel_sizes}.")
        for name, value in (
            ("embedding_size", embedding_size),
            ("num_channels", num_channels),
            ("relation_reduction", relation_reduction),
            ("bottleneck_reduction", bottleneck_reduction),
            ("share_planes", share_planes),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
        for stage, channels in enumerate(stages["hidden_sizes"]):
            for name, divisor in (
                ("relation_reduction", relation_reduction),
                ("bottleneck_reduction", bottleneck_reduction * share_planes),
            ):
                if channels % divisor:
                    raise ValueError(
                        f"`hidden_sizes` {stages['hidden_sizes']}: stage {stage + 1}'s {channels} channels are not "
                        f"divisible by {divisor} (`{name}`"
                        + (", times `share_planes`)." if name == "bottleneck_reduction" else ").")
                    )
        if self_attention_type not in SELF_ATTENTION_TYPES:
            raise ValueError(
                f"`self_attention_type` must be one of {SELF_ATTENTION_TYPES}, got {self_attention_type!r}."
            )
        if relation_type is None:
            relation_type = "subtraction" if self_attention_type == "pairwise" else "concatenation"
        if relation_type not in RELATION_TYPES[self_attention_type]:
            raise ValueError(
                f"`relation_type` of {self_attention_type} self-attention must be one of "
                f"{RELATION_TYPES[self_attention_type]}, got {relation_type!r}."
            )
        if attention_chunk_size is not None and (not isinstance(attention_chunk_size, int) or attention_chunk_size < 1):
            raise ValueError(f"`attention_chunk_size` must be a positive int or None, got {attention_chunk_size!r}.")
        for name, rate in (("drop_path_rate", drop_path_rate), ("classifier_dropout_prob", classifier_dropout_prob)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.embedding_size = embedding_size
        self.hidden_sizes = stages["hidden_sizes"]
        self.depths = stages["depths"]
        self.kernel_sizes = stages["kernel_sizes"]
        self.self_attention_type = self_attention_type
        self.relation_type = relation_type
        self.use_position_encoding = use_position_encoding
        self.relation_reduction = relation_reduction
        self.bottleneck_reduction = bottleneck_reduction
        self.share_planes = share_planes
        self.batch_norm_eps = batch_norm_eps
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.attention_chunk_size = attention_chunk_size
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        self.hidden_size = self.hidden_sizes[-1]
        super().__init__(**kwargs)

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def min_input_size(self) -> int:
        """The smallest input side: every stage's 2x2 max-pool must leave at least one pixel."""
        return 2**self.num_stages


# Copied from hf_vits.modeling.vit.configuration_vit._as_pair
def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


ZooSANConfig.register_for_auto_class()

__all__ = ["ZooSANConfig"]
