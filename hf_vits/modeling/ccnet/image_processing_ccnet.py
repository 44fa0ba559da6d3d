"""Image processors of CCNet: the authors' Cityscapes evaluation transform, for RGB images.

The authors' code (`dataset/datasets.py`, `evaluate.py`) reads images with OpenCV, in BGR order, and subtracts the
per-channel mean (104.008, 116.669, 122.675) of 0..255 pixel values, without rescaling or dividing by a standard
deviation, at the image's full resolution. These processors take RGB images, so they subtract the same means in RGB
order (122.675, 116.669, 104.008); the conversion of the authors' checkpoints reorders the first convolution's input
channels from BGR to RGB to match, so that the converted model computes exactly what the original computes on the
BGR image. There is no resize: the network is fully convolutional and evaluates the whole image (the authors tile
Cityscapes' 1024x2048 images into overlapping 769x769 crops, which `ZooCCNetForSemanticSegmentation` does not need).

`post_process_semantic_segmentation` upsamples the logits to each image's size (bilinear, corners aligned, as the
authors' evaluation does) and takes the most likely class per pixel, as transformers' segmentation processors do, so
that `pipeline("image-segmentation")` returns one mask per class present.
"""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from transformers.image_processing_backends import PilBackend, TorchvisionBackend
from transformers.image_utils import PILImageResampling

# The authors' BGR mean (`IMG_MEAN` of their training and evaluation scripts), in RGB order, on 0..255 pixels.
CITYSCAPES_MEAN_RGB = (122.67891434, 116.66876762, 104.00698793)
UNIT_STD = (1.0, 1.0, 1.0)

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


class ZooCCNetImageProcessingMixin:
    """What both backends share: the evaluation transform's settings, 16-bit input handling, file reading,
    torchvision's center-crop rounding (when a crop is asked for), the segmentation post-processing and an
    `auto_map` naming both backends."""

    resample = PILImageResampling.BILINEAR
    size = {"height": 769, "width": 769}
    image_mean = CITYSCAPES_MEAN_RGB
    image_std = UNIT_STD
    do_resize = False
    do_center_crop = False
    do_rescale = False
    do_normalize = True
    do_convert_rgb = True

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.process_image with ViT->CCNet
    def process_image(self, image, *args, **kwargs):
        return super().process_image(to_8bit(image), *args, **kwargs)

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.fetch_images with ViT->CCNet
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

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.center_crop with ViT->CCNet
    def center_crop(self, image, size, **kwargs):
        """Crop the center as torchvision's `CenterCrop` in the reference evaluation code does: an odd margin's
        offset is rounded half to even (transformers' backends round it down, one pixel off)."""
        height, width = image.shape[-2:]
        if size.height is None or size.width is None or size.height > height or size.width > width:
            return super().center_crop(image, size, **kwargs)
        top = int(round((height - size.height) / 2.0))
        left = int(round((width - size.width) / 2.0))
        return image[..., top : top + size.height, left : left + size.width]

    def post_process_semantic_segmentation(self, outputs, target_sizes=None) -> list[torch.Tensor]:
        """One (height, width) map of class indices per image: the logits upsampled to `target_sizes[i]`
        (bilinear, corners aligned, as the authors evaluate) and their argmax, or the argmax at the logits'
        resolution without `target_sizes`."""
        logits = outputs.logits
        if target_sizes is not None and len(target_sizes) != len(logits):
            raise ValueError(f"Got {len(target_sizes)} target sizes for {len(logits)} images of logits.")
        segmentations = []
        for index, image_logits in enumerate(logits):
            if target_sizes is not None:
                size = tuple(int(side) for side in target_sizes[index])
                image_logits = torch.nn.functional.interpolate(
                    image_logits[None].float(), size=size, mode="bilinear", align_corners=True
                )[0]
            segmentations.append(image_logits.argmax(dim=0))
        return segmentations

    # Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin.to_dict with ViT->CCNet
    def to_dict(self) -> dict:
        processor_dict = super().to_dict()
        module = type(self).__module__.rsplit(".", 1)[-1]
        backends = {"torchvision": f"{module}.ZooCCNetImageProcessor", "pil": f"{module}.ZooCCNetImageProcessorPil"}
        processor_dict["auto_map"] = {**processor_dict.get("auto_map", {}), "AutoImageProcessor": backends}
        return processor_dict


class ZooCCNetImageProcessor(ZooCCNetImageProcessingMixin, TorchvisionBackend):
    """CCNet evaluation transform with the torchvision backend: the whole image, minus the authors' mean (RGB)."""


class ZooCCNetImageProcessorPil(ZooCCNetImageProcessingMixin, PilBackend):
    """CCNet evaluation transform with the PIL backend: the whole image, minus the authors' mean (RGB)."""


ZooCCNetImageProcessor.register_for_auto_class("AutoImageProcessor")
ZooCCNetImageProcessorPil.register_for_auto_class("AutoImageProcessor")

__all__ = ["ZooCCNetImageProcessor", "ZooCCNetImageProcessorPil", "to_8bit"]
