"""`make demo`: train a small DeiT on the bundled digits on the CPU, export it, and use it through `pipeline`.

The model is DeiT-Ti's layout made small for 8x8-pixel digits (upsampled to 32 px): patches of 4 pixels, width
64, 4 blocks of 2 heads. It trains with the zoo's Accelerate trainer and DeiT's recipe scaled to the task (no
flips, milder crops and RandAugment, light MixUp), then the exported folder classifies held-out digits and a
photo through `pipeline("image-classification")`, and loads through its own remote code in a process that
cannot import hf-vits. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml
from PIL import Image

MODEL = "deit-tiny-patch16-224"
TARGET_TOP1 = 95.0
HELD_OUT_SHOWN = 6

# DeiT's recipe (the TrainingConfig defaults) adapted to 1,437 small grayscale digits and a 2-core CPU budget.
DIGITS_RECIPE = {
    "model": MODEL,
    "dataset": "digits",
    "image_size": 32,
    "patch_size": 4,
    "model_overrides": {"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 128},
    "epochs": 30,
    "batch_size": 64,
    "lr": 8e-3,
    "warmup_epochs": 2,
    "drop_path": 0.05,
    "crop_scale": [0.7, 1.0],
    "hflip": 0.0,
    "randaugment_ops": 2,
    "randaugment_magnitude": 5,
    "random_erasing": 0.1,
    "repeated_augmentation": 1,
    "mixup_alpha": 0.2,
    "cutmix_alpha": 0.0,
    "label_smoothing": 0.1,
    "seed": 0,
}

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


def check_remote_code(folder: Path, pixel_values: torch.Tensor, expected: torch.Tensor) -> str:
    """Load `folder` in a fresh process where hf_vits cannot be imported; check it gives `expected`."""
    inputs = folder.parent / "remote_check_inputs.pt"
    torch.save(pixel_values, inputs)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _REMOTE_CHECK, str(folder), str(inputs)], capture_output=True, text=True, check=True
        )
    finally:
        inputs.unlink()
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    difference = (torch.tensor(loaded["logits"]) - expected).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(f"Remote-code logits differ from the in-process ones by {difference:.2e}.")
    return f"{loaded['class']} through remote code, max |Δlogits| {difference:.1e}"


def _top3(predictions: list[dict]) -> str:
    return ", ".join(f"{p['label']} {p['score']:.3f}" for p in predictions)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo into `--output-dir`; exit 1 if the test top-1 misses 95%."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("out/demo"))
    args = parser.parse_args(argv)

    from skimage import data as skimage_data
    from transformers import pipeline

    import hf_vits  # noqa: F401  (registers the architectures)
    from hf_vits.training import TrainingConfig, train
    from hf_vits.training.data import load_training_data
    from hf_vits.training.evaluation import evaluate_folder

    started = time.perf_counter()
    folder = args.output_dir / "deit-tiny-digits"
    args.output_dir.mkdir(parents=True, exist_ok=True)
    recipe_file = args.output_dir / "deit-tiny-digits.yaml"
    recipe_file.write_text(yaml.safe_dump(DIGITS_RECIPE, sort_keys=False))
    print(f"1. Training {MODEL} (32 px, patch 4, width 64, 4 blocks) on digits with {recipe_file}")
    config = TrainingConfig.from_sources(recipe_file, output_dir=str(folder), overwrite=True)
    result = train(config)
    trained = time.perf_counter()
    final = result.metrics
    print(
        f"   test top-1 {final['eval_top1']:.2f}%, top-5 {final['eval_top5']:.2f}% after {final['epochs']} epochs; "
        f"training {final['train_seconds']:.0f} s at {final['images_per_s']:.0f} images/s"
    )
    print(f"2. Exported {folder}: " + ", ".join(sorted(p.name for p in folder.iterdir() if p.is_file())))
    evaluated = evaluate_folder(folder, dataset="digits", split="test")
    print(f"   hf-vits evaluate: top-1 {evaluated['top1']:.2f}% on {evaluated['images']} held-out digits")

    classifier = pipeline("image-classification", model=str(folder))
    held_out = load_training_data("digits").eval.select(range(HELD_OUT_SHOWN))
    print("3. pipeline('image-classification') on held-out digits (true label: top-3)")
    for row, predictions in zip(held_out, classifier([row["image"] for row in held_out], top_k=3), strict=True):
        print(f"   {row['label']}: {_top3(predictions)}")
    photo = Image.fromarray(skimage_data.chelsea())
    print(f"   a photo of a cat (scikit-image's chelsea, not a digit): {_top3(classifier(photo, top_k=3))}")

    pixel_values = classifier.image_processor([row["image"] for row in held_out], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        logits = classifier.model(pixel_values).logits
    print(f"4. {check_remote_code(folder, pixel_values, logits)}")
    print("5. Plots: " + ", ".join(str(path) for path in result.plots))
    print(f"   metrics: {folder / 'metrics.json'}; TensorBoard: tensorboard --logdir {folder / 'logs'}")
    finished = time.perf_counter()
    print(f"Demo wall time {finished - started:.0f} s (training {trained - started:.0f} s).")
    if final["eval_top1"] < TARGET_TOP1:
        print(f"Test top-1 {final['eval_top1']:.2f}% is under the demo's target of {TARGET_TOP1}%.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
