"""`make demo`: convert a timm checkpoint, export it Hub-ready, and classify the bundled photos.

Nothing is downloaded: the timm checkpoint is a `deit_tiny_patch16_224` with random weights saved to disk,
standing in for a released file, so the predicted ImageNet labels are not meaningful; what the demo shows is
the path a real checkpoint takes (conversion with verified logits, a complete folder, Auto classes,
`pipeline`, and the remote-code load by someone without hf-vits).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
TIMM_NAME = "deit_tiny_patch16_224"

_REMOTE_CHECK = """
import sys
sys.modules["hf_vits"] = None  # as for someone who never installed hf-vits
import json, torch
from transformers import AutoModelForImageClassification
model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
with torch.inference_mode():
    logits = model(torch.load(sys.argv[2], weights_only=True)).logits
print(json.dumps({"class": type(model).__name__, "logits": logits.tolist()}))
"""


def bundled_photos() -> dict[str, Image.Image]:
    """scikit-image's bundled photos, as PIL images."""
    from skimage import data

    return {name: Image.fromarray(getattr(data, name)()) for name in PHOTOS}


def make_timm_checkpoint(path: Path) -> None:
    """Save a randomly initialised timm DeiT-Ti state dict as safetensors, standing in for a download."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model(TIMM_NAME, pretrained=False)
    save_file(model.state_dict(), str(path))


def check_remote_code(folder: Path, pixel_values: torch.Tensor, expected: torch.Tensor) -> str:
    """Load `folder` in a fresh process where hf_vits cannot be imported; check it gives `expected`."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "pixel_values.pt"
        torch.save(pixel_values, inputs)
        result = subprocess.run(
            [sys.executable, "-c", _REMOTE_CHECK, str(folder), str(inputs)],
            capture_output=True,
            text=True,
            check=True,
        )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    difference = (torch.tensor(loaded["logits"]) - expected).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(f"Remote-code logits differ from the in-process ones by {difference:.2e}.")
    return f"{loaded['class']} through remote code, max |Δlogits| {difference:.1e}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo into `--output-dir`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("out/demo"))
    args = parser.parse_args(argv)

    from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

    import hf_vits  # noqa: F401  (registers the architectures)
    from hf_vits.conversion import convert

    args.output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.output_dir / f"{TIMM_NAME}.safetensors"
    make_timm_checkpoint(checkpoint)
    print(f"1. timm checkpoint (random weights, no download): {checkpoint}")

    folder = convert(f"timm:{TIMM_NAME}", args.output_dir / "deit-tiny", checkpoint=checkpoint, overwrite=True)
    print(f"2. converted, logits verified against timm: {folder}")
    print("   " + ", ".join(sorted(p.name for p in folder.iterdir())))

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    print(f"3. AutoModelForImageClassification -> {type(model).__name__}, processor {type(processor).__name__}")

    photos = bundled_photos()
    classifier = pipeline("image-classification", model=model, image_processor=processor)
    print("4. pipeline('image-classification') on the bundled photos (random weights: labels are arbitrary)")
    for name, predictions in zip(photos, classifier(list(photos.values()), top_k=3), strict=True):
        shown = ", ".join(f"{p['label']} {p['score']:.3f}" for p in predictions)
        print(f"   {name:10s} {shown}")

    pixel_values = processor(list(photos.values()), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        logits = model(pixel_values).logits
    print(f"5. {check_remote_code(folder, pixel_values, logits)}")
    print(f"   top-1 ids in process: {np.asarray(logits.argmax(-1)).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
