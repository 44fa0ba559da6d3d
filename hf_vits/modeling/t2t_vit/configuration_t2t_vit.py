"""Configuration of T2T-ViT (Yuan et al., "Tokens-to-Token ViT: Training Vision Transformers from Scratch on
ImageNet", ICCV 2021)."""

from __future__ import annotations

from transformers import PreTrainedConfig

TOKENS_TO_TOKEN_TYPES = ("performer", "transformer")


class ZooT2TViTConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooT2TViTModel`]. The defaults give T2T-ViT-14 at 224 px.

    The Tokens-to-Token (T2T) module cuts the image into overlapping patches ("soft split") and, between two soft
    splits, runs one T2T layer on the small token width and folds the tokens back into an image
    ("re-structurization"); the last soft split is projected linearly to the backbone's width. The backbone is a
    deep-narrow ViT with a class token and a fixed sinusoidal position table.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the position table is laid out for. Other sizes run with `interpolate_pos_encoding=True`,
            which resamples the table's grid bicubically, as the authors' transfer-learning code does, rather than
            recomputing a sinusoid (a fine-tuned checkpoint's table need not be one).
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        tokens_to_token_type (`str`, defaults to `"performer"`):
            The T2T layer: `"performer"` (random-feature attention, the paper's `T2T-ViT-*`) or `"transformer"`
            (softmax attention, the paper's `T2T-ViT_t-*`).
        token_dim (`int`, defaults to 64):
            Width of the tokens inside the T2T module (the paper's "c'" of the T2T layers).
        soft_split_kernel_sizes (`list[int]`, defaults to `[7, 3, 3]`):
            Kernel of each soft split; one T2T layer sits between consecutive soft splits.
        soft_split_strides (`list[int]`, defaults to `[4, 2, 2]`):
            Stride of each soft split (the token grid shrinks by it).
        soft_split_paddings (`list[int]`, defaults to `[2, 1, 1]`):
            Zero padding of each soft split.
        tokens_to_token_mlp_ratio (`float`, defaults to 1.0):
            Hidden width of the T2T layers' MLP relative to `token_dim`.
        performer_kernel_ratio (`float`, defaults to 0.5):
            Number of random features of the Performer relative to `token_dim` (32 for the paper's 64).
        performer_epsilon (`float`, defaults to 1e-8):
            Added to the Performer's normaliser before dividing by it.
        performer_dropout_prob (`float`, defaults to 0.1):
            Dropout after the Performer's attention projection and MLP, fixed at 0.1 in the reference code (its
            transformer T2T layer has none).
        hidden_size (`int`, defaults to 384):
            Width of the backbone's tokens (the paper's "Hidden dim").
        num_hidden_layers (`int`, defaults to 14):
            Number of backbone blocks (the "14" of T2T-ViT-14).
        num_attention_heads (`int`, defaults to 6):
            Heads of the backbone's multi-head self-attention; must divide `hidden_size`.
        mlp_ratio (`float`, defaults to 3.0):
            Hidden width of the backbone MLPs relative to `hidden_size` (the paper's "MLP size" / "Hidden dim").
        qkv_bias (`bool`, defaults to `False`):
            Whether the backbone's query/key/value projection has a bias (it has none in the reference models).
        attention_scale (`float`, *optional*):
            Factor of the backbone's attention scores. `None` means head_dim^-0.5, the reference code's default when
            training; the authors' released weights were trained with hidden_size^-0.5 (the `qk_scale` its model
            functions set for pretrained models), which `original:` conversion sets.
        hidden_act (`str`, defaults to `"gelu"`):
            Activation of every MLP (exact GELU in the reference).
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm (PyTorch's default, which the reference keeps).
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout after the position embedding, the backbone's attention projection and its MLP.
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the backbone's attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last backbone block; block i gets `drop_path_rate * i / (num_hidden_layers
            - 1)`.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of linear layers and the class token.
    """

    model_type = "hfvits_t2t_vit"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        tokens_to_token_type: str = "performer",
        token_dim: int = 64,
        soft_split_kernel_sizes: list[int] | tuple[int, ...] = (7, 3, 3),
        soft_split_strides: list[int] | tuple[int, ...] = (4, 2, 2),
        soft_split_paddings: list[int] | tuple[int, ...] = (2, 1, 1),
        tokens_to_token_mlp_ratio: float = 1.0,
        performer_kernel_ratio: float = 0.5,
        performer_epsilon: float = 1e-8,
        performer_dropout_prob: float = 0.1,
        hidden_size: int = 384,
        num_hidden_layers: int = 14,
        num_attention_heads: int = 6,
        mlp_ratio: float = 3.0,
        qkv_bias: bool = False,
        attention_scale: float | None = None,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-5,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        if tokens_to_token_type not in TOKENS_TO_TOKEN_TYPES:
            raise ValueError(
                f"`tokens_to_token_type` must be one of {TOKENS_TO_TOKEN_TYPES}, got {tokens_to_token_type!r}."
            )
        soft_split = {
            "soft_split_kernel_sizes": list(soft_split_kernel_sizes),
            "soft_split_strides": list(soft_split_strides),
            "soft_split_paddings": list(soft_split_paddings),
        }
        for name, values in soft_split.items():
            if len(values) != len(soft_split["soft_split_kernel_sizes"]) or len(values) < 1:
                raise ValueError(f"`{name}` must have one entry per soft split, got {values}.")
            minimum = 0 if name == "soft_split_paddings" else 1
            if not all(isinstance(v, int) and v >= minimum for v in values):
                raise ValueError(f"`{name}` must hold ints >= {minimum}, got {values}.")
        for name, value in (("token_dim", token_dim), ("hidden_size", hidden_size), ("num_channels", num_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({hidden_size}) must be divisible by `num_attention_heads` ({num_attention_heads})."
            )
        for name, ratio in (
            ("mlp_ratio", mlp_ratio),
            ("tokens_to_token_mlp_ratio", tokens_to_token_mlp_ratio),
            ("performer_kernel_ratio", performer_kernel_ratio),
        ):
            if not ratio > 0:
                raise ValueError(f"`{name}` must be positive, got {ratio}.")
        if int(token_dim * performer_kernel_ratio) < 1:
            raise ValueError(
                f"`performer_kernel_ratio` {performer_kernel_ratio} leaves no random feature for `token_dim` "
                f"{token_dim}."
            )
        if attention_scale is not None and not attention_scale > 0:
            raise ValueError(f"`attention_scale` must be positive or None, got {attention_scale}.")
        if not performer_epsilon >= 0:
            raise ValueError(f"`performer_epsilon` must be >= 0, got {performer_epsilon}.")
        for name, rate in (
            ("performer_dropout_prob", performer_dropout_prob),
            ("hidden_dropout_prob", hidden_dropout_prob),
            ("attention_probs_dropout_prob", attention_probs_dropout_prob),
            ("drop_path_rate", drop_path_rate),
        ):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")
        grid = soft_split_grid(
            (height, width),
            soft_split["soft_split_kernel_sizes"],
            soft_split["soft_split_strides"],
            soft_split["soft_split_paddings"],
        )
        if min(grid) < 1:
            raise ValueError(f"`image_size` {image_size} is too small for the soft splits: no token is left.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.tokens_to_token_type = tokens_to_token_type
        self.token_dim = token_dim
        self.soft_split_kernel_sizes = soft_split["soft_split_kernel_sizes"]
        self.soft_split_strides = soft_split["soft_split_strides"]
        self.soft_split_paddings = soft_split["soft_split_paddings"]
        self.tokens_to_token_mlp_ratio = tokens_to_token_mlp_ratio
        self.performer_kernel_ratio = performer_kernel_ratio
        self.performer_epsilon = performer_epsilon
        self.performer_dropout_prob = performer_dropout_prob
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.attention_scale = attention_scale
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    @property
    def image_size_pair(self) -> tuple[int, int]:
        """The configured resolution as (height, width)."""
        return _as_pair(self.image_size, "image_size")

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, columns) of the token grid that reaches the backbone at the configured resolution."""
        return soft_split_grid(
            self.image_size_pair, self.soft_split_kernel_sizes, self.soft_split_strides, self.soft_split_paddings
        )

    @property
    def scaling(self) -> float:
        """The factor of the backbone's attention scores: `attention_scale`, or head_dim^-0.5 when it is None."""
        if self.attention_scale is not None:
            return self.attention_scale
        return (self.hidden_size // self.num_attention_heads) ** -0.5


def soft_split_grid(
    size: tuple[int, int], kernel_sizes: list[int], strides: list[int], paddings: list[int]
) -> tuple[int, int]:
    """(rows, columns) of tokens after the soft splits of an input of `size` (each one an unfold)."""
    height, width = size
    for kernel, stride, padding in zip(kernel_sizes, strides, paddings, strict=True):
        height = (height + 2 * padding - kernel) // stride + 1
        width = (width + 2 * padding - kernel) // stride + 1
    return height, width


# Copied from hf_vits.modeling.vit.configuration_vit._as_pair
def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


ZooT2TViTConfig.register_for_auto_class()

__all__ = ["ZooT2TViTConfig"]
