"""Configuration of the Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021)."""

from __future__ import annotations

from transformers import PreTrainedConfig

POOLING_TYPES = ("cls", "mean")


def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


class ZooViTConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooViTModel`]. The defaults give ViT-B/16 at 224 px.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the position embedding is laid out for.
        patch_size (`int`, defaults to 16):
            Side of the square patches, the "16" of "16x16 words".
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        hidden_size (`int`, defaults to 768):
            Width D of the token embeddings (the paper's "Hidden size D").
        num_hidden_layers (`int`, defaults to 12):
            Number of encoder blocks (the paper's "Layers").
        num_attention_heads (`int`, defaults to 12):
            Heads of multi-head self-attention (the paper's "Heads"); must divide `hidden_size`.
        intermediate_size (`int`, defaults to 3072):
            Hidden width of the MLP in each block (the paper's "MLP size").
        hidden_act (`str`, defaults to `"gelu"`):
            Activation of the MLP (exact GELU in the paper).
        qkv_bias (`bool`, defaults to `True`):
            Whether the query/key/value projection has a bias.
        layer_norm_eps (`float`, defaults to 1e-6):
            Epsilon of every LayerNorm (1e-6 in the reference JAX and timm models, 1e-12 in transformers' port).
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout after the embeddings, the attention projection and the MLP.
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block; block i gets `drop_path_rate * i / (num_hidden_layers - 1)`.
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the pooled representation before the classifier.
        use_class_token (`bool`, defaults to `True`):
            Whether a learned class token is prepended to the patch tokens.
        pooling (`str`, defaults to `"cls"`):
            `"cls"` takes the class token as the image representation, `"mean"` averages the patch tokens.
        use_fc_norm (`bool`, *optional*):
            Apply the final LayerNorm after pooling instead of before it. `None` means "after" for mean pooling
            and "before" for class-token pooling, as timm does.
        representation_size (`int`, *optional*):
            Width of the pre-logits layer (linear + tanh) of the original ImageNet-21k models; `None` for none.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of linear layers and position embeddings.
    """

    model_type = "hfvits_vit"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        patch_size: int = 16,
        num_channels: int = 3,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        qkv_bias: bool = True,
        layer_norm_eps: float = 1e-6,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        use_class_token: bool = True,
        pooling: str = "cls",
        use_fc_norm: bool | None = None,
        representation_size: int | None = None,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        if not isinstance(patch_size, int) or patch_size <= 0:
            raise ValueError(f"`patch_size` must be a positive int, got {patch_size!r}.")
        if height % patch_size or width % patch_size:
            raise ValueError(f"`image_size` {image_size} is not divisible by `patch_size` {patch_size}.")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({hidden_size}) must be divisible by `num_attention_heads` ({num_attention_heads})."
            )
        if pooling not in POOLING_TYPES:
            raise ValueError(f"`pooling` must be one of {POOLING_TYPES}, got {pooling!r}.")
        if pooling == "cls" and not use_class_token:
            raise ValueError("`pooling='cls'` needs `use_class_token=True`; use `pooling='mean'` without it.")
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
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.qkv_bias = qkv_bias
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.use_class_token = use_class_token
        self.pooling = pooling
        self.use_fc_norm = use_fc_norm
        self.representation_size = representation_size
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    @property
    def image_size_pair(self) -> tuple[int, int]:
        """The configured resolution as (height, width)."""
        return _as_pair(self.image_size, "image_size")

    @property
    def fc_norm(self) -> bool:
        """Whether the final LayerNorm is applied after pooling (timm's `fc_norm`)."""
        return self.pooling == "mean" if self.use_fc_norm is None else self.use_fc_norm


ZooViTConfig.register_for_auto_class()

__all__ = ["ZooViTConfig"]
