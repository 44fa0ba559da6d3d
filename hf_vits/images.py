"""Reading image files the command line is given."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .modeling.vit.image_processing_vit import to_8bit


def open_image(path: str | Path) -> Image.Image:
    """Open an image file fully, or raise a ValueError that names the file and the problem.

    16-bit images are scaled to 8 bits here because transformers' pipelines convert every image to RGB before
    the image processor sees it, and PIL's conversion clips 16-bit values instead of scaling them.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such image file.")
    try:
        with Image.open(file) as image:
            image.load()
            return to_8bit(image.copy())
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({error}).") from error
