"""SAN (Zhao et al., CVPR 2020): a ResNet with pairwise or patchwise local self-attention instead of convolutions."""

from .configuration_san import ZooSANConfig
from .image_processing_san import ZooSANImageProcessor, ZooSANImageProcessorPil
from .modeling_san import ZooSANForImageClassification, ZooSANModel, ZooSANPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooSANConfig",
    "ZooSANForImageClassification",
    "ZooSANImageProcessor",
    "ZooSANImageProcessorPil",
    "ZooSANModel",
    "ZooSANPreTrainedModel",
]
