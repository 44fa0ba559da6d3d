"""T2T-ViT's original layout (yitu-opensource/T2T-ViT, `models/t2t_vit.py`) as a key table onto ours, and what the
authors' released checkpoints need besides their keys.

The authors' names and ours, module by module:

    cls_token, pos_embed                       t2t_vit.embeddings.cls_token, .position_embeddings
    tokens_to_token.attention{1,2}.            t2t_vit.embeddings.tokens_to_token.layers.{0,1}.
        norm1, norm2                               layernorm_before, layernorm_after
        kqv, proj, w        (Performer)            attention.key_query_value, attention.proj, attention.random_features
        mlp.0, mlp.2        (Performer)            mlp.fc1, mlp.fc2
        attn.qkv, attn.proj (transformer)          attention.query_key_value, attention.proj
        mlp.fc1, mlp.fc2    (transformer)          mlp.fc1, mlp.fc2
    tokens_to_token.project                    t2t_vit.embeddings.tokens_to_token.projection
    blocks.{i}.norm1, attn.qkv, attn.proj,     t2t_vit.encoder.layers.{i}.layernorm_before, attention.qkv,
        norm2, mlp.fc1, mlp.fc2                    attention.proj, layernorm_after, mlp.fc1, mlp.fc2
    norm, head                                 t2t_vit.layernorm, classifier

Every tensor is renamed, none reshaped: the Performer's fused projection keeps the reference's key, query, value
order. The position table and the Performers' random features, which the reference registers as parameters without
gradient, are taken from the checkpoint, never redrawn. The released weights were trained with backbone attention
scores scaled by hidden_size^-0.5 (the `qk_scale` the reference's model functions set for `pretrained=True`), which
the converted config records.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from ..modeling.t2t_vit import ZooT2TViTConfig
from ..modeling.t2t_vit.modeling_t2t_vit import sinusoid_position_table
from .common import KeyRule, KeyTable, read_checkpoint

logger = logging.getLogger(__name__)

# The authors' checkpoints hold the weights under "state_dict" and their exponential moving average under
# "state_dict_ema"; their evaluation (`load_for_transfer_learning(..., use_ema=True)`) takes the average.
CHECKPOINT_NESTING_KEYS = ("state_dict_ema", "state_dict")

_PERFORMER_MODULES = {
    "norm1": "layernorm_before",
    "kqv": "attention.key_query_value",
    "proj": "attention.proj",
    "norm2": "layernorm_after",
    "mlp.0": "mlp.fc1",
    "mlp.2": "mlp.fc2",
}
_TRANSFORMER_MODULES = {
    "norm1": "layernorm_before",
    "attn.qkv": "attention.query_key_value",
    "attn.proj": "attention.proj",
    "norm2": "layernorm_after",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_BLOCK_MODULES = {
    "norm1": "layernorm_before",
    "attn.qkv": "attention.qkv",
    "attn.proj": "attention.proj",
    "norm2": "layernorm_after",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
# Linear layers of the reference that have no bias.
_WITHOUT_BIAS = {"attn.qkv"}


def released_config_overrides(variant_config: dict) -> dict:
    """What the authors' released weights need on top of a variant's config: the backbone's attention scores
    scaled by hidden_size^-0.5."""
    return {"attention_scale": variant_config["hidden_size"] ** -0.5}


def read_original_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of an authors' checkpoint: the moving average when the file has one, as their evaluation takes.
    Their timm training script saves its argparse arguments beside the weights, which are admitted."""
    return read_checkpoint(path, nesting_keys=CHECKPOINT_NESTING_KEYS, allowed_classes=(argparse.Namespace,))


def _renames(theirs: str, ours: str, modules: dict[str, str], qkv_bias: bool = False) -> list[KeyRule]:
    rules = []
    for source, target in modules.items():
        kinds = ("weight",) if source in _WITHOUT_BIAS and not qkv_bias else ("weight", "bias")
        rules += [KeyRule.rename(f"{theirs}{source}.{kind}", f"{ours}{target}.{kind}") for kind in kinds]
    return rules


def t2t_vit_key_table(config: ZooT2TViTConfig) -> KeyTable:
    """The table from the reference's `T2T_ViT` state dict onto our image classifier for `config`."""
    embeddings = "t2t_vit.embeddings."
    rules = [
        KeyRule.rename("cls_token", f"{embeddings}cls_token"),
        KeyRule.rename("pos_embed", f"{embeddings}position_embeddings"),
    ]
    performer = config.tokens_to_token_type == "performer"
    for index in range(len(config.soft_split_kernel_sizes) - 1):
        theirs = f"tokens_to_token.attention{index + 1}."
        ours = f"{embeddings}tokens_to_token.layers.{index}."
        rules += _renames(theirs, ours, _PERFORMER_MODULES if performer else _TRANSFORMER_MODULES)
        if performer:
            rules.append(KeyRule.rename(f"{theirs}w", f"{ours}attention.random_features"))
    rules += _renames("tokens_to_token.", f"{embeddings}tokens_to_token.", {"project": "projection"})
    for index in range(config.num_hidden_layers):
        rules += _renames(f"blocks.{index}.", f"t2t_vit.encoder.layers.{index}.", _BLOCK_MODULES, config.qkv_bias)
    rules += _renames("", "t2t_vit.", {"norm": "layernorm"})
    if config.num_labels > 0:
        rules += _renames("", "", {"head": "classifier"})
    return KeyTable(rules)


def check_position_table(state_dict: dict[str, torch.Tensor], source_name: str) -> bool:
    """Whether the checkpoint's position table is the sinusoid of its length (it is not after the reference's
    transfer-learning code resampled it for another resolution); logged, since the table is loaded either way."""
    table = state_dict["pos_embed"]
    expected = sinusoid_position_table(table.shape[1], table.shape[2])
    is_sinusoid = torch.allclose(table.float(), expected, atol=1e-6, rtol=0)
    if is_sinusoid:
        logger.info("%s: the position table is the sinusoid of %d positions.", source_name, table.shape[1])
    else:
        logger.warning(
            "%s: the position table is not the sinusoid of %d positions (resampled from another resolution?); "
            "it is loaded as it is.",
            source_name,
            table.shape[1],
        )
    return is_sinusoid
