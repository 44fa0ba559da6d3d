"""The image processors reproduce the reference evaluation transforms, on real photos, in both backends.

The reference is the transform the papers' code builds with torchvision on a PIL image (Resize, CenterCrop,
ToTensor, Normalize). Our PIL backend must match it to float precision. Our torchvision backend resizes
uint8 tensors with torchvision's antialiased kernels, so it must match `torchvision.transforms.v2` on the
uint8 tensor to float precision; against the PIL reference it differs by rounding only: PIL resamples in
fixed-point arithmetic and torchvision in floating point, which moves a few pixels by one grey level
(rarely two), so that comparison allows two grey levels at any pixel and a twentieth of one on average.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from torchvision import transforms as v1
from torchvision.transforms import v2
from transformers import AutoImageProcessor
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

import hf_vits

BACKENDS = ("pil", "torchvision")
BICUBIC = v1.InterpolationMode.BICUBIC
BILINEAR = v1.InterpolationMode.BILINEAR

# variant -> (resize, crop or None, interpolation, mean, std) of the reference evaluation transform
REFERENCES = {
    "vit-base-patch16-224": ((224, 224), None, BILINEAR, [0.5] * 3, [0.5] * 3),
    "vit-base-patch16-384": ((384, 384), None, BILINEAR, [0.5] * 3, [0.5] * 3),
    "deit-base-patch16-224": (256, 224, BICUBIC, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    "deit-tiny-distilled-patch16-224": (256, 224, BICUBIC, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    "deit-base-patch16-384": (384, 384, BICUBIC, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
}


def reference_v1(variant: str) -> v1.Compose:
    """The evaluation transform as the papers' code writes it, on PIL images."""
    resize, crop, interpolation, mean, std = REFERENCES[variant]
    steps = [v1.Resize(resize, interpolation=interpolation)]
    if crop is not None:
        steps.append(v1.CenterCrop(crop))
    return v1.Compose([*steps, v1.ToTensor(), v1.Normalize(mean, std)])


def reference_v2(variant: str) -> v2.Compose:
    """The same transform with torchvision.transforms.v2 on uint8 tensors."""
    resize, crop, interpolation, mean, std = REFERENCES[variant]
    steps = [v2.Resize(resize, interpolation=interpolation, antialias=True)]
    if crop is not None:
        steps.append(v2.CenterCrop(crop))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])


@pytest.fixture(scope="module")
def test_photos() -> dict[str, Image.Image]:
    """Two photos, and one whose resized margin is odd so that the crop offset must be rounded as torchvision
    rounds it (297x449 -> 256x387: (387 - 224) / 2 = 81.5)."""
    chelsea = skimage_data.chelsea()
    return {
        "chelsea": Image.fromarray(chelsea),
        "coffee": Image.fromarray(skimage_data.coffee()),
        "odd-margin": Image.fromarray(np.ascontiguousarray(chelsea[:297, :449])),
    }


def process(variant: str, backend: str, image, **overrides) -> torch.Tensor:
    processor = hf_vits.create_image_processor(variant, backend=backend, **overrides)
    return processor(image, return_tensors="pt").pixel_values


@pytest.mark.parametrize("variant", REFERENCES)
def test_pil_backend_matches_the_reference_transform(variant, test_photos):
    for name, photo in test_photos.items():
        ours = process(variant, "pil", photo)[0]
        reference = reference_v1(variant)(photo)
        assert ours.shape == reference.shape, name
        assert (ours - reference).abs().max() <= 1e-5, name


@pytest.mark.parametrize("variant", REFERENCES)
def test_torchvision_backend_matches_transforms_v2(variant, test_photos):
    for name, photo in test_photos.items():
        ours = process(variant, "torchvision", photo)[0]
        reference = reference_v2(variant)(v2.functional.pil_to_tensor(photo))
        assert ours.shape == reference.shape, name
        assert (ours - reference).abs().max() <= 1e-5, name


@pytest.mark.parametrize("variant", REFERENCES)
def test_torchvision_backend_is_within_rounding_of_the_reference(variant, test_photos):
    std = torch.tensor(REFERENCES[variant][4]).view(3, 1, 1)
    for name, photo in test_photos.items():
        ours = process(variant, "torchvision", photo)[0]
        grey_levels = (ours - reference_v1(variant)(photo)).abs() * std * 255
        assert grey_levels.max() <= 2 + 1e-3, name
        assert grey_levels.mean() <= 0.05, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_batches_of_different_sizes(backend, chelsea, coffee):
    pixel_values = process("deit-base-patch16-224", backend, [chelsea, coffee])
    assert pixel_values.shape == (2, 3, 224, 224)
    torch.testing.assert_close(pixel_values[1], process("deit-base-patch16-224", backend, coffee)[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_and_tensor_inputs_match_pil(backend, chelsea):
    expected = process("deit-base-patch16-224", backend, chelsea)
    array = np.array(chelsea)
    torch.testing.assert_close(process("deit-base-patch16-224", backend, array), expected, atol=1e-5, rtol=0)
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    torch.testing.assert_close(process("deit-base-patch16-224", backend, tensor), expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------ image modes


def unnormalised(pixel_values: torch.Tensor, variant: str) -> torch.Tensor:
    _, _, _, mean, std = REFERENCES[variant]
    return pixel_values * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "I", "F", "CMYK"])
def test_every_image_mode_becomes_three_channels(backend, mode, chelsea):
    variant = "deit-base-patch16-224"
    pixel_values = process(variant, backend, chelsea.convert(mode))
    assert pixel_values.shape == (1, 3, 224, 224)
    assert torch.isfinite(pixel_values).all()
    if mode in ("L", "LA", "1"):
        channels = unnormalised(pixel_values, variant)[0]
        torch.testing.assert_close(channels[0], channels[1], atol=1e-5, rtol=0)
        torch.testing.assert_close(channels[0], channels[2], atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conversions_agree_with_their_rgb_meaning(backend, chelsea):
    variant = "deit-base-patch16-224"
    rgb = process(variant, backend, chelsea)
    torch.testing.assert_close(process(variant, backend, chelsea.convert("RGBA")), rgb, atol=0, rtol=0)
    palette = chelsea.convert("P")
    torch.testing.assert_close(
        process(variant, backend, palette), process(variant, backend, palette.convert("RGB")), atol=0, rtol=0
    )
    gray = chelsea.convert("L")
    torch.testing.assert_close(
        process(variant, backend, gray.convert("LA")), process(variant, backend, gray), atol=0, rtol=0
    )
    # Transparent pixels are composited onto white.
    transparent = chelsea.convert("RGBA")
    transparent.putalpha(0)
    torch.testing.assert_close(
        unnormalised(process(variant, backend, transparent), variant),
        torch.ones(1, 3, 224, 224),
        atol=1e-5,
        rtol=0,
    )


@pytest.fixture(scope="module")
def gray_pair(tmp_path_factory) -> dict[str, object]:
    """An 8-bit grayscale photo and its true 16-bit twin (values x 257), both as PNG files reopened by PIL."""
    folder = tmp_path_factory.mktemp("sixteen-bit")
    gray = skimage_data.camera()
    Image.fromarray(gray).save(folder / "gray8.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / "gray16.png")
    with Image.open(folder / "gray8.png") as eight, Image.open(folder / "gray16.png") as sixteen:
        eight.load()
        sixteen.load()
    return {"array": gray, "8": eight, "16": sixteen, "path8": folder / "gray8.png", "path16": folder / "gray16.png"}


def test_the_sixteen_bit_twin_is_a_real_trap(gray_pair):
    """The 16-bit file opens as 16-bit, and PIL's own conversion to RGB clips it: the naive path breaks."""
    assert gray_pair["16"].mode == "I;16"
    assert np.array_equal(np.asarray(gray_pair["16"]), gray_pair["array"].astype(np.uint16) * 257)
    clipped = np.asarray(gray_pair["16"].convert("RGB"))[..., 0]
    assert (clipped != gray_pair["array"]).mean() > 0.5


@pytest.mark.parametrize("variant", ["vit-base-patch16-224", "deit-base-patch16-224"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sixteen_bit_grayscale_reads_like_its_eight_bit_twin(variant, backend, gray_pair):
    expected = process(variant, backend, gray_pair["8"])
    torch.testing.assert_close(process(variant, backend, gray_pair["16"]), expected, atol=0, rtol=0)
    torch.testing.assert_close(process(variant, backend, gray_pair["16"].convert("I")), expected, atol=0, rtol=0)
    sixteen_rgb = np.repeat((gray_pair["array"].astype(np.uint16) * 257)[..., None], 3, axis=-1)
    eight_rgb = np.repeat(gray_pair["array"][..., None], 3, axis=-1)
    torch.testing.assert_close(
        process(variant, backend, sixteen_rgb), process(variant, backend, eight_rgb), atol=0, rtol=0
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_image_files_are_read_like_opened_images(backend, gray_pair, chelsea, tmp_path):
    """Paths go through the same 16-bit handling as opened images (transformers' own loaders clip 16-bit
    files to white, or keep their 0..65535 values)."""
    variant = "deit-base-patch16-224"
    expected = process(variant, backend, gray_pair["8"])
    torch.testing.assert_close(process(variant, backend, str(gray_pair["path8"])), expected, atol=0, rtol=0)
    torch.testing.assert_close(process(variant, backend, str(gray_pair["path16"])), expected, atol=0, rtol=0)
    chelsea.save(tmp_path / "chelsea.png")
    torch.testing.assert_close(
        process(variant, backend, [str(tmp_path / "chelsea.png")]), process(variant, backend, chelsea), atol=0, rtol=0
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("bad", "expected_error", "message"),
    [
        ("no such image.jpg", ValueError, "no such image.jpg"),
        ("not a path", ValueError, "not a path"),
        ({"pixels": [1, 2, 3]}, TypeError, "dict"),
        (42, TypeError, "int"),
        (None, TypeError, "NoneType"),
    ],
    ids=["missing-file", "not-a-path", "dict", "int", "none"],
)
def test_what_is_no_image_gets_a_clear_error(backend, bad, expected_error, message):
    processor = hf_vits.create_image_processor("deit-base-patch16-224", backend=backend)
    with pytest.raises(expected_error, match=message):
        processor(bad, return_tensors="pt")


# -------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("variant", "size", "crop_size"),
    [
        ("deit-base-patch16-224", {"shortest_edge": 36}, {"height": 32, "width": 32}),
        ("deit-base-patch16-384", {"shortest_edge": 32}, {"height": 32, "width": 32}),
        ("vit-base-patch16-224", {"height": 32, "width": 32}, None),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_create_image_processor_keeps_the_crop_ratio(variant, size, crop_size, backend, chelsea):
    processor = hf_vits.create_image_processor(variant, backend=backend, image_size=32)
    saved = processor.to_dict()
    assert saved["size"] == size
    if crop_size is not None:
        assert processor.do_center_crop
        assert saved["crop_size"] == crop_size
    else:
        assert not processor.do_center_crop
    assert processor(chelsea, return_tensors="pt").pixel_values.shape == (1, 3, 32, 32)


def test_create_image_processor_backends_and_overrides():
    assert type(hf_vits.create_image_processor("deit-base-patch16-224")) is hf_vits.ZooDeiTImageProcessor
    pil = hf_vits.create_image_processor("deit-base-patch16-224", backend="pil")
    assert type(pil) is hf_vits.ZooDeiTImageProcessorPil
    assert hf_vits.create_image_processor("vit-base-patch16-224", do_normalize=False).do_normalize is False
    with pytest.raises(ValueError, match="backend"):
        hf_vits.create_image_processor("deit-base-patch16-224", backend="opencv")


@pytest.mark.parametrize("variant", ["vit-base-patch16-224", "deit-base-patch16-384"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_processor_save_load_round_trip(variant, backend, tmp_path: Path, chelsea):
    processor = hf_vits.create_image_processor(variant, backend=backend)
    processor.save_pretrained(tmp_path)
    restored = AutoImageProcessor.from_pretrained(tmp_path, backend=backend)
    assert type(restored) is type(processor)
    assert restored.to_dict() == processor.to_dict()
    torch.testing.assert_close(
        restored(chelsea, return_tensors="pt").pixel_values, processor(chelsea, return_tensors="pt").pixel_values
    )


def test_defaults_are_the_papers_evaluation_transforms():
    vit = hf_vits.ZooViTImageProcessorPil()
    assert (vit.size["height"], vit.size["width"]) == (224, 224) and not vit.do_center_crop
    assert list(vit.image_mean) == [0.5] * 3 and list(vit.image_std) == [0.5] * 3
    assert int(vit.resample) == int(Image.Resampling.BILINEAR)
    deit = hf_vits.ZooDeiTImageProcessorPil()
    assert deit.size["shortest_edge"] == 256 and (deit.crop_size["height"], deit.crop_size["width"]) == (224, 224)
    assert list(deit.image_mean) == list(IMAGENET_DEFAULT_MEAN) and list(deit.image_std) == list(IMAGENET_DEFAULT_STD)
    assert int(deit.resample) == int(Image.Resampling.BICUBIC)
    for pil_class, torchvision_class in (
        (hf_vits.ZooViTImageProcessorPil, hf_vits.ZooViTImageProcessor),
        (hf_vits.ZooDeiTImageProcessorPil, hf_vits.ZooDeiTImageProcessor),
    ):
        pil_dict = {k: v for k, v in pil_class().to_dict().items() if k != "image_processor_type"}
        torchvision_dict = {k: v for k, v in torchvision_class().to_dict().items() if k != "image_processor_type"}
        assert pil_dict == torchvision_dict, "the two backends are configured alike"
