"""Configuration of Stand-Alone Self-Attention (Ramachandran et al., "Stand-Alone Self-Attention in Vision Models",
NeurIPS 2019)."""

from __future__ import annotations

from transformers import PreTrainedConfig

STEM_TYPES = ("attention", "convolution")


class ZooSASAConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooSASAModel`]. The defaults give the paper's full-attention ResNet-50 at 224 px.

    A bottleneck ResNet whose every spatial (3x3) convolution is replaced by local self-attention over a
    `kernel_size` x `kernel_size` neighbourhood, followed by 2x2 average pooling where the block downsamples.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the model is evaluated at. The model takes any size that the attention stem's window divides.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        stem_type (`str`, defaults to `"attention"`):
            `"attention"`: the paper's attention stem, self-attention within each `stem_window_size` x
            `stem_window_size` block of the image with spatially-aware values, BatchNorm, ReLU and a max pool over
            the same block. `"convolution"`: the ResNet stem (7x7 convolution with stride 2, BatchNorm, ReLU, 3x3
            max pool with stride 2), the paper's "conv-stem + attention" models.
        stem_hidden_size (`int`, defaults to 64):
            Channels the stem outputs.
        stem_window_size (`int`, defaults to 4):
            Side of the attention stem's blocks and of the max pool that follows them (the stem's stride).
        stem_num_heads (`int`, defaults to 8):
            Attention heads of the attention stem.
        stem_num_mixtures (`int`, defaults to 4):
            Value matrices the attention stem's spatially-aware values mix, per block position.
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`):
            Output channels of each stage's bottleneck blocks.
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`):
            Bottleneck blocks of each stage (ResNet-26: 1, 2, 4, 1; ResNet-38: 2, 3, 5, 2; ResNet-50: 3, 4, 6, 3).
        bottleneck_ratio (`int`, defaults to 4):
            How much narrower the attention inside a bottleneck is than the block's output.
        kernel_size (`int`, defaults to 7):
            Spatial extent k of the local attention: each pixel attends to the k x k pixels centred on it.
        num_attention_heads (`int`, defaults to 8):
            Heads ("groups") of every local attention layer. Each head's channels are split in half between the
            row-offset and the column-offset embeddings, so the bottleneck widths must be divisible by twice this.
        hidden_act (`str`, defaults to `"relu"`):
            Activation after every BatchNorm but the last of each block and after the residual sum.
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks.
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled representation before the classifier.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of the classifier and the stem's mixture
            embeddings.
    """

    model_type = "hfvits_sasa"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        stem_type: str = "attention",
        stem_hidden_size: int = 64,
        stem_window_size: int = 4,
        stem_num_heads: int = 8,
        stem_num_mixtures: int = 4,
        hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048),
        depths: list[int] | tuple[int, ...] = (3, 4, 6, 3),
        bottleneck_ratio: int = 4,
        kernel_size: int = 7,
        num_attention_heads: int = 8,
        hidden_act: str = "relu",
        batch_norm_eps: float = 1e-5,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        hidden_sizes, depths = list(hidden_sizes), list(depths)
        if stem_type not in STEM_TYPES:
            raise ValueError(f"`stem_type` must be one of {STEM_TYPES}, got {stem_type!r}.")
        for name, value in (
            ("num_channels", num_channels),
            ("stem_hidden_size", stem_hidden_size),
            ("stem_window_size", stem_window_size),
            ("stem_num_heads", stem_num_heads),
            ("stem_num_mixtures", stem_num_mixtures),
            ("bottleneck_ratio", bottleneck_ratio),
            ("kernel_size", kernel_size),
            ("num_attention_heads", num_attention_heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd so that the neighbourhood is centred, got {kernel_size}.")
        if not depths or len(hidden_sizes) != len(depths):
            raise ValueError(
                f"`hidden_sizes` ({hidden_sizes}) and `depths` ({depths}) must have one entry per stage, at least one."
            )
        if any(not isinstance(depth, int) or depth < 1 for depth in depths):
            raise ValueError(f"`depths` must hold positive ints, got {depths}.")
        for stage, hidden_size in enumerate(hidden_sizes):
            width_ = hidden_size // bottleneck_ratio if isinstance(hidden_size, int) else 0
            if width_ * bottleneck_ratio != hidden_size or width_ % (2 * num_attention_heads):
                raise ValueError(
                    f"`hidden_sizes` {hidden_sizes}: stage {stage + 1}'s attention width ({hidden_size} / "
                    f"`bottleneck_ratio` {bottleneck_ratio}) must be a whole multiple of 2 x `num_attention_heads` "
                    f"({num_attention_heads}), half of each head's channels for row and half for column offsets."
                )
        if stem_type == "attention":
            if stem_hidden_size % (2 * stem_num_heads):
                raise ValueError(
                    f"`stem_hidden_size` ({stem_hidden_size}) must be a multiple of 2 x `stem_num_heads` "
                    f"({stem_num_heads})."
                )
            if height % stem_window_size or width % stem_window_size:
                raise ValueError(
                    f"`image_size` {image_size} must be divisible by the attention stem's `stem_window_size` "
                    f"({stem_window_size})."
                )
        for name, rate in (("drop_path_rate", drop_path_rate), ("classifier_dropout_prob", classifier_dropout_prob)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.stem_type = stem_type
        self.stem_hidden_size = stem_hidden_size
        self.stem_window_size = stem_window_size
        self.stem_num_heads = stem_num_heads
        self.stem_num_mixtures = stem_num_mixtures
        self.hidden_sizes = hidden_sizes
        self.depths = depths
        self.bottleneck_ratio = bottleneck_ratio
        self.kernel_size = kernel_size
        self.num_attention_heads = num_attention_heads
        self.hidden_act = hidden_act
        self.batch_norm_eps = batch_norm_eps
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.initializer_range = initializer_range
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        self.hidden_size = self.hidden_sizes[-1]
        super().__init__(**kwargs)

    @property
    def image_size_pair(self) -> tuple[int, int]:
        """The configured resolution as (height, width)."""
        return _as_pair(self.image_size, "image_size")

    @property
    def num_stages(self) -> int:
        return len(self.depths)


# Copied from hf_vits.modeling.vit.configuration_vit._as_pair
def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


ZooSASAConfig.register_for_auto_class()

__all__ = ["ZooSASAConfig"]
