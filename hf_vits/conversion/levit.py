"""LeViT's state-dict layouts: timm's `Levit`/`LevitDistilled` (linear and conv modes), the authors' repository
(facebookresearch/LeViT, `levit.py`: one flat `blocks` sequence) and transformers' `LevitForImageClassification`,
`LevitForImageClassificationWithTeacher` and `LevitModel`, each as a key table onto ours, with the configs.

All four compute the same function with the same tensors: every linear layer (or convolution) and its BatchNorm,
whose running statistics and counters are carried over, and one attention-bias table per attention module laid out as
|dy| * grid width + |dx|. The layouts differ in names and in where the shrink block sits: at the start of a stage in
ours and timm's, at the end of the previous stage in transformers', in the flat block list of the original. timm's
conv mode keeps the linear layers as 1x1 convolutions, whose weights are squeezed. Fused models (no BatchNorm) have
no counterpart in these layouts: convert, then `fuse()`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from transformers import PreTrainedConfig

from ..modeling.levit import ZooLeViTConfig
from ..modeling.levit.modeling_levit import SHRINK_STRIDE, attention_bias_index, stage_resolutions
from .common import ConversionError, KeyRule, KeyTable

LAYOUTS = ("timm", "original", "transformers")

_BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# Each layout's names for (a layer, its BatchNorm) and for (a head's BatchNorm, its linear layer).
_PAIR_NAMES = {"timm": ("linear", "bn"), "original": ("c", "bn"), "transformers": ("linear", "batch_norm")}
_STEM_PAIR_NAMES = {"timm": ("linear", "bn"), "original": ("c", "bn"), "transformers": ("convolution", "batch_norm")}
_HEAD_NAMES = {"timm": ("bn", "linear"), "original": ("bn", "l"), "transformers": ("batch_norm", "linear")}
_HEADS = {
    "timm": ("head", "head_dist"),
    "original": ("head", "head_dist"),
    "transformers": ("classifier", "classifier_distill"),
}


def _check_unfused(config: ZooLeViTConfig) -> None:
    if config.fused:
        raise ConversionError(
            "A fused LeViT (config.fused=True) has no BatchNorms, which every other layout has: convert the model "
            "before fusing it."
        )


def _units(config: ZooLeViTConfig, layout: str) -> list[tuple[str, str, str]]:
    """(kind, their module, our module) for every stem convolution, linear + BatchNorm pair and bias table of the
    encoder, kind being "stem", "pair" or "biases"."""
    units = []
    for index in range(1, 5):
        theirs = {
            "timm": f"stem.conv{index}",
            "original": f"patch_embed.{2 * (index - 1)}",
            "transformers": f"patch_embeddings.embedding_layer_{index}",
        }[layout]
        units.append(("stem", theirs, f"stem.conv{index}"))
    block = 0  # the original's flat block index
    for stage, depth in enumerate(config.depths):
        ours_stage = f"encoder.stages.{stage}."
        if stage > 0:
            ours = f"{ours_stage}downsample."
            if layout == "timm":
                attention, mlp = f"stages.{stage}.downsample.attn_downsample.", f"stages.{stage}.downsample.mlp."
                names = {"key_value": "kv", "query": "q.ln", "projection": "proj.ln"}
                mlp_names = ("ln1", "ln2")
            elif layout == "original":
                attention, mlp = f"blocks.{block}.", f"blocks.{block + 1}.m."
                names = {"key_value": "kv", "query": "q.1", "projection": "proj.1"}
                mlp_names = ("0", "2")
                block += 2
            else:
                previous = f"encoder.stages.{stage - 1}.layers.{2 * config.depths[stage - 1]}"
                attention, mlp = (
                    f"{previous}.",
                    f"encoder.stages.{stage - 1}.layers.{2 * config.depths[stage - 1] + 1}.module.",
                )
                names = {"key_value": "keys_values", "query": "queries", "projection": "projection"}
                mlp_names = ("linear_up", "linear_down")
            units += [("pair", f"{attention}{theirs}", f"{ours}attention.{name}") for name, theirs in names.items()]
            units.append(("biases", f"{attention}attention_biases", f"{ours}attention.attention_bias.attention_biases"))
            units += [
                ("pair", f"{mlp}{theirs}", f"{ours}mlp.{name}")
                for name, theirs in zip(("linear_up", "linear_down"), mlp_names, strict=True)
            ]
        for layer in range(depth):
            ours = f"{ours_stage}layers.{layer}."
            if layout == "timm":
                attention, mlp = f"stages.{stage}.blocks.{layer}.attn.", f"stages.{stage}.blocks.{layer}.mlp."
                names = {"qkv": "qkv", "projection": "proj.ln"}
                mlp_names = ("ln1", "ln2")
            elif layout == "original":
                attention, mlp = f"blocks.{block}.m.", f"blocks.{block + 1}.m."
                names = {"qkv": "qkv", "projection": "proj.1"}
                mlp_names = ("0", "2")
                block += 2
            else:
                theirs_stage = f"encoder.stages.{stage}.layers."
                attention, mlp = f"{theirs_stage}{2 * layer}.module.", f"{theirs_stage}{2 * layer + 1}.module."
                names = {"qkv": "queries_keys_values", "projection": "projection"}
                mlp_names = ("linear_up", "linear_down")
            units += [("pair", f"{attention}{theirs}", f"{ours}attention.{name}") for name, theirs in names.items()]
            units.append(("biases", f"{attention}attention_biases", f"{ours}attention.attention_bias.attention_biases"))
            units += [
                ("pair", f"{mlp}{theirs}", f"{ours}mlp.{name}")
                for name, theirs in zip(("linear_up", "linear_down"), mlp_names, strict=True)
            ]
    return units


def levit_key_table(
    config: ZooLeViTConfig, layout: str, our_prefix: str = "levit.", their_prefix: str = "", heads: bool = True
) -> KeyTable:
    """The key table from `layout` ("timm", "original" or "transformers") onto our LeViT for `config`: the bare
    model's keys under `our_prefix`, the source's encoder under `their_prefix` (transformers' "levit."), and the
    heads (both, with `use_distillation_head`) when `heads`."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown LeViT layout {layout!r}; expected one of {LAYOUTS}.")
    _check_unfused(config)
    rules, derived = [], []
    for kind, theirs, ours in _units(config, layout):
        theirs, ours = f"{their_prefix}{theirs}", f"{our_prefix}{ours}"
        if kind == "biases":
            rules.append(KeyRule.rename(theirs, ours))
            if layout == "original":
                derived.append(theirs.replace("attention_biases", "attention_bias_idxs"))
            continue
        layer, norm = (_STEM_PAIR_NAMES if kind == "stem" else _PAIR_NAMES)[layout]
        our_layer = "convolution" if kind == "stem" else "linear"
        rules.append(KeyRule.rename(f"{theirs}.{layer}.weight", f"{ours}.{our_layer}.weight"))
        rules += [KeyRule.rename(f"{theirs}.{norm}.{name}", f"{ours}.batch_norm.{name}") for name in _BATCH_NORM]
    if heads and config.num_labels > 0:
        norm, linear = _HEAD_NAMES[layout]
        names = _HEADS[layout][: 2 if config.use_distillation_head else 1]
        for theirs, ours in zip(names, ("classifier", "distillation_classifier"), strict=False):
            rules += [KeyRule.rename(f"{theirs}.{norm}.{name}", f"{ours}.batch_norm.{name}") for name in _BATCH_NORM]
            rules += [
                KeyRule.rename(f"{theirs}.{linear}.{name}", f"{ours}.linear.{name}") for name in ("weight", "bias")
            ]
    return KeyTable(rules, derived)


def check_original_buffers(config: ZooLeViTConfig, state_dict: Mapping[str, torch.Tensor], source_name: str) -> None:
    """Refuse an original checkpoint whose stored attention-bias indices are not the ones our model computes (the
    table layout |dy| * width + |dx| over the configured grids)."""
    grids = stage_resolutions(config, *config.image_size_pair)
    table = levit_key_table(config, "original", our_prefix="")
    for key in table.derived:
        ours = next(rule.target for rule in table.rules if rule.sources[0] == key.replace("_idxs", "es"))
        stage = int(ours.split(".")[2])
        if ".downsample." in ours:
            key_grid = grids[stage - 1]
            query_grid = stage_resolutions(config, *config.image_size_pair)[stage]
            expected = attention_bias_index(query_grid, key_grid, SHRINK_STRIDE)
        else:
            expected = attention_bias_index(grids[stage], grids[stage], 1)
        stored = state_dict[key]
        if stored.shape != expected.shape or not torch.equal(stored.long(), expected):
            raise ConversionError(
                f"{source_name}: {key} does not index the attention biases as the authors' LeViT does for "
                f"{config.image_size_pair[0]}x{config.image_size_pair[1]} px inputs."
            )


def squeeze_conv_mode(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's conv-mode LeViT (`levit_conv_*`) state dict with its 1x1 convolutions as linear weights, the stem's
    3x3 convolutions left as they are."""
    return {
        key: value.flatten(1) if value.ndim == 4 and not key.startswith("stem.") else value
        for key, value in state_dict.items()
    }


# --- timm ---------------------------------------------------------------------------------------------------------


def unsupported_timm_features(timm_model: nn.Module) -> list[str]:
    """What of timm's Levit `timm_model` our LeViT does not implement; empty when it converts faithfully."""
    from timm.models.levit import Levit, LevitDistilled, Stem16

    if type(timm_model) not in (Levit, LevitDistilled):
        return [f"the model class {type(timm_model).__name__} (only Levit and LevitDistilled)"]
    features = []
    if type(timm_model.stem) is not Stem16:
        features.append(f"the stem {type(timm_model.stem).__name__} (only the paper's stride-16 stem)")
    activations = [module for name, module in timm_model.stem.named_children() if name.startswith("act")]
    for stage in timm_model.stages:
        blocks = [*stage.blocks, *([] if isinstance(stage.downsample, nn.Identity) else [stage.downsample])]
        for block in blocks:
            attention = block.attn if hasattr(block, "attn") else block.attn_downsample
            activations += [attention.proj.act, block.mlp.act]
    others = sorted({type(act).__name__ for act in activations if type(act) is not nn.Hardswish})
    if others:
        features.append(f"activations other than Hardswish ({', '.join(others)})")
    if timm_model.global_pool != "avg":
        features.append(f"pooling global_pool={timm_model.global_pool!r} (only 'avg')")
    for stage in timm_model.stages[1:]:
        down = stage.downsample.attn_downsample.q.down
        pool = down if timm_model.use_conv else down.pool
        if pool is not None and pool.kernel_size not in (1, (1, 1)):
            features.append("average-pooled shrink queries (down_op with use_pool)")
            break
    key_dims = {block.attn.key_dim for stage in timm_model.stages for block in stage.blocks}
    if len(key_dims) > 1:
        features.append(f"key widths that differ between stages ({sorted(key_dims)})")
    return features


def timm_config(timm_model: nn.Module, labels: dict) -> ZooLeViTConfig:
    """Our config for timm's Levit `timm_model` (its features already checked)."""
    from timm.models.levit import LevitDistilled

    stages = timm_model.stages
    first = stages[0].blocks[0].attn
    height = timm_model.stem.stride * first.resolution[0]
    width = timm_model.stem.stride * first.resolution[1]
    hidden_sizes = list(timm_model.embed_dim)
    mlp = stages[0].blocks[0].mlp
    kwargs = {
        "image_size": height if height == width else [height, width],
        "num_channels": timm_model.in_chans,
        "hidden_sizes": hidden_sizes,
        "num_heads": [stage.blocks[0].attn.num_heads for stage in stages],
        "depths": [len(stage.blocks) for stage in stages],
        "key_dim": first.key_dim,
        "attention_ratio": first.val_dim / first.key_dim,
        "mlp_ratio": mlp.ln1.linear.out_channels / hidden_sizes[0]
        if timm_model.use_conv
        else mlp.ln1.linear.out_features / hidden_sizes[0],
        "use_distillation_head": isinstance(timm_model, LevitDistilled),
    }
    if len(stages) > 1:
        down = stages[1].downsample
        kwargs["shrink_attention_ratio"] = down.attn_downsample.val_dim / down.attn_downsample.key_dim
        up = down.mlp.ln1.linear
        kwargs["shrink_mlp_ratio"] = (up.out_channels if timm_model.use_conv else up.out_features) / hidden_sizes[1]
    return ZooLeViTConfig(**kwargs, **labels)


def timm_model_kwargs(config: ZooLeViTConfig) -> dict:
    """The keyword arguments of timm's Levit that build the equivalent of our `config`."""
    _check_unfused(config)
    problems = []
    if config.hidden_act != "hardswish":
        problems.append(f"the activation {config.hidden_act!r}")
    if config.shrink_attention_ratio != 4.0 or config.shrink_mlp_ratio != 2.0:
        problems.append("shrink blocks other than the paper's (value ratio 4, MLP ratio 2)")
    if config.batch_norm_eps != 1e-5:
        problems.append(f"batch_norm_eps {config.batch_norm_eps}")
    if problems:
        raise ConversionError(f"timm's Levit cannot reproduce this configuration: {'; '.join(problems)}.")
    return {
        "img_size": config.image_size_pair,
        "in_chans": config.num_channels,
        "num_classes": config.num_labels,
        "embed_dim": tuple(config.hidden_sizes),
        "key_dim": config.key_dim,
        "depth": tuple(config.depths),
        "num_heads": tuple(config.num_heads),
        "attn_ratio": config.attention_ratio,
        "mlp_ratio": config.mlp_ratio,
        "drop_rate": 0.0,
        "drop_path_rate": 0.0,
    }


def to_timm_model(config: PreTrainedConfig) -> nn.Module:
    """An empty timm Levit (LevitDistilled with a distillation head) equivalent to our `config`."""
    from timm.models.levit import Levit, LevitDistilled

    timm_class = LevitDistilled if config.use_distillation_head else Levit
    return timm_class(**timm_model_kwargs(config))


# --- transformers -------------------------------------------------------------------------------------------------


def transformers_config(hf_config: PreTrainedConfig, hf_class: str) -> ZooLeViTConfig:
    """Our config for transformers' LeViT `hf_class` with `hf_config`."""
    problems = []
    key_dims = set(hf_config.key_dim)
    if len(key_dims) != 1:
        problems.append(f"key widths that differ between stages ({list(hf_config.key_dim)})")
    for name in ("mlp_ratio", "attention_ratio"):
        if len(set(getattr(hf_config, name))) != 1:
            problems.append(f"{name} differing between stages ({list(getattr(hf_config, name))})")
    if (hf_config.kernel_size, hf_config.stride, hf_config.padding, hf_config.patch_size) != (3, 2, 1, 16):
        problems.append("a stem other than four 3x3 convolutions of stride 2 and padding 1 (patch size 16)")
    if problems:
        raise ConversionError(f"{hf_class} uses what hf-vits' LeViT does not implement: {'; '.join(problems)}.")
    image_size = hf_config.image_size
    return ZooLeViTConfig(
        image_size=image_size if isinstance(image_size, int) else list(image_size),
        num_channels=hf_config.num_channels,
        hidden_sizes=list(hf_config.hidden_sizes),
        num_heads=list(hf_config.num_attention_heads),
        depths=list(hf_config.depths),
        key_dim=hf_config.key_dim[0],
        attention_ratio=float(hf_config.attention_ratio[0]),
        mlp_ratio=float(hf_config.mlp_ratio[0]),
        use_distillation_head=hf_class == "LevitForImageClassificationWithTeacher",
        initializer_range=hf_config.initializer_range,
        id2label={int(index): label for index, label in hf_config.id2label.items()},
        label2id=hf_config.label2id,
        problem_type=hf_config.problem_type,
    )


def transformers_config_kwargs(config: ZooLeViTConfig) -> dict:
    """transformers' LevitConfig fields equivalent to our `config`."""
    _check_unfused(config)
    problems = []
    if config.hidden_act != "hardswish":
        problems.append(f"the activation {config.hidden_act!r}")
    if config.shrink_attention_ratio != 4.0 or config.shrink_mlp_ratio != 2.0:
        problems.append("shrink blocks other than the paper's (value ratio 4, MLP ratio 2)")
    if config.batch_norm_eps != 1e-5:
        problems.append(f"batch_norm_eps {config.batch_norm_eps}")
    height, width = config.image_size_pair
    if height != width:
        problems.append(f"a non-square input ({height}x{width})")
    for name in ("attention_ratio", "mlp_ratio"):
        if getattr(config, name) != int(getattr(config, name)):
            problems.append(f"a fractional {name} ({getattr(config, name)})")
    if problems:
        raise ConversionError(f"transformers' LeViT cannot reproduce this model: {'; '.join(problems)}.")
    stages = config.num_stages
    return {
        "image_size": height,
        "num_channels": config.num_channels,
        "hidden_sizes": list(config.hidden_sizes),
        "num_attention_heads": list(config.num_heads),
        "depths": list(config.depths),
        "key_dim": [config.key_dim] * stages,
        "attention_ratio": [int(config.attention_ratio)] * stages,
        "mlp_ratio": [int(config.mlp_ratio)] * stages,
        "drop_path_rate": 0,
        "initializer_range": config.initializer_range,
        "id2label": config.id2label,
        "label2id": config.label2id,
        "problem_type": config.problem_type,
    }


def transformers_processor_settings(settings: dict) -> dict:
    """The settings of transformers' LevitImageProcessor with the resize it performs written out: it resizes the
    shorter side to int(256 / 224 * size["shortest_edge"]), not to the size it stores."""
    size = settings.get("size") or {}
    if "shortest_edge" not in size:
        return settings
    return {**settings, "size": {"shortest_edge": int(256 / 224 * size["shortest_edge"])}}
