"""Stand-Alone Self-Attention (Ramachandran et al., NeurIPS 2019): ResNets whose spatial convolutions are local
self-attention."""

from .configuration_sasa import ZooSASAConfig
from .image_processing_sasa import ZooSASAImageProcessor, ZooSASAImageProcessorPil
from .modeling_sasa import ZooSASAForImageClassification, ZooSASAModel, ZooSASAPreTrainedModel
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "ZooSASAConfig",
    "ZooSASAForImageClassification",
    "ZooSASAImageProcessor",
    "ZooSASAImageProcessorPil",
    "ZooSASAModel",
    "ZooSASAPreTrainedModel",
]
