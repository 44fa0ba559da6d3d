"""Inference throughput and peak memory of hf-vits models against timm and transformers.

Each reference model gets the same weights as ours (converted), and the implementations are timed
interleaved, batch by batch with the order rotated every round, so that a machine's drift (turbo,
other load) is shared by all of them. Results are ratios against the faster peer. Where timm has no such model
(CvT), transformers is the only peer and the reference of the logit column.

The attention-CNNs have no implementation elsewhere: they are measured against the plain ResNet-50 of timm and
torchvision on the same input (`BASELINES`), and their ratios are the cost of their attention. Every row also
gives the FLOPs of one image (PyTorch's FLOP counter: a multiply-add counts 2) and the GFLOP/s achieved.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Our variant -> timm model of the same architecture, or None where timm has none. transformers gets the same
# weights through the inverse conversion table (its ViTForImageClassification for both ViT and DeiT, as the Hub's
# DeiT checkpoints are; SwinForImageClassification; CvtForImageClassification).
PAIRINGS = {
    "vit-base-patch16-224": "vit_base_patch16_224",
    "deit-small-patch16-224": "deit_small_patch16_224",
    "deit-tiny-patch16-224": "deit_tiny_patch16_224",
    "swin-tiny-patch4-window7-224": "swin_tiny_patch4_window7_224",
    "cvt-13-224": None,
    "levit-128s": "levit_128s",
    "levit-256": "levit_256",
}
# The set measured when no model is named.
DEFAULT_MODELS = ("vit-base-patch16-224", "deit-small-patch16-224", "deit-tiny-patch16-224")
# Our variant -> the plain models it is measured against, where no implementation of the architecture exists.
BASELINES: dict[str, tuple[str, ...]] = {
    "nonlocal-resnet50-1block": ("timm resnet50", "torchvision resnet50"),
    "nonlocal-resnet50-5block": ("timm resnet50", "torchvision resnet50"),
    "nonlocal-resnet50-10block": ("timm resnet50", "torchvision resnet50"),
    "aa-resnet-50": ("timm resnet50", "torchvision resnet50"),
    "san10-pairwise": ("timm resnet50", "torchvision resnet50"),
    "san10-patchwise": ("timm resnet50", "torchvision resnet50"),
    "ccnet-resnet50-classifier": ("timm resnet50", "torchvision resnet50"),
    "sasa-resnet-50": ("timm resnet50", "torchvision resnet50"),
    "sasa-resnet-50-conv-stem": ("timm resnet50", "torchvision resnet50"),
    "lrnet-26": ("timm resnet50", "torchvision resnet50"),
    "lrnet-50": ("timm resnet50", "torchvision resnet50"),
    # No library ships T2T-ViT (vit-pytorch's T2TViT keeps the unfolded widths, 147 to 11907, in three softmax T2T
    # layers: another model); the paper sets T2T-ViT-14 against DeiT-S, the ViT of its size.
    "t2t-vit-14": ("timm deit_small_patch16_224",),
    "t2t-vit-t-14": ("timm deit_small_patch16_224",),
}
# The plain models of BASELINES, built with random weights.
BASELINE_MODELS: dict[str, Callable[[], nn.Module]] = {
    "timm resnet50": lambda: __import__("timm").create_model("resnet50", pretrained=False),
    "torchvision resnet50": lambda: __import__("torchvision").models.resnet50(weights=None),
    "timm deit_small_patch16_224": lambda: __import__("timm").create_model("deit_small_patch16_224", pretrained=False),
}


def _ccnet_resnet50_classifier() -> nn.Module:
    """CCNet's image classifier: ResNet-50 with the RCCA (R = 2) on its last stage, 1000 classes."""
    from hf_vits import ZooCCNetConfig, ZooCCNetForImageClassification

    config = ZooCCNetConfig(
        stem_type="standard", depths=[3, 4, 6, 3], dilations=[1, 1, 1, 1], image_size=224, num_labels=1000
    )
    return ZooCCNetForImageClassification(config)


# Models of ours measured against BASELINES that are no registry variant (the paper gives no figures for them).
BENCHMARK_MODELS: dict[str, Callable[[], nn.Module]] = {"ccnet-resnet50-classifier": _ccnet_resnet50_classifier}


def _fused_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` with its BatchNorms folded for inference (LeViT's `fuse()`)."""
    import copy

    return copy.deepcopy(model).fuse()


# Our variant -> further implementations of ours made from the measured model (e.g. an inference-fused copy).
DERIVED_IMPLEMENTATIONS: dict[str, dict[str, Callable[[nn.Module], nn.Module]]] = {
    "levit-128s": {"hf-vits fused": _fused_copy},
    "levit-256": {"hf-vits fused": _fused_copy},
}
# Config overrides that make a variant compute what its transformers peer computes: transformers' CvT has exact
# GELU where the paper's code (and our default) has QuickGELU.
TRANSFORMERS_OVERRIDES = {"cvt-13-224": {"hidden_act": "gelu"}}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Measurement:
    """One implementation of one variant: median images/s over the timed batches, peak memory, and the largest
    logit difference from the reference implementation (timm, else transformers)."""

    variant: str
    implementation: str
    images_per_second: float
    peak_memory_mib: float
    max_abs_logit_diff: float | None
    """None against a baseline, which computes another function."""
    gflops_per_image: float = float("nan")

    @property
    def achieved_gflops_per_second(self) -> float:
        return self.gflops_per_image * self.images_per_second

    @property
    def ours(self) -> bool:
        return self.implementation.startswith("hf-vits")


def build_same_weight_models(variant: str) -> dict[str, nn.Module]:
    """Our model, timm's (where timm has it) and transformers' for `variant`, all carrying the same random weights;
    the second entry is the reference of the logit column."""
    import timm

    from hf_vits import create_model
    from hf_vits.conversion import convert_timm_model, to_transformers_model

    torch.manual_seed(0)
    if PAIRINGS[variant] is None:
        ours = create_model(variant, **TRANSFORMERS_OVERRIDES.get(variant, {})).eval()
        return {"hf-vits": ours, "transformers": to_transformers_model(ours)}
    timm_model = timm.create_model(PAIRINGS[variant], pretrained=False)
    ours, _ = convert_timm_model(timm_model)
    return {"hf-vits": ours, "timm": timm_model, "transformers": to_transformers_model(ours)}


def build_baseline_models(variant: str) -> dict[str, nn.Module]:
    """Our model of `variant` (random weights) and the plain models it is measured against."""
    from hf_vits import create_model

    torch.manual_seed(0)
    ours = BENCHMARK_MODELS[variant]() if variant in BENCHMARK_MODELS else create_model(variant)
    models = {"hf-vits": ours.eval()}
    for name in BASELINES[variant]:
        models[name] = BASELINE_MODELS[name]().eval()
    return models


def count_gflops(model: nn.Module, pixel_values: torch.Tensor) -> float:
    """GFLOPs of one forward of `model` per image of `pixel_values` (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    # PyTorch's counter knows the CUDA attention kernels but not the CPU flash kernel that SDPA runs here.
    cpu_flash_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_flash_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=cpu_flash_attention) as counter, torch.inference_mode():
        _logits(model, pixel_values)
    return counter.get_total_flops() / pixel_values.shape[0] / 1e9


def _resolution(config) -> tuple[int, int]:
    size = getattr(config, "image_size", 224)
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _logits(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    output = model(pixel_values)
    return output if isinstance(output, torch.Tensor) else output.logits


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mib(run: Callable[[], object], device: torch.device) -> float:
    """Peak memory allocated by torch while `run()` executes, above what was allocated before it.

    On CUDA this is the allocator's own peak counter. On the CPU, where torch keeps no such counter, the
    profiler's allocation and free events are replayed in time order and their running sum's maximum taken.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        run()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    changes = []
    for event in prof.events():
        if event.name == "[memory]":
            changes.append((event.time_range.start, event.cpu_memory_usage))
        elif event.self_cpu_memory_usage:
            # An operator's net allocation happens at its start; a net release when it ends.
            moment = event.time_range.start if event.self_cpu_memory_usage > 0 else event.time_range.end
            changes.append((moment, event.self_cpu_memory_usage))
    current = peak = 0
    for _, change in sorted(changes, key=lambda item: item[0]):
        current += change
        peak = max(peak, current)
    return peak / 2**20


def measure_variant(
    variant: str, batch_size: int, rounds: int, device: torch.device, dtype: torch.dtype
) -> list[Measurement]:
    """Time every implementation of `variant`, interleaved, and measure its peak memory and FLOPs."""
    baseline = variant in BASELINES
    models = build_baseline_models(variant) if baseline else build_same_weight_models(variant)
    for name, derive in DERIVED_IMPLEMENTATIONS.get(variant, {}).items():
        models[name] = derive(models["hf-vits"])
    for model in models.values():
        model.to(device=device, dtype=dtype).eval()
    resolution = _resolution(models["hf-vits"].config)
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(batch_size, 3, *resolution, generator=generator).to(device=device, dtype=dtype)
    gflops = {name: count_gflops(model, pixel_values[:1]) for name, model in models.items()}

    # The reference of the logit column: timm (else transformers) for a pairing; our own model against baselines,
    # which compute other functions (only our derived implementations are compared then).
    reference = "hf-vits" if baseline else next(name for name in models if not name.startswith("hf-vits"))
    with torch.inference_mode():
        reference_logits = _logits(models[reference], pixel_values).float()
        differences = {
            name: None
            if baseline and not name.startswith("hf-vits")
            else (_logits(model, pixel_values).float() - reference_logits).abs().max().item()
            for name, model in models.items()
        }
        names = list(models)
        timings: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(rounds + 1):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                _synchronize(device)
                start = time.perf_counter()
                _logits(models[name], pixel_values)
                _synchronize(device)
                if round_index > 0:  # the first round warms up every implementation
                    timings[name].append(time.perf_counter() - start)
        memory = {
            name: _peak_memory_mib(lambda model=model: _logits(model, pixel_values), device)
            for name, model in models.items()
        }
    return [
        Measurement(
            variant=variant,
            implementation=name,
            images_per_second=batch_size / statistics.median(timings[name]),
            peak_memory_mib=memory[name],
            max_abs_logit_diff=differences[name],
            gflops_per_image=gflops[name],
        )
        for name in names
    ]


def format_table(measurements: list[Measurement], header: str) -> str:
    """A Markdown table with the throughput and memory of each of ours as ratios to the faster peer."""
    lines = [
        header,
        "",
        "| variant | implementation | images/s | peak MiB | GFLOPs/image | GFLOP/s | max abs Δlogits vs reference "
        "| speed vs faster peer | memory vs faster peer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant in dict.fromkeys(m.variant for m in measurements):
        rows = [m for m in measurements if m.variant == variant]
        fastest_peer = max((m for m in rows if not m.ours), key=lambda m: m.images_per_second)
        for m in rows:
            speed = memory = ""
            if m.ours:
                speed = f"**{m.images_per_second / fastest_peer.images_per_second:.3f}x**"
                memory = f"{m.peak_memory_mib / fastest_peer.peak_memory_mib:.2f}x"
            difference = "n/a (other model)" if m.max_abs_logit_diff is None else f"{m.max_abs_logit_diff:.1e}"
            lines.append(
                f"| {variant} | {m.implementation} | {m.images_per_second:.2f} | {m.peak_memory_mib:.1f} "
                f"| {m.gflops_per_image:.2f} | {m.achieved_gflops_per_second:.1f} | {difference} | {speed} | {memory} |"
            )
    return "\n".join(lines) + "\n"


def run_benchmark(
    models: list[str] | None = None,
    batch_size: int = 8,
    rounds: int = 10,
    device: str = "cpu",
    dtype: str = "float32",
    output: Path | None = None,
) -> list[Measurement]:
    """Measure `models` (default: ViT-B/16, DeiT-S, DeiT-Ti), print the table, optionally save it."""
    import timm
    import transformers

    variants = models or list(DEFAULT_MODELS)
    unknown = [v for v in variants if v not in PAIRINGS and v not in BASELINES]
    if unknown:
        available = ", ".join([*PAIRINGS, *BASELINES])
        raise ValueError(f"No benchmark pairing for {unknown}; available: {available}.")
    if dtype not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}.")
    torch_device = torch.device(device)
    measurements = []
    for variant in variants:
        measurements += measure_variant(variant, batch_size, rounds, torch_device, DTYPES[dtype])
        print(f"measured {variant}", flush=True)

    processor = platform.processor() or platform.machine()
    hardware = torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else processor
    header = (
        f"## Inference, {device} {dtype}, batch {batch_size}, median of {rounds} interleaved batches\n\n"
        f"{hardware}, {torch.get_num_threads()} threads; torch {torch.__version__}, timm {timm.__version__}, "
        f"transformers {transformers.__version__}; each implementation's default attention. "
        "Reference of the logit column: timm, or transformers where timm has no such model; models measured "
        "against plain baselines compute another function (n/a). "
        "Peak MiB: torch allocations during one forward above those before it. "
        "GFLOPs: PyTorch's FLOP counter, one image, a multiply-add counting 2."
    )
    table = format_table(measurements, header)
    print(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(table)
    return measurements
