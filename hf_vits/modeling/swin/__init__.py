"""Swin Transformer (Liu et al., ICCV 2021): hierarchical vision transformer with shifted windows."""

from .configuration_swin import ZooSwinConfig
from .image_processing_swin import ZooSwinImageProcessor, ZooSwinImageProcessorPil
from .modeling_swin import ZooSwinBackbone, ZooSwinForImageClassification, ZooSwinModel, ZooSwinPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooSwinBackbone",
    "ZooSwinConfig",
    "ZooSwinForImageClassification",
    "ZooSwinImageProcessor",
    "ZooSwinImageProcessorPil",
    "ZooSwinModel",
    "ZooSwinPreTrainedModel",
]
