"""The Accelerate trainer of the zoo: data, augmentation, the loop, distillation, checkpoints and the export."""

from .config import TrainingConfig
from .trainer import TrainingResult, evaluate_model, train

__all__ = ["TrainingConfig", "TrainingResult", "evaluate_model", "train"]
