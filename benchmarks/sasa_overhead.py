"""SASA ResNet-50 against the plain ResNet-50 on one thread: batch 1 at 224 px, the fastest of interleaved runs.

One thread and the fastest run make the ratio robust to a loaded machine, where the batch-8 table of `hf-vits bench`
mostly measures the load. The FLOPs are counted as `hf-vits bench` counts them (PyTorch's counter with the CPU
attention kernel, a multiply-add counting 2): for SASA the attention executed, each query against its block's halo.

    python benchmarks/sasa_overhead.py --runs 5 --output benchmarks/sasa-overhead-1thread.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision

import hf_vits
from hf_vits.bench import count_gflops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "hf-vits sasa-resnet-50": hf_vits.create_model("sasa-resnet-50").eval(),
        "hf-vits sasa-resnet-50-conv-stem": hf_vits.create_model("sasa-resnet-50-conv-stem").eval(),
        "torchvision resnet50": torchvision.models.resnet50(weights=None).eval(),
    }
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    seconds = {name: [] for name in models}
    gflops = {}
    with torch.inference_mode():
        for name, model in models.items():
            gflops[name] = count_gflops(model, pixel_values)
        for _ in range(args.runs):
            for name, model in models.items():
                start = time.perf_counter()
                model(pixel_values)
                seconds[name].append(time.perf_counter() - start)
    baseline = min(seconds["torchvision resnet50"])
    lines = [
        f"## One thread, batch 1, 224 px, fastest of {args.runs} interleaved runs",
        "",
        f"torch {torch.__version__}; GFLOPs: `hf_vits.bench.count_gflops`, a multiply-add counting 2.",
        "",
        "| model | seconds | GFLOPs | GFLOP/s | time vs ResNet-50 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in models:
        best = min(seconds[name])
        lines.append(
            f"| {name} | {best:.3f} | {gflops[name]:.2f} | {gflops[name] / best:.1f} | {best / baseline:.2f}x |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        args.output.write_text(table)


if __name__ == "__main__":
    main()
