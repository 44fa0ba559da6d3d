"""CCNet (Huang et al., ICCV 2019): a ResNet with recurrent criss-cross attention, for segmentation and
classification."""

from .configuration_ccnet import ZooCCNetConfig
from .image_processing_ccnet import ZooCCNetImageProcessor, ZooCCNetImageProcessorPil
from .modeling_ccnet import (
    ZooCCNetForImageClassification,
    ZooCCNetForSemanticSegmentation,
    ZooCCNetModel,
    ZooCCNetPreTrainedModel,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooCCNetConfig",
    "ZooCCNetForImageClassification",
    "ZooCCNetForSemanticSegmentation",
    "ZooCCNetImageProcessor",
    "ZooCCNetImageProcessorPil",
    "ZooCCNetModel",
    "ZooCCNetPreTrainedModel",
]
