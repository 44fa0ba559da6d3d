"""Configuration of AA-ResNet (Bello et al., "Attention Augmented Convolutional Networks", ICCV 2019)."""

from __future__ import annotations

import math

from transformers import BackboneConfigMixin, PreTrainedConfig

LAYER_TYPES = ("bottleneck", "basic")
DIM_ROUNDINGS = ("nearest", "up")


class ZooAANetConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ZooAANetModel`]: a torchvision-layout ResNet whose 3x3 convolutions, in the stages named by
    `augmented_stages`, are attention-augmented convolutions. The defaults give AA-ResNet-50 at 224 px.

    An augmented convolution with F_out output filters computes F_out - d_v of them with the 3x3 convolution and d_v
    with multi-head self-attention over all positions (with 2D relative position logits), and concatenates the two.
    Per head, the key depth is d_k / N_h = max(`min_key_dim_per_head`, round(kappa * F_out / N_h)) and the value
    depth d_v / N_h = max(1, round(upsilon * F_out / N_h)), rounded as `dim_rounding` says.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the model is built for: it sizes the relative position embeddings of every augmented layer
            (2H - 1 and 2W - 1 rows). Smaller inputs use the central rows; larger ones are refused.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        embedding_size (`int`, defaults to 64):
            Channels of the stem (7x7 stride-2 convolution, BatchNorm, ReLU, 3x3 stride-2 max-pool).
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`):
            Output channels of each of the four stages; a bottleneck's 3x3 convolution has a quarter of them.
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`):
            Residual blocks in each stage (ResNet-50; ResNet-101 is `[3, 4, 23, 3]`).
        layer_type (`str`, defaults to `"bottleneck"`):
            `"bottleneck"` (1x1, 3x3, 1x1; ResNet-50 and deeper) or `"basic"` (two 3x3; ResNet-18/34).
        augmented_stages (`list[bool]`, defaults to `[False, True, True, True]`):
            Stages whose 3x3 convolutions are all attention-augmented (the paper: every residual block of the last
            three stages, 28x28, 14x14 and 7x7 at 224 px).
        downsampled_attention_stages (`list[bool]`, defaults to `[False, True, False, False]`):
            Augmented stages whose attention runs on the input average-pooled (3x3, stride 2) and is upsampled
            bilinearly before the concatenation, to save memory (the paper: the first augmented stage only).
        key_ratio (`float`, defaults to 0.2):
            kappa = d_k / F_out.
        value_ratio (`float`, defaults to 0.1):
            upsilon = d_v / F_out, the share of output filters computed by attention.
        num_attention_heads (`int`, defaults to 8):
            N_h, the heads of every augmented convolution.
        min_key_dim_per_head (`int`, defaults to 20):
            Smallest key depth per head (the paper's "at least 20 dimensions per head" for the keys); 0 for none.
        dim_rounding (`str`, defaults to `"nearest"`):
            How kappa * F_out / N_h and upsilon * F_out / N_h become whole depths per head: `"nearest"` (halves up) or
            `"up"`.
        use_relative_position_logits (`bool`, defaults to `True`):
            Whether attention logits include the 2D relative position terms (separate learned height and width
            embeddings, shared across heads).
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm (torchvision's and timm's).
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks (timm's rule; the paper trains
            without it).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled features before the classifier.
        out_features (`list[str]`, *optional*):
            Stages [`ZooAANetBackbone`] returns, among `"stem"` (after the max-pool), `"stage1"` .. `"stage4"`
            (default: the last stage).
        out_indices (`list[int]`, *optional*):
            The same stages by index into `stage_names`.
    """

    model_type = "hfvits_aanet"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        embedding_size: int = 64,
        hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048),
        depths: list[int] | tuple[int, ...] = (3, 4, 6, 3),
        layer_type: str = "bottleneck",
        augmented_stages: list[bool] | tuple[bool, ...] = (False, True, True, True),
        downsampled_attention_stages: list[bool] | tuple[bool, ...] = (False, True, False, False),
        key_ratio: float = 0.2,
        value_ratio: float = 0.1,
        num_attention_heads: int = 8,
        min_key_dim_per_head: int = 20,
        dim_rounding: str = "nearest",
        use_relative_position_logits: bool = True,
        batch_norm_eps: float = 1e-5,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        out_features: list[str] | None = None,
        out_indices: list[int] | None = None,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"`layer_type` must be one of {LAYER_TYPES}, got {layer_type!r}.")
        stages = {
            "hidden_sizes": list(hidden_sizes),
            "depths": list(depths),
            "augmented_stages": [bool(flag) for flag in augmented_stages],
            "downsampled_attention_stages": [bool(flag) for flag in downsampled_attention_stages],
        }
        for name, values in stages.items():
            if len(values) != 4:
                raise ValueError(f"`{name}` must have one entry for each of the four ResNet stages, got {values}.")
        for name in ("hidden_sizes", "depths"):
            if any(not isinstance(value, int) or value < 1 for value in stages[name]):
                raise ValueError(f"`{name}` must hold ints >= 1, got {stages[name]}.")
        if layer_type == "bottleneck" and any(size % 4 for size in stages["hidden_sizes"]):
            raise ValueError(
                f"`hidden_sizes` {stages['hidden_sizes']} must be multiples of 4 (a bottleneck is a quarter)."
            )
        for name, value in (("num_channels", num_channels), ("embedding_size", embedding_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        for stage, (augmented, downsampled) in enumerate(
            zip(stages["augmented_stages"], stages["downsampled_attention_stages"], strict=True)
        ):
            if downsampled and not augmented:
                raise ValueError(
                    f"`downsampled_attention_stages` {stages['downsampled_attention_stages']}: stage {stage + 1} has "
                    f"no attention to downsample (`augmented_stages` {stages['augmented_stages']})."
                )
        if not isinstance(num_attention_heads, int) or num_attention_heads < 1:
            raise ValueError(f"`num_attention_heads` must be an int >= 1, got {num_attention_heads!r}.")
        if not isinstance(min_key_dim_per_head, int) or min_key_dim_per_head < 0:
            raise ValueError(f"`min_key_dim_per_head` must be an int >= 0, got {min_key_dim_per_head!r}.")
        if dim_rounding not in DIM_ROUNDINGS:
            raise ValueError(f"`dim_rounding` must be one of {DIM_ROUNDINGS}, got {dim_rounding!r}.")
        if key_ratio <= 0:
            raise ValueError(f"`key_ratio` (kappa) must be positive, got {key_ratio}.")
        if not 0.0 < value_ratio < 1.0:
            raise ValueError(f"`value_ratio` (upsilon) must be in (0, 1), got {value_ratio}.")
        for name, rate in (
            ("attention_probs_dropout_prob", attention_probs_dropout_prob),
            ("drop_path_rate", drop_path_rate),
            ("classifier_dropout_prob", classifier_dropout_prob),
        ):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.embedding_size = embedding_size
        self.hidden_sizes = stages["hidden_sizes"]
        self.depths = stages["depths"]
        self.layer_type = layer_type
        self.augmented_stages = stages["augmented_stages"]
        self.downsampled_attention_stages = stages["downsampled_attention_stages"]
        self.key_ratio = key_ratio
        self.value_ratio = value_ratio
        self.num_attention_heads = num_attention_heads
        self.min_key_dim_per_head = min_key_dim_per_head
        self.dim_rounding = dim_rounding
        self.use_relative_position_logits = use_relative_position_logits
        self.batch_norm_eps = batch_norm_eps
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        kwargs.pop("stage_names", None)
        self.hidden_size = self.hidden_sizes[-1]
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(self.depths) + 1)]
        super().__init__(**kwargs)
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)
        for stage, augmented in enumerate(self.augmented_stages):
            filters = self.conv_widths[stage]
            if augmented and self.attention_dims(filters)[1] >= filters:
                raise ValueError(
                    f"`value_ratio` {value_ratio} with {num_attention_heads} heads leaves no convolution filters in "
                    f"stage {stage + 1}, whose 3x3 convolutions have {filters} (`hidden_sizes` {self.hidden_sizes})."
                )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def conv_widths(self) -> list[int]:
        """Output filters (F_out) of each stage's 3x3 convolutions."""
        return [size // 4 if self.layer_type == "bottleneck" else size for size in self.hidden_sizes]

    @property
    def image_size_pair(self) -> tuple[int, int]:
        """The configured resolution as (height, width)."""
        return _as_pair(self.image_size, "image_size")

    def attention_dims(self, out_channels: int) -> tuple[int, int]:
        """(d_k, d_v) of an augmented convolution with `out_channels` (F_out) output filters."""
        heads = self.num_attention_heads
        to_int = math.ceil if self.dim_rounding == "up" else _round_half_up
        key_dim_per_head = max(self.min_key_dim_per_head, to_int(self.key_ratio * out_channels / heads), 1)
        value_dim_per_head = max(to_int(self.value_ratio * out_channels / heads), 1)
        return key_dim_per_head * heads, value_dim_per_head * heads


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


# Copied from hf_vits.modeling.vit.configuration_vit._as_pair
def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


ZooAANetConfig.register_for_auto_class()

__all__ = ["ZooAANetConfig"]
