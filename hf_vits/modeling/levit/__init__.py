"""LeViT (Graham et al., ICCV 2021): a vision transformer in ConvNet's clothing for fast inference."""

from .configuration_levit import ZooLeViTConfig
from .image_processing_levit import ZooLeViTImageProcessor, ZooLeViTImageProcessorPil
from .modeling_levit import (
    ZooLeViTForImageClassification,
    ZooLeViTForImageClassificationWithTeacher,
    ZooLeViTImageClassifierOutput,
    ZooLeViTModel,
    ZooLeViTPreTrainedModel,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooLeViTConfig",
    "ZooLeViTForImageClassification",
    "ZooLeViTForImageClassificationWithTeacher",
    "ZooLeViTImageClassifierOutput",
    "ZooLeViTImageProcessor",
    "ZooLeViTImageProcessorPil",
    "ZooLeViTModel",
    "ZooLeViTPreTrainedModel",
]
