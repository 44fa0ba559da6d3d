"""What a training run tells a model card, read from the `metrics.json` the trainer leaves in its output folder.

The keys read (all optional except that the file must hold a JSON object), as `hf_vits.training` writes them:

- `dataset`, `eval_split`, `train_images`, `eval_images`: the data;
- `config`: the run's hyper-parameters (the `TrainingConfig` as a dict), and `peak_lr`, the learning rate after
  scaling with the batch;
- `final`: the last epoch's metrics (`eval_top1`, `eval_top5`, `eval_loss`, `best_eval_top1`, ...) with `epochs`
  and `train_seconds`; without it, the last entry of the `epochs` list;
- `hardware` (a description of the machine), else `num_processes` and the config's `mixed_precision`.

The curves are the PNG files under `plots/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
PLOTS_FOLDER = "plots"
# Config fields that hold paths of the training machine: an export publishes metrics.json without them.
LOCAL_PATH_KEYS = frozenset({"output_dir", "resume"})

# Fields of the training config that say where and how a run was executed rather than what it learned from:
# the card leaves them out (paths on the training machine, logging cadence, data-column plumbing).
_NOT_RECIPE = LOCAL_PATH_KEYS | frozenset(
    {
        "overwrite",
        "num_workers",
        "checkpoint_every_steps",
        "keep_checkpoints",
        "log_every_steps",
        "model",
        "dataset",
        "train_split",
        "eval_split",
        "image_column",
        "label_column",
        "bad_images",
        "cpu",
    }
)

# Final metrics shown on the card, in this order, with their labels.
RESULT_LABELS = {
    "eval_top1": "top-1 accuracy (%)",
    "eval_top5": "top-5 accuracy (%)",
    "eval_loss": "loss",
    "best_eval_top1": "best top-1 accuracy over the epochs (%)",
    "ema_eval_top1": "top-1 accuracy of the EMA weights (%)",
}


@dataclass(frozen=True)
class TrainingSummary:
    """The facts of one training run that a model card reports: data, recipe, results, machine, time, curves."""

    dataset: str
    eval_split: str | None = None
    train_images: int | None = None
    eval_images: int | None = None
    variant: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    epochs: int | None = None
    hardware: str | None = None
    train_seconds: float | None = None
    plots: tuple[str, ...] = ()


def read_training_summary(folder: str | Path) -> TrainingSummary | None:
    """The training summary of a run's output folder, or None when it has no `metrics.json`."""
    folder = Path(folder)
    path = folder / METRICS_FILE
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(metrics, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(metrics).__name__}.")
    final = _final_metrics(metrics)
    config = metrics.get("config") if isinstance(metrics.get("config"), dict) else {}
    hyperparameters = {key: value for key, value in config.items() if key not in _NOT_RECIPE}
    if "peak_lr" in metrics:
        hyperparameters["peak_lr"] = metrics["peak_lr"]
    return TrainingSummary(
        dataset=str(metrics.get("dataset", config.get("dataset", "unknown"))),
        eval_split=metrics.get("eval_split"),
        train_images=metrics.get("train_images"),
        eval_images=metrics.get("eval_images"),
        variant=metrics.get("model", config.get("model")),
        hyperparameters=hyperparameters,
        results={key: float(final[key]) for key in RESULT_LABELS if isinstance(final.get(key), (int, float))},
        epochs=final.get("epochs", final.get("epoch")),
        hardware=metrics.get("hardware") or _hardware(metrics, config),
        train_seconds=final.get("train_seconds"),
        plots=tuple(sorted(f"{PLOTS_FOLDER}/{png.name}" for png in (folder / PLOTS_FOLDER).glob("*.png"))),
    )


def _final_metrics(metrics: dict) -> dict:
    """The run's final metrics: `final`, else the last epoch of the history."""
    if isinstance(metrics.get("final"), dict):
        return metrics["final"]
    history = metrics.get("epochs")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        return history[-1]
    return {}


def _hardware(metrics: dict, config: dict) -> str | None:
    """What the metrics say about the machine when they do not describe it: processes and precision."""
    parts = []
    if isinstance(metrics.get("num_processes"), int):
        count = metrics["num_processes"]
        parts.append(f"{count} training process{'es' if count != 1 else ''}")
    if config.get("mixed_precision"):
        parts.append(f"mixed precision: {config['mixed_precision']}")
    return ", ".join(parts) or None
