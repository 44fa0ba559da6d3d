"""Configuration of CCNet (Huang et al., "CCNet: Criss-Cross Attention for Semantic Segmentation", ICCV 2019)."""

from __future__ import annotations

from transformers import PreTrainedConfig

STEM_TYPES = ("standard", "deep")


class ZooCCNetConfig(PreTrainedConfig):
    r"""
    Configuration of a CCNet: a bottleneck ResNet (torchvision's layout, stride on the 3x3 convolution) and
    recurrent criss-cross attention (RCCA). The defaults give the authors' Cityscapes model
    ([`ZooCCNetForSemanticSegmentation`]): ResNet-101 with the deep stem, dilation 2 in res4 and 4 in res5 (output
    stride 8), and the RCCA head with R = 2. [`ZooCCNetForImageClassification`] applies the same attention, on the
    last stage's features, with a global-pool classifier (e.g. `stem_type="standard"`, `dilations=[1, 1, 1, 1]`,
    `depths=[3, 4, 6, 3]` for ResNet-50).

    Args:
        image_size (`int`, defaults to 769):
            Resolution the model is trained at (the authors' Cityscapes crops are 769x769). The network is
            convolutional and takes any size.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        stem_type (`str`, defaults to `"deep"`):
            `"standard"`: a 7x7 stride-2 convolution to `embedding_size` channels (torchvision's ResNet);
            `"deep"`: three 3x3 convolutions to `embedding_size`, `embedding_size` and `2 * embedding_size` channels,
            the first of stride 2 (the authors' ResNet-101). Either ends with BatchNorm, ReLU and a 3x3 stride-2
            max-pool, in ceil mode with the deep stem as in the authors' code.
        embedding_size (`int`, defaults to 64):
            Channels of the stem's (first) convolutions.
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`):
            Output channels of each stage (res2 .. res5); a bottleneck's inner width is a quarter of its stage's.
        depths (`list[int]`, defaults to `[3, 4, 23, 3]`):
            Bottleneck blocks in each stage (ResNet-101; ResNet-50 is `[3, 4, 6, 3]`).
        dilations (`list[int]`, defaults to `[1, 1, 2, 4]`):
            Dilation of every 3x3 convolution of each stage. A dilated stage (dilation > 1) keeps its input's
            resolution instead of halving it, so `[1, 1, 2, 4]` gives output stride 8 and `[1, 1, 1, 1]` the
            ImageNet ResNet's 32. As in the authors' code, a stage's first block is dilated like the others.
        attention_reduction (`int`, defaults to 8):
            Queries and keys of the criss-cross attention have `channels // attention_reduction` channels (C/8).
        recurrence (`int`, defaults to 2):
            R: how many times the criss-cross attention is applied, with shared weights (R = 2 lets every position
            gather context from every other).
        head_hidden_size (`int`, defaults to 512):
            Channels of the segmentation head: the convolution before the RCCA (2048 -> 512), the one after it,
            and the bottleneck after the concatenation with the trunk's features; also of the auxiliary head.
        auxiliary_loss_weight (`float`, defaults to 0.4):
            Weight of the auxiliary head's (on res4) cross-entropy in the segmentation loss.
        semantic_loss_ignore_index (`int`, defaults to 255):
            Label of the pixels the segmentation loss ignores (Cityscapes' "void").
        head_dropout_prob (`float`, defaults to 0.1):
            Dropout2d before the segmentation head's and the auxiliary head's classifiers.
        leaky_relu_slope (`float`, defaults to 0.01):
            Negative slope of the leaky ReLU after each BatchNorm of the segmentation heads (InPlaceABN's default
            activation in the authors' code; its trunk uses plain ReLU).
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        zero_init_residual (`bool`, defaults to `False`):
            Whether the last BatchNorm of every residual block starts at zero (each block starts as the identity).
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last residual block, linear from 0 over all residual blocks (the paper
            trains without it).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled features before the image classifier.
    """

    model_type = "hfvits_ccnet"

    def __init__(
        self,
        image_size: int = 769,
        num_channels: int = 3,
        stem_type: str = "deep",
        embedding_size: int = 64,
        hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048),
        depths: list[int] | tuple[int, ...] = (3, 4, 23, 3),
        dilations: list[int] | tuple[int, ...] = (1, 1, 2, 4),
        attention_reduction: int = 8,
        recurrence: int = 2,
        head_hidden_size: int = 512,
        auxiliary_loss_weight: float = 0.4,
        semantic_loss_ignore_index: int = 255,
        head_dropout_prob: float = 0.1,
        leaky_relu_slope: float = 0.01,
        batch_norm_eps: float = 1e-5,
        zero_init_residual: bool = False,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        **kwargs,
    ):
        hidden_sizes, depths, dilations = list(hidden_sizes), list(depths), list(dilations)
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"`image_size` must be a positive int, got {image_size!r}.")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"`stem_type` must be one of {STEM_TYPES}, got {stem_type!r}.")
        for name, value in (
            ("num_channels", num_channels),
            ("embedding_size", embedding_size),
            ("attention_reduction", attention_reduction),
            ("recurrence", recurrence),
            ("head_hidden_size", head_hidden_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        if not depths or any(not isinstance(depth, int) or depth < 1 for depth in depths):
            raise ValueError(f"`depths` must hold at least one stage, each with >= 1 block, got {depths}.")
        if len(hidden_sizes) != len(depths) or any(not isinstance(size, int) or size < 4 for size in hidden_sizes):
            raise ValueError(f"`hidden_sizes` ({hidden_sizes}) must hold one int >= 4 per stage of `depths`.")
        if any(size % 4 for size in hidden_sizes):
            raise ValueError(f"`hidden_sizes` {hidden_sizes} must be multiples of 4 (a bottleneck is a quarter).")
        if len(dilations) != len(depths) or any(not isinstance(d, int) or d < 1 for d in dilations):
            raise ValueError(f"`dilations` ({dilations}) must hold one positive int per stage of `depths`.")
        if dilations[0] != 1:
            raise ValueError(f"`dilations` {dilations}: the first stage follows the stem's pool and is not dilated.")
        if any(later < earlier for earlier, later in zip(dilations[:-1], dilations[1:], strict=True)):
            raise ValueError(f"`dilations` {dilations} must not decrease from stage to stage.")
        if hidden_sizes[-1] // attention_reduction < 1:
            raise ValueError(
                f"`attention_reduction` {attention_reduction} leaves no query channels of the last stage's "
                f"{hidden_sizes[-1]}."
            )
        if head_hidden_size // attention_reduction < 1:
            raise ValueError(
                f"`attention_reduction` {attention_reduction} leaves no query channels of the head's "
                f"{head_hidden_size}."
            )
        if len(depths) < 2:
            raise ValueError(f"`depths` {depths}: the segmentation model's auxiliary head needs two stages or more.")
        if batch_norm_eps <= 0:
            raise ValueError(f"`batch_norm_eps` must be positive, got {batch_norm_eps}.")
        for name, value in (("auxiliary_loss_weight", auxiliary_loss_weight), ("leaky_relu_slope", leaky_relu_slope)):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0, got {value}.")
        for name, rate in (
            ("head_dropout_prob", head_dropout_prob),
            ("drop_path_rate", drop_path_rate),
            ("classifier_dropout_prob", classifier_dropout_prob),
        ):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size
        self.num_channels = num_channels
        self.stem_type = stem_type
        self.embedding_size = embedding_size
        self.hidden_sizes = hidden_sizes
        self.depths = depths
        self.dilations = dilations
        self.attention_reduction = attention_reduction
        self.recurrence = recurrence
        self.head_hidden_size = head_hidden_size
        self.auxiliary_loss_weight = auxiliary_loss_weight
        self.semantic_loss_ignore_index = semantic_loss_ignore_index
        self.head_dropout_prob = head_dropout_prob
        self.leaky_relu_slope = leaky_relu_slope
        self.batch_norm_eps = batch_norm_eps
        self.zero_init_residual = zero_init_residual
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        self.hidden_size = hidden_sizes[-1]
        super().__init__(**kwargs)

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def stem_channels(self) -> int:
        """Channels out of the stem: `embedding_size`, doubled by the deep stem's third convolution."""
        return 2 * self.embedding_size if self.stem_type == "deep" else self.embedding_size

    @property
    def output_stride(self) -> int:
        """How much smaller than the input the last stage's feature map is (32 undilated, 8 for CCNet)."""
        return 4 * 2 ** sum(1 for stage, d in enumerate(self.dilations) if stage > 0 and d == 1)


ZooCCNetConfig.register_for_auto_class()

__all__ = ["ZooCCNetConfig"]
