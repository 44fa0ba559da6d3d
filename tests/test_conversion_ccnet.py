"""CCNet conversion: the authors' checkpoints (`original:ccnet-resnet101`: their layout, InPlaceABN scales, BGR
input) checked against an independent re-implementation of their network, and ImageNet ResNets of torchvision and
timm (the deep stem included) loaded into the trunk, whose features then equal theirs."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import torchvision
from conversion_helpers import max_diff
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForSemanticSegmentation

import hf_vits
from hf_vits import ZooCCNetConfig, ZooCCNetForImageClassification, ZooCCNetForSemanticSegmentation
from hf_vits.conversion import ConversionError, convert, load_resnet, load_resnet_trunk
from hf_vits.conversion.ccnet import ccnet_key_table, convert_state_dict
from hf_vits.modeling.ccnet.modeling_ccnet import ZooCCNetCrissCrossAttention

TOLERANCE = 1e-4
TINY = {
    "image_size": 32,
    "embedding_size": 8,
    "hidden_sizes": [16, 32, 64, 128],
    "depths": [1, 2, 2, 1],
    "head_hidden_size": 32,
    "num_labels": 5,
}
EPS = 1e-5


# --- an independent re-implementation of the authors' network (networks/ccnet.py), in their layout ----------------


class InPlaceABN(nn.Module):
    """In-place activated BatchNorm in evaluation: normalise with the running statistics, scale by |weight| + eps,
    shift, then the activation ("identity" in the authors' trunk, InPlaceABN's default leaky ReLU 0.01 elsewhere)."""

    def __init__(self, channels: int, activation: str = "leaky_relu"):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.activation = activation

    def forward(self, x):
        shape = (1, -1, 1, 1)
        scale = (self.weight.abs() + EPS).view(shape)
        y = (x - self.running_mean.view(shape)) / torch.sqrt(self.running_var.view(shape) + EPS) * scale
        y = y + self.bias.view(shape)
        return nn.functional.leaky_relu(y, 0.01) if self.activation == "leaky_relu" else y


class AuthorsBottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride, dilation, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = InPlaceABN(planes, "identity")
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = InPlaceABN(planes, "identity")
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = InPlaceABN(planes * 4, "identity")
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class AuthorsCrissCross(nn.Module):
    """Criss-cross attention as dense softmax attention masked to each position's row and column."""

    def __init__(self, channels):
        super().__init__()
        self.query_conv = nn.Conv2d(channels, channels // 8, 1)
        self.key_conv = nn.Conv2d(channels, channels // 8, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        batch, channels, height, width = x.shape
        query = self.query_conv(x).flatten(2).transpose(1, 2)
        key = self.key_conv(x).flatten(2)
        value = self.value_conv(x).flatten(2).transpose(1, 2)
        rows = torch.arange(height).repeat_interleave(width)
        cols = torch.arange(width).repeat(height)
        keep = (rows[:, None] == rows[None, :]) | (cols[:, None] == cols[None, :])
        weights = (query @ key).masked_fill(~keep, float("-inf")).softmax(-1)
        return self.gamma * (weights @ value).transpose(1, 2).reshape(batch, channels, height, width) + x


class AuthorsRCCAModule(nn.Module):
    def __init__(self, in_channels, out_channels, num_classes):
        super().__init__()
        inter = in_channels // 4
        self.conva = nn.Sequential(nn.Conv2d(in_channels, inter, 3, padding=1, bias=False), InPlaceABN(inter))
        self.cca = AuthorsCrissCross(inter)
        self.convb = nn.Sequential(nn.Conv2d(inter, inter, 3, padding=1, bias=False), InPlaceABN(inter))
        self.bottleneck = nn.Sequential(
            nn.Conv2d(in_channels + inter, out_channels, 3, padding=1, bias=False),
            InPlaceABN(out_channels),
            nn.Dropout2d(0.1),
            nn.Conv2d(out_channels, num_classes, 1),
        )

    def forward(self, x, recurrence):
        out = self.conva(x)
        for _ in range(recurrence):
            out = self.cca(out)
        return self.bottleneck(torch.cat([x, self.convb(out)], 1))


class AuthorsCCNet(nn.Module):
    """The authors' Seg_Model at any width: deep stem (stem, stem, 2 x stem), ceil-mode pool, res4/res5 dilated 2/4
    in every block, the RCCA head and the `dsn` auxiliary head; it reads BGR images."""

    def __init__(self, stem, planes, depths, head, num_classes, recurrence=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = InPlaceABN(stem, "identity")
        self.conv2 = nn.Conv2d(stem, stem, 3, 1, 1, bias=False)
        self.bn2 = InPlaceABN(stem, "identity")
        self.conv3 = nn.Conv2d(stem, 2 * stem, 3, 1, 1, bias=False)
        self.bn3 = InPlaceABN(2 * stem, "identity")
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.inplanes = 2 * stem
        self.layer1 = self._make_layer(planes[0], depths[0], 1, 1)
        self.layer2 = self._make_layer(planes[1], depths[1], 2, 1)
        self.layer3 = self._make_layer(planes[2], depths[2], 1, 2)
        self.layer4 = self._make_layer(planes[3], depths[3], 1, 4)
        self.head = AuthorsRCCAModule(planes[3] * 4, head, num_classes)
        self.dsn = nn.Sequential(
            nn.Conv2d(planes[2] * 4, head, 3, 1, 1),
            InPlaceABN(head),
            nn.Dropout2d(0.1),
            nn.Conv2d(head, num_classes, 1),
        )
        self.recurrence = recurrence

    def _make_layer(self, planes, blocks, stride, dilation):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), InPlaceABN(planes * 4, "identity")
            )
        layers = [AuthorsBottleneck(self.inplanes, planes, stride, dilation, downsample)]
        self.inplanes = planes * 4
        layers += [AuthorsBottleneck(self.inplanes, planes, 1, dilation, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = self.maxpool(torch.relu(self.bn3(self.conv3(x))))
        x = self.layer2(self.layer1(x))
        x3 = self.layer3(x)
        return self.head(self.layer4(x3), self.recurrence), self.dsn(x3)


def authors_tiny(seed: int = 0) -> AuthorsCCNet:
    """The tiny config's network in the authors' layout, every weight and statistic random (norm weights of both
    signs, as |w| + eps must be folded), γ non-zero."""
    torch.manual_seed(seed)
    model = AuthorsCCNet(stem=8, planes=[4, 8, 16, 32], depths=TINY["depths"], head=32, num_classes=5)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.ndim > 1:  # scaled to the fan-in, so that activations stay near unit size through the depth
                param.copy_(noise / param[0].numel() ** 0.5)
            else:
                param.copy_((0.5 + 0.2 * noise) * torch.sign(noise))
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
    return model.eval()


def bgr(pixel_values: torch.Tensor) -> torch.Tensor:
    return pixel_values[:, [2, 1, 0]]


# --- the authors' checkpoints --------------------------------------------------------------------------------------


def test_original_tiny_equals_the_authors_network():
    """Our converted segmenter on RGB equals the authors' network on the same image in BGR: the head's logits, and
    the auxiliary head's."""
    reference = authors_tiny()
    assert any((m.weight < 0).any() for m in reference.modules() if isinstance(m, InPlaceABN))
    model = convert_state_dict(ZooCCNetConfig(**TINY), reference.state_dict())
    pixel_values = torch.randn(2, 3, 45, 38, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, expected_auxiliary = reference(bgr(pixel_values))
        outputs = model(pixel_values, output_hidden_states=True)
        auxiliary = model.auxiliary_head(outputs.hidden_states[-2])
    assert model.decode_head.rcca.gamma.item() != 0
    assert max_diff(outputs.logits, expected) < TOLERANCE
    assert max_diff(auxiliary, expected_auxiliary) < TOLERANCE
    assert all(m.num_batches_tracked == 0 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_original_layout_of_the_full_model_fits():
    """The authors' ResNet-101 CCNet at 19 classes (built on the meta device) converts key for key and shape for
    shape onto `ccnet-resnet101`, with 71.29M parameters on both sides."""
    with torch.device("meta"):
        reference = AuthorsCCNet(stem=64, planes=[64, 128, 256, 512], depths=[3, 4, 23, 3], head=512, num_classes=19)
        model = hf_vits.create_model("ccnet-resnet101")
    theirs = reference.state_dict()
    assert sum(p.numel() for p in reference.parameters()) == sum(p.numel() for p in model.parameters()) == 71_287_911
    converted = ccnet_key_table(model).convert(theirs, None, "authors' layout")
    ours = model.state_dict()
    assert set(converted) == {key for key in ours if not key.endswith("num_batches_tracked")}
    assert all(converted[key].shape == ours[key].shape for key in converted)


def test_convert_original_cli_path(tmp_path):
    """`hf-vits convert original:ccnet-resnet101 OUT --checkpoint FILE` reads a `module.`-prefixed state dict of the
    authors (DistributedDataParallel) and writes a complete folder that AutoModelForSemanticSegmentation loads."""
    with torch.device("meta"):
        shapes = AuthorsCCNet(
            stem=64, planes=[64, 128, 256, 512], depths=[3, 4, 23, 3], head=512, num_classes=19
        ).state_dict()
    generator = torch.Generator().manual_seed(0)
    checkpoint = {f"module.{key}": torch.randn(value.shape, generator=generator) for key, value in shapes.items()}
    checkpoint["module.head.cca.gamma"] = torch.tensor([0.5])
    path = tmp_path / "CS_scenes_60000.pth"
    torch.save(checkpoint, path)
    output = convert("original:ccnet-resnet101", tmp_path / "out", checkpoint=path)
    config = json.loads((output / "config.json").read_text())
    assert config["model_type"] == "hfvits_ccnet" and config["id2label"]["0"] == "road"
    weights = load_file(output / "model.safetensors")
    torch.testing.assert_close(
        weights["ccnet.conv1.weight"], checkpoint["module.conv1.weight"][:, [2, 1, 0]], atol=0, rtol=0
    )
    torch.testing.assert_close(
        weights["ccnet.layer3.22.bn2.weight"], checkpoint["module.layer3.22.bn2.weight"].abs() + EPS, atol=0, rtol=0
    )
    assert weights["decode_head.rcca.gamma"].item() == 0.5
    model = AutoModelForSemanticSegmentation.from_pretrained(output)
    assert type(model) is ZooCCNetForSemanticSegmentation and model.config.num_labels == 19


def test_original_rejects_a_wrong_layout():
    reference = authors_tiny()
    state_dict = reference.state_dict()
    del state_dict["head.cca.gamma"]
    state_dict["head.cca.beta"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"head\.cca\.gamma.*head\.cca\.beta"):
        convert_state_dict(ZooCCNetConfig(**TINY), state_dict)


# --- ImageNet ResNets into the trunk --------------------------------------------------------------------------------


def resnet_features(resnet: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    if hasattr(resnet, "forward_features"):
        return resnet.forward_features(pixel_values)
    x = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(pixel_values))))
    return resnet.layer4(resnet.layer3(resnet.layer2(resnet.layer1(x))))


def randomize_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine weights (at their initial ones and zeros a swap would go unnoticed)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))
    return model.eval()


RESNET50 = {"stem_type": "standard", "depths": [3, 4, 6, 3], "dilations": [1, 1, 1, 1], "image_size": 64}


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_imagenet_resnet50_into_the_classifier(source):
    """With the RCCA at its zero-initialised identity, the classifier is the ResNet: same features, same logits."""
    torch.manual_seed(0)
    if source == "timm":
        resnet = timm.create_model("resnet50", pretrained=False)
    else:
        resnet = torchvision.models.resnet50(weights=None)
    resnet = randomize_statistics(resnet)
    model = ZooCCNetForImageClassification(ZooCCNetConfig(**RESNET50, num_labels=1000)).eval()
    assert load_resnet_trunk(model, resnet.state_dict(), source) == []
    pixel_values = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = model(pixel_values, output_hidden_states=True)
        assert max_diff(outputs.hidden_states[-1], resnet_features(resnet, pixel_values)) < 1e-5
        assert max_diff(model.ccnet(pixel_values).last_hidden_state, outputs.hidden_states[-1]) == 0
        assert max_diff(outputs.logits, resnet(pixel_values)) < TOLERANCE


def test_timm_deep_stem_into_the_segmentation_trunk():
    """timm's deep stem (`conv1.0`, `conv1.1`, `conv1.3`, `conv1.4`, `conv1.6`, `bn1`) maps onto the authors'
    `conv1` .. `bn3`; at a size where the ceil-mode pool and timm's agree (an odd stem map), undilated, the
    segmenter's trunk computes timm's features, and the dilated trunk keeps the weights' meaning at output stride 8."""
    torch.manual_seed(0)
    resnet = timm.models.resnet.ResNet(
        timm.models.resnet.Bottleneck, TINY["depths"], channels=(4, 8, 16, 32), stem_type="deep", stem_width=8
    )
    resnet = randomize_statistics(resnet)
    config = ZooCCNetConfig(**{**TINY, "dilations": [1, 1, 1, 1]})
    model = ZooCCNetForSemanticSegmentation(config).eval()
    assert load_resnet_trunk(model, resnet.state_dict(), "timm deep stem") == ["fc.weight", "fc.bias"]
    pixel_values = torch.randn(2, 3, 66, 66, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = model.ccnet(pixel_values).last_hidden_state
        assert max_diff(features, resnet_features(resnet, pixel_values)) < 1e-5
    dilated = ZooCCNetForSemanticSegmentation(ZooCCNetConfig(**TINY)).eval()
    load_resnet_trunk(dilated, resnet.state_dict(), "timm deep stem")
    with torch.no_grad():
        assert dilated.ccnet(pixel_values).last_hidden_state.shape[-1] == 9


def test_trunk_attention_starts_as_identity():
    model = ZooCCNetForImageClassification(ZooCCNetConfig(**TINY))
    gammas = [m.gamma.item() for m in model.modules() if isinstance(m, ZooCCNetCrissCrossAttention)]
    assert gammas == [0.0]


def test_timm_resnet101s_into_the_segmenter(tmp_path):
    """`hf-vits convert timm:resnet101s OUT --variant ccnet-resnet101`: timm's ResNet-101 with the 64-64-128 deep
    stem is the authors' trunk; converted, the segmenter is exactly the variant (Cityscapes classes, dilations, fresh
    heads) and its trunk, undilated, computes timm's features."""
    torch.manual_seed(0)
    resnet = randomize_statistics(timm.create_model("resnet101s", pretrained=False))
    path = tmp_path / "resnet101s.pth"
    torch.save(resnet.state_dict(), path)
    converted = load_resnet("timm", "resnet101s", "ccnet-resnet101", checkpoint=path)
    model = converted.model
    assert type(model) is ZooCCNetForSemanticSegmentation
    assert model.config.to_diff_dict() == hf_vits.create_config("ccnet-resnet101").to_diff_dict()
    assert converted.max_abs_diff is not None and converted.max_abs_diff < 1e-5
    ours = model.state_dict()
    torch.testing.assert_close(ours["ccnet.conv3.weight"], resnet.state_dict()["conv1.6.weight"], atol=0, rtol=0)
    torch.testing.assert_close(ours["ccnet.bn3.running_var"], resnet.state_dict()["bn1.running_var"], atol=0, rtol=0)
    torch.testing.assert_close(
        ours["ccnet.layer3.22.conv2.weight"], resnet.state_dict()["layer3.22.conv2.weight"], atol=0, rtol=0
    )
    assert model.ccnet.layer4[0].conv2.dilation == (4, 4)
