"""The Swin Transformer's state-dict layouts: timm's `SwinTransformer`, the original Microsoft repository's, and
transformers' on-disk `SwinModel` / `SwinForImageClassification`, each as a key table onto ours, with the configs.

The three differ in where patch merging lives: the original code and transformers end stage i with it
(`layers.i.downsample`, as we do), timm starts stage i + 1 with it (`layers.{i+1}.downsample`). The original
checkpoints also carry two buffers our model recomputes: every block's relative position index and every shifted
block's attention mask; they are consumed, and checked against ours, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import torch
from torch import nn
from transformers import PreTrainedConfig

from ..modeling.swin import ZooSwinConfig
from ..modeling.swin.modeling_swin import (
    relative_position_index,
    shifted_window_mask,
    stage_resolutions,
    window_geometry,
)
from .common import ConversionError, KeyRule, KeyTable

LAYOUTS = ("timm", "original", "transformers")

# Block sub-modules in each layout and ours (each with weight and bias); transformers splits q, k and v.
_BLOCK_MODULES = {
    "timm": {
        "norm1": "layernorm_before",
        "attn.qkv": "attention.qkv",
        "attn.proj": "attention.proj",
        "norm2": "layernorm_after",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    },
    "transformers": {
        "layernorm_before": "layernorm_before",
        "attention.output.dense": "attention.proj",
        "layernorm_after": "layernorm_after",
        "intermediate.dense": "mlp.fc1",
        "output.dense": "mlp.fc2",
    },
}
_BLOCK_MODULES["original"] = _BLOCK_MODULES["timm"]


def table_windows(config: ZooSwinConfig) -> list[int]:
    """Each stage's relative-position-table window at the configured image size."""
    return [
        window_geometry(config.window_size, False, *resolution)[0]
        for resolution in stage_resolutions(config, *config.image_size_pair)
    ]


def swin_key_table(
    config: ZooSwinConfig, layout: str, our_prefix: str = "swin.", their_prefix: str = "", head: bool = True
) -> KeyTable:
    """The key table from `layout` ("timm", "original" or "transformers") onto our Swin (keys under `our_prefix`;
    `their_prefix` is transformers' "swin." of its classifier). `head` includes the classifier."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown Swin layout {layout!r}; expected one of {LAYOUTS}.")
    ours, theirs = our_prefix, their_prefix
    if layout == "transformers":
        stem = {
            f"{theirs}embeddings.patch_embeddings.projection": f"{ours}embeddings.patch_embeddings.projection",
            f"{theirs}embeddings.norm": f"{ours}embeddings.norm",
        }
        final_norm, classifier = f"{theirs}layernorm", "classifier"
        table_name = "attention.self.relative_position_bias_table"
        stage_key = f"{theirs}encoder.layers"
    else:
        stem = {
            "patch_embed.proj": f"{ours}embeddings.patch_embeddings.projection",
            "patch_embed.norm": f"{ours}embeddings.norm",
        }
        final_norm, classifier = "norm", "head.fc" if layout == "timm" else "head"
        table_name = "attn.relative_position_bias_table"
        stage_key = "layers"

    rules = [
        KeyRule.rename(f"{src}.{kind}", f"{dst}.{kind}") for src, dst in stem.items() for kind in ("weight", "bias")
    ]
    for stage, depth in enumerate(config.depths):
        for block in range(depth):
            src, dst = f"{stage_key}.{stage}.blocks.{block}.", f"{ours}encoder.stages.{stage}.blocks.{block}."
            rules.append(KeyRule.rename(f"{src}{table_name}", f"{dst}attention.relative_position_bias_table"))
            for kind in ("weight", "bias") if config.qkv_bias else ("weight",):
                if layout == "transformers":
                    parts = tuple(f"{src}attention.self.{name}.{kind}" for name in ("query", "key", "value"))
                    rules.append(KeyRule(parts, f"{dst}attention.qkv.{kind}"))
            for their_module, our_module in _BLOCK_MODULES[layout].items():
                for kind in ("weight", "bias"):
                    if our_module == "attention.qkv" and kind == "bias" and not config.qkv_bias:
                        continue
                    rules.append(KeyRule.rename(f"{src}{their_module}.{kind}", f"{dst}{our_module}.{kind}"))
        if stage < config.num_stages - 1:
            # timm merges at the start of the next stage, the others at the end of this one.
            source_stage = stage + 1 if layout == "timm" else stage
            src, dst = f"{stage_key}.{source_stage}.downsample.", f"{ours}encoder.stages.{stage}.downsample."
            for name in ("norm.weight", "norm.bias", "reduction.weight"):
                rules.append(KeyRule.rename(f"{src}{name}", f"{dst}{name}"))
    modules = [(final_norm, f"{ours}layernorm")]
    if head and config.num_labels > 0:
        modules.append((classifier, "classifier"))
    rules += [KeyRule.rename(f"{src}.{kind}", f"{dst}.{kind}") for src, dst in modules for kind in ("weight", "bias")]
    return KeyTable(rules, derived=original_buffers(config) if layout == "original" else ())


def original_buffers(config: ZooSwinConfig) -> list[str]:
    """The buffers an original checkpoint holds: each block's relative position index, and the attention mask of
    each block that shifts at the configured size."""
    keys = []
    for stage, (depth, resolution) in enumerate(
        zip(config.depths, stage_resolutions(config, *config.image_size_pair), strict=True)
    ):
        for block in range(depth):
            keys.append(f"layers.{stage}.blocks.{block}.attn.relative_position_index")
            if window_geometry(config.window_size, block % 2 == 1, *resolution)[1]:
                keys.append(f"layers.{stage}.blocks.{block}.attn_mask")
    return keys


def check_original_buffers(config: ZooSwinConfig, state_dict: Mapping[str, torch.Tensor], source_name: str) -> None:
    """Raise a ConversionError when an original checkpoint's buffers are not those of `config` (a checkpoint made
    for another window size or resolution)."""
    resolutions = stage_resolutions(config, *config.image_size_pair)
    wrong = []
    for key in original_buffers(config):
        stage, block = int(key.split(".")[1]), int(key.split(".")[3])
        resolution = resolutions[stage]
        if key.endswith("relative_position_index"):
            window = window_geometry(config.window_size, False, *resolution)[0]
            expected = relative_position_index(window, window)
        else:
            window, shift = window_geometry(config.window_size, block % 2 == 1, *resolution)
            expected = shifted_window_mask(*resolution, window, shift, torch.device("cpu"), torch.float32)
        found = state_dict.get(key)
        if found is None or found.shape != expected.shape or not torch.equal(found.to(expected.dtype), expected):
            shape = None if found is None else tuple(found.shape)
            wrong.append(f"{key} {shape} (expected {tuple(expected.shape)})")
    if wrong:
        raise ConversionError(
            f"{source_name} was not made for this configuration (window {config.window_size}, "
            f"{config.image_size} px): its buffers differ from the model's: {', '.join(wrong[:5])}"
            f"{' ...' if len(wrong) > 5 else ''}."
        )


# --- timm ---------------------------------------------------------------------------------------------------------


def unsupported_timm_features(timm_model: nn.Module) -> list[str]:
    """What of timm's SwinTransformer `timm_model` our Swin does not implement; empty when it converts faithfully."""
    from timm.layers import Mlp, PatchEmbed
    from timm.models.swin_transformer import SwinTransformer, SwinTransformerBlock, WindowAttention

    if type(timm_model) is not SwinTransformer:
        return [f"the model class {type(timm_model).__name__} (only SwinTransformer)"]
    features = []
    patch_embed = timm_model.patch_embed
    if type(patch_embed) is not PatchEmbed or not isinstance(patch_embed.norm, nn.LayerNorm):
        features.append("a patch embedding other than a convolution followed by LayerNorm")
    elif patch_embed.patch_size[0] != patch_embed.patch_size[1]:
        features.append(f"non-square patches {tuple(patch_embed.patch_size)}")
    if timm_model.global_pool != "avg":
        features.append(f"pooling global_pool={timm_model.global_pool!r} (only 'avg')")
    head = timm_model.head.fc
    if not (isinstance(head, nn.Identity) or (isinstance(head, nn.Linear) and head.bias is not None)):
        features.append("a classifier head other than a linear layer with bias")

    config = _config_kwargs(timm_model)
    resolutions = stage_resolutions(ZooSwinConfig(**config), *config["image_size"])
    norms = [patch_embed.norm, timm_model.norm]
    block_features = []
    for stage_index, stage in enumerate(timm_model.layers):
        dim = config["embed_dim"] * 2**stage_index
        if stage_index > 0 and (stage.downsample.reduction.out_features != dim or stage.downsample.norm is None):
            block_features.append("patch merging other than 4C -> 2C")
        if stage_index > 0:
            norms.append(stage.downsample.norm)
        for block_index, block in enumerate(stage.blocks):
            if type(block) is not SwinTransformerBlock or type(block.attn) is not WindowAttention:
                block_features.append(f"the block type {type(block).__name__}")
                continue
            norms += [block.norm1, block.norm2]
            window, shift = window_geometry(config["window_size"], block_index % 2 == 1, *resolutions[stage_index])
            if tuple(block.window_size) != (window, window) or tuple(block.shift_size) != (shift, shift):
                theirs = f"{tuple(block.window_size)} shifted by {tuple(block.shift_size)}"
                block_features.append(
                    f"stage {stage_index + 1}'s windows {theirs} where the reference has ({window}, {window}) shifted "
                    f"by ({shift}, {shift}) (always_partition, per-stage windows, or a map smaller than the window "
                    "along one axis only)"
                )
            if block.attn.qkv.out_features != 3 * dim or (block.attn.qkv.bias is not None) != config["qkv_bias"]:
                block_features.append("a head width other than channels / heads, or mixed query/key/value biases")
            mlp = block.mlp
            if type(mlp) is not Mlp or type(mlp.act) is not nn.GELU or mlp.act.approximate != "none":
                block_features.append("an MLP other than two linears with exact GELU")
            elif mlp.fc1.out_features != int(dim * config["mlp_ratio"]):
                block_features.append("MLP ratios that differ between stages")
    features += list(dict.fromkeys(block_features))
    if not all(isinstance(norm, nn.LayerNorm) and norm.elementwise_affine for norm in norms):
        features.append("normalisation layers other than LayerNorm with weight and bias")
    elif len({norm.eps for norm in norms}) > 1:
        features.append(f"LayerNorms with different eps ({sorted({norm.eps for norm in norms})})")
    return features


def _config_kwargs(timm_model: nn.Module) -> dict:
    """Our config fields read off timm's SwinTransformer."""
    stages = timm_model.layers
    first_attn = stages[0].blocks[0].attn
    embed_dim = stages[0].blocks[0].norm1.normalized_shape[0]
    # Every stage may have shrunk its window to its map; the largest window left is the configured one, or, when
    # all shrank, one that every map fits in, which gives the same model.
    window_size = max(block.window_size[0] for stage in stages for block in stage.blocks)
    height, width = timm_model.patch_embed.img_size
    return {
        "image_size": (height, width),
        "patch_size": timm_model.patch_embed.patch_size[0],
        "num_channels": timm_model.patch_embed.proj.in_channels,
        "embed_dim": embed_dim,
        "depths": [len(stage.blocks) for stage in stages],
        "num_heads": [stage.blocks[0].attn.num_heads for stage in stages],
        "window_size": window_size,
        "mlp_ratio": stages[0].blocks[0].mlp.fc1.out_features / embed_dim,
        "qkv_bias": first_attn.qkv.bias is not None,
        "layer_norm_eps": timm_model.norm.eps,
    }


def timm_config(timm_model: nn.Module, labels: dict) -> ZooSwinConfig:
    """Our config for timm's SwinTransformer `timm_model` (its features already checked); `labels` are the config's
    `num_labels` or `id2label`/`label2id` entries."""
    kwargs = _config_kwargs(timm_model)
    height, width = kwargs.pop("image_size")
    return ZooSwinConfig(image_size=height if height == width else [height, width], **kwargs, **labels)


def timm_model_kwargs(config: PreTrainedConfig) -> dict:
    """The keyword arguments of timm's SwinTransformer that build the equivalent of our `config`."""
    if config.hidden_act != "gelu":
        raise ConversionError(f"timm's SwinTransformer has no MLP activation {config.hidden_act!r} (only GELU).")
    return {
        "img_size": config.image_size_pair,
        "patch_size": config.patch_size,
        "in_chans": config.num_channels,
        "num_classes": config.num_labels,
        "embed_dim": config.embed_dim,
        "depths": tuple(config.depths),
        "num_heads": tuple(config.num_heads),
        "window_size": config.window_size,
        "mlp_ratio": config.mlp_ratio,
        "qkv_bias": config.qkv_bias,
        "drop_path_rate": 0.0,
        "norm_layer": partial(nn.LayerNorm, eps=config.layer_norm_eps),
    }


def to_timm_model(config: PreTrainedConfig) -> nn.Module:
    """An empty timm SwinTransformer equivalent to our `config`, checked to have the same windows."""
    from timm.models.swin_transformer import SwinTransformer

    timm_model = SwinTransformer(**timm_model_kwargs(config))
    features = unsupported_timm_features(timm_model)
    if features:
        raise ConversionError(f"timm's SwinTransformer cannot reproduce this configuration: {'; '.join(features)}.")
    return timm_model


# --- transformers -------------------------------------------------------------------------------------------------

# Config fields that mean the same in transformers' SwinConfig and ours.
TRANSFORMERS_CONFIG_FIELDS = (
    "image_size",
    "patch_size",
    "num_channels",
    "embed_dim",
    "depths",
    "num_heads",
    "window_size",
    "mlp_ratio",
    "qkv_bias",
    "hidden_act",
    "layer_norm_eps",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
    "id2label",
    "label2id",
    "problem_type",
)

# transformers' default epsilon, which its Swin uses for the patch embedding and patch merging norms whatever the
# config's `layer_norm_eps` (ours has one epsilon for all).
_TRANSFORMERS_FIXED_EPS = 1e-5


def transformers_config(hf_config: PreTrainedConfig, hf_class: str) -> ZooSwinConfig:
    """Our config for transformers' Swin `hf_class` with `hf_config`."""
    if hf_config.use_absolute_embeddings:
        raise ConversionError(f"{hf_class}'s absolute position embeddings have no equivalent in hf-vits' Swin.")
    if hf_config.layer_norm_eps != _TRANSFORMERS_FIXED_EPS:
        raise ConversionError(
            f"{hf_class} has layer_norm_eps {hf_config.layer_norm_eps} in its blocks but {_TRANSFORMERS_FIXED_EPS} "
            "in its patch embedding and merging norms; hf-vits' Swin uses one epsilon for all."
        )
    kwargs = {field: getattr(hf_config, field) for field in TRANSFORMERS_CONFIG_FIELDS if hasattr(hf_config, field)}
    kwargs["id2label"] = {int(index): label for index, label in hf_config.id2label.items()}
    config = ZooSwinConfig(**kwargs)
    windows = table_windows(config)
    if min(windows) < config.window_size:
        stage = windows.index(min(windows)) + 1
        raise ConversionError(
            f"{hf_class} at {config.image_size} px has a stage-{stage} map smaller than its window "
            f"{config.window_size}, which transformers' Swin cannot run (its bias tables keep the full window)."
        )
    return config


def transformers_config_kwargs(config: ZooSwinConfig) -> dict:
    """transformers' SwinConfig fields equivalent to our `config`."""
    if config.layer_norm_eps != _TRANSFORMERS_FIXED_EPS:
        raise ConversionError(
            f"transformers' Swin fixes the epsilon of its patch embedding and merging norms at "
            f"{_TRANSFORMERS_FIXED_EPS}, not {config.layer_norm_eps}."
        )
    return {field: getattr(config, field) for field in TRANSFORMERS_CONFIG_FIELDS}
