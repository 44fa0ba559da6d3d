"""hf-vits: vision transformers and attention-CNNs as first-class Hugging Face `transformers` models.

Importing this package registers every architecture with transformers' Auto classes.
"""

from .modeling.aanet import (
    ZooAANetBackbone,
    ZooAANetConfig,
    ZooAANetForImageClassification,
    ZooAANetImageProcessor,
    ZooAANetImageProcessorPil,
    ZooAANetModel,
)
from .modeling.ccnet import (
    ZooCCNetConfig,
    ZooCCNetForImageClassification,
    ZooCCNetForSemanticSegmentation,
    ZooCCNetImageProcessor,
    ZooCCNetImageProcessorPil,
    ZooCCNetModel,
)
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
from .modeling.levit import (
    ZooLeViTConfig,
    ZooLeViTForImageClassification,
    ZooLeViTForImageClassificationWithTeacher,
    ZooLeViTImageProcessor,
    ZooLeViTImageProcessorPil,
    ZooLeViTModel,
)
from .modeling.lrnet import (
    ZooLRNetBackbone,
    ZooLRNetConfig,
    ZooLRNetForImageClassification,
    ZooLRNetImageProcessor,
    ZooLRNetImageProcessorPil,
    ZooLRNetModel,
)
from .modeling.nonlocal_net import (
    ZooNonLocalBackbone,
    ZooNonLocalConfig,
    ZooNonLocalForImageClassification,
    ZooNonLocalImageProcessor,
    ZooNonLocalImageProcessorPil,
    ZooNonLocalModel,
)
from .modeling.san import (
    ZooSANConfig,
    ZooSANForImageClassification,
    ZooSANImageProcessor,
    ZooSANImageProcessorPil,
    ZooSANModel,
)
from .modeling.sasa import (
    ZooSASAConfig,
    ZooSASAForImageClassification,
    ZooSASAImageProcessor,
    ZooSASAImageProcessorPil,
    ZooSASAModel,
)
from .modeling.swin import (
    ZooSwinBackbone,
    ZooSwinConfig,
    ZooSwinForImageClassification,
    ZooSwinImageProcessor,
    ZooSwinImageProcessorPil,
    ZooSwinModel,
)
from .modeling.t2t_vit import (
    ZooT2TViTConfig,
    ZooT2TViTForImageClassification,
    ZooT2TViTImageProcessor,
    ZooT2TViTImageProcessorPil,
    ZooT2TViTModel,
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
    "ZooAANetBackbone",
    "ZooAANetConfig",
    "ZooAANetForImageClassification",
    "ZooAANetImageProcessor",
    "ZooAANetImageProcessorPil",
    "ZooAANetModel",
    "ZooCCNetConfig",
    "ZooCCNetForImageClassification",
    "ZooCCNetForSemanticSegmentation",
    "ZooCCNetImageProcessor",
    "ZooCCNetImageProcessorPil",
    "ZooCCNetModel",
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
    "ZooLeViTConfig",
    "ZooLeViTForImageClassification",
    "ZooLeViTForImageClassificationWithTeacher",
    "ZooLeViTImageProcessor",
    "ZooLeViTImageProcessorPil",
    "ZooLeViTModel",
    "ZooLRNetBackbone",
    "ZooLRNetConfig",
    "ZooLRNetForImageClassification",
    "ZooLRNetImageProcessor",
    "ZooLRNetImageProcessorPil",
    "ZooLRNetModel",
    "ZooNonLocalBackbone",
    "ZooNonLocalConfig",
    "ZooNonLocalForImageClassification",
    "ZooNonLocalImageProcessor",
    "ZooNonLocalImageProcessorPil",
    "ZooNonLocalModel",
    "ZooSANConfig",
    "ZooSANForImageClassification",
    "ZooSANImageProcessor",
    "ZooSANImageProcessorPil",
    "ZooSANModel",
    "ZooSASAConfig",
    "ZooSASAForImageClassification",
    "ZooSASAImageProcessor",
    "ZooSASAImageProcessorPil",
    "ZooSASAModel",
    "ZooSwinBackbone",
    "ZooSwinConfig",
    "ZooSwinForImageClassification",
    "ZooSwinImageProcessor",
    "ZooSwinImageProcessorPil",
    "ZooSwinModel",
    "ZooT2TViTConfig",
    "ZooT2TViTForImageClassification",
    "ZooT2TViTImageProcessor",
    "ZooT2TViTImageProcessorPil",
    "ZooT2TViTModel",
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
