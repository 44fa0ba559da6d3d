"""SAN's peak memory and speed in evaluation against `attention_chunk_size` (CPU fp32, batch 8, 224 px).

Each row is one setting of the chunk (None: every map whole); the last columns give what a naive `unfold` of the
values would hold at the largest block (batch * C * k * k * H * W floats), which the aggregation never builds.
Run: `.venv/bin/python benchmarks/san_chunking.py` (writes benchmarks/cpu-fp32-batch8-san-chunking.md).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import torch

import hf_vits
from hf_vits.bench import _peak_memory_mib

VARIANTS = ("san10-pairwise", "san10-patchwise")
CHUNK_SIZES = (None, 4194304, 1048576)
BATCH_SIZE = 8
ROUNDS = 3


def naive_unfold_mib(config, batch_size: int, resolution: int) -> float:
    """The largest B * C_values * k^2 * H * W tensor an unfold-based aggregation would materialise, in MiB."""
    largest = 0
    for stage, (channels, kernel) in enumerate(zip(config.hidden_sizes, config.kernel_sizes, strict=True)):
        side = resolution >> (stage + 1)
        largest = max(largest, batch_size * channels // config.bottleneck_reduction * kernel**2 * side * side)
    return largest * 4 / 2**20


def main() -> None:
    torch.manual_seed(0)
    pixel_values = torch.randn(BATCH_SIZE, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    rows = []
    for variant in VARIANTS:
        model = hf_vits.create_model(variant).eval()
        with torch.inference_mode():
            reference = model(pixel_values).logits
            for chunk_size in CHUNK_SIZES:
                for module in model.modules():
                    if hasattr(module, "chunk_size"):
                        module.chunk_size = chunk_size
                timings = []
                for _ in range(ROUNDS):
                    start = time.perf_counter()
                    logits = model(pixel_values).logits
                    timings.append(time.perf_counter() - start)
                memory = _peak_memory_mib(lambda model=model: model(pixel_values), torch.device("cpu"))
                difference = (logits - reference).abs().max().item()
                rows.append(
                    f"| {variant} | {chunk_size} | {BATCH_SIZE / statistics.median(timings):.2f} | {memory:.0f} "
                    f"| {difference:.1e} | {naive_unfold_mib(model.config, BATCH_SIZE, 224):.0f} |"
                )
                print(rows[-1], flush=True)
    header = (
        f"## SAN evaluation memory against attention_chunk_size, cpu float32, batch {BATCH_SIZE}, 224 px\n\n"
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch {torch.__version__}. "
        "Peak MiB: torch allocations during one forward above those before it (the profiler's allocation events). "
        "Δlogits: against the default chunk. Naive unfold MiB: the values' k x k footprints at the largest block, "
        "which an unfold-based aggregation would hold at once.\n\n"
        "| variant | attention_chunk_size | images/s | peak MiB | max abs Δlogits | naive unfold MiB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n"
    )
    table = header + "\n".join(rows) + "\n"
    Path(__file__).with_name("cpu-fp32-batch8-san-chunking.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
