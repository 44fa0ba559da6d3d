"""ImageNet ResNet weights (torchvision's, timm's) in an AA-ResNet: what loading them means.

An attention-augmented 3x3 convolution with F_out output filters computes F_out - d_v of them with a 3x3
convolution (`<block>.convN.convolution`) and d_v with self-attention. The source ResNet's 3x3 convolution
(`<block>.convN.weight`, F_out filters) gives its first F_out - d_v filters to the convolution, whose output
channels are then exactly the source's first F_out - d_v; its last d_v filters, which the attention replaces, are
dropped, and the attention (queries, keys, values, output projection, relative embeddings) keeps its initialisation.
The BatchNorm after it keeps all F_out channels of the source's, the attention's included. Every other weight is
the source's as it is. A converted AA-ResNet is therefore not the source ResNet (its features differ through the d_v
attention channels of every augmented convolution); one with no augmented stage is, exactly.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from .resnet import TrunkAdapter, register_trunk_adapter


def adapt_augmented_conv(model: PreTrainedModel, key: str, tensor: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The first F_out - d_v filters of a source 3x3 convolution `key` for the convolution of our augmented
    convolution in its place; None for any other key."""
    if not key.endswith(".weight"):
        return None
    target = key.removesuffix(".weight") + ".convolution.weight"
    ours = model.state_dict()
    if target not in ours:
        return None
    kept = ours[target].shape[0]
    if tensor.shape[0] <= kept or tensor.shape[1:] != ours[target].shape[1:]:
        return None
    return {target: tensor[:kept]}


register_trunk_adapter(
    "aanet",
    TrunkAdapter(
        adapt=adapt_augmented_conv,
        exact=False,
        description=(
            "its augmented 3x3 convolutions keep the source's first F_out - d_v filters and compute the other d_v "
            "channels with attention, which starts from its initialisation"
        ),
    ),
)
