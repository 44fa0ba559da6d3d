"""A timm ResNet-50 checkpoint into a Non-local ResNet through the converter: the verified conversion computes the
ResNet's logits, its non-local blocks start as the identity, and the saved folder loads back."""

from __future__ import annotations

import timm
import torch
from conversion_helpers import max_diff, save_hf
from safetensors.torch import save_file
from transformers import AutoModelForImageClassification

from hf_vits import ZooNonLocalForImageClassification
from hf_vits.conversion.resnet import load_resnet


def test_timm_resnet50_checkpoint_into_the_5block_model(tmp_path):
    torch.manual_seed(0)
    resnet = timm.create_model("resnet50", pretrained=False, num_classes=10).eval()
    with torch.no_grad():
        for module in resnet.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    checkpoint = tmp_path / "resnet50.safetensors"
    save_file(resnet.state_dict(), str(checkpoint))

    converted = load_resnet("timm", "resnet50", "nonlocal-resnet50-5block", checkpoint=checkpoint)
    model = converted.model
    assert type(model) is ZooNonLocalForImageClassification and model.config.num_labels == 10
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= 1e-5
    blocks = [name for name, _ in model.named_modules() if name.endswith(".non_local")]
    positions = ("layer2.1", "layer2.3", "layer3.1", "layer3.3", "layer3.5")
    assert blocks == [f"nonlocal_net.{position}.non_local" for position in positions]
    for block in blocks:
        assert not model.get_submodule(f"{block}.output_norm").weight.any(), f"{block} does not start as the identity"

    folder = save_hf(tmp_path, model, converted.processor)
    reloaded = AutoModelForImageClassification.from_pretrained(folder).eval()
    pixel_values = torch.randn(2, 3, 160, 128)
    with torch.no_grad():
        expected = resnet(pixel_values)
        assert max_diff(reloaded(pixel_values).logits, expected) <= 1e-5
        attentions = reloaded(pixel_values, output_attentions=True).attentions
    assert [tuple(a.shape) for a in attentions] == [(2, 1, 320, 80)] * 2 + [(2, 1, 80, 20)] * 3
