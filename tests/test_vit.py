"""The Vision Transformer: the battery, plus its pooling options."""

import pytest
import torch
from battery import TRANSFORMER_INVALID_CONFIGS, ArchitectureBattery, ArchitectureSpec

from hf_vits import (
    ZooViTConfig,
    ZooViTForImageClassification,
    ZooViTImageProcessor,
    ZooViTImageProcessorPil,
    ZooViTModel,
)

TINY_VIT = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}

VIT = ArchitectureSpec(
    name="vit",
    config_class=ZooViTConfig,
    model_class=ZooViTModel,
    classification_class=ZooViTForImageClassification,
    processor_classes={"torchvision": ZooViTImageProcessor, "pil": ZooViTImageProcessorPil},
    tiny_config=TINY_VIT,
    invalid_configs=TRANSFORMER_INVALID_CONFIGS
    + (
        ("pooling", {"pooling": "max"}),
        ("pooling", {"pooling": "cls", "use_class_token": False}),
        ("patch_size", {"patch_size": 0}),
        ("image_size", {"image_size": (32, 32, 32)}),
    ),
    round_trip_overrides={
        "image_size": (32, 48),
        "qkv_bias": False,
        "layer_norm_eps": 1e-5,
        "hidden_act": "gelu_new",
        "drop_path_rate": 0.1,
        "hidden_dropout_prob": 0.05,
        "attention_probs_dropout_prob": 0.02,
        "classifier_dropout_prob": 0.2,
        "use_class_token": False,
        "pooling": "mean",
        "use_fc_norm": False,
        "representation_size": 24,
        "initializer_range": 0.01,
    },
)


class TestViT(ArchitectureBattery):
    spec = VIT


MEAN_POOLING = {"use_class_token": False, "pooling": "mean"}


def test_mean_pooling_without_class_token():
    model = VIT.model(**MEAN_POOLING)
    assert model.vit.embeddings.cls_token is None
    assert model.vit.layernorm is None and model.vit.pooler.fc_norm is not None, "mean pooling norms after pooling"
    pixel_values = VIT.pixel_values(model.config)
    with torch.no_grad():
        outputs = model.vit(pixel_values, output_hidden_states=True)
        logits = model(pixel_values).logits
    assert outputs.last_hidden_state.shape == (2, 16, 32), "no prefix token: 4x4 patches only"
    expected_pooled = model.vit.pooler.fc_norm(outputs.last_hidden_state.mean(1))
    torch.testing.assert_close(outputs.pooler_output, expected_pooled)
    torch.testing.assert_close(logits, model.classifier(expected_pooled))


def test_mean_pooling_interpolates_without_prefix_tokens():
    model = VIT.model(**MEAN_POOLING)
    with torch.no_grad():
        outputs = model.vit(VIT.pixel_values(model.config, size=(48, 40)), interpolate_pos_encoding=True)
    assert outputs.last_hidden_state.shape == (2, 30, 32)


def test_mean_pooling_may_keep_the_class_token():
    """timm's `global_pool='avg'` with a class token: the class token is excluded from the mean."""
    model = VIT.model(pooling="mean")
    with torch.no_grad():
        outputs = model.vit(VIT.pixel_values(model.config))
    assert outputs.last_hidden_state.shape == (2, 17, 32)
    torch.testing.assert_close(
        outputs.pooler_output, model.vit.pooler.fc_norm(outputs.last_hidden_state[:, 1:].mean(1))
    )


@pytest.mark.parametrize(
    ("overrides", "fc_norm"),
    [({}, False), (MEAN_POOLING, True), ({"use_fc_norm": True}, True), ({**MEAN_POOLING, "use_fc_norm": False}, False)],
)
def test_fc_norm_rule(overrides, fc_norm):
    config = VIT.config(**overrides)
    assert config.fc_norm is fc_norm
    model = ZooViTModel(config)
    assert (model.pooler.fc_norm is not None) is fc_norm
    assert (model.layernorm is None) is fc_norm


def test_class_token_pooling_reads_the_normed_class_token():
    model = VIT.model()
    with torch.no_grad():
        outputs = model.vit(VIT.pixel_values(model.config))
    torch.testing.assert_close(outputs.pooler_output, outputs.last_hidden_state[:, 0])


def test_representation_size_adds_a_pre_logits_layer():
    model = VIT.model(representation_size=24)
    assert model.classifier.in_features == 24
    with torch.no_grad():
        outputs = model.vit(VIT.pixel_values(model.config))
    assert outputs.pooler_output.shape == (2, 24)
    assert outputs.pooler_output.abs().max() <= 1, "the pre-logits layer ends in tanh"


def test_rectangular_images():
    model = VIT.model(image_size=(32, 48))
    with torch.no_grad():
        outputs = model.vit(VIT.pixel_values(model.config))
    assert outputs.last_hidden_state.shape == (2, 4 * 6 + 1, 32)
    with pytest.raises(ValueError, match="interpolate_pos_encoding"), torch.no_grad():
        model(VIT.pixel_values(model.config, size=(48, 32)))


def test_input_size_not_divisible_by_patch_size():
    model = VIT.model()
    with pytest.raises(ValueError, match="patch size"), torch.no_grad():
        model(VIT.pixel_values(model.config, size=(36, 36)), interpolate_pos_encoding=True)


def test_reference_initialisation():
    model = VIT.model(initializer_range=0.02)
    embeddings = model.vit.embeddings
    assert embeddings.cls_token.abs().max() < 1e-4, "the class token starts near zero (std 1e-6)"
    assert 0.01 < embeddings.position_embeddings.std() < 0.03
    fc1 = model.vit.encoder.layers[0].mlp.fc1
    assert 0.01 < fc1.weight.std() < 0.03 and torch.count_nonzero(fc1.bias) == 0
    norm = model.vit.encoder.layers[0].layernorm_before
    assert torch.equal(norm.weight, torch.ones_like(norm.weight)) and torch.count_nonzero(norm.bias) == 0


def test_vit_variant_figures():
    import hf_vits

    names = [v.name for v in hf_vits.list_variants("vit")]
    assert {"vit-base-patch16-224", "vit-large-patch16-224", "vit-huge-patch14-224"} <= set(names)
    huge = hf_vits.create_config("vit-huge-patch14-224")
    assert (huge.hidden_size, huge.num_hidden_layers, huge.num_attention_heads, huge.intermediate_size) == (
        1280,
        32,
        16,
        5120,
    )
    assert huge.patch_size == 14


@pytest.mark.parametrize("overrides", [{}, MEAN_POOLING], ids=["class-token", "no-prefix"])
def test_interpolated_position_embeddings_match_timm(overrides):
    """Resampling the 4x4 grid to 6x5 is DeiT's fine-tuning rule (bicubic, align_corners=False, no antialiasing,
    as in its `main.py`), here through timm's `resample_abs_pos_embed` with `antialias=False`."""
    resample_abs_pos_embed = pytest.importorskip("timm.layers").resample_abs_pos_embed
    embeddings = VIT.model(**overrides).vit.embeddings
    with torch.no_grad():
        ours = embeddings.interpolate_pos_encoding(48, 40)
        reference = resample_abs_pos_embed(
            embeddings.position_embeddings,
            new_size=[6, 5],
            old_size=[4, 4],
            num_prefix_tokens=embeddings.num_prefix_tokens,
            antialias=False,
        )
    assert ours.shape == (1, 30 + embeddings.num_prefix_tokens, 32)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
