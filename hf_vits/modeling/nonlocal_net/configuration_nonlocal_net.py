"""Configuration of Non-local networks (Wang et al., "Non-local Neural Networks", CVPR 2018)."""

from __future__ import annotations

from transformers import BackboneConfigMixin, PreTrainedConfig

PAIRWISE_FUNCTIONS = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
LAYER_TYPES = ("bottleneck", "basic")


class ZooNonLocalConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ZooNonLocalModel`]: a ResNet (torchvision's layout, stride on the 3x3 convolution) with
    non-local blocks after some of its residual blocks. The defaults give ResNet-50 with one non-local block, after
    block 4 of res4 (the paper's and its authors' code's "1 block": right before the last block of res4).

    Args:
        image_size (`int`, defaults to 224):
            Resolution the model is evaluated at. The network is convolutional and takes any size.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        embedding_size (`int`, defaults to 64):
            Channels of the stem (7x7 stride-2 convolution, BatchNorm, ReLU, 3x3 stride-2 max-pool).
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`):
            Output channels of each stage (res2 .. res5); a bottleneck's inner width is a quarter of its stage's.
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`):
            Residual blocks in each stage (ResNet-50; ResNet-101 is `[3, 4, 23, 3]`).
        layer_type (`str`, defaults to `"bottleneck"`):
            `"bottleneck"` (1x1, 3x3, 1x1; ResNet-50 and deeper) or `"basic"` (two 3x3; ResNet-18/34).
        nonlocal_positions (`list[list[int]]`, defaults to `[[], [], [4], []]`):
            For each stage, the indices (from 0) of the residual blocks that a non-local block follows.
        pairwise_function (`str`, defaults to `"embedded_gaussian"`):
            The pairwise function f of the non-local operation: `"embedded_gaussian"` (softmax of θ(x_i)·φ(x_j)),
            `"gaussian"` (softmax of x_i·x_j), `"dot_product"` (θ(x_i)·φ(x_j) / N) or `"concatenation"`
            (ReLU(w_f·[θ(x_i), φ(x_j)]) / N), N being the number of positions j.
        sub_sampling (`bool`, defaults to `True`):
            Whether φ and g see the block's input max-pooled 2x2 (stride 2), so that each position attends to a
            quarter of the positions (the authors' code pools the input of φ and g).
        nonlocal_reduction (`int`, defaults to 2):
            The block's bottleneck: θ, φ and g have `channels // nonlocal_reduction` channels (the paper's C/2).
        nonlocal_bias (`bool`, defaults to `True`):
            Whether the 1x1 convolutions θ, φ, g and W_z have a bias (the authors' code's).
        use_scale (`bool`, defaults to `True`):
            Whether the softmax forms scale their logits by d^-1/2, d being the channels compared (C/2 for the
            embedded Gaussian), as the authors' code does.
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        nonlocal_init_std (`float`, defaults to 0.01):
            Standard deviation of the normal initialisation of the non-local blocks' convolutions (the authors').
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last residual block, linear from 0 over all residual blocks (the paper
            trains without it).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled features before the classifier.
        out_features (`list[str]`, *optional*):
            Stages [`ZooNonLocalBackbone`] returns, among `"stem"` (after the max-pool), `"stage1"` .. `"stage4"`
            (default: the last stage).
        out_indices (`list[int]`, *optional*):
            The same stages by index into `stage_names`.
    """

    model_type = "hfvits_nonlocal_net"

    def __init__(
        self,
        image_size: int = 224,
        num_channels: int = 3,
        embedding_size: int = 64,
        hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048),
        depths: list[int] | tuple[int, ...] = (3, 4, 6, 3),
        layer_type: str = "bottleneck",
        nonlocal_positions: list[list[int]] | tuple[tuple[int, ...], ...] = ((), (), (4,), ()),
        pairwise_function: str = "embedded_gaussian",
        sub_sampling: bool = True,
        nonlocal_reduction: int = 2,
        nonlocal_bias: bool = True,
        use_scale: bool = True,
        batch_norm_eps: float = 1e-5,
        nonlocal_init_std: float = 0.01,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        out_features: list[str] | None = None,
        out_indices: list[int] | None = None,
        **kwargs,
    ):
        hidden_sizes, depths = list(hidden_sizes), list(depths)
        positions = [sorted(int(index) for index in stage) for stage in nonlocal_positions]
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"`image_size` must be a positive int, got {image_size!r}.")
        for name, value in (("num_channels", num_channels), ("embedding_size", embedding_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        if not depths or any(not isinstance(depth, int) or depth < 1 for depth in depths):
            raise ValueError(f"`depths` must hold at least one stage, each with >= 1 block, got {depths}.")
        if len(hidden_sizes) != len(depths) or any(not isinstance(size, int) or size < 1 for size in hidden_sizes):
            raise ValueError(f"`hidden_sizes` ({hidden_sizes}) must hold one positive int per stage of `depths`.")
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"`layer_type` must be one of {LAYER_TYPES}, got {layer_type!r}.")
        if layer_type == "bottleneck" and any(size % 4 for size in hidden_sizes):
            raise ValueError(f"`hidden_sizes` {hidden_sizes} must be multiples of 4 (a bottleneck is a quarter).")
        if len(positions) != len(depths):
            raise ValueError(f"`nonlocal_positions` ({positions}) must hold one list per stage of `depths`.")
        for stage, (indices, depth) in enumerate(zip(positions, depths, strict=True)):
            if len(set(indices)) != len(indices) or any(not 0 <= index < depth for index in indices):
                raise ValueError(
                    f"`nonlocal_positions` {positions}: stage {stage + 1} has {depth} blocks, so its indices must be "
                    f"distinct and in [0, {depth})."
                )
        if pairwise_function not in PAIRWISE_FUNCTIONS:
            raise ValueError(f"`pairwise_function` must be one of {PAIRWISE_FUNCTIONS}, got {pairwise_function!r}.")
        if not isinstance(nonlocal_reduction, int) or nonlocal_reduction < 1:
            raise ValueError(f"`nonlocal_reduction` must be a positive int, got {nonlocal_reduction!r}.")
        for stage, indices in enumerate(positions):
            if indices and hidden_sizes[stage] % nonlocal_reduction:
                raise ValueError(
                    f"`nonlocal_reduction` {nonlocal_reduction} must divide the {hidden_sizes[stage]} channels of "
                    f"stage {stage + 1}, which has non-local blocks."
                )
        for name, value in (("batch_norm_eps", batch_norm_eps), ("nonlocal_init_std", nonlocal_init_std)):
            if value <= 0:
                raise ValueError(f"`{name}` must be positive, got {value}.")
        for name, rate in (("drop_path_rate", drop_path_rate), ("classifier_dropout_prob", classifier_dropout_prob)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size
        self.num_channels = num_channels
        self.embedding_size = embedding_size
        self.hidden_sizes = hidden_sizes
        self.depths = depths
        self.layer_type = layer_type
        self.nonlocal_positions = positions
        self.pairwise_function = pairwise_function
        self.sub_sampling = sub_sampling
        self.nonlocal_reduction = nonlocal_reduction
        self.nonlocal_bias = nonlocal_bias
        self.use_scale = use_scale
        self.batch_norm_eps = batch_norm_eps
        self.nonlocal_init_std = nonlocal_init_std
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        kwargs.pop("stage_names", None)
        self.hidden_size = hidden_sizes[-1]
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(depths) + 1)]
        super().__init__(**kwargs)
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def num_nonlocal_blocks(self) -> int:
        return sum(len(indices) for indices in self.nonlocal_positions)


ZooNonLocalConfig.register_for_auto_class()

__all__ = ["ZooNonLocalConfig"]
