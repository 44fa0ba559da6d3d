"""ImageNet ResNets of torchvision and timm loaded into the trunks of the attention-CNNs that start from them
(Non-local networks, CCNet, Attention-Augmented ResNets): `hf-vits convert timm:resnet50 OUT --variant <ours>`.

Their trunks use torchvision's parameter names (`conv1`, `bn1`, `layerN.<block>.conv1` ... `downsample.1`) under
the base model, and the modules they add (non-local blocks, criss-cross attention) start as the identity, so
that a freshly converted model computes the source ResNet's features exactly. CCNet's deep stem takes the
authors' names (`conv1`, `bn1`, `conv2`, `bn2`, `conv3`, `bn3`); timm's deep stem (`conv1.0`, `conv1.1`, `conv1.3`,
`conv1.4`, `conv1.6`, then `bn1`) maps onto it.

An architecture whose blocks change the shape of a trunk weight (AA-ResNet's augmented 3x3 convolutions keep only
part of the filters as a convolution) registers a `TrunkAdapter` that says what becomes of such a weight; its
models are then not the source ResNet, and `exact=False` skips the feature comparison.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel

from ..registry import create_config, create_image_processor, get_variant
from .common import (
    VERIFY_TOLERANCE,
    ConversionError,
    ConvertedModel,
    check_tolerance,
    eval_mode,
    random_pixel_values,
    read_checkpoint,
)
from .from_timm import create_timm_model, label_kwargs

logger = logging.getLogger(__name__)

# The architectures whose trunk is a torchvision-layout ResNet.
TRUNK_ARCHITECTURES = ("nonlocal_net", "ccnet", "aanet")
RESNET_SOURCE_KINDS = ("timm", "torchvision")

# A trunk weight of the target model: the stem's convolutions and norms, and the blocks' (with their shortcut).
_TRUNK_KEY = re.compile(
    r"^(conv\d|bn\d|layer\d+\.\d+\.(conv\d|bn\d|downsample\.\d))\.(weight|bias|running_mean|running_var|num_batches_tracked)$"
)
# timm's deep stem, `conv1` a Sequential of conv, bn, act, conv, bn, act, conv, then `bn1`: the authors' names.
_TIMM_DEEP_STEM = {"conv1.0": "conv1", "conv1.1": "bn1", "conv1.3": "conv2", "conv1.4": "bn2", "conv1.6": "conv3"}


@dataclass(frozen=True)
class TrunkAdapter:
    """How an architecture whose blocks reshape some trunk weights takes a source ResNet's weights.

    `adapt(model, key, tensor)` gets a source weight (already renamed to our key) that does not fit the model as it
    is, and returns the target tensors it becomes ({} to drop it, which must be what the architecture means), or
    None when it does not know the key (an error then). `exact` says whether a converted model computes the
    source ResNet's features (False: the feature comparison is skipped, and the reason logged)."""

    adapt: Callable[[PreTrainedModel, str, torch.Tensor], dict[str, torch.Tensor] | None]
    exact: bool
    description: str


TRUNK_ADAPTERS: dict[str, TrunkAdapter] = {}


def register_trunk_adapter(architecture: str, adapter: TrunkAdapter) -> None:
    """Declare how `architecture` takes the source weights that do not fit its trunk as they are."""
    TRUNK_ADAPTERS[architecture] = adapter


def _architecture_name(model: PreTrainedModel) -> str:
    return model.config.model_type.removeprefix("hfvits_")


def _trunk_prefix(model: PreTrainedModel) -> str:
    """Where the trunk's keys start in `model`'s state dict: under the base model for a head class."""
    prefix = model.base_model_prefix
    return f"{prefix}." if prefix and hasattr(model, prefix) else ""


def our_trunk_key(source_key: str, timm_deep_stem: bool = False) -> str:
    """The trunk key (without the base-model prefix) of a torchvision or timm ResNet key; with timm's deep stem,
    its convolutions and norms take the authors' names (timm's `bn1` closes the stem: our `bn3`)."""
    if not timm_deep_stem:
        return source_key
    for timm_name, ours in {**_TIMM_DEEP_STEM, "bn1": "bn3"}.items():
        if source_key.startswith(f"{timm_name}."):
            return ours + source_key.removeprefix(timm_name)
    return source_key


def _uses_timm_deep_stem(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return "conv1.0.weight" in state_dict


def load_resnet_trunk(
    model: PreTrainedModel, resnet_state_dict: Mapping[str, torch.Tensor], source_name: str = "ResNet state dict"
) -> list[str]:
    """Copy a torchvision- or timm-layout ResNet state dict into `model`'s trunk (and its `classifier` when the
    source's `fc` has the same shape). Every source weight is used, or a ConversionError lists those that are not;
    every trunk weight of `model` is filled. Returns the source keys deliberately not used (`fc.*` when the heads
    differ), which are also logged."""
    ours = model.state_dict()
    prefix = _trunk_prefix(model)
    adapter = TRUNK_ADAPTERS.get(_architecture_name(model))
    deep_stem = _uses_timm_deep_stem(resnet_state_dict)
    filled: dict[str, torch.Tensor] = {}
    unused_head, problems = [], []
    for key, tensor in resnet_state_dict.items():
        if key.startswith("fc."):
            target = "classifier" + key.removeprefix("fc")
            if target in ours and ours[target].shape == tensor.shape:
                filled[target] = tensor
            else:
                unused_head.append(key)
            continue
        target = prefix + our_trunk_key(key, deep_stem)
        if target in ours and ours[target].shape == tensor.shape:
            filled[target] = tensor
            continue
        adapted = adapter.adapt(model, target, tensor) if adapter is not None else None
        if adapted is None:
            expected = f"shape {tuple(ours[target].shape)}" if target in ours else "no such weight"
            problems.append(f"{key} {tuple(tensor.shape)} -> {target}: {expected}")
            continue
        filled.update(adapted)
    if problems:
        raise ConversionError(
            f"{source_name} does not fit the trunk of {type(model).__name__} ({len(problems)} weights): "
            + "; ".join(problems[:10])
            + ("; ..." if len(problems) > 10 else "")
        )
    missing = [
        key
        for key in ours
        if key.startswith(prefix) and _TRUNK_KEY.match(key.removeprefix(prefix)) and key not in filled
    ]
    if missing:
        raise ConversionError(
            f"{source_name} lacks {len(missing)} trunk weights of {type(model).__name__} (a ResNet of another depth "
            f"or stem?): {', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}."
        )
    for key, tensor in filled.items():
        if key not in ours or ours[key].shape != tensor.shape:
            raise ConversionError(f"{source_name}: the adapted weight {key} does not fit {type(model).__name__}.")
    model.load_state_dict({**ours, **filled}, strict=True)
    if unused_head:
        logger.info("%s: the head %s does not fit the model's classifier and was not copied.", source_name, unused_head)
    return unused_head


def resnet_features(resnet: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """The last stage's feature map of a torchvision or timm ResNet."""
    if hasattr(resnet, "forward_features"):
        return resnet.forward_features(pixel_values)
    hidden = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(pixel_values))))
    for stage in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
        hidden = stage(hidden)
    return hidden


def verify_against_resnet(
    model: PreTrainedModel, resnet: nn.Module, head_copied: bool, tolerance: float = VERIFY_TOLERANCE
) -> float:
    """The largest |Δ| between the source ResNet's last-stage features (and logits, when the head was copied) and
    ours: the last of our hidden states with the shape of the source's features. A ConversionError when above
    `tolerance`."""
    config = model.config
    pixel_values = random_pixel_values(config.num_channels, *_image_size_pair(config))
    with eval_mode(model, resnet), torch.no_grad():
        reference = resnet_features(resnet, pixel_values)
        outputs = model(pixel_values=pixel_values, output_hidden_states=True)
        reference_logits = resnet(pixel_values) if head_copied else None
    same_shape = [hidden for hidden in outputs.hidden_states if hidden.shape == reference.shape]
    if not same_shape:
        raise ConversionError(
            f"{type(model).__name__} has no stage output of the source ResNet's feature shape {tuple(reference.shape)}."
        )
    max_abs_diff = (same_shape[-1] - reference).abs().max().item()
    if reference_logits is not None:
        max_abs_diff = max(max_abs_diff, (outputs.logits - reference_logits).abs().max().item())
    check_tolerance(max_abs_diff, f"the source ResNet ({type(resnet).__name__})", tolerance)
    return max_abs_diff


def _image_size_pair(config) -> tuple[int, int]:
    size = getattr(config, "image_size", 224)
    return (size, size) if isinstance(size, int) else tuple(size)


def build_resnet(kind: str, name: str, checkpoint: str | Path | None) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The source ResNet (`timm` or `torchvision` model `name`) with the weights of `checkpoint`, or its library's
    pretrained weights (downloaded) when None, and its state dict."""
    state_dict = read_checkpoint(checkpoint) if checkpoint is not None else None
    num_classes = state_dict["fc.weight"].shape[0] if state_dict is not None and "fc.weight" in state_dict else 1000
    if kind == "timm":
        resnet = create_timm_model(name, pretrained=checkpoint is None, num_classes=num_classes)
    elif kind == "torchvision":
        resnet = _torchvision_resnet(name, pretrained=checkpoint is None, num_classes=num_classes)
    else:
        raise ConversionError(f"Unknown ResNet source {kind!r}; expected one of {RESNET_SOURCE_KINDS}.")
    if not all(hasattr(resnet, stage) for stage in ("layer1", "layer2", "layer3", "layer4", "fc")):
        raise ConversionError(f"{kind}:{name} is not a ResNet (no layer1..layer4 and fc); expected e.g. resnet50.")
    if state_dict is not None:
        try:
            resnet.load_state_dict(state_dict, strict=True)
        except RuntimeError as error:
            raise ConversionError(f"Checkpoint {checkpoint} does not fit {kind}:{name}: {error}") from error
    return resnet.eval(), resnet.state_dict()


def _torchvision_resnet(name: str, pretrained: bool, num_classes: int) -> nn.Module:
    import torchvision

    if name not in torchvision.models.list_models(torchvision.models):
        raise ConversionError(f"torchvision has no model called {name!r}; expected e.g. resnet50.")
    try:
        if pretrained:
            return torchvision.models.get_model(name, weights="DEFAULT")
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    except Exception as error:
        raise ConversionError(
            f"Could not load the pretrained weights of torchvision model {name!r} ({type(error).__name__}: {error}). "
            "Without network access, pass the weights as a checkpoint file."
        ) from error


def load_resnet(
    kind: str, name: str, variant: str, checkpoint: str | Path | None = None, verify: bool = True
) -> ConvertedModel:
    """Our image classifier of `variant` (a Non-local, CCNet or AA-ResNet variant) whose trunk carries the weights
    of the `kind` (timm or torchvision) ResNet `name`, verified against it."""
    architecture = get_variant(variant).architecture.name
    if architecture not in TRUNK_ARCHITECTURES:
        raise ConversionError(
            f"{variant!r} ({architecture}) has no ResNet trunk; a ResNet converts into the variants of "
            f"{', '.join(TRUNK_ARCHITECTURES)}."
        )
    if get_variant(variant).task == "semantic-segmentation":
        from .ccnet import load_resnet_segmenter

        return load_resnet_segmenter(kind, name, variant, checkpoint=checkpoint, verify=verify)
    from transformers import AutoModelForImageClassification

    resnet, state_dict = build_resnet(kind, name, checkpoint)
    config = create_config(variant, **label_kwargs(resnet.fc.out_features))
    model = AutoModelForImageClassification.from_config(config).eval()
    source_name = f"{kind}:{name}" if checkpoint is None else f"checkpoint {checkpoint}"
    unused = load_resnet_trunk(model, state_dict, source_name)
    max_abs_diff = None
    adapter = TRUNK_ADAPTERS.get(architecture)
    if verify and adapter is not None and not adapter.exact:
        logger.warning("%s is not the source ResNet (%s): its features are not compared.", variant, adapter.description)
    elif verify:
        max_abs_diff = verify_against_resnet(model, resnet, head_copied=not unused)
    return ConvertedModel(model, create_image_processor(variant), max_abs_diff)


# The architectures whose blocks reshape trunk weights register their adapters in their own modules.
from . import aanet  # noqa: E402, F401
