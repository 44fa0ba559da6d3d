"""The Vision Transformer's named variants: config kwargs and the published figures.

Parameter counts are for the 1000-class ImageNet head. ViT-B, ViT-L and ViT-H are the paper's own models
(Dosovitskiy et al., 2021, Table 1: 86M, 307M, 632M); ViT-Ti and ViT-S are the smaller widths introduced by
DeiT (Touvron et al., 2021) and trained as ViTs by Steiner et al. (2022, "How to train your ViT?"), and the
exact counts are those of timm's `vit_*` models. The paper reports ImageNet top-1 only after JFT-300M or
ImageNet-21k pre-training at other fine-tuning resolutions, so no top-1 is claimed for these configurations.
"""

_WIDTHS = {
    "tiny": {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3, "intermediate_size": 768},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    "huge": {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16, "intermediate_size": 5120},
}

_PAPER = "Dosovitskiy et al. 2021, Table 1"
_TIMM = "timm vit_* model (Steiner et al. 2022 weights)"

# (width, patch, resolution, params in millions, source of the count)
_TABLE = [
    ("tiny", 16, 224, 5.7, _TIMM),
    ("tiny", 16, 384, 5.8, _TIMM),
    ("small", 32, 224, 22.9, _TIMM),
    ("small", 32, 384, 22.9, _TIMM),
    ("small", 16, 224, 22.1, _TIMM),
    ("small", 16, 384, 22.2, _TIMM),
    ("base", 32, 224, 88.2, _PAPER),
    ("base", 32, 384, 88.3, _PAPER),
    ("base", 16, 224, 86.6, _PAPER),
    ("base", 16, 384, 86.9, _PAPER),
    ("large", 32, 224, 305.5, _PAPER),
    ("large", 32, 384, 306.6, _PAPER),
    ("large", 16, 224, 304.3, _PAPER),
    ("large", 16, 384, 304.7, _PAPER),
    ("huge", 14, 224, 632.0, _PAPER),
]

VARIANTS = {
    f"vit-{width}-patch{patch}-{resolution}": {
        "config": {**_WIDTHS[width], "patch_size": patch, "image_size": resolution},
        "processor": {"size": {"height": resolution, "width": resolution}},
        "paper": {"params_m": params, "gflops": None, "top1": None, "resolution": resolution, "source": source},
    }
    for width, patch, resolution, params, source in _TABLE
}
