"""CCNet's original layout: the authors' `networks/ccnet.py` (speedinghzl/CCNet), as a key table onto
`ZooCCNetForSemanticSegmentation`, and what else their checkpoints need to compute the same.

Their trunk has torchvision's names (`conv1`, `bn1`, .., `conv3`, `bn3` for the deep stem, `layerN.<i>.convK`,
`downsample.0/1`), the RCCA head is `head.conva`, `head.cca` (`query_conv`, `key_conv`, `value_conv`, `gamma`),
`head.convb`, `head.bottleneck` (convolution, norm, Dropout2d, classifier) and the auxiliary head `dsn`. A
checkpoint saved from DistributedDataParallel has each key under `module.`, which `read_checkpoint` strips.

Two things differ beyond names:
- Every norm there is InPlaceABN(Sync), which scales by |weight| + eps, not by weight (in-place ABN needs the scale
  invertible); the converter folds that into the BatchNorm's weight. Their running statistics carry no
  `num_batches_tracked`, which starts at 0.
- The authors feed BGR images (OpenCV) minus a BGR mean; our processors give RGB minus the same means in RGB order,
  so the first convolution's input channels are reordered from BGR to RGB.

The segmenter also starts, as the paper's does, from an ImageNet ResNet (`load_resnet_segmenter`, behind
`hf-vits convert timm:<resnet> OUT --variant ccnet-resnet101`): the trunk takes the source's weights and stem (timm's
deep stem, or the 7x7 stem of torchvision's and timm's plain ResNets), the heads start fresh. The check runs the trunk
undilated, where it must compute the source's features exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedConfig

from ..modeling.ccnet import ZooCCNetConfig, ZooCCNetForSemanticSegmentation, ZooCCNetModel
from ..registry import create_config, create_image_processor
from .common import (
    ConversionError,
    ConvertedModel,
    KeyRule,
    KeyTable,
    check_tolerance,
    eval_mode,
    random_pixel_values,
)
from .from_timm import label_kwargs
from .resnet import build_resnet, load_resnet_trunk, resnet_features

REPOSITORY = "speedinghzl/CCNet"
# Their classifier, whose first dimension is the number of classes.
HEAD_WEIGHT = "head.bottleneck.3.weight"
# Their BGR input order, read as our RGB channels.
_BGR_TO_RGB = [2, 1, 0]

_NORM = ("weight", "bias", "running_mean", "running_var")
# Their head's modules (convolution or norm) and ours.
_HEAD_MODULES = {
    "head.conva.0": "decode_head.reduction.conv",
    "head.conva.1": "decode_head.reduction.norm",
    "head.cca.query_conv": "decode_head.rcca.query",
    "head.cca.key_conv": "decode_head.rcca.key",
    "head.cca.value_conv": "decode_head.rcca.value",
    "head.convb.0": "decode_head.projection.conv",
    "head.convb.1": "decode_head.projection.norm",
    "head.bottleneck.0": "decode_head.fusion.conv",
    "head.bottleneck.1": "decode_head.fusion.norm",
    "head.bottleneck.3": "decode_head.classifier",
    "dsn.0": "auxiliary_head.conv.conv",
    "dsn.1": "auxiliary_head.conv.norm",
    "dsn.3": "auxiliary_head.classifier",
}


def ccnet_key_table(model: ZooCCNetForSemanticSegmentation) -> KeyTable:
    """The key table from the authors' layout onto `model`'s state dict (its BatchNorms' counters left out)."""
    ours = [key for key in model.state_dict() if not key.endswith("num_batches_tracked")]
    prefix = f"{model.base_model_prefix}."
    rules = [KeyRule.rename(key.removeprefix(prefix), key) for key in ours if key.startswith(prefix)]
    for theirs, our_module in _HEAD_MODULES.items():
        rules += [
            KeyRule.rename(f"{theirs}.{name}", f"{our_module}.{name}")
            for name in _NORM
            if f"{our_module}.{name}" in ours
        ]
    rules.append(KeyRule.rename("head.cca.gamma", "decode_head.rcca.gamma"))
    return KeyTable(rules)


def original_config(variant: str, state_dict: dict[str, torch.Tensor]) -> PreTrainedConfig:
    """The config of `variant` with the checkpoint's classes: Cityscapes' names for its 19."""
    if HEAD_WEIGHT not in state_dict:
        raise ConversionError(f"The checkpoint has no {HEAD_WEIGHT}: it is not a CCNet of {REPOSITORY}.")
    config = create_config(variant)
    num_classes = state_dict[HEAD_WEIGHT].shape[0]
    return config if num_classes == config.num_labels else create_config(variant, **label_kwargs(num_classes))


def convert_state_dict(
    config: ZooCCNetConfig, state_dict: dict[str, torch.Tensor], source_name: str = "original checkpoint"
) -> ZooCCNetForSemanticSegmentation:
    """A `ZooCCNetForSemanticSegmentation` of `config` with the weights of the authors' `state_dict`: renamed, the
    InPlaceABN scales folded into the BatchNorms and the input channels made RGB."""
    model = ZooCCNetForSemanticSegmentation(config)
    expected = model.state_dict()
    table = ccnet_key_table(model)
    targets = set(table.target_keys)
    converted = table.convert(
        state_dict, {key: value for key, value in expected.items() if key in targets}, source_name
    )
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            converted[f"{name}.weight"] = converted[f"{name}.weight"].abs() + config.batch_norm_eps
            converted[f"{name}.num_batches_tracked"] = torch.zeros_like(expected[f"{name}.num_batches_tracked"])
    stem = f"{model.base_model_prefix}.conv1.weight"
    converted[stem] = converted[stem][:, _BGR_TO_RGB].contiguous()
    model.load_state_dict(converted, strict=True)
    return model.eval()


def convert_original_state_dict(
    variant: str, state_dict: dict[str, torch.Tensor], source_name: str = "original checkpoint"
) -> ConvertedModel:
    """Our segmenter of `variant` and its processor, with the weights of the authors' `state_dict`."""
    config = original_config(variant, state_dict)
    if not isinstance(config, ZooCCNetConfig):
        raise ConversionError(f"{variant!r} is not a CCNet variant.")
    return ConvertedModel(convert_state_dict(config, state_dict, source_name), create_image_processor(variant))


def _source_stem(state_dict: dict[str, torch.Tensor]) -> dict:
    """The stem fields of a ResNet state dict: timm's deep stem (`conv1.0`, ...) or the plain 7x7 one."""
    if "conv1.0.weight" in state_dict:
        return {"stem_type": "deep", "embedding_size": state_dict["conv1.0.weight"].shape[0]}
    return {"stem_type": "standard", "embedding_size": state_dict["conv1.weight"].shape[0]}


def verify_trunk_against_resnet(model: ZooCCNetForSemanticSegmentation, resnet: torch.nn.Module) -> float:
    """The largest |Δ| between the source ResNet's last-stage features and our trunk's, run undilated (the same
    weights; dilation only spaces the 3x3 taps) on an input whose stem map has an odd side, where the deep stem's
    ceil-mode pool and timm's agree. A ConversionError above the tolerance."""
    config = model.config
    undilated = ZooCCNetConfig(**{**config.to_dict(), "dilations": [1] * config.num_stages})
    with torch.device("meta"):
        twin = ZooCCNetModel(undilated, add_criss_cross_attention=False)
    twin.load_state_dict(model.ccnet.state_dict(), strict=True, assign=True)
    pixel_values = random_pixel_values(config.num_channels, 226, 226)
    with eval_mode(twin, resnet), torch.no_grad():
        max_abs_diff = (twin(pixel_values).last_hidden_state - resnet_features(resnet, pixel_values)).abs().max().item()
    check_tolerance(max_abs_diff, f"the source ResNet ({type(resnet).__name__})")
    return max_abs_diff


def load_resnet_segmenter(
    kind: str, name: str, variant: str, checkpoint: str | Path | None = None, verify: bool = True
) -> ConvertedModel:
    """The segmenter of `variant` (its classes, dilations and heads) whose trunk carries the weights and the stem of
    the `kind` (timm or torchvision) ResNet `name`; its heads start fresh, its RCCA at the identity."""
    resnet, state_dict = build_resnet(kind, name, checkpoint)
    model = ZooCCNetForSemanticSegmentation(create_config(variant, **_source_stem(state_dict))).eval()
    source = f"{kind}:{name}" if checkpoint is None else f"checkpoint {checkpoint}"
    unused = load_resnet_trunk(model, state_dict, source)
    if sorted(unused) != ["fc.bias", "fc.weight"]:
        raise ConversionError(f"{source}: expected only the ImageNet classifier `fc` to go unused, not {unused}.")
    max_abs_diff = verify_trunk_against_resnet(model, resnet) if verify else None
    return ConvertedModel(model, create_image_processor(variant), max_abs_diff)
