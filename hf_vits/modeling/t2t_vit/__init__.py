"""T2T-ViT (Yuan et al., ICCV 2021): Tokens-to-Token vision transformer, trained from scratch on ImageNet."""

from .configuration_t2t_vit import ZooT2TViTConfig
from .image_processing_t2t_vit import ZooT2TViTImageProcessor, ZooT2TViTImageProcessorPil
from .modeling_t2t_vit import ZooT2TViTForImageClassification, ZooT2TViTModel, ZooT2TViTPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooT2TViTConfig",
    "ZooT2TViTForImageClassification",
    "ZooT2TViTImageProcessor",
    "ZooT2TViTImageProcessorPil",
    "ZooT2TViTModel",
    "ZooT2TViTPreTrainedModel",
]
