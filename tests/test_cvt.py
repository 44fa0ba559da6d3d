"""CvT: the battery with the hierarchical shape hooks, plus the convolutional projections, the class token, the
stochastic-depth rule, the backbone and the feature-extraction pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec, drop_path_modules
from transformers import AutoBackbone
from transformers.activations import ACT2FN

import hf_vits
from hf_vits import (
    ZooCvTBackbone,
    ZooCvTConfig,
    ZooCvTForImageClassification,
    ZooCvTImageProcessor,
    ZooCvTImageProcessorPil,
    ZooCvTModel,
)

# 96 px: token maps of 24, 12 and 6 a side; keys and values at 12, 6 and 3 (plus the class token in stage 3). One
# head of 16 channels per stage keeps the attention sharp enough, and the hidden states small enough, for the
# battery's sdpa-vs-eager comparison on sharpened weights.
TINY_CVT = {
    "image_size": 96,
    "embed_dims": [16, 16, 16],
    "num_heads": [1, 1, 1],
    "depths": [1, 1, 1],
}
# The paper's shape at a tiny width: growing widths, several heads, two blocks in the last stage.
GROWING = {"embed_dims": [8, 16, 24], "num_heads": [1, 2, 3], "depths": [1, 1, 2]}


def conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class CvTSpec(ArchitectureSpec):
    """CvT's outputs: the last stage's tokens with the class token first, the first embedding and one hidden state
    per stage, attention of every query to the squeezed keys."""

    def resolutions(self, config: ZooCvTConfig, size=None) -> list[tuple[int, int]]:
        height, width = size or self.input_size(config)
        resolutions = []
        for kernel, stride, padding in zip(
            config.patch_sizes, config.patch_strides, config.patch_paddings, strict=True
        ):
            height, width = conv_size(height, kernel, stride, padding), conv_size(width, kernel, stride, padding)
            resolutions.append((height, width))
        return resolutions

    def tokens(self, config, stage: int, height: int, width: int) -> int:
        last = stage == len(config.depths) - 1
        return height * width + int(config.use_class_token and last)

    def last_hidden_state_shape(self, config, batch_size, size=None):
        height, width = self.resolutions(config, size)[-1]
        return (batch_size, self.tokens(config, len(config.depths) - 1, height, width), config.embed_dims[-1])

    def hidden_states_shapes(self, config, batch_size):
        resolutions = self.resolutions(config)
        (height, width), dim = resolutions[0], config.embed_dims[0]
        shapes = [(batch_size, height * width, dim)]
        for stage, ((height, width), dim) in enumerate(zip(resolutions, config.embed_dims, strict=True)):
            shapes.append((batch_size, self.tokens(config, stage, height, width), dim))
        return shapes

    def attention_shapes(self, config, batch_size):
        shapes = []
        for stage, (height, width) in enumerate(self.resolutions(config)):
            query = [conv_size(side, config.kernel_qkv, config.stride_q, config.padding_q) for side in (height, width)]
            key = [conv_size(side, config.kernel_qkv, config.stride_kv, config.padding_kv) for side in (height, width)]
            queries = self.tokens(config, stage, *query)
            keys = self.tokens(config, stage, *key)
            shapes += [(batch_size, config.num_heads[stage], queries, keys)] * config.depths[stage]
        return shapes


CVT = CvTSpec(
    name="cvt",
    config_class=ZooCvTConfig,
    model_class=ZooCvTModel,
    classification_class=ZooCvTForImageClassification,
    processor_classes={"torchvision": ZooCvTImageProcessor, "pil": ZooCvTImageProcessorPil},
    tiny_config=TINY_CVT,
    has_absolute_position_embeddings=False,
    no_weight_decay_suffixes=("cls_token",),
    invalid_configs=(
        ("num_heads", {"num_heads": [3, 1, 1]}),
        ("embed_dims", {"embed_dims": [16, 16]}),
        ("depths", {"depths": [], "embed_dims": [], "num_heads": []}),
        ("patch_strides", {"patch_strides": [0, 2, 2]}),
        ("stride_kv", {"stride_kv": 0}),
        ("padding_q", {"padding_q": -1}),
        ("mlp_ratio", {"mlp_ratio": -1.0}),
        ("image_size", {"image_size": (96, 96, 3)}),
        ("hidden_dropout_prob", {"hidden_dropout_prob": 1.5}),
        ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
        ("out_features", {"out_features": ["stage4"]}),
    ),
    round_trip_overrides={
        "image_size": (96, 64),
        "qkv_bias": False,
        "layer_norm_eps": 1e-6,
        "batch_norm_eps": 1e-3,
        "hidden_act": "gelu",
        "mlp_ratio": 2.0,
        "stride_kv": 1,
        "use_class_token": False,
        "drop_path_rate": 0.1,
        "hidden_dropout_prob": 0.05,
        "attention_probs_dropout_prob": 0.02,
        "classifier_dropout_prob": 0.2,
        "initializer_range": 0.01,
        "out_features": ["stem", "stage2"],
    },
    deep_config_overrides={"depths": [1, 2, 3]},
    extra_auto_classes={"AutoBackbone": ZooCvTBackbone},
)


class TestCvT(ArchitectureBattery):
    spec = CVT


# --- convolutional projections and the class token -----------------------------------------------------------------


def test_squeezed_keys_and_values():
    """Queries keep the token map, keys and values are taken with stride 2: a quarter of the tokens."""
    model = CVT.model(ZooCvTModel, **GROWING)
    with torch.no_grad():
        attentions = model(CVT.pixel_values(model.config), output_attentions=True).attentions
    assert [tuple(a.shape[-2:]) for a in attentions] == [(576, 144), (144, 36), (37, 10), (37, 10)]
    assert [a.shape[1] for a in attentions] == [1, 2, 3, 3]


def test_attention_is_scaled_by_the_stage_width():
    """The reference divides scores by sqrt(channels of the stage), not sqrt(channels of a head)."""
    model = CVT.model(ZooCvTModel, **GROWING)
    attention = model.encoder.stages[2].layers[0].attention
    assert attention.scaling == pytest.approx(24**-0.5)
    tokens = torch.randn(2, 37, 24)
    with torch.no_grad():
        _, probabilities = attention(tokens, 6, 6, True, True)
        maps = tokens[:, 1:].transpose(1, 2).reshape(2, 24, 6, 6)
        query = torch.cat((tokens[:, :1], attention.conv_projection_query(maps)), dim=1)
        key = torch.cat((tokens[:, :1], attention.conv_projection_key(maps)), dim=1)
        query = attention.query(query).view(2, 37, 3, 8).transpose(1, 2)
        key = attention.key(key).view(2, 10, 3, 8).transpose(1, 2)
        expected = (query @ key.transpose(-2, -1) / 24**0.5).softmax(-1)
    torch.testing.assert_close(probabilities, expected, atol=1e-6, rtol=1e-5)


def test_class_token_in_the_last_stage_only_and_read_by_the_classifier():
    model = CVT.model(**GROWING)
    tokens = [stage.cls_token is not None for stage in model.cvt.encoder.stages]
    assert tokens == [False, False, True]
    pixel_values = CVT.pixel_values(model.config)
    with torch.no_grad():
        outputs = model.cvt(pixel_values)
        logits = model(pixel_values).logits
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state[:, 0])
    torch.testing.assert_close(logits, model.classifier(outputs.pooler_output))


def test_without_class_token_the_classifier_reads_the_average_token():
    model = CVT.model(use_class_token=False, **GROWING)
    assert all(stage.cls_token is None for stage in model.cvt.encoder.stages)
    with torch.no_grad():
        outputs = model.cvt(CVT.pixel_values(model.config))
    assert outputs.last_hidden_state.shape == (2, 36, 24)
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state.mean(1))


def test_class_token_bypasses_the_convolutions():
    """Moving the class token changes every output, but never the convolutional projections of the map."""
    model = CVT.model(ZooCvTModel, **GROWING)
    attention = model.encoder.stages[2].layers[0].attention
    calls = []
    attention.conv_projection_key.register_forward_hook(lambda module, args, output: calls.append(args[0].clone()))
    tokens = torch.randn(1, 37, 24)
    moved = tokens.clone()
    moved[:, 0] += 1.0
    with torch.no_grad():
        attention(tokens, 6, 6, True, False)
        attention(moved, 6, 6, True, False)
    assert calls[0].shape == (1, 24, 6, 6) and torch.equal(calls[0], calls[1])


def test_reference_activation_is_quick_gelu():
    model = CVT.model()
    activation = model.cvt.encoder.stages[0].layers[0].mlp.activation
    values = torch.linspace(-4, 4, 9)
    torch.testing.assert_close(activation(values), values * torch.sigmoid(1.702 * values))
    assert type(activation) is type(ACT2FN["quick_gelu"])


def test_drop_path_is_linear_over_all_blocks_even_with_one_block_per_stage():
    """transformers' CvT gives every block of a stage one rate (and fails on stages shallower than their index);
    here the rule runs over all blocks of all stages."""
    with torch.device("meta"):
        shallow = ZooCvTForImageClassification(CVT.config(drop_path_rate=0.2))
        cvt13 = hf_vits.create_model("cvt-13-224", drop_path_rate=0.1)
    assert [m.drop_prob for m in drop_path_modules(shallow)] == pytest.approx([0.0, 0.1, 0.2])
    rates = [m.drop_prob for m in drop_path_modules(cvt13)]
    assert len(rates) == 13 and rates == pytest.approx([0.1 * index / 12 for index in range(13)])


def test_input_too_small_is_a_clear_error():
    model = CVT.model()
    with pytest.raises(ValueError, match="too small"), torch.no_grad():
        model(torch.randn(1, 3, 2, 2))


def test_other_input_sizes_run():
    model = CVT.model(**GROWING)
    with torch.no_grad():
        outputs = model.cvt(CVT.pixel_values(model.config, size=(64, 80)))
    assert outputs.last_hidden_state.shape == (2, 1 + 4 * 5, 24)


def test_reference_initialisation():
    model = CVT.model(initializer_range=0.02, **GROWING)
    cls_token = model.cvt.encoder.stages[2].cls_token
    assert 0.01 < cls_token.std() < 0.03
    norm = model.cvt.encoder.stages[0].layers[0].attention.conv_projection_key.normalization
    assert torch.equal(norm.weight, torch.ones(8)) and torch.equal(norm.running_var, torch.ones(8))


# --- backbone and feature extraction -------------------------------------------------------------------------------


def test_backbone_stage_selection_and_shapes():
    config = CVT.config(out_features=["stem", "stage2", "stage3"], **GROWING)
    assert config.out_indices == [0, 2, 3]
    torch.manual_seed(0)
    backbone = AutoBackbone.from_config(config).eval()
    assert type(backbone) is ZooCvTBackbone and backbone.channels == [8, 16, 24]
    pixel_values = CVT.pixel_values(config)
    with torch.no_grad():
        outputs = backbone(pixel_values, output_hidden_states=True)
        tokens = backbone.cvt(pixel_values, output_hidden_states=True).hidden_states
    assert [tuple(f.shape) for f in outputs.feature_maps] == [(2, 8, 24, 24), (2, 16, 12, 12), (2, 24, 6, 6)]
    assert len(outputs.hidden_states) == 4
    # Each map holds its stage's tokens, row by row, the class token left out.
    torch.testing.assert_close(outputs.feature_maps[2].flatten(2).transpose(1, 2), tokens[3][:, 1:])
    torch.testing.assert_close(outputs.feature_maps[1].flatten(2).transpose(1, 2), tokens[2])
    with torch.no_grad():
        assert backbone(pixel_values).hidden_states is None


def test_backbone_by_indices():
    backbone = ZooCvTBackbone(CVT.config(out_indices=[1, 3], **GROWING))
    assert backbone.out_features == ["stage1", "stage3"] and backbone.channels == [8, 24]


def test_backbone_loads_a_classifier_checkpoint(tmp_path):
    model = CVT.model(**GROWING)
    model.save_pretrained(tmp_path)
    backbone, info = ZooCvTBackbone.from_pretrained(tmp_path, out_features=["stage3"], output_loading_info=True)
    assert not info["missing_keys"] and set(info["unexpected_keys"]) == {"classifier.weight", "classifier.bias"}
    pixel_values = CVT.pixel_values(model.config)
    with torch.no_grad():
        tokens = model.cvt(pixel_values, output_hidden_states=True).hidden_states[-1]
        features = backbone.eval()(pixel_values).feature_maps[0]
    torch.testing.assert_close(features.flatten(2).transpose(1, 2), tokens[:, 1:])


# --- variants and processor ----------------------------------------------------------------------------------------


def test_cvt_variant_figures():
    names = {v.name: v for v in hf_vits.list_variants("cvt")}
    paper = {  # Table 4: params (rounded to millions), GFLOPs, top-1
        "cvt-13-224": (20, 4.5, 81.6),
        "cvt-13-384": (20, 16.3, 83.0),
        "cvt-21-224": (32, 7.1, 82.5),
        "cvt-21-384": (32, 24.9, 83.3),
        "cvt-w24-384": (277, 193.2, 87.7),
    }
    assert set(names) == set(paper)
    for name, (params, gflops, top1) in paper.items():
        variant = names[name]
        assert variant.params_m == pytest.approx(params, abs=0.5) and (variant.gflops, variant.top1) == (gflops, top1)
    w24 = hf_vits.create_config("cvt-w24-384")
    assert (w24.embed_dims, w24.num_heads, w24.depths) == ([192, 768, 1024], [3, 12, 16], [2, 2, 20])
    assert hf_vits.create_config("cvt-21-224").depths == [1, 4, 16]


@pytest.mark.parametrize(("variant", "resize", "crop"), [("cvt-13-224", 256, 224), ("cvt-13-384", None, 384)])
def test_processor_reproduces_the_reference_transform(photos, variant, resize, crop):
    """The reference `build_transforms`: Resize(int(224 / 0.875)) + CenterCrop(224) at 224 px, a plain resize at
    384 px, bicubic, ImageNet mean and std (here with torchvision's PIL transforms)."""
    from torchvision import transforms

    bicubic = transforms.InterpolationMode.BICUBIC
    steps = [transforms.Resize((crop, crop) if resize is None else resize, interpolation=bicubic)]
    if resize is not None:
        steps.append(transforms.CenterCrop(crop))
    normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    reference = transforms.Compose([*steps, transforms.ToTensor(), normalize])
    processor = hf_vits.create_image_processor(variant, backend="pil")
    for name, photo in photos.items():
        ours = torch.as_tensor(np.asarray(processor(photo, return_tensors="np").pixel_values[0]))
        torch.testing.assert_close(ours, reference(photo), atol=1e-5, rtol=0, msg=name)
