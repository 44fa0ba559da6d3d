"""The Swin Transformer's named variants: config kwargs and the figures of Liu et al. 2021, Table 1(a) (ImageNet-1k
top-1 of models trained on ImageNet-1k; for Swin-L, which the paper trains on ImageNet-22k only, the top-1 after
ImageNet-22k pre-training, Table 1(b)). FLOPs are the paper's, counted as multiply-adds. Parameter counts are for
the 1000-class heads: the paper rounds them to 28M, 50M, 88M and 197M; the one-decimal figures are those of the
authors' released models."""

_WIDTHS = {
    "tiny": {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24]},
    "small": {"embed_dim": 96, "depths": [2, 2, 18, 2], "num_heads": [3, 6, 12, 24]},
    "base": {"embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32]},
    "large": {"embed_dim": 192, "depths": [2, 2, 18, 2], "num_heads": [6, 12, 24, 48]},
}

_IN1K = "Liu et al. 2021, Table 1(a), ImageNet-1k training"
_IN22K = "Liu et al. 2021, Table 1(b), ImageNet-22k pre-training"

# (width, window, resolution, params in millions, GFLOPs, top-1, source)
_TABLE = [
    ("tiny", 7, 224, 28.3, 4.5, 81.2, _IN1K),
    ("small", 7, 224, 49.6, 8.7, 83.2, _IN1K),
    ("base", 7, 224, 87.8, 15.4, 83.5, _IN1K),
    ("base", 12, 384, 87.9, 47.0, 84.5, _IN1K),
    ("large", 7, 224, 196.5, 34.5, 86.3, _IN22K),
    ("large", 12, 384, 196.7, 103.9, 87.3, _IN22K),
]


def _processor(resolution: int) -> dict:
    """The reference evaluation transform: crop ratio 224 / 256 at 224 px, a plain resize at 384 px."""
    if resolution == 224:
        return {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}
    return {"size": {"height": resolution, "width": resolution}, "do_center_crop": False}


VARIANTS = {
    f"swin-{width}-patch4-window{window}-{resolution}": {
        "config": {**_WIDTHS[width], "patch_size": 4, "window_size": window, "image_size": resolution},
        "processor": _processor(resolution),
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": resolution, "source": source},
    }
    for width, window, resolution, params, gflops, top1, source in _TABLE
}
