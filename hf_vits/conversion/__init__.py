"""Checkpoint converters into hf-vits models, verified against the reference implementation, and back (see
DESIGN.md, "Conversion").

One module per source family (`from_timm`, `from_transformers`, `from_original`: the papers' own repositories),
each dispatching by architecture, and `resnet` for the ImageNet ResNets (timm, torchvision) that the attention-CNNs'
trunks start from; the layouts of the hierarchical models live in one module per architecture
(`swin`, `cvt`), and `common` holds the key tables, checkpoint reading and output writing they all share."""

from __future__ import annotations

from pathlib import Path

from .common import (
    VERIFY_TOLERANCE,
    ConversionError,
    ConvertedModel,
    KeyRule,
    KeyTable,
    check_output_dir,
    read_checkpoint,
    write_model_folder,
)
from .from_original import load_original, supported_variants
from .from_timm import (
    convert_timm_model,
    load_timm,
    timm_config,
    timm_key_table,
    to_timm_model,
    to_timm_state_dict,
    unsupported_timm_features,
    verify_against_timm,
)
from .from_transformers import (
    convert_transformers_model,
    load_transformers,
    to_transformers_model,
    to_transformers_state_dict,
    transformers_class_name,
    transformers_key_table,
    verify_against_transformers,
)
from .resnet import TRUNK_ARCHITECTURES, load_resnet, load_resnet_trunk

SOURCE_KINDS = ("timm", "transformers", "original", "torchvision")


def parse_source(source: str) -> tuple[str, str]:
    """Split `timm:<timm model name>`, `transformers:<folder or hub id>`, `original:<variant>` or
    `torchvision:<resnet>` into (kind, name)."""
    kind, separator, name = source.partition(":")
    if not separator or kind not in SOURCE_KINDS or not name:
        raise ValueError(
            f"Unknown source {source!r}: expected 'timm:<timm model name>' (e.g. timm:deit_tiny_patch16_224), "
            "'transformers:<folder or hub id>' (e.g. transformers:google/vit-base-patch16-224), "
            "'original:<variant>' with a checkpoint file of the paper's repository (e.g. "
            "original:swin-tiny-patch4-window7-224 --checkpoint swin_tiny_patch4_window7_224.pth), or a timm or "
            "torchvision ResNet with the variant whose trunk it becomes (e.g. torchvision:resnet50 --variant "
            "nonlocal-resnet50-5block)."
        )
    return kind, name


def load_source(
    source: str,
    checkpoint: str | Path | None = None,
    verify: bool = True,
    model_kwargs: dict | None = None,
    variant: str | None = None,
) -> ConvertedModel:
    """Convert `source` in memory: the model, its processor and the measured difference from the reference.
    `checkpoint` applies to timm and torchvision sources (optional) and original ones (required); `model_kwargs`
    (arguments of `timm.create_model`) to timm sources only; `variant` names the Non-local, CCNet or AA-ResNet
    variant whose trunk a timm or torchvision ResNet becomes."""
    kind, name = parse_source(source)
    if variant is not None:
        if kind not in ("timm", "torchvision"):
            raise ValueError(f"A variant is given only with a timm or torchvision ResNet source, not {kind}:.")
        if model_kwargs:
            raise ValueError("A ResNet source for a trunk takes its config from the variant; pass no model_kwargs.")
        return load_resnet(kind, name, variant, checkpoint=checkpoint, verify=verify)
    if kind == "torchvision":
        raise ValueError(
            f"torchvision:{name} converts into the trunk of a Non-local, CCNet or AA-ResNet variant: name it with "
            "--variant (e.g. --variant nonlocal-resnet50-5block)."
        )
    if kind == "timm":
        return load_timm(name, checkpoint=checkpoint, model_kwargs=model_kwargs, verify=verify)
    if kind == "original":
        if model_kwargs:
            raise ValueError("An original source takes its config from the variant; pass no model_kwargs.")
        return load_original(name, checkpoint, verify=verify)
    if checkpoint is not None or model_kwargs:
        raise ValueError(
            "A transformers source carries its own weights and config; pass no checkpoint or model_kwargs."
        )
    return load_transformers(name, verify=verify)


def convert(
    source: str,
    output_dir: str | Path,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    verify: bool = True,
    model_kwargs: dict | None = None,
    variant: str | None = None,
) -> Path:
    """Convert `timm:<name>`, `transformers:<folder or hub id>`, `original:<variant>` (with `checkpoint`) or a timm or
    torchvision ResNet into the trunk of `variant` into a complete hf-vits folder at `output_dir`, refusing to write
    when the converted model's outputs differ from the reference's by more than 1e-4."""
    output_dir = check_output_dir(output_dir, overwrite)
    converted = load_source(source, checkpoint=checkpoint, verify=verify, model_kwargs=model_kwargs, variant=variant)
    return write_model_folder(converted.model, converted.processor, output_dir, overwrite=overwrite)


__all__ = [
    "SOURCE_KINDS",
    "TRUNK_ARCHITECTURES",
    "VERIFY_TOLERANCE",
    "ConversionError",
    "ConvertedModel",
    "KeyRule",
    "KeyTable",
    "convert",
    "convert_timm_model",
    "convert_transformers_model",
    "load_original",
    "load_resnet",
    "load_resnet_trunk",
    "load_source",
    "load_timm",
    "load_transformers",
    "parse_source",
    "read_checkpoint",
    "supported_variants",
    "timm_config",
    "timm_key_table",
    "to_timm_model",
    "to_timm_state_dict",
    "to_transformers_model",
    "to_transformers_state_dict",
    "transformers_class_name",
    "transformers_key_table",
    "unsupported_timm_features",
    "verify_against_timm",
    "verify_against_transformers",
    "write_model_folder",
]
