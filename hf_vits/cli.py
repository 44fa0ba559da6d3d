"""`hf-vits`: the command line of the zoo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch


def _format_figure(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def cmd_list(args: argparse.Namespace) -> int:
    """Print the architectures and their variants with the papers' figures."""
    import hf_vits

    rows = [("variant", "architecture", "params (M)", "GFLOPs", "top-1", "res", "source")]
    for variant in hf_vits.list_variants(args.architecture):
        rows.append(
            (
                variant.name,
                variant.architecture.name,
                _format_figure(variant.params_m),
                _format_figure(variant.gflops),
                _format_figure(variant.top1),
                str(variant.resolution),
                variant.source,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Print one variant: its paper figures, its config, its processor and its counted parameters."""
    import hf_vits

    variant = hf_vits.get_variant(args.variant)
    with torch.device("meta"):
        model = hf_vits.create_model(variant.name)
    counted = sum(p.numel() for p in model.parameters()) / 1e6
    processor = hf_vits.create_image_processor(variant.name)
    info = {
        "variant": variant.name,
        "architecture": variant.architecture.title,
        "paper": variant.architecture.paper,
        "model_type": variant.architecture.model_type,
        "classes": {
            "config": variant.architecture.config_class.__name__,
            "model": variant.architecture.classification_class.__name__,
            "image_processor": {k: c.__name__ for k, c in variant.architecture.processor_classes.items()},
        },
        "figures": {
            "params_m": variant.params_m,
            "params_m_counted": round(counted, 2),
            "gflops": variant.gflops,
            "top1": variant.top1,
            "resolution": variant.resolution,
            "source": variant.source,
        },
        "config": model.config.to_diff_dict(),
        "image_processor": {
            key: value
            for key, value in processor.to_dict().items()
            if key in ("size", "crop_size", "resample", "image_mean", "image_std", "do_center_crop")
        },
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a timm or transformers checkpoint into a complete hf-vits folder."""
    from hf_vits.conversion import convert

    convert(args.source, args.output_dir, checkpoint=args.checkpoint, overwrite=args.overwrite)
    return 0


def _open_image(path: str):
    """Open an image file fully, or raise a ValueError that names the file and the problem.

    16-bit images are scaled to 8 bits here because the pipeline converts every image to RGB before the
    image processor sees it, and PIL's conversion clips 16-bit values instead of scaling them.
    """
    from PIL import Image, UnidentifiedImageError

    from hf_vits.modeling.vit.image_processing_vit import to_8bit

    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such image file.")
    try:
        with Image.open(file) as image:
            image.load()
            return to_8bit(image.copy())
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({error}).") from error


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify images with the image-classification pipeline and print the top-k labels."""
    from transformers import pipeline

    import hf_vits  # noqa: F401  (registers the architectures)

    images = [_open_image(path) for path in args.images]
    classifier = pipeline(
        "image-classification", model=args.model_dir, trust_remote_code=args.trust_remote_code, device=args.device
    )
    for path, predictions in zip(args.images, classifier(images, top_k=args.top_k), strict=True):
        print(path)
        for prediction in predictions:
            print(f"  {prediction['score']:.4f}  {prediction['label']}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Compare throughput and memory with timm and transformers on the same weights."""
    from hf_vits.bench import run_benchmark

    run_benchmark(
        models=args.models,
        batch_size=args.batch_size,
        rounds=args.rounds,
        device=args.device,
        dtype=args.dtype,
        output=args.output,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hf-vits` and its sub-commands."""
    parser = argparse.ArgumentParser(prog="hf-vits", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="architectures and variants with the papers' figures")
    listing.add_argument("--architecture", help="only this architecture (e.g. vit, deit)")
    listing.set_defaults(func=cmd_list)

    info = commands.add_parser("info", help="one variant in detail")
    info.add_argument("variant")
    info.set_defaults(func=cmd_info)

    convert = commands.add_parser("convert", help="convert a timm or transformers checkpoint")
    convert.add_argument("source", help="timm:<timm model name> or transformers:<folder or hub id>")
    convert.add_argument("output_dir")
    convert.add_argument("--checkpoint", help="local weights file (safetensors or a PyTorch state dict)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    convert.set_defaults(func=cmd_convert)

    predict = commands.add_parser("predict", help="classify images with a saved model")
    predict.add_argument("model_dir")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--device", default=None, help="e.g. cpu, cuda:0")
    predict.add_argument("--trust-remote-code", action="store_true", help="load the folder's own code")
    predict.set_defaults(func=cmd_predict)

    bench = commands.add_parser("bench", help="throughput/memory against timm and transformers")
    bench.add_argument("--models", nargs="+", default=None, help="variants to measure (default: the standard set)")
    bench.add_argument("--batch-size", type=int, default=8)
    bench.add_argument("--rounds", type=int, default=10, help="timed batches per implementation")
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    bench.add_argument("--output", type=Path, help="also write the results table (Markdown) to this file")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hf-vits` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logging.getLogger("hf_vits").setLevel(logging.INFO)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"hf-vits {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
