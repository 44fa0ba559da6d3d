"""Image-classification datasets through `datasets`: the bundled digits, image folders, saved datasets and the Hub.

Whatever the source, a split comes out with two columns, `image` (an Image feature) and `label` (a ClassLabel),
so that the label names flow into the model's `id2label`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import PIL.Image

DIGITS = "digits"
IMAGEFOLDER_PREFIX = "imagefolder:"
DIGITS_SIZE = 32
DIGITS_TEST_FRACTION = 0.2
# Held-out evaluation splits are drawn with a fixed seed, so that runs with different training seeds are
# evaluated on the same images.
SPLIT_SEED = 0
EVAL_SPLIT_NAMES = ("validation", "valid", "val", "test")
IMAGE_SUFFIXES = frozenset(suffix.lower() for suffix in PIL.Image.registered_extensions())


@dataclass
class ImageClassificationData:
    """A training split and an evaluation split with `image` and `label` columns, and the class names."""

    train: datasets.Dataset
    eval: datasets.Dataset
    label_names: list[str]
    eval_split: str
    skipped: list[str] = field(default_factory=list)


def digits_dataset(size: int = DIGITS_SIZE) -> datasets.DatasetDict:
    """scikit-learn's 1,797 handwritten 8x8 digits, upsampled to `size` pixels (bicubic), as a fixed stratified
    train (80%) / test (20%) split. The data ships with scikit-learn: nothing is downloaded."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are ink counts 0..16: white digits on black, like MNIST.
    images = [
        PIL.Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8)).resize(
            (size, size), PIL.Image.Resampling.BICUBIC
        )
        for pixels in digits.images
    ]
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])}
    )
    full = datasets.Dataset.from_dict({"image": images, "label": digits.target.tolist()}, features=features)
    return full.train_test_split(test_size=DIGITS_TEST_FRACTION, stratify_by_column="label", seed=SPLIT_SEED)


def open_source(source: str) -> datasets.DatasetDict:
    """The splits of `source`: `digits`, `imagefolder:PATH`, a `save_to_disk` folder, or a Hub dataset id."""
    if source == DIGITS:
        return digits_dataset()
    if source.startswith(IMAGEFOLDER_PREFIX):
        folder = Path(source.removeprefix(IMAGEFOLDER_PREFIX)).expanduser()
        check_image_folder(folder)
        return datasets.load_dataset("imagefolder", data_dir=str(folder))
    path = Path(source).expanduser()
    if path.exists():
        return _load_saved(path)
    if source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ValueError(f"{source}: no such dataset folder.")
    try:
        return datasets.load_dataset(source)
    except (FileNotFoundError, ConnectionError, datasets.exceptions.DatasetNotFoundError) as error:
        raise ValueError(
            f"{source}: not a local dataset and not loadable from the Hub ({error}). Use {DIGITS}, "
            f"{IMAGEFOLDER_PREFIX}PATH, a folder written by save_to_disk, or a Hub dataset id when online."
        ) from error


def _load_saved(path: Path) -> datasets.DatasetDict:
    """A dataset written by `save_to_disk`; a single split becomes `train`."""
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as error:
        raise ValueError(
            f"{path}: not a dataset written by save_to_disk; for a folder of images use {IMAGEFOLDER_PREFIX}{path}."
        ) from error
    return loaded if isinstance(loaded, datasets.DatasetDict) else datasets.DatasetDict({"train": loaded})


def check_image_folder(folder: Path) -> None:
    """Refuse a missing folder and any class folder without images, which `imagefolder` would silently drop."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder.")
    directories = [folder, *(path for path in folder.rglob("*") if path.is_dir())]
    for directory in sorted(directories):
        if any(part.startswith(".") for part in directory.relative_to(folder).parts):
            continue
        entries = list(directory.iterdir())
        if any(entry.is_dir() for entry in entries):
            continue
        if not any(entry.suffix.lower() in IMAGE_SUFFIXES for entry in entries):
            kind = "image folder" if directory == folder else "class folder"
            raise ValueError(f"{directory}: empty {kind} (no image files); add images or remove it.")


def standardize(split: datasets.Dataset, image_column: str | None, label_column: str | None) -> datasets.Dataset:
    """The split reduced to `image` and `label` columns, the label a ClassLabel."""
    features = split.features
    image_column = image_column or next(
        (name for name, feature in features.items() if isinstance(feature, datasets.Image)), None
    )
    if image_column not in features:
        raise ValueError(f"No image column (columns: {', '.join(features)}); name it with --image-column.")
    label_column = label_column or next(
        (name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)),
        "label" if "label" in features else None,
    )
    if label_column not in features:
        raise ValueError(
            f"No label column (columns: {', '.join(features)}); name it with --label-column. An image folder needs "
            "one sub-folder per class."
        )
    renames = {old: new for old, new in ((image_column, "image"), (label_column, "label")) if old != new}
    return split.select_columns([image_column, label_column]).rename_columns(renames)


def _as_class_labels(splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
    """Cast plain string or integer labels to one ClassLabel shared by every split."""
    feature = next(iter(splits.values())).features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return splits
    values = sorted({value for split in splits.values() for value in split.unique("label")})
    if all(isinstance(value, str) for value in values):
        class_label = datasets.ClassLabel(names=values)
    elif all(isinstance(value, int) and value >= 0 for value in values):
        class_label = datasets.ClassLabel(num_classes=max(values) + 1)
    else:
        raise ValueError(f"Labels must be class names or non-negative class ids, got {values[:5]}.")
    return {name: split.cast_column("label", class_label) for name, split in splits.items()}


def unreadable_images(split: datasets.Dataset) -> list[tuple[int, str, str]]:
    """(row, file name, reason) for each image of the split that cannot be decoded; decodes every image once."""
    raw = split.select_columns(["image"]).cast_column("image", datasets.Image(decode=False))
    problems = []
    for row, item in enumerate(raw):
        image = item["image"]
        name = Path(image["path"]).name if image.get("path") else f"row {row}"
        try:
            with PIL.Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]) as opened:
                opened.draft(None, (1, 1))  # JPEG: decode at reduced scale, still reading the whole stream
                opened.load()
        except (OSError, SyntaxError, ValueError) as error:
            problems.append((row, name, str(error)))
    return problems


def drop_unreadable(split: datasets.Dataset, split_name: str, policy: str) -> tuple[datasets.Dataset, list[str]]:
    """The split without its unreadable images (policy `skip`), or a ValueError naming them (policy `fail`)."""
    problems = unreadable_images(split)
    if not problems:
        return split, []
    names = [f"{name} ({reason})" for _, name, reason in problems]
    if policy == "fail":
        shown = "; ".join(names[:10]) + (f"; and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(
            f"{len(names)} unreadable image(s) in the {split_name} split: {shown}. Pass --bad-images skip to leave "
            "them out."
        )
    bad_rows = {row for row, _, _ in problems}
    return split.select([row for row in range(len(split)) if row not in bad_rows]), names


def _pick_eval_split(available: list[str], train_split: str, eval_split: str | None) -> str | None:
    if eval_split is not None:
        if eval_split not in available:
            raise ValueError(f"No split {eval_split!r}; the dataset has {', '.join(available)}.")
        return eval_split
    return next((name for name in EVAL_SPLIT_NAMES if name in available and name != train_split), None)


def load_training_data(
    source: str,
    train_split: str = "train",
    eval_split: str | None = None,
    val_fraction: float = 0.1,
    image_column: str | None = None,
    label_column: str | None = None,
    bad_images: str = "fail",
) -> ImageClassificationData:
    """The training and evaluation splits of `source`, checked; without an evaluation split, a stratified
    `val_fraction` of the training split is held out."""
    splits = open_source(source)
    if train_split not in splits:
        raise ValueError(f"No split {train_split!r} in {source}; it has {', '.join(splits)}.")
    eval_name = _pick_eval_split(list(splits), train_split, eval_split)
    names = [train_split] if eval_name is None else [train_split, eval_name]
    chosen = _as_class_labels({name: standardize(splits[name], image_column, label_column) for name in names})
    skipped = []
    for name in names:
        chosen[name], dropped = drop_unreadable(chosen[name], name, bad_images)
        skipped += dropped
    train = chosen[train_split]
    if eval_name is None:
        if not 0 < val_fraction < 1:
            raise ValueError(f"{source} has no evaluation split; hold one out with 0 < --val-fraction < 1.")
        _require_rows(train, train_split, source)
        held_out = train.train_test_split(test_size=val_fraction, stratify_by_column="label", seed=SPLIT_SEED)
        train, evaluation, eval_name = held_out["train"], held_out["test"], f"{train_split} (held out)"
    else:
        evaluation = chosen[eval_name]
    _require_rows(train, train_split, source)
    _require_rows(evaluation, eval_name, source)
    label_names = train.features["label"].names
    return ImageClassificationData(train, evaluation, label_names, eval_name, skipped)


def load_split(
    source: str,
    split: str,
    image_column: str | None = None,
    label_column: str | None = None,
    bad_images: str = "fail",
) -> tuple[datasets.Dataset, list[str]]:
    """One standardized, checked split of `source` and its class names."""
    splits = open_source(source)
    if split not in splits:
        raise ValueError(f"No split {split!r} in {source}; it has {', '.join(splits)}.")
    chosen = _as_class_labels({split: standardize(splits[split], image_column, label_column)})[split]
    chosen, _ = drop_unreadable(chosen, split, bad_images)
    _require_rows(chosen, split, source)
    return chosen, chosen.features["label"].names


def _require_rows(split: datasets.Dataset, name: str, source: str) -> None:
    if len(split) == 0:
        raise ValueError(f"The {name} split of {source} is empty.")
