"""Configuration of DeiT (Touvron et al., "Training data-efficient image transformers & distillation through
attention", ICML 2021)."""

from __future__ import annotations

from transformers import PreTrainedConfig


class ZooDeiTConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooDeiTModel`]. The defaults give DeiT-B at 224 px, without distillation token.

    DeiT is the ViT architecture (class token, learned position embeddings, pre-norm blocks) trained with a
    data-efficient recipe; its distilled models add a distillation token, learned from a teacher's
    predictions, and a second linear head on it.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the position embedding is laid out for.
        patch_size (`int`, defaults to 16):
            Side of the square patches.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        hidden_size (`int`, defaults to 768):
            Embedding dimension (192 for DeiT-Ti, 384 for DeiT-S, 768 for DeiT-B).
        num_hidden_layers (`int`, defaults to 12):
            Number of encoder blocks.
        num_attention_heads (`int`, defaults to 12):
            Heads of self-attention (3, 6, 12 for Ti, S, B); must divide `hidden_size`.
        intermediate_size (`int`, defaults to 3072):
            Hidden width of each block's MLP (4 x `hidden_size` in every DeiT).
        hidden_act (`str`, defaults to `"gelu"`):
            Activation of the MLP.
        qkv_bias (`bool`, defaults to `True`):
            Whether the query/key/value projection has a bias.
        layer_norm_eps (`float`, defaults to 1e-6):
            Epsilon of every LayerNorm.
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout after the embeddings, the attention projection and the MLP (0 in the DeiT recipe).
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on the attention probabilities.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 (0.1 in the DeiT training recipe).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout on the token representations before the classifier heads.
        use_distillation_token (`bool`, defaults to `False`):
            Add the distillation token and its head (the "⚗" models). The classifier then returns the mean of
            both heads as `logits`, and each head's logits separately for the distillation loss.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation.
    """

    model_type = "hfvits_deit"

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
        use_distillation_token: bool = False,
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
        self.use_distillation_token = use_distillation_token
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    @property
    def image_size_pair(self) -> tuple[int, int]:
        """The configured resolution as (height, width)."""
        return _as_pair(self.image_size, "image_size")


# Copied from hf_vits.modeling.vit.configuration_vit._as_pair
def _as_pair(value: int | list[int] | tuple[int, int], name: str) -> tuple[int, int]:
    """Return `value` as (height, width), accepting an int for a square."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got {value!r}.")
    return pair


ZooDeiTConfig.register_for_auto_class()

__all__ = ["ZooDeiTConfig"]
