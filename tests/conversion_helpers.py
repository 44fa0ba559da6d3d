"""What the conversion tests of every architecture share."""

from __future__ import annotations

from pathlib import Path

import torch


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest absolute difference between two tensors of the same shape."""
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def save_hf(tmp_path: Path, hf_model, processor=None) -> Path:
    """Save a transformers model (and processor) as its checkpoint folder is on disk; return the folder."""
    folder = tmp_path / type(hf_model).__name__
    hf_model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return folder
