"""AdamW with DeiT's weight-decay exclusions, its linearly scaled learning rate, and warm-up then cosine decay."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from .config import TrainingConfig

REFERENCE_BATCH = 512


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """The parameters that take no weight decay: the model's own answer (norms, biases, position embeddings,
    tokens), or every parameter of at most one dimension for a model that does not say."""
    if hasattr(model, "no_weight_decay"):
        return set(model.no_weight_decay())
    return {name for name, param in model.named_parameters() if param.ndim <= 1}


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: the decayed parameters, and those listed by `no_weight_decay_names`."""
    exempt = no_weight_decay_names(model)
    decayed, undecayed = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (undecayed if name in exempt else decayed).append(param)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": undecayed, "weight_decay": 0.0}]


def peak_learning_rate(config: TrainingConfig) -> float:
    """DeiT's rule: the base rate is for a global batch of 512 and scales linearly with it."""
    return config.lr * config.batch_size / REFERENCE_BATCH if config.scale_lr else config.lr


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, start: float, peak: float, end: float) -> float:
    """The learning rate at `step`: linear from `start` to `peak` over the warm-up, then cosine down to `end`."""
    if step < warmup_steps:
        return start + (peak - start) * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(
    model: nn.Module, config: TrainingConfig, steps_per_epoch: int
) -> tuple[torch.optim.AdamW, LambdaLR]:
    """AdamW over `parameter_groups` and its per-step schedule over the whole run."""
    peak = peak_learning_rate(config)
    optimizer = torch.optim.AdamW(
        parameter_groups(model, config.weight_decay), lr=peak, betas=config.adam_betas, eps=config.adam_eps
    )
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        return warmup_cosine(step, warmup_steps, total_steps, config.warmup_lr, peak, config.min_lr) / peak

    return optimizer, LambdaLR(optimizer, factor)
