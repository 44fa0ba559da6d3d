"""DeiT's distillation: a frozen teacher, and the hard or soft distillation loss on the student's distillation head.

Students with a distillation token (DeiT ⚗) return `cls_logits` and `distillation_logits`: the class head
learns from the labels and the distillation head from the teacher. Any other student distils through its
single head, which then carries both terms (classic knowledge distillation).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import ImageClassifierOutput

from .augmentation import classification_loss
from .config import TrainingConfig

TIMM_PREFIX = "timm:"


class Teacher(nn.Module):
    """A frozen classifier that sees the student's batch converted to its own normalisation and resolution."""

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        resolution: tuple[int, int] | None,
        student_mean: Sequence[float],
        student_std: Sequence[float],
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.resolution = resolution
        # Undo the student's normalisation and apply the teacher's, in one affine map per channel.
        student_mean, student_std, mean, std = (
            torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)
            for values in (student_mean, student_std, mean, std)
        )
        self.register_buffer("scale", student_std / std, persistent=False)
        self.register_buffer("shift", (student_mean - mean) / std, persistent=False)

    def train(self, mode: bool = True) -> Teacher:
        """The teacher stays in evaluation mode (no dropout, no stochastic depth)."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixel_values = pixel_values * self.scale + self.shift
        if self.resolution is not None and tuple(pixel_values.shape[-2:]) != tuple(self.resolution):
            pixel_values = F.interpolate(pixel_values, size=self.resolution, mode="bicubic", align_corners=False)
        output = self.model(pixel_values)
        return output.logits if hasattr(output, "logits") else output


def load_teacher(
    spec: str,
    checkpoint: str | None,
    label_names: list[str],
    student_mean: Sequence[float],
    student_std: Sequence[float],
) -> Teacher:
    """The teacher named by `spec`: `timm:NAME` (weights from `checkpoint`, else timm's download), or a folder or
    Hub id that `AutoModelForImageClassification` loads. Its classes must be the dataset's."""
    if spec.startswith(TIMM_PREFIX):
        model, mean, std, resolution = _timm_teacher(spec.removeprefix(TIMM_PREFIX), checkpoint, len(label_names))
    else:
        if checkpoint is not None:
            raise ValueError("--teacher-checkpoint is for timm:NAME teachers; a folder holds its own weights.")
        model, mean, std, resolution = _transformers_teacher(spec, label_names)
    return Teacher(model, mean, std, resolution, student_mean, student_std)


def _transformers_teacher(spec: str, label_names: list[str]) -> tuple[nn.Module, list, list, tuple | None]:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from .loaders import processor_resolution

    try:
        model = AutoModelForImageClassification.from_pretrained(spec)
    except OSError as error:
        raise ValueError(f"Teacher {spec}: not a model folder or Hub id ({error}).") from error
    if model.config.num_labels != len(label_names):
        raise ValueError(f"Teacher {spec} has {model.config.num_labels} classes; the dataset has {len(label_names)}.")
    names = [model.config.id2label[index] for index in range(model.config.num_labels)]
    if names != label_names and not all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        raise ValueError(f"Teacher {spec} has the classes {names[:5]}..., the dataset {label_names[:5]}....")
    try:
        processor = AutoImageProcessor.from_pretrained(spec)
    except OSError as error:
        raise ValueError(f"Teacher {spec} has no image processor to tell its normalisation ({error}).") from error
    return model, processor.image_mean, processor.image_std, processor_resolution(processor)


def _timm_teacher(name: str, checkpoint: str | None, num_labels: int) -> tuple[nn.Module, list, list, tuple]:
    try:
        import timm
    except ImportError as error:
        raise ValueError("A timm teacher needs timm: pip install 'hf-vits[timm]'.") from error
    if name not in timm.list_models():
        raise ValueError(f"Teacher timm:{name}: no such timm model.")
    if checkpoint is None:
        model = timm.create_model(name, pretrained=True)
    else:
        if not Path(checkpoint).is_file():
            raise ValueError(f"{checkpoint}: no such teacher checkpoint.")
        model = timm.create_model(name, pretrained=False, num_classes=num_labels)
        try:
            timm.models.load_checkpoint(model, checkpoint)
        except RuntimeError as error:  # torch's load_state_dict, on missing, unexpected or misshapen weights
            raise ValueError(
                f"{checkpoint} does not fit timm:{name} with the dataset's {num_labels} classes: {error}"
            ) from error
    if model.num_classes != num_labels:
        raise ValueError(f"Teacher timm:{name} has {model.num_classes} classes; the dataset has {num_labels}.")
    data_config = timm.data.resolve_data_config(model=model)
    return model, data_config["mean"], data_config["std"], tuple(data_config["input_size"][-2:])


def distillation_loss(
    outputs: ImageClassifierOutput, targets: torch.Tensor, teacher_logits: torch.Tensor, config: TrainingConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, label term, distillation term) of DeiT's loss: (1 - alpha) x CE(class head, targets) + alpha x the
    distillation term on the distillation head, CE against the teacher's argmax (hard) or tau^2 x KL between
    the tempered distributions (soft, Hinton et al.)."""
    distillation_logits = getattr(outputs, "distillation_logits", None)
    if distillation_logits is None:
        label_logits = student_logits = outputs.logits
    else:
        label_logits, student_logits = outputs.cls_logits, distillation_logits
    label_term = classification_loss(label_logits, targets, config.label_smoothing)
    teacher_logits = teacher_logits.float()
    if config.distillation_type == "hard":
        distill_term = F.cross_entropy(student_logits.float(), teacher_logits.argmax(dim=-1))
    else:
        tau = config.distillation_tau
        distill_term = F.kl_div(
            F.log_softmax(student_logits.float() / tau, dim=-1),
            F.log_softmax(teacher_logits / tau, dim=-1),
            reduction="batchmean",
            log_target=True,
        ) * (tau * tau)
    alpha = config.distillation_alpha
    return (1 - alpha) * label_term + alpha * distill_term, label_term, distill_term
