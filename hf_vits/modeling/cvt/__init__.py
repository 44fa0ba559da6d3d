"""CvT (Wu et al., ICCV 2021): vision transformer with convolutional token embeddings and projections."""

from .configuration_cvt import ZooCvTConfig
from .image_processing_cvt import ZooCvTImageProcessor, ZooCvTImageProcessorPil
from .modeling_cvt import ZooCvTBackbone, ZooCvTForImageClassification, ZooCvTModel, ZooCvTPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooCvTBackbone",
    "ZooCvTConfig",
    "ZooCvTForImageClassification",
    "ZooCvTImageProcessor",
    "ZooCvTImageProcessorPil",
    "ZooCvTModel",
    "ZooCvTPreTrainedModel",
]
