"""Configuration of LeViT (Graham et al., "LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference",
ICCV 2021)."""

from __future__ import annotations

from transformers import PreTrainedConfig


class ZooLeViTConfig(PreTrainedConfig):
    r"""
    Configuration of a [`ZooLeViTModel`]. The defaults give LeViT-128S at 224 px.

    Per-stage fields are lists with one entry per stage (three in the paper). Between two stages a "shrink"
    attention block halves the token grid: its queries are taken on every other token and its output has the next
    stage's width; it has `hidden_sizes[i] // key_dim` heads and its values are `shrink_attention_ratio` times as wide
    as its keys, as in the paper.

    Args:
        image_size (`int` or `tuple[int, int]`, defaults to 224):
            Resolution the attention-bias tables are laid out for. Other input sizes work: the tables are resampled
            (bicubic, over the grid of offsets) to the token grids of the input.
        num_channels (`int`, defaults to 3):
            Channels of the input image.
        hidden_sizes (`list[int]`, defaults to `[128, 256, 384]`):
            Width of each stage's tokens (the paper's C). The stem's convolutions have C/8, C/4, C/2 and C channels of
            the first stage's width C.
        num_heads (`list[int]`, defaults to `[4, 6, 8]`):
            Attention heads of each stage's blocks (the paper's N).
        depths (`list[int]`, defaults to `[2, 3, 4]`):
            Attention + MLP blocks of each stage (LeViT-128S: 2 + 3 + 4).
        key_dim (`int`, defaults to 16):
            Width of each head's queries and keys (the paper's D).
        attention_ratio (`float`, defaults to 2.0):
            Width of each head's values relative to `key_dim` in the stages' attention blocks.
        mlp_ratio (`float`, defaults to 2.0):
            Hidden width of the stages' MLPs relative to the stage's width.
        shrink_attention_ratio (`float`, defaults to 4.0):
            Width of each head's values relative to `key_dim` in the shrink attention blocks.
        shrink_mlp_ratio (`float`, defaults to 2.0):
            Hidden width of the MLP after each shrink attention, relative to the next stage's width.
        hidden_act (`str`, defaults to `"hardswish"`):
            Activation of the stem, of the MLPs and before each attention's output projection.
        batch_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every BatchNorm.
        drop_path_rate (`float`, defaults to 0.0):
            Stochastic depth rate of the last block, linear from 0 over all blocks (the shrink blocks included). The
            reference code drops every residual branch with the same rate instead (0.1 for LeViT-384).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout between each head's BatchNorm and its linear layer.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the truncated normal initialisation of the heads' linear layers.
        use_distillation_head (`bool`, defaults to `True`):
            Whether the classifier has a second, distillation head trained on a teacher's predictions (the paper's
            models do); at inference the two heads' logits are averaged.
        fused (`bool`, defaults to `False`):
            Whether every convolution or linear layer and its BatchNorm are folded into one layer with a bias, and
            the attention scale 1 / sqrt(key_dim) into the query projections: the inference form that
            `ZooLeViTPreTrainedModel.fuse()` produces. A fused model has no BatchNorm left and is for inference; on
            a CPU its sdpa attention runs the fused kernel (queries and keys zero-padded to the values' width).
    """

    model_type = "hfvits_levit"

    def __init__(
        self,
        image_size: int | list[int] | tuple[int, int] = 224,
        num_channels: int = 3,
        hidden_sizes: list[int] | tuple[int, ...] = (128, 256, 384),
        num_heads: list[int] | tuple[int, ...] = (4, 6, 8),
        depths: list[int] | tuple[int, ...] = (2, 3, 4),
        key_dim: int = 16,
        attention_ratio: float = 2.0,
        mlp_ratio: float = 2.0,
        shrink_attention_ratio: float = 4.0,
        shrink_mlp_ratio: float = 2.0,
        hidden_act: str = "hardswish",
        batch_norm_eps: float = 1e-5,
        drop_path_rate: float = 0.0,
        classifier_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        use_distillation_head: bool = True,
        fused: bool = False,
        **kwargs,
    ):
        height, width = _as_pair(image_size, "image_size")
        stages = {"hidden_sizes": list(hidden_sizes), "num_heads": list(num_heads), "depths": list(depths)}
        if not stages["depths"]:
            raise ValueError("`depths` must have at least one stage.")
        for name, values in stages.items():
            if len(values) != len(stages["depths"]):
                raise ValueError(
                    f"`{name}` ({values}) must have one entry per stage, like `depths` ({stages['depths']})."
                )
            if any(not isinstance(value, int) or value < 1 for value in values):
                raise ValueError(f"`{name}` must hold ints >= 1, got {values}.")
        if stages["hidden_sizes"][0] % 8:
            raise ValueError(
                f"`hidden_sizes[0]` ({stages['hidden_sizes'][0]}) must be divisible by 8: the stem's convolutions "
                "have 1/8, 1/4 and 1/2 of it."
            )
        if not isinstance(key_dim, int) or key_dim < 1:
            raise ValueError(f"`key_dim` must be an int >= 1, got {key_dim!r}.")
        for stage, size in enumerate(stages["hidden_sizes"][:-1]):
            if size < key_dim:
                raise ValueError(
                    f"`hidden_sizes` {stages['hidden_sizes']}: stage {stage + 1}'s width {size} is below `key_dim` "
                    f"({key_dim}), which leaves its shrink attention no head."
                )
        for name, ratio in (
            ("attention_ratio", attention_ratio),
            ("mlp_ratio", mlp_ratio),
            ("shrink_attention_ratio", shrink_attention_ratio),
            ("shrink_mlp_ratio", shrink_mlp_ratio),
        ):
            if ratio <= 0 or int(ratio * key_dim) < 1:
                raise ValueError(f"`{name}` must be positive and give layers at least one channel, got {ratio}.")
        for name, rate in (("drop_path_rate", drop_path_rate), ("classifier_dropout_prob", classifier_dropout_prob)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate}.")
        if batch_norm_eps <= 0:
            raise ValueError(f"`batch_norm_eps` must be positive, got {batch_norm_eps}.")

        self.image_size = image_size if isinstance(image_size, int) else [height, width]
        self.num_channels = num_channels
        self.hidden_sizes = stages["hidden_sizes"]
        self.num_heads = stages["num_heads"]
        self.depths = stages["depths"]
        self.key_dim = key_dim
        self.attention_ratio = attention_ratio
        self.mlp_ratio = mlp_ratio
        self.shrink_attention_ratio = shrink_attention_ratio
        self.shrink_mlp_ratio = shrink_mlp_ratio
        self.hidden_act = hidden_act
        self.batch_norm_eps = batch_norm_eps
        self.drop_path_rate = drop_path_rate
        self.classifier_dropout_prob = classifier_dropout_prob
        self.initializer_range = initializer_range
        self.use_distillation_head = use_distillation_head
        self.fused = fused
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


ZooLeViTConfig.register_for_auto_class()

__all__ = ["ZooLeViTConfig"]
