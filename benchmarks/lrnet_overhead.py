"""LR-Net-26 and LR-Net-50 against ResNet-50 on one thread, batch 1, 224 px: the fastest of interleaved runs.

On a loaded machine the batch-8 table of `hf-vits bench` measures the load as much as the models; one thread and the
fastest of many interleaved runs measure the work. GFLOPs: PyTorch's FLOP counter (convolutions and matrix products,
a multiply-add counting 2) plus, for LR-Net, the local relation layers' own work it does not see: one multiply-add
per channel and neighbour for the aggregation, and 7 operations per group and neighbour for the logits and the
softmax. Run: `.venv/bin/python benchmarks/lrnet_overhead.py --runs 12 --output benchmarks/lrnet-overhead-1thread.md`.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import timm
import torch
import torchvision

import hf_vits
from hf_vits.bench import count_gflops
from hf_vits.modeling.lrnet.modeling_lrnet import ZooLRNetLocalRelation


def relation_gflops(model: torch.nn.Module, pixel_values: torch.Tensor) -> float:
    """GFLOPs of the local relation layers' aggregation, logits and softmax, which the FLOP counter misses."""
    total = 0
    hooks = []

    def count(module, args, output):
        nonlocal total
        _, channels, height, width = output[0].shape
        footprint = module.kernel_size**2
        total += (2 * channels + 7 * module.num_groups) * footprint * height * width

    for module in model.modules():
        if isinstance(module, ZooLRNetLocalRelation):
            hooks.append(module.register_forward_hook(count))
    with torch.inference_mode():
        model(pixel_values)
    for hook in hooks:
        hook.remove()
    return total / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "hf-vits lrnet-26": hf_vits.create_model("lrnet-26"),
        "hf-vits lrnet-50": hf_vits.create_model("lrnet-50"),
        "timm resnet50": timm.create_model("resnet50", pretrained=False),
        "torchvision resnet50": torchvision.models.resnet50(weights=None),
    }
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    gflops = {}
    for name, model in models.items():
        model.eval()
        gflops[name] = count_gflops(model, pixel_values)
        if name.startswith("hf-vits"):
            gflops[name] += relation_gflops(model, pixel_values)
    best = dict.fromkeys(models, float("inf"))
    with torch.inference_mode():
        for run in range(args.runs + 1):
            for name, model in models.items():
                start = time.perf_counter()
                model(pixel_values)
                if run > 0:  # the first run warms up every model
                    best[name] = min(best[name], time.perf_counter() - start)
    fastest_resnet = min(best["timm resnet50"], best["torchvision resnet50"])
    resnet_gflops = gflops["torchvision resnet50"]
    lines = [
        f"## LR-Net against ResNet-50, cpu float32, 1 thread, batch 1, fastest of {args.runs} interleaved runs\n",
        f"{platform.processor() or platform.machine()}; torch {torch.__version__}, timm {timm.__version__}. "
        "GFLOPs: PyTorch's FLOP counter plus, for LR-Net, its relation layers' aggregation, logits and softmax.\n",
        "| model | ms | GFLOPs/image | GFLOP/s | time vs faster ResNet-50 | FLOPs vs ResNet-50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in models:
        lines.append(
            f"| {name} | {best[name] * 1e3:.1f} | {gflops[name]:.2f} | {gflops[name] / best[name]:.1f} "
            f"| {best[name] / fastest_resnet:.2f}x | {gflops[name] / resnet_gflops:.2f}x |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        args.output.write_text(table)


if __name__ == "__main__":
    main()
