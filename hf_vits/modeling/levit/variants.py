"""LeViT's named variants: config kwargs and the figures of Graham et al. 2021, Table 3 (ImageNet-1k, 224 px,
trained with distillation from a RegNetY-16GF teacher; top-1 of the averaged heads). FLOPs are the paper's, counted
as multiply-adds (305M for LeViT-128S, stored in billions). Parameter counts are the paper's (and the authors'
README's) rounded figures for the 1000-class models with both heads: 7.8M, 9.2M, 11M, 19M and 39M."""

# (name, widths C, heads N, depths, key width D, params in millions, GFLOPs, top-1)
_TABLE = [
    ("128s", [128, 256, 384], [4, 6, 8], [2, 3, 4], 16, 7.8, 0.305, 76.6),
    ("128", [128, 256, 384], [4, 8, 12], [4, 4, 4], 16, 9.2, 0.406, 78.6),
    ("192", [192, 288, 384], [3, 5, 6], [4, 4, 4], 32, 11.0, 0.658, 80.0),
    ("256", [256, 384, 512], [4, 6, 8], [4, 4, 4], 32, 19.0, 1.120, 81.6),
    ("384", [384, 512, 768], [6, 9, 12], [4, 4, 4], 32, 39.0, 2.353, 82.6),
]

_SOURCE = "Graham et al. 2021, Table 3"

# The authors' evaluation transform (DeiT's): shorter side to 256 bicubic, center crop 224.
_PROCESSOR = {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}

VARIANTS = {
    f"levit-{name}": {
        "config": {"hidden_sizes": widths, "num_heads": heads, "depths": depths, "key_dim": key_dim},
        "processor": _PROCESSOR,
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": 224, "source": _SOURCE},
    }
    for name, widths, heads, depths, key_dim, params, gflops, top1 in _TABLE
}
