"""Image processors of DeiT: the DeiT authors' evaluation transform.

DeiT evaluates as its reference code does (timm's transform): resize the shorter side to 224 / 0.875 = 256
pixels (bicubic), center-crop 224x224, normalise with the ImageNet mean and std. The 384-pixel models
resize to 384 and crop 384 (crop ratio 1). transformers' own DeiT processor resizes to a 256x256 square and
normalises with mean = std = 0.5, which is not what these weights were trained and evaluated with.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
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


# Copied from hf_vits.modeling.vit.image_processing_vit.ZooViTImageProcessingMixin with ViT->DeiT
class ZooDeiTImageProcessingMixin:
    """What both backends share: 16-bit input handling and an `auto_map` naming both backends."""

    def process_image(self, image, *args, **kwargs):
        return super().process_image(to_8bit(image), *args, **kwargs)

    def to_dict(self) -> dict:
        processor_dict = super().to_dict()
        module = type(self).__module__.rsplit(".", 1)[-1]
        backends = {"torchvision": f"{module}.ZooDeiTImageProcessor", "pil": f"{module}.ZooDeiTImageProcessorPil"}
        processor_dict["auto_map"] = {**processor_dict.get("auto_map", {}), "AutoImageProcessor": backends}
        return processor_dict


class ZooDeiTImageProcessor(ZooDeiTImageProcessingMixin, TorchvisionBackend):
    """DeiT evaluation transform with the torchvision backend: shorter side to 256 bicubic, crop 224, ImageNet norm."""

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


class ZooDeiTImageProcessorPil(ZooDeiTImageProcessingMixin, PilBackend):
    """DeiT evaluation transform with the PIL backend: shorter side to 256 bicubic, crop 224, ImageNet norm."""

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


ZooDeiTImageProcessor.register_for_auto_class("AutoImageProcessor")
ZooDeiTImageProcessorPil.register_for_auto_class("AutoImageProcessor")

__all__ = ["ZooDeiTImageProcessor", "ZooDeiTImageProcessorPil", "to_8bit"]
