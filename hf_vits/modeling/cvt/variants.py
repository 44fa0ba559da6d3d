"""CvT's named variants: config kwargs and the figures of Wu et al. 2021, Table 2 (architectures) and Table 4
(ImageNet-1k top-1; CvT-W24 after ImageNet-22k pre-training, "↑384" rows fine-tuned at 384 px). FLOPs are the
paper's, counted as multiply-adds. Parameter counts are for the 1000-class heads: the paper rounds them to 20M,
32M and 277M; the one-decimal figures are those of the authors' released models."""

_WIDTHS = {
    "13": {"embed_dims": [64, 192, 384], "num_heads": [1, 3, 6], "depths": [1, 2, 10]},
    "21": {"embed_dims": [64, 192, 384], "num_heads": [1, 3, 6], "depths": [1, 4, 16]},
    "w24": {"embed_dims": [192, 768, 1024], "num_heads": [3, 12, 16], "depths": [2, 2, 20]},
}

_IN1K = "Wu et al. 2021, Table 4, ImageNet-1k training"
_IN22K = "Wu et al. 2021, Table 4, ImageNet-22k pre-training"

# (width, resolution, params in millions, GFLOPs, top-1, source)
_TABLE = [
    ("13", 224, 20.0, 4.5, 81.6, _IN1K),
    ("13", 384, 20.0, 16.3, 83.0, _IN1K),
    ("21", 224, 31.6, 7.1, 82.5, _IN1K),
    ("21", 384, 31.6, 24.9, 83.3, _IN1K),
    ("w24", 384, 277.2, 193.2, 87.7, _IN22K),
]


def _processor(resolution: int) -> dict:
    """The reference evaluation transform: crop ratio 0.875 at 224 px, a plain resize at 384 px."""
    if resolution == 224:
        return {"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}
    return {"size": {"height": resolution, "width": resolution}, "do_center_crop": False}


VARIANTS = {
    f"cvt-{width}-{resolution}": {
        "config": {**_WIDTHS[width], "image_size": resolution},
        "processor": _processor(resolution),
        "paper": {"params_m": params, "gflops": gflops, "top1": top1, "resolution": resolution, "source": source},
    }
    for width, resolution, params, gflops, top1, source in _TABLE
}
