"""SAN's named variants: config kwargs and the figures of the authors' README (hszhao/SAN, "Performance"), which
repeats Table 2 of Zhao et al. 2020: ImageNet-1k top-1 at 224 px (resize 256, center crop), parameters and FLOPs
(counted as multiply-adds). The released models use subtraction (pairwise) and concatenation (patchwise)."""

_DEPTHS = {"10": [2, 1, 2, 4, 1], "15": [3, 2, 3, 5, 2], "19": [3, 3, 4, 6, 3]}

_SOURCE = "Zhao et al. 2020, Table 2 (hszhao/SAN README, Performance)"

# (depth, self-attention type, params in millions, GFLOPs, top-1)
_TABLE = [
    ("10", "pairwise", 10.5, 2.2, 74.9),
    ("15", "pairwise", 14.1, 3.0, 76.6),
    ("19", "pairwise", 17.6, 3.8, 76.9),
    ("10", "patchwise", 11.8, 1.9, 77.1),
    ("15", "patchwise", 16.2, 2.6, 78.0),
    ("19", "patchwise", 20.5, 3.3, 78.2),
]

# The exact parameter counts of the authors' models (1000 classes), which ours reproduce to the parameter.
PARAMETER_COUNTS = {
    "san10-pairwise": 10_531_848,
    "san15-pairwise": 14_065_436,
    "san19-pairwise": 17_596_156,
    "san10-patchwise": 11_841_124,
    "san15-patchwise": 16_181_310,
    "san19-patchwise": 20_518_470,
}

VARIANTS = {
    f"san{depth}-{kind}": {
        "config": {
            "depths": _DEPTHS[depth],
            "kernel_sizes": [3, 7, 7, 7, 7],
            "self_attention_type": kind,
            "relation_type": "subtraction" if kind == "pairwise" else "concatenation",
        },
        "processor": {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}},
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": 224, "source": _SOURCE},
    }
    for depth, kind, params, gflops, top1 in _TABLE
}
