"""What a run leaves besides the model: `metrics.json` and PNG curves of loss, accuracy and learning rate."""

from __future__ import annotations

import json
from pathlib import Path

METRICS_FILE = "metrics.json"
PLOTS = "plots"
# Keys that measure the machine rather than the model; a resumed run differs from a straight one only there.
TIMING_KEYS = ("images_per_s", "epoch_seconds", "train_seconds")


def final_metrics(history: list[dict]) -> dict:
    """The last epoch's metrics, with the total training time, the run's mean throughput and the best top-1."""
    final = {key: value for key, value in history[-1].items() if key != "epoch_seconds"}
    final["epochs"] = final.pop("epoch")
    seconds = sum(epoch["epoch_seconds"] for epoch in history)
    images = sum(epoch["images_per_s"] * epoch["epoch_seconds"] for epoch in history)
    final["images_per_s"] = round(images / seconds, 2)
    final["train_seconds"] = round(seconds, 2)
    final["best_eval_top1"] = max(epoch["eval_top1"] for epoch in history)
    return final


def write_metrics(output_dir: Path, history: list[dict], run: dict) -> Path:
    """Write `metrics.json`: the run's description, every epoch's metrics, and the final ones."""
    path = output_dir / METRICS_FILE
    path.write_text(json.dumps({**run, "epochs": history, "final": final_metrics(history)}, indent=2))
    return path


def write_plots(output_dir: Path, history: list[dict]) -> list[Path]:
    """Write loss.png, accuracy.png and learning_rate.png (one point per epoch) under OUTPUT_DIR/plots."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    folder = output_dir / PLOTS
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [epoch["epoch"] for epoch in history]
    panels = {
        "loss": ("loss", ["train_loss", "eval_loss", "ema_eval_loss"]),
        "accuracy": ("accuracy (%)", ["eval_top1", "eval_top5", "ema_eval_top1"]),
        "learning_rate": ("learning rate", ["lr"]),
    }
    written = []
    for name, (ylabel, keys) in panels.items():
        figure, axes = pyplot.subplots(figsize=(6, 4), dpi=100)
        for key in keys:
            if key in history[0]:
                axes.plot(epochs, [epoch[key] for epoch in history], marker="o", markersize=3, label=key)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = folder / f"{name}.png"
        figure.savefig(path)
        pyplot.close(figure)
        written.append(path)
    return written
