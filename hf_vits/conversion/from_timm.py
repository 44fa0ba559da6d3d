"""Conversion from timm's `vit_*` (VisionTransformer), `deit_*` (VisionTransformer, VisionTransformerDistilled),
`swin_*` (SwinTransformer) and `levit_*` / `levit_conv_*` (Levit, LevitDistilled) models, and back.

The architecture is told by the timm model's class (and a `deit_` name), and each step (unsupported features,
config, key table, timm model kwargs) dispatches to that architecture's functions: ViT's and DeiT's here, Swin's
in `swin.py`, LeViT's in `levit.py`. The config is read off the timm model itself, so any size timm can build
converts; what our models do not implement (register tokens, layer scale, qk-norm, attention pooling, ...) is
refused by name rather than converted wrongly. The processor is timm's own evaluation transform, resolved from the
model's pretrained config.
"""

from __future__ import annotations

import difflib
import logging
import math
from functools import partial
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor
from transformers.image_utils import PILImageResampling

from ..modeling.deit import ZooDeiTConfig, ZooDeiTForImageClassification, ZooDeiTImageProcessor
from ..modeling.levit import ZooLeViTConfig, ZooLeViTForImageClassification, ZooLeViTImageProcessor
from ..modeling.swin import ZooSwinConfig, ZooSwinForImageClassification, ZooSwinImageProcessor
from ..modeling.vit import ZooViTConfig, ZooViTForImageClassification, ZooViTImageProcessor
from . import levit, swin
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

# Our architectures that timm models convert to, by the name used in messages.
ARCHITECTURES = {"vit": "ViT", "deit": "DeiT", "swin": "Swin", "levit": "LeViT"}

# Our image classifier and processor of each architecture.
_CLASSES = {
    "vit": (ZooViTForImageClassification, ZooViTImageProcessor),
    "deit": (ZooDeiTForImageClassification, ZooDeiTImageProcessor),
    "swin": (ZooSwinForImageClassification, ZooSwinImageProcessor),
    "levit": (ZooLeViTForImageClassification, ZooLeViTImageProcessor),
}

# timm's block sub-modules and ours; each has a weight and a bias.
_BLOCK_KEYS = {
    "norm1": "layernorm_before",
    "attn.qkv": "attention.qkv",
    "attn.proj": "attention.proj",
    "norm2": "layernorm_after",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}

# timm's interpolation names and the processors' resampling filters (those both image-processor backends have).
_RESAMPLE = {
    "nearest": PILImageResampling.NEAREST,
    "bilinear": PILImageResampling.BILINEAR,
    "bicubic": PILImageResampling.BICUBIC,
}


def timm_model_name(timm_model: nn.Module) -> str:
    """The timm name a model was created under, or its class name when built directly."""
    return getattr(timm_model, "pretrained_cfg", {}).get("architecture") or type(timm_model).__name__


def timm_architecture(timm_model: nn.Module) -> str:
    """Our architecture for `timm_model`: "swin" for a SwinTransformer, "deit" for a distillation token or a
    `deit_*` name, else "vit"."""
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.levit import Levit
    from timm.models.swin_transformer import SwinTransformer

    if isinstance(timm_model, SwinTransformer):
        return "swin"
    if isinstance(timm_model, Levit):
        return "levit"
    if isinstance(timm_model, VisionTransformerDistilled) or timm_model_name(timm_model).startswith("deit_"):
        return "deit"
    return "vit"


def _activation_name(activation: nn.Module) -> str | None:
    """Our `hidden_act` for a timm MLP activation, or None when we have no exact equivalent."""
    from timm.layers.activations import GELU, GELUTanh

    if isinstance(activation, GELU) or (isinstance(activation, nn.GELU) and activation.approximate == "none"):
        return "gelu"
    if isinstance(activation, GELUTanh) or (isinstance(activation, nn.GELU) and activation.approximate == "tanh"):
        return "gelu_pytorch_tanh"
    return None


def _is_affine_layer_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) and module.elementwise_affine and module.bias is not None


def unsupported_timm_features(timm_model: nn.Module, architecture: str) -> list[str]:
    """The features of `timm_model` that our `architecture` ("vit", "deit" or "swin") does not implement; empty when
    it converts faithfully."""
    if architecture == "swin":
        return swin.unsupported_timm_features(timm_model)
    if architecture == "levit":
        return levit.unsupported_timm_features(timm_model)
    return _unsupported_vit_features(timm_model, architecture)


def _unsupported_vit_features(timm_model: nn.Module, architecture: str) -> list[str]:
    from timm.layers import Attention, Mlp, PatchEmbed
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import Block, VisionTransformer

    if type(timm_model) not in (VisionTransformer, VisionTransformerDistilled):
        return [f"the model class {type(timm_model).__name__} (only VisionTransformer and VisionTransformerDistilled)"]
    features = []
    if timm_model.reg_token is not None:
        features.append(f"register tokens (reg_tokens={timm_model.num_reg_tokens})")
    if timm_model.no_embed_class:
        features.append("position embeddings without the class token (no_embed_class=True)")
    if timm_model.pos_embed is None:
        features.append("no position embedding (pos_embed='none')")
    if not isinstance(timm_model.norm_pre, nn.Identity):
        features.append("a norm before the blocks (pre_norm=True)")
    if timm_model.dynamic_img_size:
        features.append("dynamic image size (dynamic_img_size=True)")
    patch_embed = timm_model.patch_embed
    if type(patch_embed) is not PatchEmbed:
        features.append(f"the patch embedding {type(patch_embed).__name__}")
    else:
        if patch_embed.proj.bias is None:
            features.append("a patch embedding without bias")
        if not isinstance(patch_embed.norm, nn.Identity):
            features.append("a norm in the patch embedding (embed_norm_layer)")
        if patch_embed.patch_size[0] != patch_embed.patch_size[1]:
            features.append(f"non-square patches {tuple(patch_embed.patch_size)}")
        if patch_embed.dynamic_img_pad:
            features.append("dynamic image padding (dynamic_img_pad=True)")
    if timm_model.attn_pool is not None:
        features.append(f"attention pooling (global_pool={timm_model.global_pool!r})")
    elif timm_model.global_pool not in ("token", "avg"):
        features.append(f"pooling global_pool={timm_model.global_pool!r} (only 'token' and 'avg')")
    if timm_model.pool_include_prefix:
        features.append("pooling over the prefix tokens too (pool_include_prefix=True)")
    norms = [timm_model.norm, timm_model.fc_norm]
    if all(isinstance(norm, nn.Identity) for norm in norms):
        features.append("no final norm (final_norm=False)")

    block_features = []
    for block in timm_model.blocks:
        norms += [block.norm1, block.norm2]
        if type(block) is not Block:
            block_features.append(f"the block type {type(block).__name__}")
            continue
        if not (isinstance(block.ls1, nn.Identity) and isinstance(block.ls2, nn.Identity)):
            block_features.append("layer scale (init_values)")
        attn, mlp = block.attn, block.mlp
        if type(attn) is not Attention:
            block_features.append(f"the attention type {type(attn).__name__}")
        else:
            if not (isinstance(attn.q_norm, nn.Identity) and isinstance(attn.k_norm, nn.Identity)):
                block_features.append("query/key normalisation (qk_norm=True)")
            if not isinstance(attn.norm, nn.Identity):
                block_features.append("a norm on the attention output (scale_attn_norm=True)")
            if getattr(attn, "gate", None) is not None:
                block_features.append("gated attention")
            if attn.proj.bias is None:
                block_features.append("an attention projection without bias (proj_bias=False)")
            if attn.num_heads * attn.head_dim != timm_model.embed_dim:
                block_features.append("a head width other than embed_dim / num_heads (attn_head_dim)")
        if type(mlp) is not Mlp:
            block_features.append(f"the MLP type {type(mlp).__name__}")
        else:
            if _activation_name(mlp.act) is None:
                block_features.append(f"the MLP activation {type(mlp.act).__name__} (only GELU)")
            if not isinstance(mlp.norm, nn.Identity):
                block_features.append("a norm inside the MLP (scale_mlp_norm=True)")
            if mlp.fc1.bias is None or mlp.fc2.bias is None:
                block_features.append("an MLP without biases")
    features += list(dict.fromkeys(block_features))

    norms = [norm for norm in norms if not isinstance(norm, nn.Identity)]
    if not all(_is_affine_layer_norm(norm) for norm in norms):
        kinds = sorted({type(norm).__name__ for norm in norms if not _is_affine_layer_norm(norm)})
        features.append(f"normalisation layers other than LayerNorm with weight and bias ({', '.join(kinds)})")
    elif len({norm.eps for norm in norms}) > 1:
        features.append(f"LayerNorms with different eps ({sorted({norm.eps for norm in norms})})")
    heads = [timm_model.head, getattr(timm_model, "head_dist", nn.Identity())]
    if not all(
        isinstance(head, nn.Identity) or (isinstance(head, nn.Linear) and head.bias is not None) for head in heads
    ):
        features.append("a classifier head other than a linear layer with bias")

    if architecture == "deit":
        if not timm_model.has_class_token or timm_model.global_pool != "token":
            features.append(f"pooling other than the class token in a DeiT (global_pool={timm_model.global_pool!r})")
        if not isinstance(timm_model.fc_norm, nn.Identity):
            features.append("a norm after pooling in a DeiT (fc_norm=True)")
    return features


def _imagenet_labels(timm_model: nn.Module) -> dict[int, str] | None:
    """ImageNet class names for a model with an ImageNet head (timm's bundled lists; no download)."""
    return imagenet_labels(timm_model.num_classes)


def imagenet_labels(num_classes: int) -> dict[int, str] | None:
    """The class names of ImageNet-1k or ImageNet-22k when `num_classes` is theirs and timm (which bundles the
    lists) is installed; None otherwise."""
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset
    except ImportError:
        return None
    subset = infer_imagenet_subset({"num_classes": num_classes})
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    if info.num_classes() != num_classes:
        return None
    return {index: info.index_to_description(index) for index in range(info.num_classes())}


def label_kwargs(num_classes: int) -> dict:
    """The config's label fields for a head of `num_classes`: ImageNet's class names when it is ImageNet's."""
    labels = imagenet_labels(num_classes)
    if labels is None:
        return {"num_labels": num_classes}
    return {"id2label": labels, "label2id": {name: index for index, name in labels.items()}}


def timm_config(timm_model: nn.Module, architecture: str | None = None) -> PreTrainedConfig:
    """Our config (ZooViTConfig, ZooDeiTConfig or ZooSwinConfig) for a supported timm model, read off the model's
    modules."""
    architecture = architecture or timm_architecture(timm_model)
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {architecture!r}; expected one of {tuple(ARCHITECTURES)}.")
    features = unsupported_timm_features(timm_model, architecture)
    if features:
        raise ConversionError(
            f"timm model {timm_model_name(timm_model)!r} uses features hf-vits' {ARCHITECTURES[architecture]} does "
            f"not implement: {'; '.join(features)}. Converting it would change its outputs."
        )
    if architecture == "swin":
        return swin.timm_config(timm_model, label_kwargs(timm_model.num_classes))
    if architecture == "levit":
        return levit.timm_config(timm_model, label_kwargs(timm_model.num_classes))
    height, width = timm_model.patch_embed.img_size
    first_norm = timm_model.norm if isinstance(timm_model.fc_norm, nn.Identity) else timm_model.fc_norm
    kwargs = {
        "image_size": height if height == width else [height, width],
        "patch_size": timm_model.patch_embed.patch_size[0],
        "num_channels": timm_model.patch_embed.proj.in_channels,
        "hidden_size": timm_model.embed_dim,
        "num_hidden_layers": len(timm_model.blocks),
        "num_attention_heads": timm_model.blocks[0].attn.num_heads,
        "intermediate_size": timm_model.blocks[0].mlp.fc1.out_features,
        "hidden_act": _activation_name(timm_model.blocks[0].mlp.act),
        "qkv_bias": timm_model.blocks[0].attn.qkv.bias is not None,
        "layer_norm_eps": first_norm.eps,
        **label_kwargs(timm_model.num_classes),
    }
    if architecture == "deit":
        from timm.models.deit import VisionTransformerDistilled

        return ZooDeiTConfig(use_distillation_token=isinstance(timm_model, VisionTransformerDistilled), **kwargs)
    return ZooViTConfig(
        use_class_token=timm_model.has_class_token,
        pooling={"token": "cls", "avg": "mean"}[timm_model.global_pool],
        use_fc_norm=not isinstance(timm_model.fc_norm, nn.Identity),
        **kwargs,
    )


def timm_key_table(config: PreTrainedConfig) -> KeyTable:
    """The key table between timm's state dict and that of our image classifier for `config`."""
    if isinstance(config, ZooSwinConfig):
        return swin.swin_key_table(config, "timm")
    if isinstance(config, ZooLeViTConfig):
        return levit.levit_key_table(config, "timm")
    deit = isinstance(config, ZooDeiTConfig)
    if not deit and config.representation_size is not None:
        raise ConversionError("timm's VisionTransformer has no pre-logits layer (representation_size).")
    prefix = "deit." if deit else "vit."
    rules = [
        KeyRule.rename("patch_embed.proj.weight", f"{prefix}embeddings.patch_embeddings.projection.weight"),
        KeyRule.rename("patch_embed.proj.bias", f"{prefix}embeddings.patch_embeddings.projection.bias"),
        KeyRule.rename("pos_embed", f"{prefix}embeddings.position_embeddings"),
    ]
    if deit or config.use_class_token:
        rules.append(KeyRule.rename("cls_token", f"{prefix}embeddings.cls_token"))
    if deit and config.use_distillation_token:
        rules.append(KeyRule.rename("dist_token", f"{prefix}embeddings.distillation_token"))
    for index in range(config.num_hidden_layers):
        for theirs, ours in _BLOCK_KEYS.items():
            for kind in ("weight", "bias"):
                if ours == "attention.qkv" and kind == "bias" and not config.qkv_bias:
                    continue
                rules.append(
                    KeyRule.rename(f"blocks.{index}.{theirs}.{kind}", f"{prefix}encoder.layers.{index}.{ours}.{kind}")
                )
    final_norm = (
        ("fc_norm", f"{prefix}pooler.fc_norm") if not deit and config.fc_norm else ("norm", f"{prefix}layernorm")
    )
    heads = [("head", "classifier")]
    if deit and config.use_distillation_token:
        heads.append(("head_dist", "distillation_classifier"))
    for theirs, ours in [final_norm, *(heads if config.num_labels > 0 else [])]:
        rules += [KeyRule.rename(f"{theirs}.{kind}", f"{ours}.{kind}") for kind in ("weight", "bias")]
    return KeyTable(rules)


def timm_image_processor(timm_model: nn.Module, architecture: str | None = None) -> BaseImageProcessor:
    """Our processor reproducing timm's evaluation transform for `timm_model` (`resolve_model_data_config` +
    `create_transform`): resize the shorter side to floor(size / crop_pct), center-crop to the model's size."""
    from timm.data import resolve_model_data_config

    architecture = architecture or timm_architecture(timm_model)
    name = timm_model_name(timm_model)
    data_config = resolve_model_data_config(timm_model)
    if architecture == "levit":
        height, width = timm_config(timm_model, architecture).image_size_pair
    else:
        height, width = timm_model.patch_embed.img_size
    if tuple(data_config["input_size"][1:]) != (height, width):
        logger.info(
            "timm's data config of %s is for %s px; the processor crops to the model's %dx%d.",
            name,
            data_config["input_size"][1:],
            height,
            width,
        )
    crop_pct, crop_mode = data_config["crop_pct"], data_config.get("crop_mode", "center")
    if crop_mode == "center":
        if height != width:
            raise ConversionError(
                f"timm model {name!r}: a non-square center crop ({height}x{width}) after resizing the shorter side "
                "has no equivalent in the image processors."
            )
        size = {"shortest_edge": math.floor(height / crop_pct)}
    elif crop_mode == "squash":
        size = {"height": math.floor(height / crop_pct), "width": math.floor(width / crop_pct)}
    else:
        raise ConversionError(f"timm model {name!r}: the eval crop_mode {crop_mode!r} is not supported.")
    if data_config["interpolation"] not in _RESAMPLE:
        raise ConversionError(
            f"timm model {name!r}: interpolation {data_config['interpolation']!r} is not supported "
            f"(only {', '.join(_RESAMPLE)})."
        )
    processor_class = _CLASSES[architecture][1]
    return processor_class(
        do_resize=True,
        size=size,
        resample=_RESAMPLE[data_config["interpolation"]],
        do_center_crop=True,
        crop_size={"height": height, "width": width},
        image_mean=list(data_config["mean"]),
        image_std=list(data_config["std"]),
    )


def convert_timm_model(
    timm_model: nn.Module,
    state_dict: dict[str, torch.Tensor] | None = None,
    architecture: str | None = None,
    source_name: str | None = None,
) -> tuple[PreTrainedModel, BaseImageProcessor]:
    """Our image classifier and processor equivalent to `timm_model`, with its weights or those of `state_dict`
    (a checkpoint in timm's layout for this model; `source_name` names it in errors)."""
    architecture = architecture or timm_architecture(timm_model)
    config = timm_config(timm_model, architecture)
    model = _CLASSES[architecture][0](config)
    table = timm_key_table(config)
    source_name = source_name or f"state dict of timm model {timm_model_name(timm_model)!r}"
    state_dict = timm_model.state_dict() if state_dict is None else state_dict
    if architecture == "levit" and timm_model.use_conv:
        state_dict = levit.squeeze_conv_mode(state_dict)
    converted = table.convert(state_dict, model.state_dict(), source_name)
    model.load_state_dict(converted, strict=True)
    return model.eval(), timm_image_processor(timm_model, architecture)


def verify_against_timm(model: PreTrainedModel, timm_model: nn.Module, tolerance: float = VERIFY_TOLERANCE) -> float:
    """The largest |Δlogits| between our model and `timm_model` on a random batch in eval mode; a
    ConversionError when above `tolerance`."""
    config = model.config
    pixel_values = random_pixel_values(config.num_channels, *config.image_size_pair)
    with eval_mode(model, timm_model), torch.no_grad():
        reference = timm_model(pixel_values)
        logits = model(pixel_values=pixel_values).logits
    max_abs_diff = max_abs_difference({"logits": (logits, reference)})
    check_tolerance(max_abs_diff, f"timm model {timm_model_name(timm_model)!r}", tolerance)
    return max_abs_diff


def create_timm_model(name: str, pretrained: bool = False, **model_kwargs) -> nn.Module:
    """`timm.create_model`, with errors that say what to do (an unknown name, weights that cannot be fetched)."""
    try:
        import timm
    except ImportError as error:
        raise ConversionError("Converting timm models needs timm: pip install 'hf-vits[timm]'.") from error

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConversionError(f"timm has no model called {name!r}.{hint}")
    try:
        return timm.create_model(name, pretrained=pretrained, **model_kwargs)
    except Exception as error:
        if pretrained:
            raise ConversionError(
                f"Could not load the pretrained weights of timm model {name!r} ({type(error).__name__}: {error}). "
                "Without network access, pass the weights as a checkpoint file."
            ) from error
        raise ConversionError(f"timm could not build {name!r} with {model_kwargs}: {error}") from error


def load_timm(
    name: str,
    checkpoint: str | Path | None = None,
    model_kwargs: dict | None = None,
    verify: bool = True,
) -> ConvertedModel:
    """Convert timm model `name` with the weights of `checkpoint`, or timm's pretrained weights (downloaded) when
    None. `model_kwargs` go to `timm.create_model` (e.g. `img_size`); the number of classes is read from the
    checkpoint's head unless given."""
    model_kwargs = dict(model_kwargs or {})
    state_dict = None
    if checkpoint is not None:
        state_dict = read_checkpoint(checkpoint)
        if "num_classes" not in model_kwargs:
            # ViT's and DeiT's head is "head", Swin's "head.fc", LeViT's "head.linear".
            head = state_dict.get("head.weight", state_dict.get("head.fc.weight", state_dict.get("head.linear.weight")))
            model_kwargs["num_classes"] = 0 if head is None else head.shape[0]
    timm_model = create_timm_model(name, pretrained=checkpoint is None, **model_kwargs)
    source_name = f"checkpoint {checkpoint}" if checkpoint is not None else None
    model, processor = convert_timm_model(timm_model, state_dict, source_name=source_name)
    max_abs_diff = None
    if verify:
        if state_dict is not None:
            timm_model.load_state_dict(state_dict, strict=True)
        max_abs_diff = verify_against_timm(model, timm_model)
    return ConvertedModel(model, processor, max_abs_diff)


def _classifier(model: PreTrainedModel) -> PreTrainedModel:
    classes = tuple(model_class for model_class, _ in _CLASSES.values())
    if not isinstance(model, classes):
        names = ", ".join(model_class.__name__ for model_class in classes)
        raise ConversionError(f"Only {names} have a timm equivalent, not {type(model).__name__}.")
    return model


def to_timm_state_dict(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """Our image classifier's weights in the layout of the equivalent timm model (the inverse of the conversion)."""
    return timm_key_table(_classifier(model).config).invert(model.state_dict(), source_name=type(model).__name__)


def timm_model_kwargs(config: PreTrainedConfig) -> dict:
    """The keyword arguments of timm's VisionTransformer (SwinTransformer for a Swin config) that build the
    equivalent of `config`."""
    if isinstance(config, ZooSwinConfig):
        return swin.timm_model_kwargs(config)
    if isinstance(config, ZooLeViTConfig):
        return levit.timm_model_kwargs(config)
    activations = {"gelu": nn.GELU, "gelu_pytorch_tanh": partial(nn.GELU, approximate="tanh")}
    if config.hidden_act not in activations:
        raise ConversionError(f"timm's VisionTransformer has no MLP activation {config.hidden_act!r}.")
    deit = isinstance(config, ZooDeiTConfig)
    if not deit and config.representation_size is not None:
        raise ConversionError("timm's VisionTransformer has no pre-logits layer (representation_size).")
    return {
        "img_size": config.image_size_pair,
        "patch_size": config.patch_size,
        "in_chans": config.num_channels,
        "num_classes": config.num_labels,
        "embed_dim": config.hidden_size,
        "depth": config.num_hidden_layers,
        "num_heads": config.num_attention_heads,
        "mlp_ratio": config.intermediate_size / config.hidden_size,
        "qkv_bias": config.qkv_bias,
        "class_token": deit or config.use_class_token,
        "global_pool": "token" if deit or config.pooling == "cls" else "avg",
        "fc_norm": not deit and config.fc_norm,
        "norm_layer": partial(nn.LayerNorm, eps=config.layer_norm_eps),
        "act_layer": activations[config.hidden_act],
    }


def to_timm_model(model: PreTrainedModel) -> nn.Module:
    """A timm VisionTransformer, VisionTransformerDistilled or SwinTransformer with our image classifier's weights,
    in eval mode."""
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import VisionTransformer

    config = _classifier(model).config
    if isinstance(config, ZooSwinConfig):
        timm_model = swin.to_timm_model(config)
    elif isinstance(config, ZooLeViTConfig):
        timm_model = levit.to_timm_model(config)
    else:
        distilled = isinstance(config, ZooDeiTConfig) and config.use_distillation_token
        timm_class = VisionTransformerDistilled if distilled else VisionTransformer
        timm_model = timm_class(**timm_model_kwargs(config), weight_init="skip")
    state_dict = timm_key_table(config).invert(model.state_dict(), timm_model.state_dict(), type(model).__name__)
    timm_model.load_state_dict(state_dict, strict=True)
    return timm_model.eval()
