"""Configuration of the Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using
Shifted Windows", ICCV 2021)."""

from __future__ import annotations

from transformers import BackboneConfigMixin, PreTrainedConfig


class ZooSwinConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a [`ZooSwinModel`]. The defaults give Swin-T at 224 px (window 7).

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the model is built for. Swin has no absolute position embedding and takes other sizes, but
            a stage whose map at this resolution is no larger than the window attends over the whole map, and its
            relative position bias table is sized for that smaller window (as in the reference implementation).
        patch_size (`int`, defaults to 4):
            Side of the square patches of the patch partition ("4" in "patch4").
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        embed_dim (`int`, defaults to 96):
            Channel number C of the first stage (the paper's C: 96 for T and S, 128 for B, 192 for L); stage i has
            C * 2**i channels.
        depths (`list[int]`, defaults to `[2, 2, 6, 2]`):
            Number of Swin blocks in each stage (the paper's layer numbers).
        num_heads (`list[int]`, defaults to `[3, 6, 12, 24]`):
            Attention heads in each stage; one entry per stage, and each must divide that stage's channels.
        window_size (`int`, defaults to 7):
            Side M of the square windows of (shifted) window attention; shifted blocks shift by M // 2.
        mlp_ratio (`float`, defaults to 4.0):
            Hidden width of each block's MLP relative to the stage's channels (the paper's expansion ratio 4).
        qkv_bias (`bool`, defaults to `True`):
            Whether the query/key/value projection has a bias.
        hidden_act (`str`, defaults to `"gelu"`):
            Activation of the MLP.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm (PyTorch's default, used by the reference code).
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout after the embeddings, the attention projection and the MLP.
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks of all stages (the paper trains
            Swin-T, S and B on ImageNet-1k with 0.2, 0.3 and 0.5).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled representation before the classifier.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of linear layers and relative position biases.
        out_features (`list[str]`, *optional*):
            Stages [`ZooSwinBackbone`] returns, among `"stem"`, `"stage1"`, ... (default: the last stage).
        out_indices (`list[int]`, *optional*):
            The same stages by index into `stage_names` (0 is the stem).
    """

    model_type = "hfvits_swin"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        patch_size: int = 4,
        num_channels: int = 3,
        embed_dim: int = 96,
        depths: list[int] | tuple[int, ...] = (2, 2, 6, 2),
        num_heads: list[int] | tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-5,
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
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ValueError(f"`patch_size` must be a positive int, got {patch_size!r}.")
        if height % patch_size or width % patch_size:
            raise ValueError(f"`image_size` {image_size} is not divisible by `patch_size` {patch_size}.")
        depths, num_heads = list(depths), list(num_heads)
        if not depths or any(not isinstance(depth, int) or depth <= 0 for depth in depths):
            raise ValueError(f"`depths` must be a non-empty list of positive ints, got {depths}.")
        if len(num_heads) != len(depths):
            raise ValueError(
                f"`depths` ({depths}) and `num_heads` ({num_heads}) must have one entry per stage; they have "
                f"{len(depths)} and {len(num_heads)}."
            )
        for stage, heads in enumerate(num_heads):
            channels = embed_dim * 2**stage
            if not isinstance(heads, int) or heads <= 0 or channels % heads:
                raise ValueError(
                    f"`num_heads` {num_heads}: stage {stage + 1} has {channels} channels (`embed_dim` {embed_dim} "
                    f"x 2**{stage}), which {heads!r} heads do not divide."
                )
        if not isinstance(window_size, int) or window_size <= 0:
            raise ValueError(f"`window_size` must be a positive int, got {window_size!r}.")
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
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.embed_dim = embed_dim
        self.depths = depths
        self.num_heads = num_heads
        self.window_size = window_size
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.initializer_range = initializer_range
        # Derived, for code that reads the width of the image representation (pooler_output) from the config.
        kwargs.pop("hidden_size", None)
        kwargs.pop("stage_names", None)
        self.hidden_size = embed_dim * 2 ** (len(depths) - 1)
        self.stage_names = ["stem"] + [f"stage{index}" for index in range(1, len(depths) + 1)]
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


ZooSwinConfig.register_for_auto_class()

__all__ = ["ZooSwinConfig"]
