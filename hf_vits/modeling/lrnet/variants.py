"""LR-Net's named variants: config kwargs and the figures of Hu et al. 2019 (ImageNet-1k, 224 px, 7x7 local relation
layers with m = 8 channels per aggregation group).

The paper gives LR-Net-26 14.7M parameters, 2.6 GFLOPs and 75.7% top-1, and LR-Net-50 23.3M parameters, 4.3 GFLOPs
and 77.3% top-1. It widens the ResNet bottleneck because a local relation layer has far fewer parameters than a 3x3
convolution; no code of these networks was released (only the CUDA op). The reading here: the relation layer's own
1x1 transform after the aggregation (Fig. 2), scalar query and key per group (C/m channels each), and inner widths
96, 200, 400, 800 (about 1.56x ResNet's 64 .. 512, each a multiple of m), which gives 14.61M and 23.39M: both within
0.6% of the paper's counts. LR-Net-101 is the same design on ResNet-101's depths; its parameter count is that of this
model (counted, 1000-class head), as no figure of it is claimed here.
"""

_PAPER = "Hu et al. 2019, ImageNet-1k classification (7x7 local relation layers, m = 8)"
_COUNTED = "Parameters counted for this model with a 1000-class head (Hu et al. 2019 design on ResNet-101's depths)"

_WIDTHS = {"hidden_sizes": [256, 512, 1024, 2048], "relation_widths": [96, 200, 400, 800]}
_PROCESSOR = {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}

# (name, depths, params in millions, GFLOPs, top-1, source)
_TABLE = [
    ("lrnet-26", [2, 2, 2, 2], 14.7, 2.6, 75.7, _PAPER),
    ("lrnet-50", [3, 4, 6, 3], 23.3, 4.3, 77.3, _PAPER),
    ("lrnet-101", [3, 4, 23, 3], 40.83, None, None, _COUNTED),
]

VARIANTS = {
    name: {
        "config": {**_WIDTHS, "depths": depths, "image_size": 224},
        "processor": dict(_PROCESSOR),
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": 224, "source": source},
    }
    for name, depths, params, gflops, top1, source in _TABLE
}
