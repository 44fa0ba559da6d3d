"""`hf-vits`: the command line of the zoo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .hub.cli import add_hub_commands
from .images import open_image


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
            "model": type(model).__name__,
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

    convert(args.source, args.output_dir, checkpoint=args.checkpoint, overwrite=args.overwrite, variant=args.variant)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify images with the image-classification pipeline and print the top-k labels."""
    from transformers import pipeline

    import hf_vits  # noqa: F401  (registers the architectures)

    images = [open_image(path) for path in args.images]
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


def cmd_train(args: argparse.Namespace) -> int:
    """Train a zoo variant with the Accelerate trainer and export it."""
    from accelerate import PartialState

    from hf_vits.training import TrainingConfig, train

    options = {name: getattr(args, name) for name in TrainingConfig.field_names()}
    if args.model_overrides is not None:
        options["model_overrides"] = dict(args.model_overrides)
    result = train(TrainingConfig.from_sources(args.config, **options))
    if PartialState().is_main_process:
        final = result.metrics
        print(
            f"Exported {result.output_dir}: eval top-1 {final['eval_top1']:.2f}%, top-5 {final['eval_top5']:.2f}% "
            f"after {final['epochs']} epochs ({final['train_seconds']:.0f} s of training)"
        )
        print("Plots: " + ", ".join(str(path) for path in result.plots))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print top-1 / top-5 of a saved model on a dataset split, as JSON."""
    from accelerate import PartialState

    from hf_vits.training.evaluation import evaluate_folder

    metrics = evaluate_folder(
        args.model_dir,
        dataset=args.dataset,
        split=args.split,
        batch_size=args.batch_size,
        image_column=args.image_column,
        label_column=args.label_column,
        bad_images=args.bad_images,
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
    )
    if PartialState().is_main_process:
        print(json.dumps(metrics, indent=2))
    return 0


def _key_values(text: str) -> tuple[str, object]:
    """Parse KEY=VALUE, reading VALUE as JSON when it is (64, 0.1, true, [1, 2]) and as a string otherwise."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainingConfig field; a flag left out keeps the YAML file's value, else DeiT's default."""
    import dataclasses

    from hf_vits.training import TrainingConfig

    parser.add_argument("--config", help="YAML file of training options (flags override it)")
    defaults = TrainingConfig()
    for option in dataclasses.fields(TrainingConfig):
        flag = "--" + option.name.replace("_", "-")
        default = getattr(defaults, option.name)
        kwargs = {"dest": option.name, "default": None, "help": option.metadata["help"]}
        if option.name != "output_dir":
            kwargs["help"] += f" (default: {default})"
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kwargs.update(nargs=len(default), type=float, metavar="X")
        elif isinstance(default, dict):
            kwargs.update(nargs="+", type=_key_values, metavar="KEY=VALUE", action="extend")
        else:
            kwargs["type"] = type(default) if default is not None else _optional_type(option.type)
            kwargs["choices"] = option.metadata.get("choices")
        parser.add_argument(flag, **kwargs)


def _optional_type(annotation: str) -> type:
    """The type of a field annotated `X | None` (annotations are strings here)."""
    return {"int | None": int, "float | None": float}.get(annotation, str)


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

    convert = commands.add_parser("convert", help="convert a timm, transformers or original checkpoint")
    convert.add_argument(
        "source",
        help="timm:<timm model name>, transformers:<folder or hub id>, original:<variant> with --checkpoint "
        "(a paper's own checkpoint layout, e.g. original:swin-tiny-patch4-window7-224, original:cvt-13), or "
        "torchvision:<resnet> / timm:<resnet> with --variant",
    )
    convert.add_argument("output_dir")
    convert.add_argument("--checkpoint", help="local weights file (safetensors or a PyTorch state dict)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    convert.add_argument(
        "--variant",
        help="with a timm: or torchvision: ResNet source, the Non-local, CCNet or AA-ResNet variant whose trunk it "
        "becomes (e.g. torchvision:resnet50 --variant nonlocal-resnet50-5block)",
    )
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

    training = commands.add_parser(
        "train", help="train a variant (Accelerate; DeiT's recipe)", description=cmd_train.__doc__
    )
    _add_training_options(training)
    training.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="top-1 / top-5 of a saved model on a dataset split")
    evaluate.add_argument("model_dir")
    evaluate.add_argument("--dataset", default="digits", help="digits | imagefolder:PATH | saved dataset | Hub id")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--image-column", help="image column (default: the first Image column)")
    evaluate.add_argument("--label-column", help="label column (default: the first ClassLabel column)")
    evaluate.add_argument("--bad-images", default="fail", choices=["fail", "skip"])
    evaluate.add_argument("--cpu", action="store_true", help="evaluate on the CPU even when a GPU is present")
    evaluate.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    evaluate.set_defaults(func=cmd_evaluate)
    add_hub_commands(commands)
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
