"""Non-local networks' named variants: ImageNet ResNets (torchvision's layout, 224 px) with non-local blocks
(embedded Gaussian, sub-sampled, C/2 bottleneck) where Wang et al. 2018 put them.

The paper reports video classification (Kinetics, Charades) and COCO detection, segmentation and keypoints only.
It gives no ImageNet accuracy, FLOPs or parameter count for an image classifier, and nobody has measured one for
these models: the top-1 and GFLOPs columns are empty on purpose. The parameter counts are counted, for the
1000-class models (torchvision's ResNet-50 has 25.56M, ResNet-101 44.55M; a block on a C-channel map adds
2C^2 + 4.5C). As in the paper, a model starts from an ImageNet ResNet: `hf-vits convert torchvision:resnet50 OUT
--variant nonlocal-resnet50-5block` (or `timm:resnet50`) loads its weights into the trunk, the non-local blocks starting
as the identity.

Where the blocks go (the blocks of a stage counted from 0):
- 1 block: right before the last residual block of res4 (Sec. 4, and the COCO models of Sec. 6): after block 4 of
  res4 in ResNet-50, after block 21 in ResNet-101.
- 5 blocks, ResNet-50: every other residual block of res3 and res4, after blocks 1, 3 of res3 and 1, 3, 5 of res4
  (the authors' code, `NONLOCAL.LAYER_MOD` 2: after each block whose index % 2 == 1).
- 5 blocks, ResNet-101: the authors' code (`lib/models/resnet_video.py`, depth 101) keeps res3's blocks 1 and 3 and
  spreads res4's three over its 23 blocks (index % 7 == 6): after blocks 6, 13 and 20.
- 10 blocks, ResNet-50: after every residual block of res3 and res4. For ResNet-101 the paper says "the
  corresponding residual blocks" while the authors' code gives 9 blocks, so no ResNet-101 10-block variant is claimed.
"""

_RESNET50 = {"depths": [3, 4, 6, 3]}
_RESNET101 = {"depths": [3, 4, 23, 3]}

_COUNTED = "params counted; no ImageNet figure in the paper"

# (name, trunk, positions, params in millions, where the positions come from)
_TABLE = [
    ("nonlocal-resnet50-1block", _RESNET50, [[], [], [4], []], 27.66, "Wang et al. 2018, Sec. 4: 1 block in res4"),
    (
        "nonlocal-resnet50-5block",
        _RESNET50,
        [[], [1, 3], [1, 3, 5], []],
        32.92,
        "Wang et al. 2018, Sec. 4 and authors' code: 5 blocks in res3/res4",
    ),
    (
        "nonlocal-resnet50-10block",
        _RESNET50,
        [[], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5], []],
        40.27,
        "Wang et al. 2018, Sec. 4: 10 blocks in res3/res4",
    ),
    (
        "nonlocal-resnet101-1block",
        _RESNET101,
        [[], [], [21], []],
        46.65,
        "Wang et al. 2018, Sec. 4 and 6: 1 block in res4",
    ),
    (
        "nonlocal-resnet101-5block",
        _RESNET101,
        [[], [1, 3], [6, 13, 20], []],
        51.91,
        "Authors' code for depth 101: 5 blocks in res3/res4",
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
            "source": f"{positions_source}; {_COUNTED}",
        },
    }
    for name, trunk, positions, params, positions_source in _TABLE
}
