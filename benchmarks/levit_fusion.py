"""LeViT's BatchNorm folding on the CPU: timm's LeViT (unfused, its default form), ours unfused and ours fused, on the
same weights, timed interleaved with the order rotated every round; the fastest and the median batch of each.

The fastest batch is the figure least disturbed by other load on a shared machine; the table gives both.

    python benchmarks/levit_fusion.py --threads 1 --rounds 30 --output benchmarks/levit-fusion-cpu-fp32.md
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import timm
import torch

from hf_vits.conversion import convert_timm_model

PAIRS = {"levit-128s": "levit_128s", "levit-256": "levit_256"}


def measure(variant: str, batch_size: int, rounds: int) -> dict[str, tuple[float, float]]:
    """(fastest, median) seconds per batch of timm's model, ours and ours fused."""
    torch.manual_seed(0)
    timm_model = timm.create_model(PAIRS[variant], pretrained=False).eval()
    ours, _ = convert_timm_model(timm_model)
    models = {"timm": timm_model, "hf-vits": ours.eval(), "hf-vits fused": copy.deepcopy(ours).fuse()}
    pixel_values = torch.randn(batch_size, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    names = list(models)
    timings = {name: [] for name in names}
    with torch.inference_mode():
        for round_index in range(rounds + 1):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                models[name](pixel_values)
                if round_index > 0:
                    timings[name].append(time.perf_counter() - start)
    return {name: (min(times), statistics.median(times)) for name, times in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        f"## LeViT fused and unfused against timm, cpu float32, batch {args.batch_size}, {args.threads} thread(s), "
        f"{args.rounds} interleaved rounds",
        "",
        f"torch {torch.__version__}, timm {timm.__version__}. Speed-ups are timm's time over ours.",
        "",
        "| variant | implementation | fastest ms/batch | median ms/batch | speed-up vs timm (fastest) "
        "| speed-up vs timm (median) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for variant in PAIRS:
        results = measure(variant, args.batch_size, args.rounds)
        fastest_timm, median_timm = results["timm"]
        for name, (fastest, median) in results.items():
            lines.append(
                f"| {variant} | {name} | {1000 * fastest:.1f} | {1000 * median:.1f} "
                f"| {fastest_timm / fastest:.3f}x | {median_timm / median:.3f}x |"
            )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        args.output.write_text(table)


if __name__ == "__main__":
    main()
