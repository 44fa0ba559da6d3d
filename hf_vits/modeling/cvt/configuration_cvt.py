"""Configuration of CvT (Wu et al., "CvT: Introducing Convolutions to Vision Transformers", ICCV 2021)."""

from __future__ import annotations

from transformers import BackboneConfigMixin, PreTrainedConfig


class ZooCvTConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ZooCvTModel`]. The defaults give CvT-13 at 224 px.

    Every per-stage field is a list with one entry per stage (three in the paper).

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the model is evaluated at. CvT has no position embedding and takes any size.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        patch_sizes (`list[int]`, defaults to `[7, 3, 3]`):
            Kernel of each stage's convolutional token embedding.
        patch_strides (`list[int]`, defaults to `[4, 2, 2]`):
            Stride of each stage's convolutional token embedding (the token map shrinks by it).
        patch_paddings (`list[int]`, defaults to `[2, 1, 1]`):
            Zero padding of each stage's convolutional token embedding.
        embed_dims (`list[int]`, defaults to `[64, 192, 384]`):
            Channels of each stage's tokens (the paper's "dim").
        num_heads (`list[int]`, defaults to `[1, 3, 6]`):
            Attention heads of each stage; each must divide the stage's channels.
        depths (`list[int]`, defaults to `[1, 2, 10]`):
            Transformer blocks in each stage (CvT-13: 1 + 2 + 10).
        mlp_ratio (`float`, defaults to 4.0):
            Hidden width of each block's MLP relative to its stage's channels.
        qkv_bias (`bool`, defaults to `True`):
            Whether the linear query/key/value projections have a bias.
        kernel_qkv (`int`, defaults to 3):
            Kernel of the depthwise convolutional projection of queries, keys and values.
        stride_q (`int`, defaults to 1):
            Stride of the queries' convolutional projection.
        stride_kv (`int`, defaults to 2):
            Stride of the keys' and values' convolutional projection: the "squeezed" projection that attends each
            query to a quarter of the tokens.
        padding_q (`int`, defaults to 1):
            Padding of the queries' convolutional projection.
        padding_kv (`int`, defaults to 1):
            Padding of the keys' and values' convolutional projection.
        use_class_token (`bool`, defaults to `True`):
            Whether the last stage carries a class token, whose output the classifier reads (the paper's models do);
            without it the classifier reads the average of the last stage's tokens.
        hidden_act (`str`, defaults to `"quick_gelu"`):
            Activation of the MLP. The reference code uses QuickGELU, x * sigmoid(1.702 x); transformers' port uses
            exact GELU, so models converted from it carry `"gelu"`.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm (the reference's).
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of the BatchNorms of the convolutional projections.
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout after the token embeddings, the attention projection and the MLP.
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks of all stages (the reference code
            ramps a rate per stage instead, 0.1 in the last stage of its ImageNet recipes).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled representation before the classifier.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of linear layers and the class token.
        out_features (`list[str]`, *optional*):
            Stages [`ZooCvTBackbone`] returns, among `"stem"` (the first token embedding), `"stage1"`, ...
            (default: the last stage).
        out_indices (`list[int]`, *optional*):
            The same stages by index into `stage_names`.
    """

    model_type = "hfvits_cvt"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        patch_sizes: list[int] | tuple[int, ...] = (7, 3, 3),
        patch_strides: list[int] | tuple[int, ...] = (4, 2, 2),
        patch_paddings: list[int] | tuple[int, ...] = (2, 1, 1),
        embed_dims: list[int] | tuple[int, ...] = (64, 192, 384),
        num_heads: list[int] | tuple[int, ...] = (1, 3, 6),
        depths: list[int] | tuple[int, ...] = (1, 2, 10),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        kernel_qkv: int = 3,
        stride_q: int = 1,
        stride_kv: int = 2,
        padding_q: int = 1,
        padding_kv: int = 1,
        use_class_token: bool = True,
        hidden_act: str = "quick_gelu",
        layer_norm_eps: float = 1e-5,
        batch_norm_eps: float = 1e-5,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        out_features: list[str] | None = None,
        out_indices: list[int] | None = None,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        stages = {
            "patch_sizes": list(patch_sizes),
            "patch_strides": list(patch_strides),
            "patch_paddings": list(patch_paddings),
            "embed_dims": list(embed_dims),
            "num_heads": list(num_heads),
            "depths": list(depths),
        }
        if not stages["depths"]:
            raise ValueError("`depths` must have at least one stage.")
        for name, values in stages.items():
            if len(values) != len(stages["depths"]):
                raise ValueError(
                    f"`{name}` ({values}) must have one entry per stage, like `depths` ({stages['depths']})."
                )
            smallest = 0 if name == "patch_paddings" else 1
            if any(not isinstance(value, int) or value < smallest for value in values):
                raise ValueError(f"`{name}` must hold ints >= {smallest}, got {values}.")
        for stage, (dim, heads) in enumerate(zip(stages["embed_dims"], stages["num_heads"], strict=True)):
            if dim % heads:
                raise ValueError(
                    f"`num_heads` {stages['num_heads']}: stage {stage + 1}'s {heads} heads do not divide its "
                    f"{dim} channels (`embed_dims` {stages['embed_dims']})."
                )
        for name, value, smallest in (
            ("kernel_qkv", kernel_qkv, 1),
            ("stride_q", stride_q, 1),
            ("stride_kv", stride_kv, 1),
            ("padding_q", padding_q, 0),
            ("padding_kv", padding_kv, 0),
        ):
            if not isinstance(value, int) or value < smallest:
                raise ValueError(f"`{name}` must be an int >= {smallest}, got {value!r}.")
        if mlp_ratio <= 0:
            raise ValueError(f"`mlp_ratio` must be positive, got {mlp_ratio}.")
        for name, rate in (
            ("hidden_dropout_prob", hidden_dropout_prob),
            ("attention_probs_dropout_prob", attention_probs_dropout_prob),
            ("drop_path_rate", drop_path_rate),
            ("classifier_dropout_prob", classifier_dropout_prob),
        ):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.patch_sizes = stages["patch_sizes"]
        self.patch_strides = stages["patch_strides"]
        self.patch_paddings = stages["patch_paddings"]
        self.embed_dims = stages["embed_dims"]
        self.num_heads = stages["num_heads"]
        self.depths = stages["depths"]
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.kernel_qkv = kernel_qkv
        self.stride_q = stride_q
        self.stride_kv = stride_kv
        self.padding_q = padding_q
        self.padding_kv = padding_kv
        self.use_class_token = use_class_token
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.batch_norm_eps = batch_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.initializer_range = initializer_range
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        kwargs.pop("stage_names", None)
        self.hidden_size = self.embed_dims[-1]
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(self.depths) + 1)]
        super().__init__(**kwargs)
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)

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


ZooCvTConfig.register_for_auto_class()

__all__ = ["ZooCvTConfig"]
