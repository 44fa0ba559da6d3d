"""Criss-cross attention against dense attention on CCNet's 97x97 feature map (769 px / 8): peak memory and time.

Both compute the same function, one criss-cross attention of the authors' head (512 channels, queries and keys at
64): hf-vits' `ZooCCNetCrissCrossAttention.attend` builds the (B, H, W, H + W) energies of each position's row and
column; the dense form softmaxes the full (HW x HW) energy map with every position outside the row and column
masked out. Run from the repository root:

    .venv/bin/python benchmarks/ccnet_attention_memory.py --output benchmarks/ccnet-attention-memory-97x97.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from hf_vits import ZooCCNetConfig
from hf_vits.bench import _peak_memory_mib
from hf_vits.modeling.ccnet.modeling_ccnet import ZooCCNetCrissCrossAttention


def dense_masked_attention(module: ZooCCNetCrissCrossAttention, hidden_states: torch.Tensor) -> torch.Tensor:
    """Criss-cross attention as dense softmax attention over all HW positions, masked to the row and column."""
    batch, channels, height, width = hidden_states.shape
    query = module.query(hidden_states).flatten(2).transpose(1, 2)
    key = module.key(hidden_states).flatten(2)
    value = module.value(hidden_states).flatten(2).transpose(1, 2)
    rows = torch.arange(height, device=hidden_states.device).repeat_interleave(width)
    cols = torch.arange(width, device=hidden_states.device).repeat(height)
    keep = (rows[:, None] == rows[None, :]) | (cols[:, None] == cols[None, :])
    weights = (query @ key).masked_fill(~keep, float("-inf")).softmax(-1)
    context = (weights @ value).transpose(1, 2).reshape(batch, channels, height, width)
    return module.gamma * context + hidden_states


def measure(side: int, channels: int, rounds: int) -> str:
    """The table: peak memory, median time and the largest difference from the dense form, of each form."""
    torch.manual_seed(0)
    module = ZooCCNetCrissCrossAttention(ZooCCNetConfig(), channels).eval()
    with torch.no_grad():
        module.gamma.fill_(1.0)
    hidden_states = torch.randn(1, channels, side, side)
    implementations = {
        "criss-cross (hf-vits)": lambda: module.attend(hidden_states)[0],
        "dense, row/column mask": lambda: dense_masked_attention(module, hidden_states),
    }
    device = torch.device("cpu")
    rows = []
    with torch.inference_mode():
        reference = implementations["dense, row/column mask"]()
        for name, run in implementations.items():
            difference = (run() - reference).abs().max().item()
            timings = []
            for _ in range(rounds):
                start = time.perf_counter()
                run()
                timings.append(time.perf_counter() - start)
            memory = _peak_memory_mib(run, device)
            rows.append((name, memory, statistics.median(timings) * 1e3, difference))
    positions = side * side
    header = (
        f"## One criss-cross attention at {side}x{side}, {channels} channels (queries and keys {channels // 8}), "
        f"batch 1, CPU fp32\n\n"
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"median of {rounds} runs, load average {os.getloadavg()[0]:.1f} at the start. "
        "Peak MiB: torch allocations during one call above those before it. "
        f"The largest tensor: criss-cross {positions * 2 * side:,} energies (HW x (H + W)), dense "
        f"{positions**2:,} (HW x HW).\n"
    )
    lines = [
        header,
        "| implementation | peak MiB | ms | max abs Δ vs dense | memory vs dense |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    dense_memory = rows[-1][1]
    for name, memory, milliseconds, difference in rows:
        lines.append(
            f"| {name} | {memory:.1f} | {milliseconds:.1f} | {difference:.1e} | {memory / dense_memory:.3f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=97)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    table = measure(args.side, args.channels, args.rounds)
    print(table)
    if args.output is not None:
        args.output.write_text(table)


if __name__ == "__main__":
    main()
