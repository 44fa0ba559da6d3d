"""Stand-Alone Self-Attention's named variants: config kwargs and the figures of Ramachandran et al. 2019, Table 1
(ImageNet-1k, 224 px): ResNet-26, -38 and -50 with every spatial convolution replaced by local attention, with the
attention stem ("full attention") or the ResNet stem ("conv-stem + attention"). The paper gives one parameter count
for both stems (the stems differ by a few thousand parameters). Its FLOPs and top-1 are used where this file's
sources confirm them (the ResNet-50 full-attention model: 7.2 GFLOPs, 77.6% top-1, 12% fewer FLOPs than the 8.2 of
the ResNet-50 baseline, as the abstract says); the others are left unknown (None) rather than quoted unchecked."""

_DEPTHS = {"26": [1, 2, 4, 1], "38": [2, 3, 5, 2], "50": [3, 4, 6, 3]}
_SOURCE = "Ramachandran et al. 2019, Table 1, ImageNet-1k"

# (depth, stem, params in millions, GFLOPs, top-1)
_TABLE = [
    ("26", "attention", 10.3, None, None),
    ("38", "attention", 14.1, None, None),
    ("50", "attention", 18.0, 7.2, 77.6),
    ("26", "convolution", 10.3, None, None),
    ("38", "convolution", 14.1, None, None),
    ("50", "convolution", 18.0, None, None),
]

_PROCESSOR = {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}


def _name(depth: str, stem: str) -> str:
    return f"sasa-resnet-{depth}" + ("-conv-stem" if stem == "convolution" else "")


VARIANTS = {
    _name(depth, stem): {
        "config": {"depths": _DEPTHS[depth], "stem_type": stem, "image_size": 224},
        "processor": dict(_PROCESSOR),
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": 224, "source": _SOURCE},
    }
    for depth, stem, params, gflops, top1 in _TABLE
}
