"""DeiT: the battery with and without the distillation token, plus the distillation head's behaviour."""

import dataclasses

import pytest
import torch
from battery import LABELS, ArchitectureBattery, ArchitectureSpec
from transformers import AutoModelForImageClassification, pipeline

import hf_vits
from hf_vits import (
    ZooDeiTConfig,
    ZooDeiTForImageClassification,
    ZooDeiTForImageClassificationWithTeacher,
    ZooDeiTImageProcessor,
    ZooDeiTImageProcessorPil,
    ZooDeiTModel,
)

TINY_DEIT = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}

DEIT = ArchitectureSpec(
    name="deit",
    config_class=ZooDeiTConfig,
    model_class=ZooDeiTModel,
    classification_class=ZooDeiTForImageClassification,
    processor_classes={"torchvision": ZooDeiTImageProcessor, "pil": ZooDeiTImageProcessorPil},
    tiny_config=TINY_DEIT,
    round_trip_overrides={
        "image_size": (32, 48),
        "qkv_bias": False,
        "layer_norm_eps": 1e-5,
        "hidden_act": "gelu_new",
        "drop_path_rate": 0.1,
        "hidden_dropout_prob": 0.05,
        "attention_probs_dropout_prob": 0.02,
        "classifier_dropout_prob": 0.2,
        "use_distillation_token": True,
        "initializer_range": 0.01,
    },
)

DISTILLED_DEIT = dataclasses.replace(
    DEIT,
    tiny_config={**TINY_DEIT, "use_distillation_token": True},
    extra_heads=(ZooDeiTForImageClassificationWithTeacher,),
    num_prefix_tokens=2,
    no_weight_decay_suffixes=("position_embeddings", "cls_token", "distillation_token"),
    check_variants=False,
)


class TestDeiT(ArchitectureBattery):
    spec = DEIT


class TestDistilledDeiT(ArchitectureBattery):
    """The whole battery again with the distillation token: Auto classes, pipeline and remote code must keep
    the distillation token and head (the remote-code test compares the state-dict keys)."""

    spec = DISTILLED_DEIT


def test_distilled_model_has_the_token_and_head():
    model = DISTILLED_DEIT.model()
    assert model.deit.embeddings.distillation_token is not None
    assert model.distillation_classifier is not None
    keys = model.state_dict().keys()
    assert {"deit.embeddings.distillation_token", "distillation_classifier.weight"} <= keys
    assert model.deit.embeddings.position_embeddings.shape[1] == 16 + 2


def test_plain_model_has_neither():
    model = DEIT.model()
    assert model.deit.embeddings.distillation_token is None and model.distillation_classifier is None
    assert not any("distillation" in key for key in model.state_dict())
    with torch.no_grad():
        outputs = model(DEIT.pixel_values(model.config))
    assert outputs.distillation_logits is None
    assert torch.equal(outputs.logits, outputs.cls_logits)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_logits_are_the_mean_of_both_heads(mode):
    model = DISTILLED_DEIT.model()
    model.train(mode == "train")
    pixel_values = DISTILLED_DEIT.pixel_values(model.config)
    labels = torch.tensor([1, 4])
    outputs = model(pixel_values, labels=labels)
    torch.testing.assert_close(outputs.logits, (outputs.cls_logits + outputs.distillation_logits) / 2)
    assert not torch.allclose(outputs.cls_logits, outputs.distillation_logits), "the two heads are distinct"
    torch.testing.assert_close(outputs.loss, torch.nn.functional.cross_entropy(outputs.logits, labels))
    # Each head reads its own token: the class token at 0, the distillation token at 1.
    hidden = model.deit(pixel_values).last_hidden_state
    torch.testing.assert_close(outputs.cls_logits, model.classifier(hidden[:, 0]))
    torch.testing.assert_close(outputs.distillation_logits, model.distillation_classifier(hidden[:, 1]))


def test_with_teacher_refuses_a_config_without_the_token():
    with pytest.raises(ValueError, match="use_distillation_token"):
        ZooDeiTForImageClassificationWithTeacher(DEIT.config())


def test_with_teacher_loads_a_distilled_checkpoint(tmp_path):
    model = DISTILLED_DEIT.model()
    model.save_pretrained(tmp_path)
    teacher_named, info = ZooDeiTForImageClassificationWithTeacher.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    pixel_values = DISTILLED_DEIT.pixel_values(model.config)
    with torch.no_grad():
        assert torch.equal(teacher_named(pixel_values).logits, model(pixel_values).logits)


def test_auto_and_pipeline_keep_the_distillation_head(tmp_path, chelsea):
    model = DISTILLED_DEIT.model()
    model.save_pretrained(tmp_path)
    DISTILLED_DEIT.processor().save_pretrained(tmp_path)
    auto = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert auto.config.use_distillation_token
    assert auto.distillation_classifier is not None
    for name, tensor in model.state_dict().items():
        assert torch.equal(auto.state_dict()[name], tensor), name
    classifier = pipeline("image-classification", model=str(tmp_path))
    assert classifier.model.distillation_classifier is not None
    pixel_values = classifier.image_processor(chelsea, return_tensors="pt").pixel_values
    with torch.no_grad():
        expected = model(pixel_values).logits.softmax(-1)[0]
    best = classifier(chelsea, top_k=1)[0]
    assert best["label"] == LABELS[int(expected.argmax())]
    assert best["score"] == pytest.approx(float(expected.max()), abs=1e-6)


def test_distilled_variants():
    variants = hf_vits.list_variants("deit")
    distilled = [v for v in variants if "distilled" in v.name]
    assert len(distilled) == 4
    for variant in variants:
        config = hf_vits.create_config(variant.name)
        assert config.use_distillation_token is (variant in distilled), variant.name
    for variant in distilled:
        with torch.device("meta"):
            model = hf_vits.create_model(variant.name)
        assert model.distillation_classifier is not None, variant.name


def test_processor_of_the_384_variants_does_not_crop_away():
    processor = hf_vits.create_image_processor("deit-base-patch16-384")
    assert processor.size["shortest_edge"] == 384
    assert (processor.crop_size["height"], processor.crop_size["width"]) == (384, 384)


def test_initialisation_of_the_tokens():
    model = DISTILLED_DEIT.model(initializer_range=0.02)
    embeddings = model.deit.embeddings
    tokens = torch.cat((embeddings.cls_token, embeddings.distillation_token)).flatten()
    assert 0.01 < tokens.std() < 0.03, "DeiT draws both tokens with std 0.02 (unlike ViT's near-zero class token)"
    assert not torch.equal(embeddings.cls_token, embeddings.distillation_token)


def test_interpolation_keeps_both_prefix_tokens():
    """The class and distillation tokens' positions stay as they are; only the patch grid is resampled, as
    DeiT's fine-tuning code does it (timm's `resample_abs_pos_embed` without antialiasing)."""
    resample_abs_pos_embed = pytest.importorskip("timm.layers").resample_abs_pos_embed
    embeddings = DISTILLED_DEIT.model().deit.embeddings
    with torch.no_grad():
        ours = embeddings.interpolate_pos_encoding(48, 40)
        reference = resample_abs_pos_embed(
            embeddings.position_embeddings, new_size=[6, 5], old_size=[4, 4], num_prefix_tokens=2, antialias=False
        )
    assert torch.equal(ours[:, :2], embeddings.position_embeddings[:, :2])
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
