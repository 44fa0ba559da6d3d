"""Attention-Augmented ResNets (Bello et al., ICCV 2019): ResNets whose 3x3 convolutions concatenate convolutional
and multi-head self-attention feature maps, with 2D relative position logits."""

from .configuration_aanet import ZooAANetConfig
from .image_processing_aanet import ZooAANetImageProcessor, ZooAANetImageProcessorPil
from .modeling_aanet import (
    ZooAANetAugmentedConv,
    ZooAANetBackbone,
    ZooAANetForImageClassification,
    ZooAANetModel,
    ZooAANetPreTrainedModel,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooAANetAugmentedConv",
    "ZooAANetBackbone",
    "ZooAANetConfig",
    "ZooAANetForImageClassification",
    "ZooAANetImageProcessor",
    "ZooAANetImageProcessorPil",
    "ZooAANetModel",
    "ZooAANetPreTrainedModel",
]
