"""Non-local networks (Wang et al., CVPR 2018): a ResNet with non-local (self-attention) blocks after some of its
residual blocks."""

from .configuration_nonlocal_net import ZooNonLocalConfig
from .image_processing_nonlocal_net import ZooNonLocalImageProcessor, ZooNonLocalImageProcessorPil
from .modeling_nonlocal_net import (
    ZooNonLocalBackbone,
    ZooNonLocalForImageClassification,
    ZooNonLocalModel,
    ZooNonLocalPreTrainedModel,
)
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooNonLocalBackbone",
    "ZooNonLocalConfig",
    "ZooNonLocalForImageClassification",
    "ZooNonLocalImageProcessor",
    "ZooNonLocalImageProcessorPil",
    "ZooNonLocalModel",
    "ZooNonLocalPreTrainedModel",
]
