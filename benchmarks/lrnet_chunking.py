"""LR-Net's local relation layer: peak memory and speed of the chunked aggregation against a naive `unfold` one, and
of LR-Net-50 against `relation_chunk_size` (CPU fp32, one thread, batch 8, 224 px).

The first table runs single layers of LR-Net-50 on their own input sizes (the stem's 7x7 stride-2 layer on the 224 px
map of 64 channels, the first stage's on 56 px, 96 channels) with random embeddings: the naive aggregation unfolds
the values into batch x C x k^2 x H_out x W_out and multiplies them by the weights (another tensor of that size);
ours builds batch x C/m x k^2 x rows x W logits per chunk of rows and sums k^2 shifted views of the values. The
second table runs the whole LR-Net-50 with each chunk setting. Run: `.venv/bin/python benchmarks/lrnet_chunking.py`
(writes benchmarks/cpu-fp32-batch8-lrnet-chunking.md).
"""

from __future__ import annotations

import platform
import statistics
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn

import hf_vits
from hf_vits.bench import _peak_memory_mib
from hf_vits.modeling.lrnet.modeling_lrnet import local_relation

BATCH_SIZE = 8
ROUNDS = 3
CHUNK_SIZES = (None, 4194304, 1048576)
# (layer, channels, input side, stride); m = 8 channels per group, 7x7 windows, scalar queries and keys.
LAYERS = (("stem", 64, 224, 2), ("stage 1", 96, 56, 1))


def naive_local_relation(query, key, value, geometry, kernel_size, stride):
    """The aggregation through `unfold`: every neighbour of every output pixel materialised."""
    batch, channels, height, width = value.shape
    groups, footprint = geometry.shape
    padding = kernel_size // 2
    positions = query.shape[-2] * query.shape[-1]
    keys = nn.functional.unfold(key, kernel_size, padding=padding, stride=stride).view(batch, groups, footprint, -1)
    values = nn.functional.unfold(value, kernel_size, padding=padding, stride=stride)
    inside = nn.functional.unfold(value.new_ones(1, 1, height, width), kernel_size, padding=padding, stride=stride)
    appearance = -((query.flatten(2)[:, :, None] - keys) ** 2)
    logits = torch.where(inside.view(1, 1, footprint, -1) > 0, appearance, -100.0) + geometry[None, :, :, None]
    weights = logits.softmax(dim=2)
    values = values.view(batch, groups, channels // groups, footprint, positions)
    return (values * weights[:, :, None]).sum(dim=3).view(batch, channels, *query.shape[-2:])


def ours(query, key, value, geometry, kernel_size, stride, chunk_size):
    """hf-vits' aggregation, chunked over rows of `chunk_size` logits."""
    return local_relation(query, key, value, geometry, kernel_size, stride, chunk_size=chunk_size)[0]


def timed(run, rounds: int = ROUNDS) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def layer_rows() -> list[str]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for name, channels, side, stride in LAYERS:
        groups, out_side = channels // 8, (side - 1) // stride + 1
        query = torch.randn(BATCH_SIZE, groups, out_side, out_side, generator=generator)
        key = torch.randn(BATCH_SIZE, groups, side, side, generator=generator)
        value = torch.randn(BATCH_SIZE, channels, side, side, generator=generator)
        geometry = torch.randn(groups, 49, generator=generator)
        with torch.inference_mode():
            reference = naive_local_relation(query, key, value, geometry, 7, stride)
            inputs = (query, key, value, geometry, 7, stride)
            runs = {"naive unfold": partial(naive_local_relation, *inputs)}
            for chunk_size in CHUNK_SIZES:
                runs[f"ours, chunk {chunk_size}"] = partial(ours, *inputs, chunk_size=chunk_size)
            for label, run in runs.items():
                difference = (run() - reference).abs().max().item()
                seconds = timed(run)
                memory = _peak_memory_mib(run, torch.device("cpu"))
                rows.append(
                    f"| {name} ({channels} ch, {side} px, stride {stride}) | {label} | {seconds * 1e3:.0f} "
                    f"| {memory:.0f} | {difference:.1e} |"
                )
                print(rows[-1], flush=True)
    return rows


def model_rows() -> list[str]:
    rows = []
    pixel_values = torch.randn(BATCH_SIZE, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = hf_vits.create_model("lrnet-50")
    # BatchNorm statistics of the batch itself, as a trained model has its data's (at their initial values, mean 0
    # and variance 1, the random network's activations grow from stage to stage).
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(pixel_values)
    model.eval()
    reference = None
    with torch.inference_mode():
        for chunk_size in CHUNK_SIZES:
            for module in model.modules():
                if hasattr(module, "chunk_size"):
                    module.chunk_size = chunk_size
            logits = model(pixel_values).logits
            reference = logits if reference is None else reference
            difference = (logits - reference).abs().max().item()
            seconds = timed(lambda: model(pixel_values))
            memory = _peak_memory_mib(lambda: model(pixel_values), torch.device("cpu"))
            rows.append(f"| lrnet-50 | {chunk_size} | {BATCH_SIZE / seconds:.2f} | {memory:.0f} | {difference:.1e} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    # One thread: on a machine shared with other jobs, two threads spend most of a small kernel waiting for each
    # other at OpenMP's barriers, which punishes the many smaller kernels of a chunked layer out of all proportion.
    torch.set_num_threads(1)
    machine = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; torch {torch.__version__}. "
        "Peak MiB: torch allocations during one call above those before it (the profiler's allocation events)."
    )
    table = (
        f"## LR-Net local relation layer, cpu float32, 1 thread, batch {BATCH_SIZE}\n\n{machine} Δ: against the naive "
        "aggregation (the first row of each layer).\n\n"
        "| layer | aggregation | ms | peak MiB | max abs Δ |\n| --- | --- | ---: | ---: | ---: |\n"
        + "\n".join(layer_rows())
        + f"\n\n## LR-Net-50 against relation_chunk_size, cpu float32, 1 thread, batch {BATCH_SIZE}, 224 px\n\n"
        "Δlogits: against the first row (no chunking).\n\n"
        "| variant | relation_chunk_size | images/s | peak MiB | max abs Δlogits |\n"
        "| --- | ---: | ---: | ---: | ---: |\n" + "\n".join(model_rows()) + "\n"
    )
    Path(__file__).with_name("cpu-fp32-batch8-lrnet-chunking.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
