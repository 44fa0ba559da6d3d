"""Non-local networks' named variants: ImageNet ResNets (torchvision's layout, 224 px) with the non-local blocks where
Wang et al. 2018 put them (embedded Gaussian, sub-sampled, C/2 bottleneck).

The paper reports video (Kinetics, Charades) and COCO detection results only; it gives no ImageNet accuracy, FLOPs or
parameter counts for image classifiers, so `top1` and `gflops` are None. The parameter counts are those of these
models with a 1000-class head, counted (torchvision's ResNet-50: 25.56M, ResNet-101: 44.55M; a block on a C-channel
map adds 2C^2 + 4.5C).

Where the blocks go (blocks of a stage counted from 0):
- 1 block: right before the last residual block of res4 (Sec. 4 "Going deeper", and the COCO models of Sec. 6,
  ResNet-50 and -101 alike): after block 4 of res4 in ResNet-50, after block 21 in ResNet-101.
- 5 blocks, ResNet-50: every other residual block of res3 and res4, after blocks 1, 3 of res3 and 1, 3, 5 of res4
  (the authors' code, `NONLOCAL.LAYER_MOD` 2: a block where index % 2 == 1).
- 5 blocks, ResNet-101: the authors' code (`lib/models/resnet_video.py`, depth 101) keeps res3's every other block
  (1, 3) and spreads res4's three over its 23 blocks with index % 7 == 6: after blocks 6, 13 and 20.
- 10 blocks, ResNet-50: after every residual block of res3 and res4. For ResNet-101 the paper says "the
  corresponding residual blocks" and the authors' code gives 9 blocks (res3: 1, 3; res4: every third), so no
  ResNet-101 10-block variant is claimed here.
"""

_RESNET50 = {"depths": [3, 4, 6, 3]}
_RESNET101 = {"depths": [3, 4, 23, 3]}

_COUNTED = (
    "Parameters counted for the 1000-class model (the paper reports video and detection only, no ImageNet figure)"
)

# (name, trunk, positions, params in millions, where the positions come from)
_TABLE = [
    ("nonlocal-resnet50-1block", _RESNET50, [[], [], [4], []], 27.66, "Wang et al. 2018, Sec. 4 (1 block in res4)"),
    (
        "nonlocal-resnet50-5block",
        _RESNET50,
        [[], [1, 3], [1, 3, 5], []],
        32.92,
        "Wang et al. 2018, Sec. 4 (5 blocks: 2 in res3, 3 in res4), authors' code LAYER_MOD 2",
    ),
    (
        "nonlocal-resnet50-10block",
        _RESNET50,
        [[], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], []],
        40.27,
        "Wang et al. 2018, Sec. 4 (10 blocks: every block of res3 and res4)",
    ),
    (
        "nonlocal-resnet101-1block",
        _RESNET101,
        [[], [], [21], []],
        46.65,
        "Wang et al. 2018, Sec. 4 and 6 (1 block right before the last block of res4)",
    ),
    (
        "nonlocal-resnet101-5block",
        _RESNET101,
        [[], [1, 3], [6, 13, 20], []],
        51.91,
        "Wang et al. 2018, Sec. 4 (5 blocks), positions of the authors' code for depth 101",
    ),
]

# torchvision's ImageNet ResNet evaluation: shorter side 256 (bilinear), center crop 224.
_PROCESSOR = {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}

VARIANTS = {
    name: {
        "config": {**trunk, "nonlocal_positions": positions, "image_size": 224},
        "processor": dict(_PROCESSOR),
        "paper": {
            "params_m": params,
            "gflops": None,
            "top1": None,
            "resolution": 224,
            "source": f"{positions_source}. {_COUNTED}.",
        },
    }
    for name, trunk, positions, params, positions_source in _TABLE
}
