"""DeiT's named variants: config kwargs and the figures of Touvron et al. 2021, Table 1 (ImageNet-1k only,
top-1 at the listed resolution; FLOPs are the paper's, counted as multiply-adds). Parameter counts are for
the 1000-class heads: the paper rounds them to 5M / 22M / 86M (6M / 22M / 87M distilled); the one-decimal
figures are those of the authors' released models."""

_WIDTHS = {
    "tiny": {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3, "intermediate_size": 768},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}

_SOURCE = "Touvron et al. 2021, Table 1"

# (width, distilled, resolution, params in millions, GFLOPs, top-1)
_TABLE = [
    ("tiny", False, 224, 5.7, 1.3, 72.2),
    ("small", False, 224, 22.1, 4.6, 79.8),
    ("base", False, 224, 86.6, 17.6, 81.8),
    ("base", False, 384, 86.9, 55.5, 83.1),
    ("tiny", True, 224, 5.9, 1.3, 74.5),
    ("small", True, 224, 22.4, 4.6, 81.2),
    ("base", True, 224, 87.3, 17.6, 83.4),
    ("base", True, 384, 87.6, 55.5, 84.5),
]


def _processor(resolution: int) -> dict:
    """DeiT's evaluation transform: crop ratio 0.875 at 224 px, 1.0 at 384 px."""
    resize = int(resolution / 0.875) if resolution == 224 else resolution
    return {"size": {"shortest_edge": resize}, "crop_size": {"height": resolution, "width": resolution}}


VARIANTS = {
    f"deit-{width}{'-distilled' if distilled else ''}-patch16-{resolution}": {
        "config": {
            **_WIDTHS[width],
            "patch_size": 16,
            "image_size": resolution,
            "use_distillation_token": distilled,
        },
        "processor": _processor(resolution),
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": resolution, "source": _SOURCE},
    }
    for width, distilled, resolution, params, gflops, top1 in _TABLE
}
