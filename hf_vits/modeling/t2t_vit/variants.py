"""T2T-ViT's named variants: config kwargs and the figures of the authors' README (yitu-opensource/T2T-ViT, the
"T2T-ViT Models" table, with the T2T-ViT-14 results updated on 2021/03/11, and the table of the three lite variants),
for the checkpoints released there.

The compute figure is the authors' "MACs" column: billions of multiply-accumulates, not of floating-point operations
(one MAC is two FLOPs); the T2T-ViT_t models cost more than their Performer twins by the softmax attention over the
3136 tokens of the first T2T layer. Parameter counts include what the reference registers as parameters without
gradient, the sinusoidal position table and the Performers' random features (21.7M of the 384-px T2T-ViT-14
against 21.5M at 224 px is its longer position table). No MACs are published for the 384-px model.
"""

_WIDTHS = {
    "7": {"hidden_size": 256, "num_hidden_layers": 7, "num_attention_heads": 4, "mlp_ratio": 2.0},
    "10": {"hidden_size": 256, "num_hidden_layers": 10, "num_attention_heads": 4, "mlp_ratio": 2.0},
    "12": {"hidden_size": 256, "num_hidden_layers": 12, "num_attention_heads": 4, "mlp_ratio": 2.0},
    "14": {"hidden_size": 384, "num_hidden_layers": 14, "num_attention_heads": 6, "mlp_ratio": 3.0},
    "19": {"hidden_size": 448, "num_hidden_layers": 19, "num_attention_heads": 7, "mlp_ratio": 3.0},
    "24": {"hidden_size": 512, "num_hidden_layers": 24, "num_attention_heads": 8, "mlp_ratio": 3.0},
}

_SOURCE = "Yuan et al. 2021; yitu-opensource/T2T-ViT README, {table} (compute: G MACs)"
_MAIN = _SOURCE.format(table="T2T-ViT Models table")
_LITE = _SOURCE.format(table="lite variants table")

# (name, depth, T2T layer, resolution, params in millions, G MACs, top-1, source)
_TABLE = [
    ("t2t-vit-7", "7", "performer", 224, 4.3, 1.1, 71.7, _LITE),
    ("t2t-vit-10", "10", "performer", 224, 5.9, 1.5, 75.2, _LITE),
    ("t2t-vit-12", "12", "performer", 224, 6.9, 1.8, 76.5, _LITE),
    ("t2t-vit-14", "14", "performer", 224, 21.5, 4.8, 81.5, _MAIN),
    ("t2t-vit-19", "19", "performer", 224, 39.2, 8.5, 81.9, _MAIN),
    ("t2t-vit-24", "24", "performer", 224, 64.1, 13.8, 82.3, _MAIN),
    ("t2t-vit-t-14", "14", "transformer", 224, 21.5, 6.1, 81.7, _MAIN),
    ("t2t-vit-t-19", "19", "transformer", 224, 39.2, 9.8, 82.4, _MAIN),
    ("t2t-vit-t-24", "24", "transformer", 224, 64.1, 15.0, 82.6, _MAIN),
    ("t2t-vit-14-384", "14", "performer", 384, 21.7, None, 83.3, _MAIN),
]


def _processor(resolution: int) -> dict:
    """The reference evaluation transform: shorter side to floor(resolution / 0.9), bicubic, center crop."""
    return {
        "size": {"shortest_edge": int(resolution / 0.9)},
        "crop_size": {"height": resolution, "width": resolution},
    }


VARIANTS = {
    name: {
        "config": {**_WIDTHS[depth], "tokens_to_token_type": layer, "image_size": resolution},
        "processor": _processor(resolution),
        "paper": {"params_m": params, "gflops": macs, "top1": top1, "resolution": resolution, "source": source},
    }
    for name, depth, layer, resolution, params, macs, top1, source in _TABLE
}
