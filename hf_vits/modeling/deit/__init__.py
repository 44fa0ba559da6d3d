"""DeiT: data-efficient image transformers and distillation through attention (Touvron et al., ICML 2021)."""

from .configuration_deit import ZooDeiTConfig
from .image_processing_deit import ZooDeiTImageProcessor, ZooDeiTImageProcessorPil
from .modeling_deit import (
    ZooDeiTForImageClassification,
    ZooDeiTForImageClassificationWithTeacher,
    ZooDeiTImageClassifierOutput,
    ZooDeiTModel,
    ZooDeiTPreTrainedModel,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooDeiTConfig",
    "ZooDeiTForImageClassification",
    "ZooDeiTForImageClassificationWithTeacher",
    "ZooDeiTImageClassifierOutput",
    "ZooDeiTImageProcessor",
    "ZooDeiTImageProcessorPil",
    "ZooDeiTModel",
    "ZooDeiTPreTrainedModel",
]
