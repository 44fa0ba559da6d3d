"""The training recipe: DeiT's hyper-parameters as defaults, overridable by a YAML file and by flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISTILLATION_TYPES = ("hard", "soft")
BAD_IMAGE_POLICIES = ("fail", "skip")
MIXED_PRECISIONS = ("no", "bf16", "fp16")


def _option(default: Any, help: str, **kwargs) -> Any:
    """A config field whose help text the command line shows."""
    if isinstance(default, (dict, list, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class TrainingConfig:
    """Everything a training run needs. The defaults are DeiT's (Touvron et al. 2021, Table 9), except where a
    field says otherwise; the learning rate is given for a global batch of 512 and scaled linearly."""

    output_dir: str = _option("", "folder for the exported model, checkpoints, metrics, logs and plots")
    model: str = _option("deit-tiny-patch16-224", "zoo variant to train (`hf-vits list`)")
    dataset: str = _option("digits", "digits | imagefolder:PATH | a save_to_disk folder | a Hub dataset id")
    image_size: int | None = _option(None, "input resolution (default: the variant's)")
    patch_size: int | None = _option(None, "patch size (default: the variant's)")
    model_overrides: dict = _option({}, "other config fields of the model, e.g. hidden_size=64 num_hidden_layers=2")

    train_split: str = _option("train", "split to train on")
    eval_split: str | None = _option(None, "split to evaluate on (default: validation, else test, else held out)")
    val_fraction: float = _option(0.1, "share of the training split held out when the dataset has no eval split")
    image_column: str | None = _option(None, "image column (default: the dataset's first Image column)")
    label_column: str | None = _option(None, "label column (default: the first ClassLabel column, else 'label')")
    bad_images: str = _option("fail", "what to do with unreadable images", choices=BAD_IMAGE_POLICIES)

    epochs: int = _option(300, "training epochs")
    batch_size: int = _option(1024, "global batch per optimizer step, split across processes and accumulation")
    eval_batch_size: int | None = _option(None, "global evaluation batch (default: --batch-size)")
    grad_accum_steps: int = _option(1, "gradient accumulation steps per optimizer step")
    lr: float = _option(5e-4, "peak learning rate for a global batch of 512")
    scale_lr: bool = _option(True, "scale the learning rate linearly with the global batch (lr x batch / 512)")
    min_lr: float = _option(1e-5, "learning rate at the end of the cosine decay")
    warmup_lr: float = _option(1e-6, "learning rate at the first step of the warm-up")
    warmup_epochs: float = _option(5.0, "linear warm-up length in epochs")
    weight_decay: float = _option(0.05, "AdamW weight decay (none on norms, biases, position embeddings, tokens)")
    adam_betas: tuple = _option((0.9, 0.999), "AdamW betas")
    adam_eps: float = _option(1e-8, "AdamW epsilon")
    clip_grad_norm: float | None = _option(None, "clip the gradient norm to this value (DeiT: no clipping)")
    drop_path: float = _option(0.1, "stochastic depth rate of the last block (the model config's drop_path_rate)")

    train_interpolation: str = _option("bicubic", "interpolation of the training crops")
    crop_scale: tuple = _option((0.08, 1.0), "RandomResizedCrop area range")
    crop_ratio: tuple = _option((0.75, 4 / 3), "RandomResizedCrop aspect-ratio range")
    hflip: float = _option(0.5, "horizontal flip probability")
    randaugment_ops: int = _option(2, "RandAugment operations per image (0 disables it)")
    randaugment_magnitude: int = _option(9, "RandAugment magnitude (of 31 bins)")
    random_erasing: float = _option(0.25, "RandomErasing probability")
    repeated_augmentation: int = _option(3, "copies of each image per epoch, each augmented differently (1: off)")
    mixup_alpha: float = _option(0.8, "MixUp Beta(alpha, alpha) (0 disables MixUp)")
    cutmix_alpha: float = _option(1.0, "CutMix Beta(alpha, alpha) (0 disables CutMix)")
    mixup_prob: float = _option(1.0, "probability of mixing a batch")
    mixup_switch_prob: float = _option(0.5, "probability of CutMix rather than MixUp when both are on")
    label_smoothing: float = _option(0.1, "label smoothing")

    ema: bool = _option(False, "keep an exponential moving average of the weights, evaluated separately")
    ema_decay: float = _option(0.99996, "EMA decay per optimizer step")

    teacher: str | None = _option(None, "distillation teacher: an AutoModelForImageClassification folder or timm:NAME")
    teacher_checkpoint: str | None = _option(None, "local weights file for a timm:NAME teacher (else downloaded)")
    distillation_type: str = _option("hard", "DeiT distillation with a teacher", choices=DISTILLATION_TYPES)
    distillation_alpha: float = _option(0.5, "weight of the distillation term")
    distillation_tau: float = _option(1.0, "temperature of soft distillation")

    seed: int = _option(0, "seed of the initialisation, data order and augmentation")
    mixed_precision: str = _option("no", "autocast dtype", choices=MIXED_PRECISIONS)
    cpu: bool = _option(False, "train on the CPU even when an accelerator is present")
    num_workers: int = _option(0, "data-loading worker processes per training process")
    checkpoint_every_steps: int = _option(0, "also checkpoint every N optimizer steps (0: at epoch ends only)")
    keep_checkpoints: int = _option(2, "how many of the newest checkpoints to keep")
    log_every_steps: int = _option(10, "log the training loss to TensorBoard every N optimizer steps")
    resume: str | None = _option(None, "checkpoint folder to continue from (e.g. OUTPUT_DIR/checkpoints/last)")
    overwrite: bool = _option(False, "replace an existing output folder")

    def __post_init__(self) -> None:
        self.adam_betas = tuple(self.adam_betas)
        self.crop_scale = tuple(self.crop_scale)
        self.crop_ratio = tuple(self.crop_ratio)
        self.model_overrides = dict(self.model_overrides)
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError naming the first field that has an impossible value."""
        for name in ("epochs", "batch_size", "grad_accum_steps", "repeated_augmentation", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError(f"`eval_batch_size` must be at least 1, got {self.eval_batch_size}.")
        for name in (
            "val_fraction",
            "hflip",
            "random_erasing",
            "mixup_prob",
            "mixup_switch_prob",
            "drop_path",
            "distillation_alpha",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {getattr(self, name)}.")
        for name in ("lr", "distillation_tau", "ema_decay"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing}.")
        for name, allowed in (
            ("bad_images", BAD_IMAGE_POLICIES),
            ("distillation_type", DISTILLATION_TYPES),
            ("mixed_precision", MIXED_PRECISIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {', '.join(allowed)}, got {getattr(self, name)!r}.")

    @property
    def mixing(self) -> bool:
        """Whether batches are mixed (MixUp or CutMix), which makes the targets soft."""
        return self.mixup_prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def to_dict(self) -> dict:
        """The config as plain YAML/JSON-friendly values."""
        values = dataclasses.asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_sources(cls, yaml_file: str | Path | None = None, **overrides) -> TrainingConfig:
        """DeiT's defaults, then the YAML file's values, then `overrides` (those that are not None)."""
        values = read_yaml(yaml_file) if yaml_file else {}
        given = {key: value for key, value in overrides.items() if value is not None}
        # Model overrides add up: the file's, then the flags'.
        if "model_overrides" in given:
            given["model_overrides"] = {**values.get("model_overrides", {}), **given["model_overrides"]}
        values.update(given)
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            source = f"{yaml_file}: " if yaml_file else ""
            raise ValueError(f"{source}unknown training option(s) {', '.join(unknown)}.")
        return cls(**values)


def read_yaml(path: str | Path) -> dict:
    """The mapping in a YAML recipe file, or a ValueError that says what is wrong with it."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such config file.")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a training config must be a mapping of option: value.")
    return {key.replace("-", "_"): value for key, value in values.items()}
