"""Data loaders whose every random choice is a function of (seed, epoch, position).

The training order of an epoch and the augmentation of each image are drawn from generators seeded by the
run's seed, the epoch and the image's position, never from the global random state. A run resumed from a
checkpoint, in any number of processes, with any number of workers, therefore sees exactly the images and
augmentations of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable

import datasets
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from transformers.image_processing_utils import BaseImageProcessor

from hf_vits.modeling.vit.image_processing_vit import to_8bit


def derived_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from a tuple of integers (seed, epoch, index, ...)."""
    return int(np.random.SeedSequence(values).generate_state(1, np.uint64)[0] >> np.uint64(1))


class EpochSampler(Sampler[int]):
    """A new permutation each epoch, seeded by (seed, epoch).

    With repeated augmentation (Hoffer et al. 2020, as DeiT trains), every image of the permutation appears
    `repeats` times in a row, as distinct virtual indices that the dataset augments differently, and the epoch is
    cut to the dataset's length, so that an epoch costs the same with or without it."""

    def __init__(self, num_images: int, repeats: int, seed: int):
        self.num_images = num_images
        self.repeats = repeats
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        order = torch.randperm(self.num_images, generator=generator)
        copies = torch.arange(self.repeats).repeat(self.num_images) * self.num_images
        virtual = order.repeat_interleave(self.repeats) + copies
        return iter(virtual[: self.num_images].tolist())

    def __len__(self) -> int:
        return self.num_images


class AugmentedImages(Dataset):
    """A split as {"pixel_values", "labels"} items, each augmented with its own seed.

    Index `i + k * len(split)` is the k-th augmented copy of image `i` (see `EpochSampler`)."""

    def __init__(self, split: datasets.Dataset, transform: Callable, repeats: int, seed: int):
        self.split = split
        self.transform = transform
        self.repeats = repeats
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.split) * self.repeats

    def __getitem__(self, index: int) -> dict:
        row = self.split[index % len(self.split)]
        image = to_8bit(row["image"]).convert("RGB")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(self.seed, self.epoch, index))
            pixel_values = self.transform(image)
        return {"pixel_values": pixel_values, "labels": row["label"]}


class EvalCollator:
    """Turns rows of a split into a batch with the model's own image processor, as the pipeline would."""

    def __init__(self, processor: BaseImageProcessor):
        self.processor = processor

    def __call__(self, rows: list[dict]) -> dict:
        images = [to_8bit(row["image"]) for row in rows]
        pixel_values = self.processor(images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values, "labels": torch.tensor([row["label"] for row in rows])}


def train_loader(
    split: datasets.Dataset, transform: Callable, batch_size: int, repeats: int, seed: int, num_workers: int
) -> DataLoader:
    """Shuffled, augmented training batches of `batch_size` (the last incomplete batch dropped, as DeiT does)."""
    return DataLoader(
        AugmentedImages(split, transform, repeats, seed),
        batch_size=batch_size,
        sampler=EpochSampler(len(split), repeats, seed),
        drop_last=True,
        num_workers=num_workers,
    )


def eval_loader(
    split: datasets.Dataset, processor: BaseImageProcessor, batch_size: int, num_workers: int
) -> DataLoader:
    """Evaluation batches in the split's order, preprocessed by the model's image processor."""
    return DataLoader(split, batch_size=batch_size, collate_fn=EvalCollator(processor), num_workers=num_workers)


def processor_resolution(processor: BaseImageProcessor) -> tuple[int, int]:
    """The (height, width) of what the image processor hands the model."""
    size = processor.crop_size if getattr(processor, "do_center_crop", False) else processor.size
    if size.height is None or size.width is None:
        raise ValueError(f"Cannot tell the output resolution of {type(processor).__name__} from {size}.")
    return size.height, size.width
