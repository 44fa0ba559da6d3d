"""LR-Net (Hu et al., ICCV 2019): a ResNet whose spatial convolutions are local relation layers."""

from .configuration_lrnet import ZooLRNetConfig
from .image_processing_lrnet import ZooLRNetImageProcessor, ZooLRNetImageProcessorPil
from .modeling_lrnet import (
    ZooLRNetBackbone,
    ZooLRNetForImageClassification,
    ZooLRNetLocalRelation,
    ZooLRNetModel,
    ZooLRNetPreTrainedModel,
    local_relation,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooLRNetBackbone",
    "ZooLRNetConfig",
    "ZooLRNetForImageClassification",
    "ZooLRNetImageProcessor",
    "ZooLRNetImageProcessorPil",
    "ZooLRNetLocalRelation",
    "ZooLRNetModel",
    "ZooLRNetPreTrainedModel",
    "local_relation",
]
