"""DeiT's data augmentation with torchvision.transforms.v2, and the soft-target loss it calls for.

Per image: RandomResizedCrop, horizontal flip, RandAugment, normalisation, RandomErasing. Per batch: MixUp or
CutMix, with label smoothing folded into the resulting soft targets. Evaluation does not come through here:
it uses the model's own image processor, so what is evaluated is what the pipeline sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F
from torchvision.transforms import v2

from .config import TrainingConfig


def train_transform(
    config: TrainingConfig, resolution: tuple[int, int], mean: Sequence[float], std: Sequence[float]
) -> v2.Compose:
    """The per-image training transform: a PIL image in, a normalised float tensor of `resolution` out."""
    interpolation = v2.InterpolationMode(config.train_interpolation)
    steps = [
        v2.ToImage(),
        v2.RandomResizedCrop(
            resolution, scale=config.crop_scale, ratio=config.crop_ratio, interpolation=interpolation, antialias=True
        ),
    ]
    if config.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(config.hflip))
    if config.randaugment_ops > 0:
        # Geometric operations fill with the mean colour, which normalisation maps to zero, as timm's DeiT recipe
        # does; they interpolate bilinearly, the best that torchvision's rotations and shears of tensors offer.
        fill = [round(255 * channel) for channel in mean]
        steps.append(
            v2.RandAugment(
                num_ops=config.randaugment_ops,
                magnitude=config.randaugment_magnitude,
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=fill,
            )
        )
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
    if config.random_erasing > 0:
        # Per-pixel Gaussian noise in the erased box, DeiT's "pixel" mode.
        steps.append(v2.RandomErasing(p=config.random_erasing, value="random"))
    return v2.Compose(steps)


class BatchMixer:
    """MixUp or CutMix on a batch (torchvision), returning soft targets with label smoothing folded in."""

    def __init__(self, config: TrainingConfig, num_classes: int):
        self.num_classes = num_classes
        self.prob = config.mixup_prob
        self.label_smoothing = config.label_smoothing
        mixers, weights = [], []
        if config.mixup_alpha > 0:
            mixers.append(v2.MixUp(alpha=config.mixup_alpha, num_classes=num_classes))
            weights.append(1 - config.mixup_switch_prob if config.cutmix_alpha > 0 else 1.0)
        if config.cutmix_alpha > 0:
            mixers.append(v2.CutMix(alpha=config.cutmix_alpha, num_classes=num_classes))
            weights.append(config.mixup_switch_prob if config.mixup_alpha > 0 else 1.0)
        self.mix = v2.RandomChoice(mixers, p=weights)

    def __call__(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.rand(()) < self.prob:
            pixel_values, targets = self.mix(pixel_values, labels)
        else:
            targets = F.one_hot(labels, self.num_classes).to(pixel_values.dtype)
        # Smoothing the mixed one-hot targets equals mixing smoothed ones: both are linear.
        return pixel_values, targets * (1 - self.label_smoothing) + self.label_smoothing / self.num_classes


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy against class ids (with label smoothing) or against soft targets from a BatchMixer."""
    if targets.is_floating_point():
        return F.cross_entropy(logits.float(), targets)
    return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
