"""Conversion from transformers' ViT (`ViTForImageClassification`, `ViTModel` with or without its pooler), DeiT
(`DeiTForImageClassificationWithTeacher`, `DeiTModel`), Swin (`SwinForImageClassification`, `SwinModel`), CvT
(`CvtForImageClassification`) and LeViT (`LevitForImageClassificationWithTeacher`, `LevitForImageClassification`,
`LevitModel`) checkpoints, and back. The class a checkpoint was saved from picks the layout; Swin's, CvT's and
LeViT's tables live in `swin.py`, `cvt.py` and `levit.py`.

The key table is over the names transformers writes to disk (`vit.encoder.layer.0.attention.attention.query...`):
transformers 5 renames them when it loads a model and back when it saves one, so the on-disk names are the
stable layout. A model in memory is therefore converted through a temporary `save_pretrained` folder.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoImageProcessor, PreTrainedConfig, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from ..modeling.cvt import ZooCvTConfig, ZooCvTForImageClassification, ZooCvTImageProcessor, ZooCvTModel
from ..modeling.deit import ZooDeiTConfig, ZooDeiTForImageClassification, ZooDeiTImageProcessor, ZooDeiTModel
from ..modeling.levit import ZooLeViTConfig, ZooLeViTForImageClassification, ZooLeViTImageProcessor, ZooLeViTModel
from ..modeling.swin import ZooSwinConfig, ZooSwinForImageClassification, ZooSwinImageProcessor, ZooSwinModel
from ..modeling.vit import ZooViTConfig, ZooViTForImageClassification, ZooViTImageProcessor, ZooViTModel
from . import cvt, levit, swin
from .common import (
    VERIFY_TOLERANCE,
    ConversionError,
    ConvertedModel,
    KeyRule,
    KeyTable,
    check_tolerance,
    eval_mode,
    max_abs_difference,
    random_pixel_values,
    read_checkpoint,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Layout:
    """A transformers class: where its base model sits in the state dict, its heads, and our counterpart."""

    model_type: str
    prefix: str
    heads: tuple[tuple[str, str], ...]
    our_class: type[PreTrainedModel]


LAYOUTS = {
    "ViTForImageClassification": _Layout("vit", "vit.", (("classifier", "classifier"),), ZooViTForImageClassification),
    "ViTModel": _Layout("vit", "", (), ZooViTModel),
    "DeiTForImageClassificationWithTeacher": _Layout(
        "deit",
        "deit.",
        (("cls_classifier", "classifier"), ("distillation_classifier", "distillation_classifier")),
        ZooDeiTForImageClassification,
    ),
    "DeiTModel": _Layout("deit", "", (), ZooDeiTModel),
    "SwinForImageClassification": _Layout(
        "swin", "swin.", (("classifier", "classifier"),), ZooSwinForImageClassification
    ),
    "SwinModel": _Layout("swin", "", (), ZooSwinModel),
    "CvtForImageClassification": _Layout("cvt", "cvt.", (("classifier", "classifier"),), ZooCvTForImageClassification),
    "LevitForImageClassificationWithTeacher": _Layout(
        "levit",
        "levit.",
        (("classifier", "classifier"), ("classifier_distill", "distillation_classifier")),
        ZooLeViTForImageClassification,
    ),
    "LevitForImageClassification": _Layout(
        "levit", "levit.", (("classifier", "classifier"),), ZooLeViTForImageClassification
    ),
    "LevitModel": _Layout("levit", "", (), ZooLeViTModel),
}

# Our bare models (no head), whose keys carry no base-model prefix.
_BARE_MODELS = (ZooViTModel, ZooDeiTModel, ZooSwinModel, ZooLeViTModel)

REFUSED = {
    "DeiTForImageClassification": (
        "it runs the distillation token through the encoder but classifies the class token alone, and hf-vits' "
        "DeiT has a distillation token only together with its own head (whose logits are averaged in); "
        "DeiTForImageClassificationWithTeacher checkpoints convert"
    ),
    "CvtModel": (
        "it has no final LayerNorm, which hf-vits' CvT model applies to its output; CvtForImageClassification "
        "checkpoints convert"
    ),
}

_CONFIG_CLASSES = {
    "vit": transformers.ViTConfig,
    "deit": transformers.DeiTConfig,
    "swin": transformers.SwinConfig,
    "cvt": transformers.CvtConfig,
    "levit": transformers.LevitConfig,
}

# Config fields that mean the same in transformers' ViT/DeiT configs and ours.
_SHARED_CONFIG_FIELDS = (
    "image_size",
    "patch_size",
    "num_channels",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "qkv_bias",
    "layer_norm_eps",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
    "id2label",
    "label2id",
    "problem_type",
)

_PROCESSOR_FIELDS = (
    "do_resize",
    "size",
    "resample",
    "do_center_crop",
    "crop_size",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "do_convert_rgb",
)

# Our block sub-modules and transformers' on-disk ones; query, key and value are fused separately.
_BLOCK_KEYS = {
    "layernorm_before": "layernorm_before",
    "attention.output.dense": "attention.proj",
    "layernorm_after": "layernorm_after",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _layout(hf_class: str) -> _Layout:
    if hf_class in REFUSED:
        raise ConversionError(f"transformers' {hf_class} cannot be converted faithfully: {REFUSED[hf_class]}.")
    if hf_class not in LAYOUTS:
        raise ConversionError(f"transformers' {hf_class} is not supported; supported: {', '.join(LAYOUTS)}.")
    return LAYOUTS[hf_class]


def _our_prefix(model_class: type[PreTrainedModel]) -> str:
    return "" if issubclass(model_class, _BARE_MODELS) else f"{model_class.base_model_prefix}."


def transformers_key_table(config: PreTrainedConfig, hf_class: str, our_prefix: str) -> KeyTable:
    """The key table between the on-disk state dict of transformers' `hf_class` and ours (keys under
    `our_prefix`) for our `config`."""
    layout = _layout(hf_class)
    if isinstance(config, ZooSwinConfig):
        return swin.swin_key_table(config, "transformers", our_prefix, layout.prefix, head=bool(layout.heads))
    if isinstance(config, ZooCvTConfig):
        return cvt.cvt_key_table(config, "transformers")
    if isinstance(config, ZooLeViTConfig):
        return levit.levit_key_table(config, "transformers", our_prefix, layout.prefix, heads=bool(layout.heads))
    theirs, ours = f"{layout.prefix}embeddings.", f"{our_prefix}embeddings."
    distilled = isinstance(config, ZooDeiTConfig) and config.use_distillation_token
    rules = [
        KeyRule.rename(f"{theirs}cls_token", f"{ours}cls_token"),
        KeyRule.rename(f"{theirs}position_embeddings", f"{ours}position_embeddings"),
        KeyRule.rename(f"{theirs}patch_embeddings.projection.weight", f"{ours}patch_embeddings.projection.weight"),
        KeyRule.rename(f"{theirs}patch_embeddings.projection.bias", f"{ours}patch_embeddings.projection.bias"),
    ]
    if distilled:
        rules.append(KeyRule.rename(f"{theirs}distillation_token", f"{ours}distillation_token"))
    for index in range(config.num_hidden_layers):
        theirs, ours = f"{layout.prefix}encoder.layer.{index}.", f"{our_prefix}encoder.layers.{index}."
        for kind in ("weight", "bias") if config.qkv_bias else ("weight",):
            projections = tuple(f"{theirs}attention.attention.{name}.{kind}" for name in ("query", "key", "value"))
            rules.append(KeyRule(projections, f"{ours}attention.qkv.{kind}"))
        for their_module, our_module in _BLOCK_KEYS.items():
            rules += [
                KeyRule.rename(f"{theirs}{their_module}.{kind}", f"{ours}{our_module}.{kind}")
                for kind in ("weight", "bias")
            ]
    modules = [(f"{layout.prefix}layernorm", f"{our_prefix}layernorm")]
    if isinstance(config, ZooViTConfig) and config.representation_size is not None:
        modules.append((f"{layout.prefix}pooler.dense", f"{our_prefix}pooler.dense"))
    if config.num_labels > 0:
        modules += list(layout.heads)
    for their_module, our_module in modules:
        rules += [KeyRule.rename(f"{their_module}.{kind}", f"{our_module}.{kind}") for kind in ("weight", "bias")]
    return KeyTable(rules)


def transformers_config(hf_config: PreTrainedConfig, hf_class: str, has_pooler: bool) -> PreTrainedConfig:
    """Our config for transformers' `hf_class` with `hf_config`; `has_pooler` when the checkpoint has a pooler."""
    layout = _layout(hf_class)
    if hf_config.model_type != layout.model_type:
        raise ConversionError(f"{hf_class} expects model_type {layout.model_type!r}, got {hf_config.model_type!r}.")
    if layout.model_type == "swin":
        return swin.transformers_config(hf_config, hf_class)
    if layout.model_type == "cvt":
        return cvt.transformers_config(hf_config, hf_class)
    if layout.model_type == "levit":
        return levit.transformers_config(hf_config, hf_class)
    kwargs = {field: getattr(hf_config, field) for field in _SHARED_CONFIG_FIELDS if hasattr(hf_config, field)}
    kwargs["id2label"] = {int(index): label for index, label in hf_config.id2label.items()}
    if layout.model_type == "deit":
        if has_pooler:
            raise ConversionError(f"{hf_class}'s pooler layer (dense + tanh) has no equivalent in hf-vits' DeiT.")
        return ZooDeiTConfig(use_distillation_token=True, **kwargs)
    representation_size = None
    if has_pooler:
        if hf_config.pooler_act != "tanh":
            raise ConversionError(f"{hf_class}'s pooler activation {hf_config.pooler_act!r} is not tanh.")
        representation_size = hf_config.pooler_output_size
    return ZooViTConfig(representation_size=representation_size, **kwargs)


def transformers_image_processor(processor: BaseImageProcessor | None, config: PreTrainedConfig) -> BaseImageProcessor:
    """Our processor with the settings of transformers' `processor`; when there is none, our architecture's
    default transform at the model's resolution."""
    processor_class = {
        ZooDeiTConfig: ZooDeiTImageProcessor,
        ZooSwinConfig: ZooSwinImageProcessor,
        ZooCvTConfig: ZooCvTImageProcessor,
        ZooLeViTConfig: ZooLeViTImageProcessor,
    }.get(type(config), ZooViTImageProcessor)
    if processor is not None:
        settings = _with_crop_pct_applied(processor.to_dict())
        if isinstance(config, ZooLeViTConfig):
            settings = levit.transformers_processor_settings(settings)
        return processor_class(
            **{field: settings[field] for field in _PROCESSOR_FIELDS if settings.get(field) is not None}
        )
    logger.warning("The source has no image processor; using hf-vits' default transform at the model's resolution.")
    height, width = config.image_size_pair
    if processor_class in (ZooDeiTImageProcessor, ZooSwinImageProcessor, ZooCvTImageProcessor, ZooLeViTImageProcessor):
        # DeiT's, Swin's, CvT's and LeViT's evaluation crop ratio, 224 / 256.
        return processor_class(
            size={"shortest_edge": math.floor(height / 0.875)}, crop_size={"height": height, "width": width}
        )
    return processor_class(size={"height": height, "width": width})


def _with_crop_pct_applied(settings: dict) -> dict:
    """The settings of a processor that crops by `crop_pct` (ConvNext's, which transformers' CvT checkpoints use) as
    explicit resize and crop sizes: below 384 px, resize the shorter side to size / crop_pct and crop the center
    to size; from 384 px, resize to a size x size square."""
    crop_pct, size = settings.get("crop_pct"), settings.get("size") or {}
    if crop_pct is None or "shortest_edge" not in size:
        return settings
    edge = size["shortest_edge"]
    if edge < 384:
        resized = {"size": {"shortest_edge": int(edge / crop_pct)}, "crop_size": {"height": edge, "width": edge}}
        return {**settings, **resized, "do_center_crop": True}
    return {**settings, "size": {"height": edge, "width": edge}, "do_center_crop": False}


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The state dict of a transformers folder: one weights file, or the shards an index file names."""
    name = next((name for name in _WEIGHT_FILES if (folder / name).is_file()), None)
    if name is None:
        raise ConversionError(f"{folder} has no weights; expected one of {', '.join(_WEIGHT_FILES)}.")
    if not name.endswith(".index.json"):
        return read_checkpoint(folder / name)
    state_dict = {}
    for shard in sorted(set(json.loads((folder / name).read_text())["weight_map"].values())):
        state_dict.update(read_checkpoint(folder / shard))
    return state_dict


def _hf_class_name(hf_config: PreTrainedConfig, state_dict: dict[str, torch.Tensor]) -> str:
    """The transformers class a checkpoint was saved from: its config's `architectures`, else read off its keys."""
    if hf_config.architectures:
        return hf_config.architectures[0]
    model_type = hf_config.model_type
    if not any(key.startswith(f"{model_type}.") for key in state_dict):
        return {"vit": "ViTModel", "deit": "DeiTModel", "swin": "SwinModel", "cvt": "CvtModel", "levit": "LevitModel"}[
            model_type
        ]
    if "cls_classifier.weight" in state_dict:
        return "DeiTForImageClassificationWithTeacher"
    if "classifier_distill.linear.weight" in state_dict:
        return "LevitForImageClassificationWithTeacher"
    return {
        "vit": "ViTForImageClassification",
        "deit": "DeiTForImageClassification",
        "swin": "SwinForImageClassification",
        "cvt": "CvtForImageClassification",
        "levit": "LevitForImageClassification",
    }[model_type]


def _read_folder(folder: Path) -> tuple[PreTrainedConfig, str, dict[str, torch.Tensor]]:
    """The transformers config, class name and on-disk state dict of a checkpoint folder."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConversionError(f"{folder} is not a transformers checkpoint folder: it has no config.json.")
    try:
        config_dict = json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise ConversionError(f"{config_file} is not valid JSON: {error}") from error
    model_type = config_dict.get("model_type")
    if model_type not in _CONFIG_CLASSES:
        raise ConversionError(
            f"{config_file} has model_type {model_type!r}; only transformers' {' and '.join(_CONFIG_CLASSES)} convert."
        )
    hf_config = _CONFIG_CLASSES[model_type].from_dict(config_dict)
    state_dict = _read_weights(folder)
    return hf_config, _hf_class_name(hf_config, state_dict), state_dict


def _convert_folder(folder: Path) -> tuple[PreTrainedModel, str]:
    """Our model for the checkpoint in `folder`, and the name of the transformers class it was saved from."""
    hf_config, hf_class, state_dict = _read_folder(folder)
    layout = _layout(hf_class)
    has_pooler = f"{layout.prefix}pooler.dense.weight" in state_dict
    config = transformers_config(hf_config, hf_class, has_pooler)
    model = layout.our_class(config)
    table = transformers_key_table(config, hf_class, _our_prefix(layout.our_class))
    model.load_state_dict(table.convert(state_dict, model.state_dict(), f"{hf_class} checkpoint in {folder}"))
    return model.eval(), hf_class


def convert_transformers_model(
    hf_model: PreTrainedModel, hf_processor: BaseImageProcessor | None = None
) -> tuple[PreTrainedModel, BaseImageProcessor]:
    """Our model and processor equivalent to transformers' `hf_model` (and `hf_processor`), through the weights
    `hf_model.save_pretrained` writes."""
    with tempfile.TemporaryDirectory() as folder:
        hf_model.save_pretrained(folder)
        model, _ = _convert_folder(Path(folder))
    return model, transformers_image_processor(hf_processor, model.config)


def _output_pairs(model: PreTrainedModel, hf_model: PreTrainedModel) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Our and the reference's outputs on the same random batch, by name."""
    config = model.config
    pixel_values = random_pixel_values(config.num_channels, *config.image_size_pair)
    with eval_mode(model, hf_model), torch.no_grad():
        ours, theirs = model(pixel_values=pixel_values), hf_model(pixel_values=pixel_values)
    if isinstance(model, _BARE_MODELS):
        pairs = {"last_hidden_state": (ours.last_hidden_state, theirs.last_hidden_state)}
        if theirs.pooler_output is not None:
            pairs["pooler_output"] = (ours.pooler_output, theirs.pooler_output)
        return pairs
    pairs = {"logits": (ours.logits, theirs.logits)}
    if getattr(theirs, "distillation_logits", None) is not None:
        pairs["cls_logits"] = (ours.cls_logits, theirs.cls_logits)
        pairs["distillation_logits"] = (ours.distillation_logits, theirs.distillation_logits)
    return pairs


def verify_against_transformers(
    model: PreTrainedModel, hf_model: PreTrainedModel, tolerance: float = VERIFY_TOLERANCE
) -> float:
    """The largest |Δ| between the outputs of our model and transformers' `hf_model` (logits, or hidden states
    and pooler output for bare models) on a random batch in eval mode; a ConversionError above `tolerance`."""
    max_abs_diff = max_abs_difference(_output_pairs(model, hf_model))
    check_tolerance(max_abs_diff, f"transformers' {type(hf_model).__name__}", tolerance)
    return max_abs_diff


def _model_kwargs(hf_class: str, config: PreTrainedConfig) -> dict:
    """`from_pretrained` arguments that build transformers' bare models with a pooler exactly when ours has one."""
    if hf_class not in ("ViTModel", "DeiTModel"):
        return {}
    return {"add_pooling_layer": getattr(config, "representation_size", None) is not None}


def resolve_transformers_source(source: str) -> Path:
    """The local folder of `source`: itself when it is a folder, else a Hub snapshot of the repo id `source`."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConversionError(f"{path} is a file; a transformers source is a checkpoint folder or a Hub repo id.")
        return path
    if source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise FileNotFoundError(f"No such folder {path}.")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, allow_patterns=["*.json", "*.safetensors", "pytorch_model*.bin"]))
    except Exception as error:
        raise ConversionError(
            f"{source!r} is no local folder, and downloading it from the Hugging Face Hub failed "
            f"({type(error).__name__}: {error})."
        ) from error


def load_transformers(source: str | Path, verify: bool = True) -> ConvertedModel:
    """Convert the transformers checkpoint folder or Hub repo id `source`; with `verify`, compare with the
    model transformers itself loads from it."""
    folder = resolve_transformers_source(str(source))
    model, hf_class = _convert_folder(folder)
    hf_processor = None
    if (folder / "preprocessor_config.json").is_file():
        try:
            hf_processor = AutoImageProcessor.from_pretrained(folder)
        except Exception as error:
            raise ConversionError(f"Could not read the image processor of {folder}: {error}") from error
    processor = transformers_image_processor(hf_processor, model.config)
    max_abs_diff = None
    if verify:
        hf_model = getattr(transformers, hf_class).from_pretrained(folder, **_model_kwargs(hf_class, model.config))
        max_abs_diff = verify_against_transformers(model, hf_model)
    return ConvertedModel(model, processor, max_abs_diff)


def transformers_class_name(model: PreTrainedModel) -> str:
    """The transformers class equivalent to our `model`; a ConversionError naming what transformers lacks."""
    config = model.config
    bare = isinstance(model, _BARE_MODELS)
    classifiers = (
        ZooViTForImageClassification,
        ZooDeiTForImageClassification,
        ZooSwinForImageClassification,
        ZooCvTForImageClassification,
        ZooLeViTForImageClassification,
    )
    if isinstance(model, ZooCvTModel):
        raise ConversionError("ZooCvTModel has no transformers equivalent: CvtModel lacks its final LayerNorm.")
    if not bare and not isinstance(model, classifiers):
        raise ConversionError(f"{type(model).__name__} has no transformers equivalent.")
    if isinstance(config, ZooCvTConfig):
        return "CvtForImageClassification"
    if isinstance(config, ZooLeViTConfig):
        if bare:
            return "LevitModel"
        return "LevitForImageClassification" + ("WithTeacher" if config.use_distillation_head else "")
    if isinstance(config, ZooSwinConfig):
        return "SwinModel" if bare else "SwinForImageClassification"
    if isinstance(config, ZooDeiTConfig):
        if config.use_distillation_token:
            return "DeiTModel" if bare else "DeiTForImageClassificationWithTeacher"
    else:
        lacking = []
        if config.pooling != "cls":
            lacking.append(f"pooling={config.pooling!r}")
        if config.fc_norm:
            lacking.append("a norm after pooling (fc_norm)")
        if config.representation_size is not None and not bare:
            lacking.append("a classifier on a pre-logits layer (representation_size)")
        if lacking:
            raise ConversionError(f"transformers' ViT has no {', '.join(lacking)}.")
    return "ViTModel" if bare else "ViTForImageClassification"


def to_transformers_state_dict(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """Our model's weights in the on-disk layout of the equivalent transformers model (`transformers_class_name`),
    as `from_pretrained` reads it from model.safetensors."""
    table = transformers_key_table(model.config, transformers_class_name(model), _our_prefix(type(model)))
    return table.invert(model.state_dict(), source_name=type(model).__name__)


def transformers_config_for(model: PreTrainedModel) -> PreTrainedConfig:
    """transformers' ViTConfig or DeiTConfig equivalent to our model's config."""
    hf_class = transformers_class_name(model)
    config = model.config
    if isinstance(config, ZooSwinConfig):
        return transformers.SwinConfig(architectures=[hf_class], **swin.transformers_config_kwargs(config))
    if isinstance(config, ZooCvTConfig):
        return transformers.CvtConfig(architectures=[hf_class], **cvt.transformers_config_kwargs(config))
    if isinstance(config, ZooLeViTConfig):
        return transformers.LevitConfig(architectures=[hf_class], **levit.transformers_config_kwargs(config))
    kwargs = {field: getattr(config, field) for field in _SHARED_CONFIG_FIELDS}
    if isinstance(config, ZooViTConfig) and config.representation_size is not None:
        kwargs.update(pooler_output_size=config.representation_size, pooler_act="tanh")
    return _CONFIG_CLASSES[LAYOUTS[hf_class].model_type](architectures=[hf_class], **kwargs)


def to_transformers_model(model: PreTrainedModel) -> PreTrainedModel:
    """transformers' model equivalent to ours, with our weights, loaded by its own `from_pretrained`; in eval mode."""
    hf_class = transformers_class_name(model)
    state_dict = {key: tensor.contiguous() for key, tensor in to_transformers_state_dict(model).items()}
    kwargs = _model_kwargs(hf_class, model.config)
    with tempfile.TemporaryDirectory() as folder:
        transformers_config_for(model).save_pretrained(folder)
        save_file(state_dict, str(Path(folder) / "model.safetensors"), metadata={"format": "pt"})
        hf_model, info = getattr(transformers, hf_class).from_pretrained(folder, output_loading_info=True, **kwargs)
    problems = {name: keys for name, keys in info.items() if keys}
    if problems:
        raise ConversionError(f"transformers' {hf_class} did not load the converted weights cleanly: {problems}.")
    return hf_model.eval()
