"""The benchmark's FLOP count and its table (the timings themselves are benchmarks, not tests)."""

from __future__ import annotations

import pytest
import torch

from hf_vits import create_model
from hf_vits.bench import Measurement, count_gflops, format_table


def test_flop_count_includes_the_fused_attention_kernel():
    pixel_values = torch.randn(1, 3, 224, 224)
    sdpa = create_model("deit-tiny-patch16-224").eval()
    eager = create_model("deit-tiny-patch16-224", attn_implementation="eager").eval()
    # Patch embedding, 12 x (qkv, attention, projection, MLP), head: the eager model counts every matmul.
    assert count_gflops(sdpa, pixel_values) == pytest.approx(count_gflops(eager, pixel_values), rel=1e-6)
    assert count_gflops(eager, pixel_values) == pytest.approx(2.516, abs=0.01)


def test_table_gives_ratios_for_our_rows_only():
    rows = [
        Measurement("levit-128s", "hf-vits", 200.0, 10.0, 0.0, 0.6),
        Measurement("levit-128s", "hf-vits fused", 300.0, 8.0, 1e-6, 0.6),
        Measurement("levit-128s", "timm", 250.0, 10.0, 0.0, 0.6),
        Measurement("levit-128s", "timm resnet50", 100.0, 20.0, None, 8.2),
    ]
    table = format_table(rows, "header")
    lines = {line.split(" | ")[1]: line for line in table.splitlines() if line.startswith("| levit")}
    assert "**0.800x**" in lines["hf-vits"] and "**1.200x**" in lines["hf-vits fused"]
    assert "0.80x" in lines["hf-vits fused"]
    assert "x" not in lines["timm"].split(" | ")[-2]
    assert "n/a (other model)" in lines["timm resnet50"]
    assert "| 180.0 |" in lines["hf-vits fused"]  # achieved GFLOP/s = 0.6 GFLOPs x 300 images/s
