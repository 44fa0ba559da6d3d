"""hf-vits: vision transformers and attention-CNNs as first-class Hugging Face `transformers` models.

Importing this package registers every architecture with transformers' Auto classes.
"""

from .modeling.cvt import (
    ZooCvTBackbone,
    ZooCvTConfig,
    ZooCvTForImageClassification,
    ZooCvTImageProcessor,
    ZooCvTImageProcessorPil,
    ZooCvTModel,
)
from .modeling.deit import (
    ZooDeiTConfig,
    ZooDeiTForImageClassification,
    ZooDeiTForImageClassificationWithTeacher,
    ZooDeiTImageProcessor,
    ZooDeiTImageProcessorPil,
    ZooDeiTModel,
)
from .modeling.swin import (
    ZooSwinBackbone,
    ZooSwinConfig,
    ZooSwinForImageClassification,
    ZooSwinImageProcessor,
    ZooSwinImageProcessorPil,
    ZooSwinModel,
)
from .modeling.vit import (
    ZooViTConfig,
    ZooViTForImageClassification,
    ZooViTImageProcessor,
    ZooViTImageProcessorPil,
    ZooViTModel,
)
from .registry import (
    ARCHITECTURES,
    Variant,
    create_config,
    create_image_processor,
    create_model,
    get_variant,
    list_variants,
    register_with_transformers,
)

__version__ = "0.1.0"

register_with_transformers()

__all__ = [
    "ARCHITECTURES",
    "Variant",
    "ZooCvTBackbone",
    "ZooCvTConfig",
    "ZooCvTForImageClassification",
    "ZooCvTImageProcessor",
    "ZooCvTImageProcessorPil",
    "ZooCvTModel",
    "ZooDeiTConfig",
    "ZooDeiTForImageClassification",
    "ZooDeiTForImageClassificationWithTeacher",
    "ZooDeiTImageProcessor",
    "ZooDeiTImageProcessorPil",
    "ZooDeiTModel",
    "ZooSwinBackbone",
    "ZooSwinConfig",
    "ZooSwinForImageClassification",
    "ZooSwinImageProcessor",
    "ZooSwinImageProcessorPil",
    "ZooSwinModel",
    "ZooViTConfig",
    "ZooViTForImageClassification",
    "ZooViTImageProcessor",
    "ZooViTImageProcessorPil",
    "ZooViTModel",
    "create_config",
    "create_image_processor",
    "create_model",
    "get_variant",
    "list_variants",
]
