"""`hf-vits evaluate`: top-1 / top-5 of a saved model folder on a dataset split, with the folder's own processor."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoImageProcessor, AutoModelForImageClassification

from .data import load_split
from .loaders import eval_loader
from .trainer import accelerator_session, evaluate_model


def _check_labels(model_labels: list[str], dataset_labels: list[str], folder: Path) -> None:
    """The model's classes must be the dataset's, in the same order (or unnamed and as many)."""
    unnamed = all(name == f"LABEL_{index}" for index, name in enumerate(model_labels))
    if model_labels == dataset_labels or (unnamed and len(model_labels) == len(dataset_labels)):
        return
    raise ValueError(
        f"{folder} predicts the classes {model_labels[:10]}, the dataset has {dataset_labels[:10]}: they must be the "
        "same, in the same order."
    )


def evaluate_folder(
    model_dir: str | Path,
    dataset: str = "digits",
    split: str = "test",
    batch_size: int = 64,
    image_column: str | None = None,
    label_column: str | None = None,
    bad_images: str = "fail",
    cpu: bool = False,
    mixed_precision: str = "no",
) -> dict:
    """Evaluate the model saved in `model_dir` on one split: mean cross-entropy, top-1 and top-5 (%)."""
    folder = Path(model_dir).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"{model_dir}: not a saved model folder (no config.json).")
    images, label_names = load_split(dataset, split, image_column, label_column, bad_images)
    model = AutoModelForImageClassification.from_pretrained(folder)
    model_labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
    _check_labels(model_labels, label_names, folder)
    processor = AutoImageProcessor.from_pretrained(folder)
    with accelerator_session(cpu=cpu, mixed_precision=mixed_precision) as accelerator:
        if batch_size % accelerator.num_processes:
            raise ValueError(f"--batch-size {batch_size} does not split across {accelerator.num_processes} processes.")
        model, loader = accelerator.prepare(model, eval_loader(images, processor, batch_size, num_workers=0))
        metrics = evaluate_model(model, loader, accelerator, len(label_names))
    return {"model": str(folder), "dataset": dataset, "split": split, "images": len(images), **metrics}
