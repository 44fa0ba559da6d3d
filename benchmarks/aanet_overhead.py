"""The cost of attention augmentation: AA-ResNet-50 against the plain ResNet-50 of timm and torchvision, on a loaded
machine.

`hf-vits bench` reports medians, which on a shared, oversubscribed VM measure the load as much as the model. This
script runs each model single-threaded, interleaved, and keeps each one's fastest run: the closest a loaded machine
gets to the idle time. It also times our model with eager attention, to show what the fused kernel saves.

    python benchmarks/aanet_overhead.py --batch-size 1 --runs 12 --output benchmarks/aanet-overhead-cpu-fp32.md
    python benchmarks/aanet_overhead.py --batch-size 8 --threads 2 --runs 6 --append \
        --output benchmarks/aanet-overhead-cpu-fp32.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import timm
import torch
import torchvision

import hf_vits


def fastest_seconds(models: dict[str, torch.nn.Module], pixel_values: torch.Tensor, runs: int) -> dict[str, float]:
    """Each model's fastest forward over `runs` interleaved rounds (after one warm-up round)."""
    best = dict.fromkeys(models, float("inf"))
    with torch.inference_mode():
        for round_index in range(runs + 1):
            for name, model in models.items():
                start = time.perf_counter()
                model(pixel_values)
                if round_index:
                    best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--append", action="store_true", help="add the table to --output instead of replacing it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = hf_vits.create_model("aa-resnet-50").eval()
    eager = hf_vits.create_model("aa-resnet-50", attn_implementation="eager").eval()
    eager.load_state_dict(ours.state_dict())
    models = {
        "hf-vits aa-resnet-50 (sdpa)": ours,
        "hf-vits aa-resnet-50 (eager)": eager,
        "timm resnet50": timm.create_model("resnet50", pretrained=False).eval(),
        "torchvision resnet50": torchvision.models.resnet50(weights=None).eval(),
    }
    pixel_values = torch.randn(args.batch_size, 3, 224, 224)
    best = fastest_seconds(models, pixel_values, args.runs)
    baseline = min(best["timm resnet50"], best["torchvision resnet50"])
    lines = [
        f"## AA-ResNet-50 against ResNet-50, cpu float32, batch {args.batch_size}, 224 px, {args.threads} thread(s), "
        f"fastest of {args.runs} interleaved runs",
        "",
        f"torch {torch.__version__}, timm {timm.__version__}, torchvision {torchvision.__version__}.",
        "",
        "| implementation | ms / batch | time vs the faster ResNet-50 |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {seconds * 1e3:.1f} | {seconds / baseline:.3f}x |" for name, seconds in best.items()]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        previous = args.output.read_text() + "\n" if args.append and args.output.exists() else ""
        args.output.write_text(previous + table)


if __name__ == "__main__":
    main()
