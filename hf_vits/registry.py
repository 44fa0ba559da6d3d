"""The one table of the zoo's architectures and their named variants, and their registration with
transformers' Auto classes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from types import ModuleType

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForSemanticSegmentation,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.image_processing_utils import BaseImageProcessor

from .modeling import aanet, ccnet, cvt, deit, levit, lrnet, nonlocal_net, san, sasa, swin, t2t_vit, vit

BACKENDS = ("torchvision", "pil")
IMAGENET_NUM_CLASSES = 1000


@dataclass(frozen=True)
class Architecture:
    """One architecture of the zoo: its classes, its paper and its variants."""

    name: str
    title: str
    paper: str
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    classification_class: type[PreTrainedModel]
    processor_classes: dict[str, type[BaseImageProcessor]]
    variants: dict[str, dict] = field(repr=False)
    backbone_class: type[PreTrainedModel] | None = None
    """The stage-wise feature extractor for detection and segmentation heads (AutoBackbone), if any."""
    segmentation_class: type[PreTrainedModel] | None = None
    """The semantic segmenter (AutoModelForSemanticSegmentation), if any."""

    @property
    def model_type(self) -> str:
        return self.config_class.model_type


@dataclass(frozen=True)
class Variant:
    """A named configuration from a paper, with the paper's figures for it (1000-class ImageNet head)."""

    name: str
    architecture: Architecture = field(repr=False)
    config: dict
    processor: dict
    params_m: float
    gflops: float | None
    top1: float | None
    resolution: int
    source: str
    task: str = "image-classification"
    """The paper's task for this variant: "image-classification" (an ImageNet-1k classifier) or
    "semantic-segmentation" (`create_model` builds the segmenter, with the variant's own labels)."""


def _architecture(name: str, title: str, paper: str, module: ModuleType, prefix: str) -> Architecture:
    return Architecture(
        name=name,
        title=title,
        paper=paper,
        config_class=getattr(module, f"Zoo{prefix}Config"),
        model_class=getattr(module, f"Zoo{prefix}Model"),
        classification_class=getattr(module, f"Zoo{prefix}ForImageClassification"),
        processor_classes={
            "torchvision": getattr(module, f"Zoo{prefix}ImageProcessor"),
            "pil": getattr(module, f"Zoo{prefix}ImageProcessorPil"),
        },
        variants=module.VARIANTS,
        backbone_class=getattr(module, f"Zoo{prefix}Backbone", None),
        segmentation_class=getattr(module, f"Zoo{prefix}ForSemanticSegmentation", None),
    )


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        _architecture(
            "vit",
            "Vision Transformer (ViT)",
            "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale, ICLR 2021",
            vit,
            "ViT",
        ),
        _architecture(
            "deit",
            "Data-efficient image Transformer (DeiT)",
            "Touvron et al., Training data-efficient image transformers & distillation through attention, ICML 2021",
            deit,
            "DeiT",
        ),
        _architecture(
            "swin",
            "Swin Transformer",
            "Liu et al., Swin Transformer: Hierarchical Vision Transformer using Shifted Windows, ICCV 2021",
            swin,
            "Swin",
        ),
        _architecture(
            "cvt",
            "Convolutional vision Transformer (CvT)",
            "Wu et al., CvT: Introducing Convolutions to Vision Transformers, ICCV 2021",
            cvt,
            "CvT",
        ),
        _architecture(
            "t2t_vit",
            "Tokens-to-Token ViT (T2T-ViT)",
            "Yuan et al., Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet, ICCV 2021",
            t2t_vit,
            "T2TViT",
        ),
        _architecture(
            "levit",
            "LeViT",
            "Graham et al., LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference, ICCV 2021",
            levit,
            "LeViT",
        ),
        _architecture(
            "sasa",
            "Stand-Alone Self-Attention (SASA) ResNet",
            "Ramachandran et al., Stand-Alone Self-Attention in Vision Models, NeurIPS 2019",
            sasa,
            "SASA",
        ),
        _architecture(
            "san",
            "Self-Attention Network (SAN)",
            "Zhao, Jia and Koltun, Exploring Self-attention for Image Recognition, CVPR 2020",
            san,
            "SAN",
        ),
        _architecture(
            "ccnet",
            "CCNet: Criss-Cross Network",
            "Huang et al., CCNet: Criss-Cross Attention for Semantic Segmentation, ICCV 2019",
            ccnet,
            "CCNet",
        ),
        _architecture(
            "aanet",
            "Attention-Augmented ResNet (AA-ResNet)",
            "Bello et al., Attention Augmented Convolutional Networks, ICCV 2019",
            aanet,
            "AANet",
        ),
        _architecture(
            "nonlocal_net",
            "Non-local Neural Network (Non-local ResNet)",
            "Wang, Girshick, Gupta and He, Non-local Neural Networks, CVPR 2018",
            nonlocal_net,
            "NonLocal",
        ),
        _architecture(
            "lrnet",
            "Local Relation Network (LR-Net)",
            "Hu, Zhang, Xie and Lin, Local Relation Networks for Image Recognition, ICCV 2019",
            lrnet,
            "LRNet",
        ),
    )
}

VARIANTS: dict[str, Variant] = {
    name: Variant(
        name=name,
        architecture=arch,
        config=spec["config"],
        processor=spec["processor"],
        task=spec.get("task", "image-classification"),
        **spec["paper"],
    )
    for arch in ARCHITECTURES.values()
    for name, spec in arch.variants.items()
}


def register_with_transformers() -> None:
    """Register every architecture with AutoConfig, AutoModel, AutoModelForImageClassification,
    AutoImageProcessor (both backends) and, where it has one, AutoBackbone. Safe to call more than once."""
    for arch in ARCHITECTURES.values():
        AutoConfig.register(arch.model_type, arch.config_class, exist_ok=True)
        AutoModel.register(arch.config_class, arch.model_class, exist_ok=True)
        AutoModelForImageClassification.register(arch.config_class, arch.classification_class, exist_ok=True)
        AutoImageProcessor.register(arch.config_class, image_processor_classes=arch.processor_classes, exist_ok=True)
        if arch.backbone_class is not None:
            AutoBackbone.register(arch.config_class, arch.backbone_class, exist_ok=True)
        if arch.segmentation_class is not None:
            AutoModelForSemanticSegmentation.register(arch.config_class, arch.segmentation_class, exist_ok=True)


def list_variants(architecture: str | None = None) -> list[Variant]:
    """All named variants, or those of one architecture, in table order."""
    if architecture is not None and architecture not in ARCHITECTURES:
        raise KeyError(f"Unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}.")
    return [v for v in VARIANTS.values() if architecture is None or v.architecture.name == architecture]


def get_variant(name: str) -> Variant:
    """The variant called `name`, or a KeyError that suggests the closest names."""
    if name in VARIANTS:
        return VARIANTS[name]
    close = [known for known in VARIANTS if known.startswith(name)][:3] or difflib.get_close_matches(
        name, VARIANTS, n=3
    )
    hint = f" Did you mean {', '.join(close)}?" if close else " `hf-vits list` shows them all."
    raise KeyError(f"Unknown variant {name!r}.{hint}")


def create_config(variant: str, **overrides) -> PreTrainedConfig:
    """The config of a named variant, with any field overridden (e.g. `num_labels`, `image_size`). Without
    `num_labels` or `id2label` it has the classes of the paper's model and figures: ImageNet's 1000, or those
    the variant names (a segmentation variant's dataset)."""
    spec = get_variant(variant)
    config = dict(spec.config)
    if {"num_labels", "id2label"} & overrides.keys():
        config = {key: value for key, value in config.items() if key not in ("num_labels", "id2label")}
    named = {"num_labels", "id2label"} & (overrides.keys() | config.keys())
    labels = {} if named else {"num_labels": IMAGENET_NUM_CLASSES}
    return spec.architecture.config_class(**{**labels, **config, **overrides})


def create_model(variant: str, attn_implementation: str | None = None, **config_overrides) -> PreTrainedModel:
    """A randomly initialised image classifier of a named variant (see `list_variants`), or its semantic segmenter
    for a segmentation variant."""
    config = create_config(variant, **config_overrides)
    if get_variant(variant).task == "semantic-segmentation":
        return AutoModelForSemanticSegmentation.from_config(config, attn_implementation=attn_implementation)
    return AutoModelForImageClassification.from_config(config, attn_implementation=attn_implementation)


def create_image_processor(
    variant: str, backend: str = "torchvision", image_size: int | None = None, **overrides
) -> BaseImageProcessor:
    """The evaluation image processor of a named variant, optionally scaled to another `image_size` with the
    same crop ratio, and with any processor field overridden."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown image-processor backend {backend!r}; expected one of {BACKENDS}.")
    spec = get_variant(variant)
    kwargs = dict(spec.processor)
    if image_size is not None:
        kwargs = _scaled_processor_kwargs(kwargs, image_size)
    return spec.architecture.processor_classes[backend](**{**kwargs, **overrides})


def _scaled_processor_kwargs(kwargs: dict, image_size: int) -> dict:
    """Processor sizes for `image_size` that keep the variant's ratio of resize to crop."""
    size = kwargs["size"]
    if "shortest_edge" in size:
        ratio = size["shortest_edge"] / kwargs["crop_size"]["height"]
        return {
            **kwargs,
            "size": {"shortest_edge": int(image_size * ratio)},
            "crop_size": {"height": image_size, "width": image_size},
        }
    return {**kwargs, "size": {"height": image_size, "width": image_size}}
