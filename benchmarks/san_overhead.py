"""SAN10 (pairwise and patchwise) against plain ResNet-50 on one thread, batch 1, 224 px: the fastest of interleaved
runs, which a shared machine's load disturbs least. Run: `.venv/bin/python benchmarks/san_overhead.py` (writes
benchmarks/san-overhead-1thread.md)."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torchvision

import hf_vits
from hf_vits.bench import count_gflops

RUNS = 8


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "san10-pairwise": hf_vits.create_model("san10-pairwise").eval(),
        "san10-patchwise": hf_vits.create_model("san10-patchwise").eval(),
        "torchvision resnet50": torchvision.models.resnet50(weights=None).eval(),
    }
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    gflops = {name: count_gflops(model, pixel_values) for name, model in models.items()}
    timings = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            model(pixel_values)
        for _ in range(RUNS):
            for name, model in models.items():
                start = time.perf_counter()
                model(pixel_values)
                timings[name].append(time.perf_counter() - start)
    baseline = min(timings["torchvision resnet50"])
    rows = [
        f"| {name} | {min(times) * 1000:.0f} | {min(times) / baseline:.2f}x | {gflops[name]:.2f} "
        f"| {gflops[name] / min(times):.1f} |"
        for name, times in timings.items()
    ]
    table = (
        f"## SAN10 against ResNet-50, cpu float32, 1 thread, batch 1, 224 px, fastest of {RUNS} interleaved runs\n\n"
        f"torch {torch.__version__}. GFLOPs: PyTorch's FLOP counter (a multiply-add counts 2; the aggregation's and "
        "relations' elementwise work is not counted).\n\n"
        "| model | ms / image | time vs ResNet-50 | GFLOPs | GFLOP/s |\n| --- | ---: | ---: | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n"
    )
    Path(__file__).with_name("san-overhead-1thread.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
