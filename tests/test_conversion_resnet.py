"""ImageNet ResNets (timm, torchvision) into the trunks of the attention-CNNs: what the converter refuses, and the
whole command on a random-weight torchvision checkpoint. Each architecture's own test module checks that its trunk
computes the source ResNet's features."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.cli import main
from hf_vits.conversion import TRUNK_ARCHITECTURES, ConversionError, load_source
from hf_vits.conversion.resnet import load_resnet_trunk, our_trunk_key


def trunk_variant(architecture: str = "nonlocal_net", depth: str = "resnet50") -> str:
    """The first registered variant of `architecture` built on a ResNet of `depth`."""
    names = [v.name for v in hf_vits.list_variants(architecture) if depth in v.name]
    if not names:
        pytest.skip(f"no {depth} variant of {architecture} is registered")
    return names[0]


def test_the_trunk_architectures_are_registered():
    assert set(TRUNK_ARCHITECTURES) <= set(hf_vits.ARCHITECTURES)


def test_timm_deep_stem_takes_the_authors_names():
    assert our_trunk_key("conv1.0.weight", timm_deep_stem=True) == "conv1.weight"
    assert our_trunk_key("conv1.1.running_var", timm_deep_stem=True) == "bn1.running_var"
    assert our_trunk_key("conv1.3.weight", timm_deep_stem=True) == "conv2.weight"
    assert our_trunk_key("conv1.4.bias", timm_deep_stem=True) == "bn2.bias"
    assert our_trunk_key("conv1.6.weight", timm_deep_stem=True) == "conv3.weight"
    assert our_trunk_key("bn1.weight", timm_deep_stem=True) == "bn3.weight"
    assert our_trunk_key("layer1.0.bn1.weight", timm_deep_stem=True) == "layer1.0.bn1.weight"
    assert our_trunk_key("bn1.weight") == "bn1.weight"


def test_a_torchvision_source_needs_a_variant():
    with pytest.raises(ValueError, match="--variant"):
        load_source("torchvision:resnet50")


def test_a_variant_goes_only_with_a_resnet_source():
    with pytest.raises(ValueError, match="timm or torchvision ResNet source"):
        load_source("original:swin-tiny-patch4-window7-224", variant="deit-tiny-patch16-224")


def test_a_variant_without_a_resnet_trunk_is_refused(tmp_path):
    with pytest.raises(ConversionError, match="has no ResNet trunk"):
        load_source("torchvision:resnet50", variant="deit-tiny-patch16-224")


def test_an_unknown_torchvision_model_is_refused(tmp_path):
    checkpoint = tmp_path / "weights.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(checkpoint))
    with pytest.raises(ConversionError, match="torchvision has no model called 'resnet51'"):
        load_source("torchvision:resnet51", checkpoint=checkpoint, variant=trunk_variant())


def test_a_resnet_of_another_depth_does_not_fit():
    model = hf_vits.create_model(trunk_variant(), num_labels=10).eval()
    resnet18 = torchvision.models.resnet18(weights=None)
    with pytest.raises(ConversionError, match="does not fit the trunk"):
        load_resnet_trunk(model, resnet18.state_dict(), "torchvision resnet18")


def test_the_head_is_copied_only_when_it_fits():
    model = hf_vits.create_model(trunk_variant(), num_labels=10).eval()
    resnet = torchvision.models.resnet50(weights=None)
    unused = load_resnet_trunk(model, resnet.state_dict(), "torchvision resnet50")
    assert unused == ["fc.weight", "fc.bias"]
    prefix = model.base_model_prefix
    torch.testing.assert_close(model.state_dict()[f"{prefix}.layer4.2.conv3.weight"], resnet.layer4[2].conv3.weight)


def test_convert_command_from_a_torchvision_checkpoint(tmp_path):
    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None, num_classes=7).eval()
    # Non-trivial running statistics, so that a norm left at its initialisation would show.
    for module in resnet.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    checkpoint = tmp_path / "resnet50.pth"
    torch.save(resnet.state_dict(), checkpoint)
    output = tmp_path / "converted"
    variant = trunk_variant()
    assert (
        main(["convert", "torchvision:resnet50", str(output), "--checkpoint", str(checkpoint), "--variant", variant])
        == 0
    )
    model = AutoModelForImageClassification.from_pretrained(output).eval()
    assert model.config.num_labels == 7
    pixel_values = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values).logits, resnet(pixel_values), atol=1e-5, rtol=0)
