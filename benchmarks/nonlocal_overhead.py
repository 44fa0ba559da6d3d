"""The cost of the non-local blocks on a loaded machine: each Non-local ResNet-50 against timm's and torchvision's
plain ResNet-50, one thread, batch 1, 224 px, CPU fp32, the fastest of many interleaved runs.

`hf-vits bench` times batches of 8 on all threads, which other processes disturb on a shared machine (the same plain
ResNet-50 then differs by tens of percent between timm and torchvision). One thread and the fastest of interleaved runs
measure what each model costs when it does get the core.

    python benchmarks/nonlocal_overhead.py --runs 12 --output benchmarks/nonlocal-overhead-1thread.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import timm
import torch
import torchvision

import hf_vits
from hf_vits.bench import count_gflops

VARIANTS = ("nonlocal-resnet50-1block", "nonlocal-resnet50-5block", "nonlocal-resnet50-10block")


def fastest_seconds(models: dict[str, torch.nn.Module], pixel_values: torch.Tensor, runs: int) -> dict[str, float]:
    """The fastest forward of each model over `runs` rounds, the models interleaved, the order rotated each round."""
    names = list(models)
    best = dict.fromkeys(names, float("inf"))
    with torch.inference_mode():
        for name in names:  # warm-up
            models[name](pixel_values)
        for round_index in range(runs):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                models[name](pixel_values)
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {name: hf_vits.create_model(name).eval() for name in VARIANTS}
    models["timm resnet50"] = timm.create_model("resnet50", pretrained=False).eval()
    models["torchvision resnet50"] = torchvision.models.resnet50(weights=None).eval()
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    gflops = {name: count_gflops(model, pixel_values) for name, model in models.items()}
    seconds = fastest_seconds(models, pixel_values, args.runs)
    baseline = min(seconds["timm resnet50"], seconds["torchvision resnet50"])

    lines = [
        f"## Non-local ResNet-50 against plain ResNet-50: cpu float32, 1 thread, batch 1, 224 px, fastest of "
        f"{args.runs} interleaved runs",
        "",
        f"torch {torch.__version__}, timm {timm.__version__}, torchvision {torchvision.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} at the end. GFLOPs: PyTorch's FLOP counter, a multiply-add counting 2.",
        "",
        "| model | ms / image | GFLOPs | time vs the faster ResNet-50 | GFLOPs vs ResNet-50 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in models:
        lines.append(
            f"| {name} | {seconds[name] * 1e3:.1f} | {gflops[name]:.2f} | {seconds[name] / baseline:.2f}x "
            f"| {gflops[name] / gflops['torchvision resnet50']:.2f}x |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        args.output.write_text(table)


if __name__ == "__main__":
    main()
