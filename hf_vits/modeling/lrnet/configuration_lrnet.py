"""Configuration of LR-Net (Hu, Zhang, Xie and Lin, "Local Relation Networks for Image Recognition", ICCV 2019)."""

from __future__ import annotations

from transformers import BackboneConfigMixin, PreTrainedConfig

COMPOSABILITY_FUNCTIONS = ("squared_difference", "absolute_difference", "dot_product")


class ZooLRNetConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ZooLRNetModel`]: a ResNet whose spatial convolutions (the 7x7 stem and the 3x3 of every
    bottleneck) are local relation layers. The defaults give LR-Net-50 (7x7 neighbourhoods, m = 8).

    Args:
        image_size (`int`, defaults to 224):
            Resolution the model is evaluated at. The network is fully local and takes any size.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        embedding_size (`int`, defaults to 64):
            Channels of the stem: a 1x1 convolution lifts the image to them (three channels are too few to relate),
            a stride-2 local relation layer aggregates, then a 3x3 stride-2 max-pool, as ResNet's 7x7 stem.
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`):
            Output channels of each stage (res2 .. res5), those of ResNet-50.
        relation_widths (`list[int]`, defaults to `[96, 200, 400, 800]`):
            Inner width of each stage's bottlenecks, the channels of its local relation layers (ResNet's 64 .. 512,
            widened because a relation layer has far fewer parameters than a 3x3 convolution). Each must be a
            multiple of `channels_per_group`.
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`):
            Bottleneck blocks in each stage (LR-Net-26: `[2, 2, 2, 2]`, -50: `[3, 4, 6, 3]`, -101: `[3, 4, 23, 3]`).
        kernel_size (`int`, defaults to 7):
            Side k of the square neighbourhood every pixel aggregates (odd; the paper's best is 7).
        channels_per_group (`int`, defaults to 8):
            The paper's m: channels that share one set of aggregation weights. A layer on C channels computes
            C / m weight maps, and channel c is aggregated with map c // m (groups of consecutive channels).
        key_channels_per_group (`int`, defaults to 1):
            Channels of the query and key embeddings per aggregation group: the 1x1 query and key transforms map C
            channels to (C / m) * key_channels_per_group (the paper's C/m scalar keys and queries with 1).
        composability (`str`, defaults to `"squared_difference"`):
            The appearance composability Φ(q, k) of a query and a key embedding, summed over a group's key channels:
            `"squared_difference"` -(q - k)^2 (the paper's), `"absolute_difference"` -|q - k| or `"dot_product"`
            q·k (the paper's ablations).
        geometry_prior_hidden_ratio (`float`, defaults to 1.0):
            Hidden width of the geometry prior, a two-layer perceptron (ReLU between) from the relative position
            (dy, dx) of a neighbour to one logit per aggregation group, as a multiple of the number of groups.
        out_of_image_logit (`float`, defaults to -100.0):
            Appearance logit of a neighbour outside the image (the authors' CUDA op's `no_define_value`). The
            geometry prior is still added, and such a neighbour contributes no value: windows stay centred on
            their pixel instead of being clamped into the image.
        relation_chunk_size (`int`, *optional*, defaults to 4194304):
            Largest number of elements of a layer's logits (batch x groups x k^2 x rows x width) computed at once
            (one output row at least): the aggregation runs over chunks of output rows, which bounds its memory.
            `None`: one chunk.
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        zero_init_residual (`bool`, defaults to `False`):
            Whether the last BatchNorm of every bottleneck starts at zero (each block starts as the identity).
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last bottleneck, linear from 0 over all of them (the paper trains without).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled features before the classifier.
        out_features (`list[str]`, *optional*):
            Stages [`ZooLRNetBackbone`] returns, among `"stem"` (after the max-pool), `"stage1"` .. `"stage4"`
            (default: the last stage).
        out_indices (`list[int]`, *optional*):
            The same stages by index into `stage_names`.
    """

    model_type = "hfvits_lrnet"

    def __init__(
        self,
        image_size: int = 224,
        num_channels: int = 3,
        embedding_size: int = 64,
        hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048),
        relation_widths: list[int] | tuple[int, ...] = (96, 200, 400, 800),
        depths: list[int] | tuple[int, ...] = (3, 4, 6, 3),
        kernel_size: int = 7,
        channels_per_group: int = 8,
        key_channels_per_group: int = 1,
        composability: str = "squared_difference",
        geometry_prior_hidden_ratio: float = 1.0,
        out_of_image_logit: float = -100.0,
        relation_chunk_size: int | None = 4194304,
        batch_norm_eps: float = 1e-5,
        zero_init_residual: bool = False,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        out_features: list[str] | None = None,
        out_indices: list[int] | None = None,
        **kwargs,
    ):
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"`image_size` must be a positive int, got {image_size!r}.")
        stages = {"hidden_sizes": list(hidden_sizes), "relation_widths": list(relation_widths), "depths": list(depths)}
        if not stages["depths"]:
            raise ValueError("`depths` must have at least one stage.")
        for name, values in stages.items():
            if len(values) != len(stages["depths"]):
                raise ValueError(
                    f"`{name}` ({values}) must have one entry per stage, like `depths` ({stages['depths']})."
                )
            if any(not isinstance(value, int) or value < 1 for value in values):
                raise ValueError(f"`{name}` must hold positive ints, got {values}.")
        for name, value in (
            ("num_channels", num_channels),
            ("embedding_size", embedding_size),
            ("channels_per_group", channels_per_group),
            ("key_channels_per_group", key_channels_per_group),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        for name, width in [("embedding_size", embedding_size)] + [
            ("relation_widths", width) for width in stages["relation_widths"]
        ]:
            if width % channels_per_group:
                raise ValueError(
                    f"`{name}`: {width} channels do not split into groups of `channels_per_group` = "
                    f"{channels_per_group}."
                )
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be a positive odd int (a centred window), got {kernel_size!r}.")
        if composability not in COMPOSABILITY_FUNCTIONS:
            raise ValueError(f"`composability` must be one of {COMPOSABILITY_FUNCTIONS}, got {composability!r}.")
        if geometry_prior_hidden_ratio <= 0:
            raise ValueError(f"`geometry_prior_hidden_ratio` must be positive, got {geometry_prior_hidden_ratio}.")
        if relation_chunk_size is not None and (not isinstance(relation_chunk_size, int) or relation_chunk_size < 1):
            raise ValueError(f"`relation_chunk_size` must be a positive int or None, got {relation_chunk_size!r}.")
        for name, rate in (("drop_path_rate", drop_path_rate), ("classifier_dropout_prob", classifier_dropout_prob)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size
        self.num_channels = num_channels
        self.embedding_size = embedding_size
        self.hidden_sizes = stages["hidden_sizes"]
        self.relation_widths = stages["relation_widths"]
        self.depths = stages["depths"]
        self.kernel_size = kernel_size
        self.channels_per_group = channels_per_group
        self.key_channels_per_group = key_channels_per_group
        self.composability = composability
        self.geometry_prior_hidden_ratio = geometry_prior_hidden_ratio
        self.out_of_image_logit = out_of_image_logit
        self.relation_chunk_size = relation_chunk_size
        self.batch_norm_eps = batch_norm_eps
        self.zero_init_residual = zero_init_residual
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        kwargs.pop("stage_names", None)
        self.hidden_size = self.hidden_sizes[-1]
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(self.depths) + 1)]
        super().__init__(**kwargs)
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)

    @property
    def num_stages(self) -> int:
        return len(self.depths)


ZooLRNetConfig.register_for_auto_class()

__all__ = ["ZooLRNetConfig"]
