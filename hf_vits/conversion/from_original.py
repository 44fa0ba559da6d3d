"""Conversion from the checkpoints of the papers' own repositories: `original:<variant>` with a checkpoint file.

The variant (e.g. `swin-tiny-patch4-window7-224`, `cvt-13-224`) gives the config, since the original checkpoints
carry none; the number of classes is read off the checkpoint's head. Each architecture's key table lives in its own
module (`swin.py`, `cvt.py`). Where a reference implementation that reads the original layout is importable (timm
reads the original Swin checkpoints through its `checkpoint_filter_fn`), the converted model is verified against
it; nothing importable reads the original CvT layout, so those conversions are checked for keys and shapes only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import PreTrainedConfig

from ..modeling.ccnet import ZooCCNetConfig
from ..modeling.cvt import ZooCvTConfig
from ..modeling.levit import ZooLeViTConfig
from ..modeling.san import ZooSANConfig
from ..modeling.t2t_vit import ZooT2TViTConfig
from ..registry import create_config, create_image_processor, get_variant, list_variants
from . import ccnet, cvt, levit, san, swin, t2t_vit
from .common import ConversionError, ConvertedModel, KeyTable, read_checkpoint
from .from_timm import label_kwargs, verify_against_timm

logger = logging.getLogger(__name__)

# Our architectures whose papers' checkpoint layouts convert, with the repository each layout comes from.
REPOSITORIES = {
    "swin": "microsoft/Swin-Transformer",
    "cvt": "microsoft/CvT",
    "t2t_vit": "yitu-opensource/T2T-ViT",
    "san": "hszhao/SAN",
    "ccnet": ccnet.REPOSITORY,
    "levit": "facebookresearch/LeViT",
}

# Where each layout keeps its classifier, from which the number of classes is read.
_HEAD_WEIGHTS = {
    "swin": "head.weight",
    "cvt": "head.weight",
    "t2t_vit": "head.weight",
    "san": "fc.weight",
    "levit": "head.l.weight",
}


def supported_variants() -> list[str]:
    """The variant names `original:<variant>` accepts."""
    return [variant.name for name in REPOSITORIES for variant in list_variants(name)]


def canonical_variant(variant: str) -> str:
    """`variant`, or its 224-pixel entry when named without a resolution (`cvt-13` is `cvt-13-224`), as the
    papers name their models."""
    supported = supported_variants()
    if variant not in supported and f"{variant}-224" in supported:
        return f"{variant}-224"
    return variant


def original_architecture(variant: str) -> str:
    """The architecture of `variant`, or a ConversionError listing the variants with an original layout."""
    try:
        architecture = get_variant(variant).architecture.name
    except KeyError as error:
        raise ConversionError(f"{error.args[0]} Supported: {', '.join(supported_variants())}.") from None
    if architecture not in REPOSITORIES:
        raise ConversionError(
            f"hf-vits has no converter for the original checkpoints of {variant!r} ({architecture}); supported: "
            f"{', '.join(supported_variants())}."
        )
    return architecture


def original_config(variant: str, state_dict: dict[str, torch.Tensor]) -> PreTrainedConfig:
    """The config of `variant` with the checkpoint's number of classes (0 for a checkpoint without head)."""
    if original_architecture(variant) == "ccnet":
        return ccnet.original_config(variant, state_dict)
    head = state_dict.get(_HEAD_WEIGHTS[original_architecture(variant)])
    overrides = label_kwargs(0 if head is None else head.shape[0])
    if original_architecture(variant) == "t2t_vit":
        overrides.update(t2t_vit.released_config_overrides(get_variant(variant).config))
    if original_architecture(variant) == "levit":
        overrides["use_distillation_head"] = "head_dist.l.weight" in state_dict
    return create_config(variant, **overrides)


def original_key_table(config: PreTrainedConfig) -> KeyTable:
    """The key table from the original repository's layout onto our image classifier for `config`."""
    if isinstance(config, ZooCvTConfig):
        return cvt.cvt_key_table(config, "original")
    if isinstance(config, ZooSANConfig):
        return san.san_key_table(config)
    if isinstance(config, ZooT2TViTConfig):
        return t2t_vit.t2t_vit_key_table(config)
    if isinstance(config, ZooLeViTConfig):
        return levit.levit_key_table(config, "original")
    return swin.swin_key_table(config, "original")


def convert_original_state_dict(
    variant: str, state_dict: dict[str, torch.Tensor], source_name: str = "original checkpoint"
) -> ConvertedModel:
    """Our image classifier and processor for `variant` with the weights of an original-layout `state_dict`."""
    from transformers import AutoModelForImageClassification

    if original_architecture(variant) == "ccnet":
        return ccnet.convert_original_state_dict(variant, state_dict, source_name)
    config = original_config(variant, state_dict)
    model = AutoModelForImageClassification.from_config(config)
    converted = original_key_table(config).convert(state_dict, model.state_dict(), source_name)
    if isinstance(config, ZooT2TViTConfig):
        t2t_vit.check_position_table(state_dict, source_name)
    elif isinstance(config, ZooLeViTConfig):
        levit.check_original_buffers(config, state_dict, source_name)
    elif not isinstance(config, (ZooCvTConfig, ZooSANConfig)):
        swin.check_original_buffers(config, state_dict, source_name)
    model.load_state_dict(converted, strict=True)
    return ConvertedModel(model.eval(), create_image_processor(variant))


def verify_against_original_reference(model, state_dict: dict[str, torch.Tensor]) -> float | None:
    """The largest |Δlogits| between our model and timm's SwinTransformer loading the same original checkpoint
    with its own filter; None when timm is not installed, and for CvT, which nothing importable reads."""
    if isinstance(model.config, ZooCvTConfig):
        logger.warning("No importable implementation reads original CvT checkpoints: keys and shapes were checked.")
        return None
    if isinstance(model.config, ZooCCNetConfig):
        # The authors' CCNet needs the CUDA-only InPlaceABNSync.
        logger.warning("No importable implementation reads original CCNet checkpoints: keys and shapes were checked.")
        return None
    if isinstance(model.config, ZooT2TViTConfig):
        logger.warning("No importable implementation reads T2T-ViT checkpoints: keys and shapes were checked.")
        return None
    if isinstance(model.config, ZooLeViTConfig):
        logger.warning(
            "No importable implementation reads the authors' LeViT checkpoints: keys, shapes and the stored "
            "attention-bias indices were checked."
        )
        return None
    if isinstance(model.config, ZooSANConfig):
        # The authors' SAN runs only on CUDA, with CuPy kernels.
        logger.warning("No importable implementation reads original SAN checkpoints: keys and shapes were checked.")
        return None
    try:
        from timm.models.swin_transformer import checkpoint_filter_fn
    except ImportError:
        logger.warning("timm is not installed: the conversion of the original checkpoint is not verified.")
        return None
    timm_model = swin.to_timm_model(model.config)
    timm_model.load_state_dict(checkpoint_filter_fn(state_dict, timm_model), strict=True)
    return verify_against_timm(model, timm_model)


def load_original(variant: str, checkpoint: str | Path | None, verify: bool = True) -> ConvertedModel:
    """Convert the original repository's checkpoint file `checkpoint` of `variant`."""
    variant = canonical_variant(variant)
    original_architecture(variant)
    if checkpoint is None:
        raise ConversionError(
            f"original:{variant} converts a checkpoint file of {REPOSITORIES[original_architecture(variant)]}; "
            "pass it with --checkpoint FILE (checkpoint=...)."
        )
    reader = t2t_vit.read_original_checkpoint if original_architecture(variant) == "t2t_vit" else read_checkpoint
    state_dict = reader(checkpoint)
    converted = convert_original_state_dict(variant, state_dict, f"checkpoint {checkpoint}")
    if verify:
        converted.max_abs_diff = verify_against_original_reference(converted.model, state_dict)
    return converted
