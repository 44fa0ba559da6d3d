"""LeViT: the battery with the hierarchical shape hooks, plus the attention biases (reference loop, other input sizes),
the shrink attention, BatchNorm folding (fused = unfused, save and reload fused), the two heads and distillation
through the trainer."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest
import torch
from battery import ArchitectureBattery, ArchitectureSpec, sharpen
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.modeling.levit import (
    ZooLeViTConfig,
    ZooLeViTForImageClassification,
    ZooLeViTForImageClassificationWithTeacher,
    ZooLeViTImageProcessor,
    ZooLeViTImageProcessorPil,
    ZooLeViTModel,
)
from hf_vits.modeling.levit.modeling_levit import attention_bias_index

# 128 px: token grids of 8, 4 and 2 a side; two, three and four heads of 8 channels; shrink attentions with 2 and 3
# heads.
TINY_LEVIT = {
    "image_size": 128,
    "hidden_sizes": [16, 24, 32],
    "num_heads": [2, 3, 4],
    "depths": [1, 1, 1],
    "key_dim": 8,
}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm scales, shifts and statistics away from their initial values, and the attention biases
    non-zero tables: at initialisation each residual branch ends in a BatchNorm scaled by 0, which would hide
    anything wrong in it."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            noise = torch.randn(tensor.shape, generator=generator) if tensor.is_floating_point() else None
            if name.endswith("batch_norm.weight"):
                tensor.copy_(1 + 0.3 * noise)
            elif name.endswith(("batch_norm.bias", "batch_norm.running_mean")):
                tensor.copy_(0.2 * noise)
            elif name.endswith("batch_norm.running_var"):
                tensor.copy_(0.5 + noise.abs())
            elif name.endswith("attention_biases"):
                tensor.copy_(noise)
    return model


@dataclass(frozen=True)
class LeViTSpec(ArchitectureSpec):
    """LeViT's outputs: the last stage's tokens (no prefix token), the stem's tokens and one hidden state per stage,
    one attention map per block (the shrink blocks' with a quarter of the queries)."""

    def model(self, model_class=None, seed: int = 0, **overrides):
        return randomize(super().model(model_class, seed, **overrides), seed)

    def grids(self, config: ZooLeViTConfig, size=None) -> list[tuple[int, int]]:
        height, width = size or self.input_size(config)
        for _ in range(4):
            height, width = (height + 1) // 2, (width + 1) // 2
        grids = [(height, width)]
        for _ in config.depths[1:]:
            height, width = (height + 1) // 2, (width + 1) // 2
            grids.append((height, width))
        return grids

    def last_hidden_state_shape(self, config, batch_size, size=None):
        height, width = self.grids(config, size)[-1]
        return (batch_size, height * width, config.hidden_sizes[-1])

    def hidden_states_shapes(self, config, batch_size):
        grids = self.grids(config)
        shapes = [(batch_size, grids[0][0] * grids[0][1], config.hidden_sizes[0])]
        return shapes + [(batch_size, h * w, dim) for (h, w), dim in zip(grids, config.hidden_sizes, strict=True)]

    def attention_shapes(self, config, batch_size):
        grids, shapes = self.grids(config), []
        for stage, ((height, width), depth) in enumerate(zip(grids, config.depths, strict=True)):
            tokens = height * width
            if stage > 0:
                previous = grids[stage - 1][0] * grids[stage - 1][1]
                heads = config.hidden_sizes[stage - 1] // config.key_dim
                shapes.append((batch_size, heads, tokens, previous))
            shapes += [(batch_size, config.num_heads[stage], tokens, tokens)] * depth
        return shapes


LEVIT = LeViTSpec(
    name="levit",
    config_class=ZooLeViTConfig,
    model_class=ZooLeViTModel,
    classification_class=ZooLeViTForImageClassification,
    processor_classes={"torchvision": ZooLeViTImageProcessor, "pil": ZooLeViTImageProcessorPil},
    tiny_config=TINY_LEVIT,
    extra_heads=(ZooLeViTForImageClassificationWithTeacher,),
    has_absolute_position_embeddings=False,
    num_prefix_tokens=0,
    no_weight_decay_suffixes=("attention_biases",),
    invalid_configs=(
        ("hidden_sizes", {"hidden_sizes": [12, 24, 32]}),
        ("num_heads", {"num_heads": [2, 3]}),
        ("depths", {"depths": [], "hidden_sizes": [], "num_heads": []}),
        ("key_dim", {"key_dim": 0}),
        ("hidden_sizes", {"key_dim": 32}),
        ("attention_ratio", {"attention_ratio": 0.0}),
        ("mlp_ratio", {"mlp_ratio": -1.0}),
        ("shrink_attention_ratio", {"shrink_attention_ratio": 0.01}),
        ("image_size", {"image_size": (128, 128, 3)}),
        ("batch_norm_eps", {"batch_norm_eps": 0.0}),
        ("drop_path_rate", {"drop_path_rate": 1.0}),
        ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
    ),
    round_trip_overrides={
        "image_size": (128, 96),
        "attention_ratio": 4.0,
        "mlp_ratio": 3.0,
        "shrink_attention_ratio": 2.0,
        "shrink_mlp_ratio": 4.0,
        "hidden_act": "gelu",
        "batch_norm_eps": 1e-3,
        "drop_path_rate": 0.1,
        "classifier_dropout_prob": 0.2,
        "initializer_range": 0.01,
        "use_distillation_head": False,
        "fused": True,
    },
    deep_config_overrides={"depths": [2, 2, 2]},
)


class TestLeViT(ArchitectureBattery):
    spec = LEVIT


def reference_attention(attention, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The stage attention's probabilities computed as the authors' code does: the bias of each (query, key) pair
    from a dictionary of offsets built by looping over the grid."""
    batch_size, count, _ = tokens.shape
    points = list(itertools.product(range(height), range(width)))
    biases = attention.attention_bias.attention_biases
    index = torch.tensor([[abs(a[0] - b[0]) * width + abs(a[1] - b[1]) for b in points] for a in points])
    qkv = attention.qkv(tokens).view(batch_size, count, attention.num_heads, -1)
    query, key, _ = qkv.split([attention.key_dim, attention.key_dim, attention.value_dim], dim=3)
    scores = torch.einsum("bqhd,bkhd->bhqk", query, key) / attention.key_dim**0.5
    return (scores + biases[:, index]).softmax(-1)


def test_attention_biases_match_a_reference_loop():
    model = LEVIT.model(ZooLeViTModel)
    attention = model.encoder.stages[0].layers[0].attention
    tokens = torch.randn(2, 64, 16)
    with torch.no_grad():
        _, probabilities = attention(tokens, 8, 8, output_attentions=True)
        expected = reference_attention(attention, tokens, 8, 8)
    torch.testing.assert_close(probabilities, expected, atol=1e-6, rtol=1e-5)


def test_bias_index_is_the_offset_table_of_the_reference():
    """Square grids: the authors' dictionary of offsets numbers (|dy|, |dx|) as |dy| * side + |dx|; the shrink
    attention's queries sit on every other key."""
    points = list(itertools.product(range(5), range(5)))
    offsets, index = {}, []
    for query in list(itertools.product(range(3), range(3))):
        for key in points:
            offset = (abs(query[0] * 2 - key[0]), abs(query[1] * 2 - key[1]))
            index.append(offsets.setdefault(offset, len(offsets)))
    assert torch.equal(attention_bias_index((3, 3), (5, 5), 2), torch.tensor(index).view(9, 25))


def test_shrink_attention_takes_queries_on_every_other_token():
    model = LEVIT.model(ZooLeViTModel)
    shrink = model.encoder.stages[1].downsample.attention
    assert shrink.num_heads == 2 and shrink.value_dim == 32
    tokens = torch.randn(2, 64, 16)
    with torch.no_grad():
        output, probabilities = shrink(tokens, 8, 8, output_attentions=True)
        subsampled = tokens.view(2, 8, 8, 16)[:, ::2, ::2].reshape(2, 16, 16)
        query = shrink.query(subsampled).view(2, 16, 2, 8)
        key, value = shrink.key_value(tokens).view(2, 64, 2, 40).split([8, 32], dim=3)
        index = attention_bias_index((4, 4), (8, 8), 2)
        scores = torch.einsum("bqhd,bkhd->bhqk", query, key) / 8**0.5
        expected = (scores + shrink.attention_bias.attention_biases[:, index]).softmax(-1)
        mixed = torch.einsum("bhqk,bkhd->bqhd", expected, value).reshape(2, 16, 64)
    assert output.shape == (2, 16, 24)
    torch.testing.assert_close(probabilities, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(output, shrink.projection(shrink.activation(mixed)), atol=1e-5, rtol=1e-5)


def test_sdpa_matches_eager_on_a_randomized_model():
    """The battery's comparison runs at initialisation, where the BatchNorms ending the residual branches are 0."""
    torch.manual_seed(0)
    sdpa = randomize(sharpen(AutoModelForImageClassification.from_config(LEVIT.config()))).eval()
    eager = AutoModelForImageClassification.from_config(LEVIT.config(), attn_implementation="eager").eval()
    eager.load_state_dict(sdpa.state_dict())
    pixel_values = LEVIT.pixel_values(sdpa.config)
    with torch.no_grad():
        expected, actual = eager(pixel_values).logits, sdpa(pixel_values).logits
    assert expected.std() > 0.1
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


# --- other input sizes ----------------------------------------------------------------------------------------------


def test_other_input_sizes_resample_the_bias_tables():
    model = LEVIT.model()
    for size in ((160, 96), (64, 64), (100, 90)):
        pixel_values = LEVIT.pixel_values(model.config, size=size)
        with torch.no_grad():
            outputs = model(pixel_values, output_attentions=True)
        assert torch.isfinite(outputs.logits).all()
        height, width = LEVIT.grids(model.config, size)[0]
        assert outputs.attentions[0].shape == (2, 2, height * width, height * width)
    bias = model.levit.encoder.stages[0].layers[0].attention.attention_bias
    # Bicubic over the offsets: the same size gives the table itself, a larger grid a smooth enlargement of it.
    assert torch.equal(bias.table((8, 8)), bias.attention_biases)
    table = bias.attention_biases.detach().view(1, 2, 8, 8)
    expected = nn.functional.interpolate(table, size=(10, 5), mode="bicubic", align_corners=False).view(2, 50)
    torch.testing.assert_close(bias.table((10, 5)), expected)


def test_other_input_size_biases_are_trained():
    model = LEVIT.model().train()
    pixel_values = LEVIT.pixel_values(model.config, batch_size=4, size=(160, 160))
    model(pixel_values, labels=torch.tensor([0, 1, 2, 3])).loss.backward()
    for name, param in model.named_parameters():
        if name.endswith("attention_biases"):
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_cached_biases_follow_loaded_weights():
    """Inference keeps the gathered biases; loading other weights must not leave stale ones behind."""
    model = LEVIT.model(seed=0)
    other = LEVIT.model(seed=1)
    pixel_values = LEVIT.pixel_values(model.config)
    with torch.no_grad():
        model(pixel_values)
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(pixel_values).logits, other(pixel_values).logits, atol=0, rtol=0)


# --- fusion -------------------------------------------------------------------------------------------------------


def test_fuse_folds_every_batch_norm_and_keeps_the_logits():
    model = LEVIT.model()
    pixel_values = LEVIT.pixel_values(model.config, batch_size=4)
    with torch.no_grad():
        expected = model(pixel_values)
        fused = model.fuse()
        actual = fused(pixel_values)
    assert fused is model and not fused.training and fused.config.fused
    assert not [m for m in fused.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for name in ("logits", "cls_logits", "distillation_logits"):
        torch.testing.assert_close(getattr(actual, name), getattr(expected, name), atol=1e-5, rtol=1e-5)
    assert (actual.logits - expected.logits).abs().max() <= 1e-4
    fewer = sum(p.numel() for p in fused.parameters())
    with torch.no_grad():
        assert torch.equal(fused.fuse()(pixel_values).logits, actual.logits), "fuse() is not idempotent"
    assert fewer < sum(p.numel() for p in LEVIT.model().parameters())


def test_fused_sdpa_matches_fused_eager():
    """The fused form runs sdpa's fused CPU kernel on zero-padded queries and keys; eager agrees with it."""
    model = LEVIT.model().fuse()
    eager = LEVIT.model().fuse()
    eager.config._attn_implementation = "eager"
    pixel_values = LEVIT.pixel_values(model.config)
    with torch.no_grad():
        expected = eager(pixel_values, output_attentions=True)
        actual = model(pixel_values)
    assert model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=1e-5)
    for attention in expected.attentions:
        torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]), atol=1e-5, rtol=0)


def test_fused_model_saves_and_reloads_fused(tmp_path):
    model = LEVIT.model().fuse()
    pixel_values = LEVIT.pixel_values(model.config)
    model.save_pretrained(tmp_path)
    loaded, info = AutoModelForImageClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    assert loaded.config.fused and type(loaded) is ZooLeViTForImageClassification
    assert not [m for m in loaded.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values).logits, model(pixel_values).logits)


def test_fused_config_builds_biased_layers():
    model = LEVIT.model(fused=True)
    keys = model.state_dict().keys()
    assert "levit.stem.conv1.convolution.bias" in keys and not [k for k in keys if "batch_norm" in k]
    assert "levit.encoder.stages.0.layers.0.attention.qkv.linear.bias" in keys


# --- heads and distillation -----------------------------------------------------------------------------------------


def test_two_heads_are_averaged():
    model = LEVIT.model()
    pixel_values = LEVIT.pixel_values(model.config)
    with torch.no_grad():
        outputs = model(pixel_values)
        pooled = model.levit(pixel_values).pooler_output
    torch.testing.assert_close(outputs.cls_logits, model.classifier(pooled))
    torch.testing.assert_close(outputs.distillation_logits, model.distillation_classifier(pooled))
    torch.testing.assert_close(outputs.logits, (outputs.cls_logits + outputs.distillation_logits) / 2)


def test_single_head_model():
    model = LEVIT.model(use_distillation_head=False)
    assert model.distillation_classifier is None
    with torch.no_grad():
        outputs = model(LEVIT.pixel_values(model.config))
    assert outputs.distillation_logits is None
    torch.testing.assert_close(outputs.logits, outputs.cls_logits)
    with pytest.raises(ValueError, match="use_distillation_head"):
        ZooLeViTForImageClassificationWithTeacher(LEVIT.config(use_distillation_head=False))


def test_pooler_output_is_the_mean_token():
    model = LEVIT.model(ZooLeViTModel)
    with torch.no_grad():
        outputs = model(LEVIT.pixel_values(model.config))
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state.mean(1))


def test_paper_variants():
    names = [variant.name for variant in hf_vits.list_variants("levit")]
    assert names == ["levit-128s", "levit-128", "levit-192", "levit-256", "levit-384"]
    assert [hf_vits.get_variant(name).gflops for name in names] == [0.305, 0.406, 0.658, 1.12, 2.353]
    assert [hf_vits.get_variant(name).top1 for name in names] == [76.6, 78.6, 80.0, 81.6, 82.6]
    config = hf_vits.create_config("levit-256")
    assert (config.hidden_sizes, config.num_heads, config.depths, config.key_dim) == (
        [256, 384, 512],
        [4, 6, 8],
        [4, 4, 4],
        32,
    )
    assert config.use_distillation_head


def test_distillation_through_the_trainer(tmp_path):
    """A tiny LeViT learns from labels and a teacher at once: the class head from the labels, the distillation head
    from the teacher, and the exported model keeps both heads."""
    from hf_vits.training.config import TrainingConfig
    from hf_vits.training.trainer import train

    digits = [str(digit) for digit in range(10)]
    torch.manual_seed(0)
    teacher = hf_vits.create_model(
        "deit-tiny-patch16-224",
        id2label=dict(enumerate(digits)),
        label2id={name: index for index, name in enumerate(digits)},
        image_size=16,
        patch_size=4,
        hidden_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
    )
    teacher.save_pretrained(tmp_path / "teacher")
    hf_vits.create_image_processor("deit-tiny-patch16-224", image_size=16).save_pretrained(tmp_path / "teacher")
    config = TrainingConfig(
        model="levit-128s",
        dataset="digits",
        image_size=32,
        model_overrides={key: value for key, value in TINY_LEVIT.items() if key != "image_size"},
        epochs=1,
        batch_size=128,
        lr=1e-2,
        warmup_epochs=0.2,
        repeated_augmentation=1,
        randaugment_ops=0,
        hflip=0.0,
        random_erasing=0.0,
        mixup_prob=0.0,
        drop_path=0.0,
        teacher=str(tmp_path / "teacher"),
        output_dir=str(tmp_path / "student"),
    )
    run = train(config)
    epoch = run.history[0]
    assert epoch["train_label_loss"] > 0 and epoch["train_distillation_loss"] > 0
    assert epoch["train_loss"] == pytest.approx(
        0.5 * epoch["train_label_loss"] + 0.5 * epoch["train_distillation_loss"], abs=1e-5
    )
    student = AutoModelForImageClassification.from_pretrained(tmp_path / "student")
    assert type(student) is ZooLeViTForImageClassification and student.config.use_distillation_head
    outputs = student(pixel_values=torch.zeros(1, 3, 32, 32))
    assert outputs.cls_logits is not None and outputs.distillation_logits is not None


def test_export_with_fused_batch_norms(tmp_path):
    """`hf-vits export --fuse-batchnorm` writes the inference form, checked against the model as it was, and the
    folder reloads fused, with or without hf-vits."""
    from hf_vits.cli import main

    model = LEVIT.model()
    model.save_pretrained(tmp_path / "run")
    LEVIT.processor().save_pretrained(tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--to", str(tmp_path / "fused"), "--fuse-batchnorm"]) == 0
    config = json.loads((tmp_path / "fused" / "config.json").read_text())
    assert config["fused"] is True
    weights = load_file(tmp_path / "fused" / "model.safetensors")
    assert not [key for key in weights if "batch_norm" in key]
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path / "fused")
    pixel_values = LEVIT.pixel_values(model.config)
    with torch.no_grad():
        assert (loaded(pixel_values).logits - model(pixel_values).logits).abs().max() <= 1e-4


def test_export_fuse_refuses_a_model_without_batch_norm_folding(tmp_path):
    from hf_vits.hub.export import ExportCheckError, fused_model

    with pytest.raises(ExportCheckError, match="no BatchNorm folding"):
        fused_model(hf_vits.create_model("deit-tiny-patch16-224", num_labels=3, image_size=16, patch_size=8))
