"""AA-ResNet variants: config kwargs and the figures of Bello et al. 2019, Table 3 (ImageNet, 224 px; GFLOPs as the
paper counts them, two per multiply-add: ResNet-50 is 8.2). Every 3x3 convolution of the last three stages is
augmented with kappa = 2 upsilon = 0.2 and N_h = 8 heads, the first of them with its attention downsampled.

The paper gives kappa, upsilon and N_h but not how kappa * F_out and upsilon * F_out become whole depths per head;
the parameter counts pin it down:
- AA-ResNet-50/101/152 (bottleneck blocks, one 3x3 convolution each): d_k^h = max(20, round(kappa F_out / N_h)) and
  d_v^h = round(upsilon F_out / N_h), i.e. (d_k, d_v) = (160, 16), (160, 24), (160, 48) in stages 2, 3 and 4. The
  paper's "at least 20 dimensions per head" for the keys is what this count needs: without it AA-ResNet-50 would
  have 25.1M parameters, fewer than ResNet-50, against the paper's 25.8M.
- AA-ResNet-34 (basic blocks, two 3x3 convolutions each): 20.7M parameters and 7.1 GFLOPs, below ResNet-34's 21.8M
  and 7.4, are only reached with both 3x3 convolutions of every block augmented, d_k^h and d_v^h rounded up and no
  20-dimension floor: (d_k, d_v) = (32, 16), (56, 32), (104, 56). With one augmented convolution per block, or the
  floor, the count cannot go below 21.2M.
"""

_IMAGENET = "Bello et al. 2019, Table 3 (ImageNet classification)"

_BOTTLENECK = {"layer_type": "bottleneck", "hidden_sizes": [256, 512, 1024, 2048]}
_BASIC = {
    "layer_type": "basic",
    "hidden_sizes": [64, 128, 256, 512],
    "min_key_dim_per_head": 0,
    "dim_rounding": "up",
}

# (name, trunk, depths, params in millions, GFLOPs, top-1)
_TABLE = [
    ("aa-resnet-34", _BASIC, [3, 4, 6, 3], 20.7, 7.1, 74.7),
    ("aa-resnet-50", _BOTTLENECK, [3, 4, 6, 3], 25.8, 8.3, 77.7),
    ("aa-resnet-101", _BOTTLENECK, [3, 4, 23, 3], 45.4, 16.1, 78.7),
    ("aa-resnet-152", _BOTTLENECK, [3, 8, 36, 3], 61.6, 23.8, 79.1),
]

VARIANTS = {
    name: {
        "config": {**trunk, "depths": depths, "image_size": 224},
        "processor": {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}},
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": 224, "source": _IMAGENET},
    }
    for name, trunk, depths, params, gflops, top1 in _TABLE
}
