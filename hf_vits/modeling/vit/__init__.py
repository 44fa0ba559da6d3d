"""Vision Transformer (Dosovitskiy et al., ICLR 2021)."""

from .configuration_vit import ZooViTConfig
from .image_processing_vit import ZooViTImageProcessor, ZooViTImageProcessorPil
from .modeling_vit import ZooViTForImageClassification, ZooViTModel, ZooViTPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooViTConfig",
    "ZooViTForImageClassification",
    "ZooViTImageProcessor",
    "ZooViTImageProcessorPil",
    "ZooViTModel",
    "ZooViTPreTrainedModel",
]
