"""SAN conversion from the authors' checkpoints (`original:san10-pairwise`, ...): a training checkpoint as
hszhao/SAN's `tool/train.py` writes it ("state_dict" saved from DistributedDataParallel, so "module."-prefixed, next
to the epoch, optimizer and scheduler), converted and compared with the authors' model.

Their model needs CUDA and CuPy kernels, so the reference here is their `model/san.py` module for module (the same
names, hence the same state-dict keys), with the kernels replaced by the formulation their own kernel tests check
them against: `nn.ReflectionPad2d` and `nn.Unfold`, materialising every footprint."""

from __future__ import annotations

import json

import pytest
import torch
from conversion_helpers import max_diff
from torch import nn
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.conversion import ConversionError, convert, load_original
from hf_vits.conversion.san import san_key_table
from hf_vits.modeling.san.variants import PARAMETER_COUNTS

TOLERANCE = 1e-4
LAYERS = {"san10": [2, 1, 2, 4, 1], "san15": [3, 2, 3, 5, 2], "san19": [3, 3, 4, 6, 3]}


# --- the authors' model, on the CPU -------------------------------------------------------------------------------


def unfold_footprints(maps: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(n, c, k * k, H * W): every pixel's reflected k x k footprint, as the authors' kernel tests build it."""
    n, c = maps.shape[:2]
    padded = nn.ReflectionPad2d(kernel_size // 2)(maps)
    return nn.Unfold(kernel_size)(padded).view(n, c, kernel_size**2, -1)


def subtraction2(x1: torch.Tensor, x2: torch.Tensor, kernel_size: int) -> torch.Tensor:
    return x1.flatten(2).unsqueeze(2) - unfold_footprints(x2, kernel_size)


def aggregation(x: torch.Tensor, weights: torch.Tensor, kernel_size: int) -> torch.Tensor:
    n, c_x, height, width = x.shape
    c_w = weights.shape[1]
    neighbours = unfold_footprints(x, kernel_size).view(n, c_x // c_w, c_w, kernel_size**2, height * width)
    return (weights.unsqueeze(1) * neighbours).sum(-2).view(n, c_x, height, width)


def position(height: int, width: int) -> torch.Tensor:
    loc_w = torch.linspace(-1.0, 1.0, width).unsqueeze(0).repeat(height, 1)
    loc_h = torch.linspace(-1.0, 1.0, height).unsqueeze(1).repeat(1, width)
    return torch.cat([loc_w.unsqueeze(0), loc_h.unsqueeze(0)], 0).unsqueeze(0)


class SAM(nn.Module):
    def __init__(self, sa_type, in_planes, rel_planes, out_planes, share_planes, kernel_size):
        super().__init__()
        self.sa_type, self.kernel_size = sa_type, kernel_size
        self.conv1 = nn.Conv2d(in_planes, rel_planes, kernel_size=1)
        self.conv2 = nn.Conv2d(in_planes, rel_planes, kernel_size=1)
        self.conv3 = nn.Conv2d(in_planes, out_planes, kernel_size=1)
        k2 = kernel_size**2
        if sa_type == 0:
            self.conv_w = nn.Sequential(
                nn.BatchNorm2d(rel_planes + 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(rel_planes + 2, rel_planes, kernel_size=1, bias=False),
                nn.BatchNorm2d(rel_planes),
                nn.ReLU(inplace=True),
                nn.Conv2d(rel_planes, out_planes // share_planes, kernel_size=1),
            )
            self.conv_p = nn.Conv2d(2, 2, kernel_size=1)
        else:
            self.conv_w = nn.Sequential(
                nn.BatchNorm2d(rel_planes * (k2 + 1)),
                nn.ReLU(inplace=True),
                nn.Conv2d(rel_planes * (k2 + 1), out_planes // share_planes, kernel_size=1, bias=False),
                nn.BatchNorm2d(out_planes // share_planes),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_planes // share_planes, k2 * out_planes // share_planes, kernel_size=1),
            )

    def forward(self, x):
        x1, x2, x3 = self.conv1(x), self.conv2(x), self.conv3(x)
        k, n, hw = self.kernel_size, x.shape[0], x.shape[2] * x.shape[3]
        if self.sa_type == 0:
            p = self.conv_p(position(x.shape[2], x.shape[3]))
            relations = torch.cat([subtraction2(x1, x2, k), subtraction2(p, p, k).repeat(n, 1, 1, 1)], 1)
            w = torch.softmax(self.conv_w(relations), dim=-2)
        else:
            x1 = x1.view(n, -1, 1, hw)
            x2 = unfold_footprints(x2, k).view(n, -1, 1, hw)
            w = self.conv_w(torch.cat([x1, x2], 1)).view(n, -1, k**2, hw)
        return aggregation(x3, w, k)


class Bottleneck(nn.Module):
    def __init__(self, sa_type, in_planes, rel_planes, mid_planes, out_planes, share_planes, kernel_size):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.sam = SAM(sa_type, in_planes, rel_planes, mid_planes, share_planes, kernel_size)
        self.bn2 = nn.BatchNorm2d(mid_planes)
        self.conv = nn.Conv2d(mid_planes, out_planes, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn2(self.sam(self.relu(self.bn1(x)))))
        return self.conv(out) + x


class OriginalSAN(nn.Module):
    def __init__(self, sa_type, layers, kernels, num_classes):
        super().__init__()
        c = 64
        self.conv_in, self.bn_in = nn.Conv2d(3, c, 1, bias=False), nn.BatchNorm2d(c)
        widths = [64, 256, 512, 1024, 2048]
        for i, (width, blocks, kernel) in enumerate(zip(widths, layers, kernels, strict=True)):
            setattr(self, f"conv{i}", nn.Conv2d(c, width, 1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(width))
            block_args = (sa_type, width, width // 16, width // 4, width, 8, kernel)
            setattr(self, f"layer{i}", nn.Sequential(*[Bottleneck(*block_args) for _ in range(blocks)]))
            c = width
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.relu(self.bn_in(self.conv_in(x)))
        for i in range(5):
            stage = (getattr(self, name) for name in (f"conv{i}", f"layer{i}", f"bn{i}"))
            conv, layer, bn = stage
            x = self.relu(bn(layer(conv(self.pool(x)))))
        return self.fc(x.mean(dim=(2, 3)))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Redraw every parameter and the BatchNorms' statistics, so that a swapped or dropped tensor shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.ndim == 1 and name.endswith("weight"):
                param.copy_(1 + 0.2 * noise)
            else:
                param.copy_(noise * (0.2 if param.ndim == 1 else 1.0 / param[0].numel() ** 0.5))
            if ".conv_w.5." in name:
                # Unnormalised patchwise weights of about 1 / k^2: the blocks average rather than amplify.
                param.mul_(0.05)
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
            elif name.endswith("num_batches_tracked"):
                buffer.fill_(1000)
    return model


def original_model(variant: str, num_classes: int = 1000) -> OriginalSAN:
    depth, kind = variant.split("-")
    torch.manual_seed(0)
    model = OriginalSAN(0 if kind == "pairwise" else 1, LAYERS[depth], [3, 7, 7, 7, 7], num_classes)
    return randomize(model).eval()


def training_checkpoint(model: OriginalSAN, path):
    """The file `tool/train.py` saves: DDP's "module."-prefixed weights under "state_dict", with the run's state."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.save(
        {
            "epoch": 100,
            "state_dict": {f"module.{key}": value for key, value in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "top1_val": 0.749,
            "top5_val": 0.921,
        },
        path,
    )
    return path


@pytest.fixture(scope="module", params=["san10-pairwise", "san10-patchwise"])
def original(request, tmp_path_factory):
    model = original_model(request.param)
    path = training_checkpoint(model, tmp_path_factory.mktemp("original") / "model_best.pth")
    return request.param, model, path


# --- tests ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(PARAMETER_COUNTS))
def test_reference_has_the_authors_parameter_counts(variant):
    with torch.device("meta"):
        model = OriginalSAN(int("patch" in variant), LAYERS[variant.split("-")[0]], [3, 7, 7, 7, 7], 1000)
    assert sum(p.numel() for p in model.parameters()) == PARAMETER_COUNTS[variant]


@pytest.mark.parametrize("variant", list(PARAMETER_COUNTS))
def test_key_table_covers_the_authors_layout(variant):
    """Every key of the authors' state dict maps onto ours with its shape, and back."""
    kind = 0 if "pair" in variant else 1
    with torch.device("meta"):
        theirs = OriginalSAN(kind, LAYERS[variant.split("-")[0]], [3, 7, 7, 7, 7], 1000).state_dict()
        ours = hf_vits.create_model(variant).state_dict()
    table = san_key_table(hf_vits.create_config(variant))
    converted = table.convert(theirs, ours)
    assert converted.keys() == ours.keys()
    assert table.invert(converted, theirs).keys() == theirs.keys()


def test_convert_original_checkpoint(original, tmp_path):
    """`hf-vits convert original:<variant> OUT --checkpoint FILE`: the folder predicts what the authors' model does,
    at 128 px (the smallest input their code takes) and 160 px."""
    variant, reference, checkpoint = original
    output = convert(f"original:{variant}", tmp_path / "out", checkpoint=checkpoint)
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(loaded) is hf_vits.ZooSANForImageClassification
    assert loaded.config.self_attention_type == variant.split("-")[1]
    assert loaded.config.id2label[1] == "goldfish, Carassius auratus"
    processor = json.loads((output / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 256} and processor["crop_size"] == {"height": 224, "width": 224}
    for size in (128, 160):
        pixel_values = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            logits, expected = loaded(pixel_values).logits, reference(pixel_values)
        assert expected.std() > 0.1
        assert max_diff(logits, expected) <= TOLERANCE, size


def test_original_checkpoint_is_checked_not_verified(original):
    variant, _, checkpoint = original
    converted = load_original(variant, checkpoint)
    assert converted.max_abs_diff is None, "the authors' SAN needs CUDA and CuPy"


def test_round_trip_to_the_authors_layout(original):
    """Our weights inverted through the key table load strictly into the authors' model and predict the same."""
    variant, reference, checkpoint = original
    ours = load_original(variant, checkpoint).model
    inverted = san_key_table(ours.config).invert(ours.state_dict(), reference.state_dict())
    rebuilt = original_model(variant)
    with torch.no_grad():
        for param in rebuilt.parameters():
            param.zero_()
    rebuilt.load_state_dict(inverted, strict=True)
    pixel_values = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(rebuilt(pixel_values), reference(pixel_values))


def test_a_pairwise_checkpoint_is_not_a_patchwise_model(tmp_path):
    checkpoint = training_checkpoint(original_model("san10-pairwise"), tmp_path / "pairwise.pth")
    with pytest.raises(ConversionError, match="conv_p"):
        load_original("san10-patchwise", checkpoint)
    with pytest.raises(ConversionError, match="missing keys"):
        load_original("san15-pairwise", checkpoint)


def test_a_missing_running_mean_is_named(tmp_path):
    state = original_model("san10-pairwise").state_dict()
    del state["layer3.2.sam.conv_w.3.running_mean"]
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "broken.pth")
    with pytest.raises(ConversionError, match=r"layer3\.2\.sam\.conv_w\.3\.running_mean"):
        load_original("san10-pairwise", tmp_path / "broken.pth")


def test_the_number_of_classes_is_read_off_the_checkpoint(tmp_path):
    checkpoint = training_checkpoint(original_model("san10-patchwise", num_classes=10), tmp_path / "ten.pth")
    model = load_original("san10-patchwise", checkpoint).model
    assert model.config.num_labels == 10 and model.classifier.out_features == 10


def test_original_requires_a_checkpoint(tmp_path):
    with pytest.raises(ConversionError, match="hszhao/SAN"):
        convert("original:san19-patchwise", tmp_path / "out")
