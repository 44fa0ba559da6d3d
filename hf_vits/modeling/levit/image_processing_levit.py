"""Image processors of LeViT: the authors' evaluation transform.

The reference code (DeiT's `datasets.py`, which LeViT's repository reuses) resizes the shorter side to
224 * 256 / 224 = 256 pixels (bicubic), center-crops 224x224 and normalises with the ImageNet mean and std.
"""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import PIL.ImageOps
from transformers.image_processing_backends import PilBackend, TorchvisionBackend
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling

_HIGH_BIT_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


# Copied from hf_vits.modeling.vit.image_processing_vit.to_8bit
def to_8bit(image):
    """Scale a 16-bit image into 0..255 the way its 8-bit twin reads; any other input passes through.

    PIL's own conversion of a 16-bit image to RGB clips at 255 instead of scaling, which turns most of a
    real 16-bit photo white. 65535 / 257 = 255, so an 8-bit image stored as 16 bits comes back exactly.
    A 32-bit integer image ("I") is taken as 16-bit when it holds values above 255.
    """
    if isinstance(image, PIL.Image.Image) and image.mode in _HIGH_BIT_DEPTH_MODES:
        array = np.asarray(image)
        if image.mode == "I" and array.max(initial=0) <= 255:
            return PIL.Image.fromarray(array.clip(0, 255).astype(np.uint8))
        return PIL.Image.fromarray(np.round(array.astype(np.float64) / 257).clip(0, 255).astype(np.uint8))
    if isinstance(image, np.ndarray) and image.dtype == np.uint16:
        return np.round(image.astype(np.float64) / 257).astype(np.uint8)
    return image


class ZooLeViTImageProcessingMixin:
    """What both backends share: the evaluation transform's settings, 16-bit input handling, file reading,
    the reference center crop and an `auto_map` naming both backends."""

    resample = PILImageResampling.BICUBIC
    size = {"shortest_edge": 256}
    crop_size = {"height": 224, "width": 224}
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.process_image with ViT->LeViT
    def process_image(self, image, *args, **kwargs):
        return super().process_image(to_8bit(image), *args, **kwargs)

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.fetch_images with ViT->LeViT
    def fetch_images(self, image_url_or_urls):
        """Open image files with PIL, so that a 16-bit file reads like an opened 16-bit image (transformers'
        loaders clip it to white, or keep its 0..65535 values), and fail clearly on a string that is no image."""
        if isinstance(image_url_or_urls, (list, tuple)):
            return [self.fetch_images(item) for item in image_url_or_urls]
        if isinstance(image_url_or_urls, str) and os.path.isfile(image_url_or_urls):
            with PIL.Image.open(image_url_or_urls) as image:
                return PIL.ImageOps.exif_transpose(image)
        try:
            return super().fetch_images(image_url_or_urls)
        except RuntimeError as error:  # torchvision's decoder, on bytes that are no image
            raise ValueError(
                f"Cannot read an image from {image_url_or_urls[:100]!r}: it is not an image file, URL or base64 image."
            ) from error

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.center_crop with ViT->LeViT
    def center_crop(self, image, size, **kwargs):
        """Crop the center as torchvision's `CenterCrop` in the reference evaluation code does: an odd margin's
        offset is rounded half to even (transformers' backends round it down, one pixel off)."""
        height, width = image.shape[-2:]
        if size.height is None or size.width is None or size.height > height or size.width > width:
            return super().center_crop(image, size, **kwargs)
        top = int(round((height - size.height) / 2.0))
        left = int(round((width - size.width) / 2.0))
        return image[..., top : top + size.height, left : left + size.width]

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.to_dict with ViT->LeViT
    def to_dict(self) -> dict:
        processor_dict = super().to_dict()
        module = type(self).__module__.rsplit(".", 1)[-1]
        backends = {"torchvision": f"{module}.ZooLeViTImageProcessor", "pil": f"{module}.ZooLeViTImageProcessorPil"}
        processor_dict["auto_map"] = {**processor_dict.get("auto_map", {}), "AutoImageProcessor": backends}
        return processor_dict


class ZooLeViTImageProcessor(ZooLeViTImageProcessingMixin, TorchvisionBackend):
    """LeViT evaluation transform with the torchvision backend: shorter side to 256 bicubic, crop 224, ImageNet norm."""


class ZooLeViTImageProcessorPil(ZooLeViTImageProcessingMixin, PilBackend):
    """LeViT evaluation transform with the PIL backend: shorter side to 256 bicubic, crop 224, ImageNet norm."""


ZooLeViTImageProcessor.register_for_auto_class("AutoImageProcessor")
ZooLeViTImageProcessorPil.register_for_auto_class("AutoImageProcessor")

__all__ = ["ZooLeViTImageProcessor", "ZooLeViTImageProcessorPil", "to_8bit"]
