"""The test battery that every architecture of the zoo runs.

An architecture plugs in by declaring an `ArchitectureSpec` (its classes, a tiny config and what it has) and
subclassing `ArchitectureBattery` in its own test module:

    class TestViT(ArchitectureBattery):
        spec = ArchitectureSpec(name="vit", config_class=ZooViTConfig, ..., tiny_config={...})

Models whose token layout is not "patch grid + prefix tokens" (hierarchical or convolutional ones) subclass
`ArchitectureSpec` and override the shape methods, and switch off what they do not have:

    @dataclass(frozen=True)
    class SwinSpec(ArchitectureSpec):
        def last_hidden_state_shape(self, config, batch_size, size=None): ...   # last stage's tokens
        def hidden_states_shapes(self, config, batch_size): ...                 # one per stage
        def attention_shapes(self, config, batch_size): ...                     # per-window maps

    class TestSwin(ArchitectureBattery):
        spec = SwinSpec(name="swin", ..., has_absolute_position_embeddings=False, num_prefix_tokens=0)

Everything runs on the CPU in seconds: the models are tiny, and the one slow check (loading the saved folder
as remote code in a fresh interpreter) is one subprocess per architecture.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    PreTrainedConfig,
    PreTrainedModel,
    pipeline,
)
from transformers.modeling_layers import GradientCheckpointingLayer

import hf_vits

LABELS = ("tabby", "espresso", "teapot", "tennis ball", "volcano")
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
REMOTE_CODE_PROBE = Path(__file__).with_name("remote_code_probe.py")

# (field the error must name, config overrides that break it), shared by the isotropic transformers.
TRANSFORMER_INVALID_CONFIGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("hidden_size", {"hidden_size": 30, "num_attention_heads": 4}),
    ("image_size", {"image_size": 36, "patch_size": 8}),
    ("hidden_dropout_prob", {"hidden_dropout_prob": 1.5}),
    ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
    ("drop_path_rate", {"drop_path_rate": 1.0}),
    ("classifier_dropout_prob", {"classifier_dropout_prob": 2.0}),
)


def as_pair(size: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    """(height, width) of an int or pair size."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@dataclass(frozen=True)
class ArchitectureSpec:
    """What the battery needs to know about one architecture. The defaults describe an isotropic vision
    transformer (patch grid plus `num_prefix_tokens` tokens at every layer); override the shape methods in a
    subclass for anything else."""

    name: str
    """The architecture's name in the registry (`hf_vits.list_variants(name)`)."""
    config_class: type[PreTrainedConfig]
    model_class: type[PreTrainedModel]
    classification_class: type[PreTrainedModel]
    processor_classes: dict[str, type]
    """{"torchvision": ..., "pil": ...}"""
    tiny_config: dict[str, Any]
    """Config kwargs of a model small enough to run in milliseconds (the labels are added by the battery)."""
    extra_heads: tuple[type[PreTrainedModel], ...] = ()
    """Further head classes that take the tiny config and return `logits`."""
    has_attentions: bool = True
    """Whether the model returns attention maps (`output_attentions=True`)."""
    uses_attention_interface: bool = True
    """Whether its attention goes through transformers' attention interface (sdpa by default, eager on request)."""
    has_absolute_position_embeddings: bool = True
    num_prefix_tokens: int = 1
    """Tokens before the patch tokens (class token, distillation token)."""
    no_weight_decay_suffixes: tuple[str, ...] = ("position_embeddings", "cls_token")
    """Parameter name endings that must be exempt from weight decay (each must exist in the model)."""
    invalid_configs: tuple[tuple[str, dict[str, Any]], ...] = TRANSFORMER_INVALID_CONFIGS
    round_trip_overrides: dict[str, Any] = field(default_factory=dict)
    """Non-default config values the round-trip tests set on top of the tiny config."""
    deep_config_overrides: dict[str, Any] = field(default_factory=lambda: {"num_hidden_layers": 4})
    """Overrides giving a deeper tiny model, for the stochastic-depth rule."""
    other_input_size: tuple[int, int] = (48, 40)
    """An input size other than the configured one that the model must take with `interpolate_pos_encoding`."""
    check_variants: bool = True
    """Run the per-variant checks (one spec per architecture should)."""
    extra_auto_classes: dict[str, type[PreTrainedModel]] = field(default_factory=dict)
    """Auto classes beyond AutoModel and AutoModelForImageClassification that the saved folder's `auto_map` names
    (e.g. {"AutoBackbone": ZooSwinBackbone})."""
    counted_buffers: tuple[str, ...] = ()
    """Name endings of buffers that the paper's parameter counts include (T2T-ViT's fixed position table and random
    features, parameters without gradient in the reference code)."""

    # ----------------------------------------------------------------------------------------------- configs

    def config(self, **overrides) -> PreTrainedConfig:
        """The tiny config with the battery's labels, plus `overrides`."""
        labels = {"id2label": dict(enumerate(LABELS)), "label2id": {name: i for i, name in enumerate(LABELS)}}
        if "num_labels" in overrides:
            labels = {}
        return self.config_class(**{**labels, **self.tiny_config, **overrides})

    def model(self, model_class: type[PreTrainedModel] | None = None, seed: int = 0, **overrides) -> PreTrainedModel:
        """A tiny model in eval mode, initialised from `seed`."""
        torch.manual_seed(seed)
        return (model_class or self.classification_class)(self.config(**overrides)).eval()

    def input_size(self, config: PreTrainedConfig) -> tuple[int, int]:
        return as_pair(config.image_size)

    def pixel_values(self, config: PreTrainedConfig, batch_size: int = 2, seed: int = 0, size=None) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        height, width = size or self.input_size(config)
        return torch.randn(batch_size, config.num_channels, height, width, generator=generator)

    @property
    def processor_variant(self) -> str:
        """The variant whose evaluation processor goes with the tiny model (scaled to its resolution)."""
        return hf_vits.list_variants(self.name)[0].name

    def processor(self, backend: str = "torchvision"):
        return hf_vits.create_image_processor(
            self.processor_variant, backend=backend, image_size=self.input_size(self.config())[0]
        )

    @property
    def module_suffix(self) -> str:
        """`vit` of `configuration_vit.py`, `modeling_vit.py`, `image_processing_vit.py`."""
        return self.config_class.__module__.rsplit(".", 1)[-1].removeprefix("configuration_")

    # ------------------------------------------------------------------------------------------------ shapes

    def sequence_length(self, config: PreTrainedConfig, height: int, width: int) -> int:
        return (height // config.patch_size) * (width // config.patch_size) + self.num_prefix_tokens

    def last_hidden_state_shape(self, config: PreTrainedConfig, batch_size: int, size=None) -> tuple[int, ...]:
        height, width = size or self.input_size(config)
        return (batch_size, self.sequence_length(config, height, width), config.hidden_size)

    def pooler_output_shape(self, config: PreTrainedConfig, batch_size: int) -> tuple[int, ...]:
        return (batch_size, config.hidden_size)

    def hidden_states_shapes(self, config: PreTrainedConfig, batch_size: int) -> list[tuple[int, ...]]:
        """Embeddings plus one entry per layer."""
        return [self.last_hidden_state_shape(config, batch_size)] * (config.num_hidden_layers + 1)

    def attention_shapes(self, config: PreTrainedConfig, batch_size: int) -> list[tuple[int, ...]]:
        tokens = self.last_hidden_state_shape(config, batch_size)[1]
        return [(batch_size, config.num_attention_heads, tokens, tokens)] * config.num_hidden_layers


def drop_path_modules(model: nn.Module) -> list[nn.Module]:
    """The stochastic-depth modules of a model, in depth order."""
    return [module for module in model.modules() if type(module).__name__.endswith("DropPath")]


def sharpen(model: nn.Module, std: float = 0.3, seed: int = 0) -> nn.Module:
    """Redraw every weight matrix from N(0, std). At the reference initialisation (std 0.02) attention is
    nearly uniform, so a wrong attention score (scale, mask, head split) would hide below any tolerance."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim >= 2:
                param.copy_(torch.randn(param.shape, generator=generator) * std)
    return model


def assert_outputs_equal(actual, expected, path: str = "output") -> None:
    """Exact equality of nested tuples of tensors (None where absent)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), f"{path}: length differs"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_outputs_equal(a, e, f"{path}[{i}]")
    elif expected is None:
        assert actual is None, f"{path}: expected None"
    else:
        assert torch.equal(actual, expected), f"{path}: values differ"


class ArchitectureBattery:
    """The tests every architecture passes. Subclass it as `Test<Arch>` with a `spec`."""

    spec: ArchitectureSpec

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        spec: ArchitectureSpec = metafunc.cls.spec
        if "variant_name" in metafunc.fixturenames:
            names = [v.name for v in hf_vits.list_variants(spec.name)] if spec.check_variants else []
            metafunc.parametrize(
                "variant_name",
                names or [pytest.param(None, marks=pytest.mark.skip(reason="variants are checked by the main spec"))],
            )
        if "head_class" in metafunc.fixturenames:
            heads = (spec.classification_class, *spec.extra_heads)
            metafunc.parametrize("head_class", heads, ids=[h.__name__ for h in heads])
        if "invalid_case" in metafunc.fixturenames:
            metafunc.parametrize("invalid_case", spec.invalid_configs, ids=[f for f, _ in spec.invalid_configs])

    # ------------------------------------------------------------------------------------------------ config

    def _round_trip_config(self) -> PreTrainedConfig:
        return self.spec.config(**self.spec.round_trip_overrides)

    def test_config_every_field_is_serialised(self):
        config = self._round_trip_config()
        serialised = config.to_dict()
        fields = [
            p for p in inspect.signature(self.spec.config_class.__init__).parameters if p not in ("self", "kwargs")
        ]
        assert fields, "the config takes no hyper-parameters?"
        missing = [name for name in fields if name not in serialised]
        assert not missing, f"config fields absent from to_dict(): {missing}"
        for name in fields:
            assert serialised[name] == getattr(config, name), name

    def test_config_dict_round_trip(self):
        config = self._round_trip_config()
        restored = self.spec.config_class.from_dict(config.to_dict())
        assert type(restored) is self.spec.config_class
        assert restored.to_dict() == config.to_dict()
        assert self.spec.config_class.from_dict(json.loads(config.to_json_string())).to_dict() == config.to_dict()

    def test_config_json_round_trip(self, tmp_path):
        config = self._round_trip_config()
        config.save_pretrained(tmp_path)
        on_disk = json.loads((tmp_path / "config.json").read_text())
        assert on_disk["model_type"] == self.spec.config_class.model_type
        restored = self.spec.config_class.from_pretrained(tmp_path)
        expected = {k: v for k, v in config.to_dict().items() if k != "transformers_version"}
        actual = {k: v for k, v in restored.to_dict().items() if k != "transformers_version"}
        assert actual == expected
        assert restored.id2label == dict(enumerate(LABELS))

    def test_config_validation(self, invalid_case):
        field_name, overrides = invalid_case
        with pytest.raises(ValueError, match=re.escape(field_name)):
            self.spec.config(**overrides)

    def test_config_model_type(self):
        assert self.spec.config_class.model_type == f"hfvits_{self.spec.name}"

    # ------------------------------------------------------------------------------------------------ forward

    def test_base_model_forward_shapes(self):
        model = self.spec.model(self.spec.model_class)
        config = model.config
        with torch.no_grad():
            outputs = model(self.spec.pixel_values(config, batch_size=3))
        assert outputs.last_hidden_state.shape == self.spec.last_hidden_state_shape(config, 3)
        assert outputs.pooler_output.shape == self.spec.pooler_output_shape(config, 3)
        assert outputs.hidden_states is None and outputs.attentions is None
        assert torch.isfinite(outputs.last_hidden_state).all()

    def test_head_forward_shapes(self, head_class):
        model = self.spec.model(head_class)
        with torch.no_grad():
            outputs = model(self.spec.pixel_values(model.config, batch_size=3))
        assert outputs.logits.shape == (3, len(LABELS))
        assert outputs.loss is None
        assert torch.isfinite(outputs.logits).all()

    def test_batch_items_are_independent(self):
        model = self.spec.model()
        pixel_values = self.spec.pixel_values(model.config, batch_size=3)
        with torch.no_grad():
            batched = model(pixel_values).logits
            single = model(pixel_values[1:2]).logits
        torch.testing.assert_close(single, batched[1:2], atol=1e-5, rtol=1e-5)

    def test_return_dict_false(self):
        for model_class in (self.spec.model_class, self.spec.classification_class, *self.spec.extra_heads):
            model = self.spec.model(model_class)
            pixel_values = self.spec.pixel_values(model.config)
            kwargs = {}
            if model_class is not self.spec.model_class:
                kwargs["labels"] = torch.tensor([0, 3])
            for extras in ({}, {"output_hidden_states": True, "output_attentions": self.spec.has_attentions}):
                with torch.no_grad():
                    as_dict = model(pixel_values, **kwargs, **extras, return_dict=True)
                    as_tuple = model(pixel_values, **kwargs, **extras, return_dict=False)
                assert isinstance(as_tuple, tuple), model_class.__name__
                assert_outputs_equal(as_tuple, as_dict.to_tuple(), model_class.__name__)
            model.config.return_dict = False
            with torch.no_grad():
                assert isinstance(model(pixel_values), tuple), f"{model_class.__name__} ignores config.return_dict"

    def test_output_hidden_states(self):
        model = self.spec.model()
        config = model.config
        with torch.no_grad():
            outputs = model(self.spec.pixel_values(config), output_hidden_states=True)
        expected = self.spec.hidden_states_shapes(config, 2)
        assert len(outputs.hidden_states) == len(expected)
        assert [tuple(h.shape) for h in outputs.hidden_states] == expected
        # The config switch works as well as the argument.
        model.config.output_hidden_states = True
        with torch.no_grad():
            assert len(model(self.spec.pixel_values(config)).hidden_states) == len(expected)

    @pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
    def test_output_attentions(self, attn_implementation):
        if not self.spec.has_attentions:
            pytest.skip("no attention maps")
        torch.manual_seed(0)
        model = AutoModelForImageClassification.from_config(
            self.spec.config(), attn_implementation=attn_implementation
        ).eval()
        assert model.config._attn_implementation == attn_implementation
        pixel_values = self.spec.pixel_values(model.config)
        with torch.no_grad():
            plain = model(pixel_values)
            outputs = model(pixel_values, output_attentions=True)
        assert plain.attentions is None
        expected = self.spec.attention_shapes(model.config, 2)
        assert [tuple(a.shape) for a in outputs.attentions] == expected
        for attention in outputs.attentions:
            assert (attention >= 0).all()
            torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]), atol=1e-5, rtol=0)
        # Asking for the maps must not change the prediction.
        torch.testing.assert_close(outputs.logits, plain.logits, atol=1e-5, rtol=1e-5)

    def test_sdpa_matches_eager(self, monkeypatch):
        if not self.spec.uses_attention_interface:
            pytest.skip("attention does not go through the attention interface")
        torch.manual_seed(0)
        sdpa = sharpen(AutoModelForImageClassification.from_config(self.spec.config()).eval())
        eager = AutoModelForImageClassification.from_config(self.spec.config(), attn_implementation="eager").eval()
        eager.load_state_dict(sdpa.state_dict())
        assert sdpa.config._attn_implementation == "sdpa", "sdpa is not the default"
        assert eager.config._attn_implementation == "eager"

        calls = []
        fused = torch.nn.functional.scaled_dot_product_attention

        def counting_sdpa(*args, **kwargs):
            calls.append(1)
            return fused(*args, **kwargs)

        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting_sdpa)
        pixel_values = self.spec.pixel_values(sdpa.config)
        with torch.no_grad():
            eager_out = eager(pixel_values, output_hidden_states=True)
            assert not calls, "the eager model called scaled_dot_product_attention"
            sdpa_out = sdpa(pixel_values, output_hidden_states=True)
        assert calls, "the sdpa model never called scaled_dot_product_attention"
        with torch.no_grad():
            maps = eager(pixel_values, output_attentions=True).attentions
        peak = torch.stack([m.amax(-1).mean() * m.shape[-1] for m in maps]).min()
        assert peak > 2, "attention too uniform for the comparison to mean anything"
        torch.testing.assert_close(sdpa_out.logits, eager_out.logits, atol=1e-5, rtol=1e-5)
        for sdpa_hidden, eager_hidden in zip(sdpa_out.hidden_states, eager_out.hidden_states, strict=True):
            torch.testing.assert_close(sdpa_hidden, eager_hidden, atol=1e-5, rtol=1e-5)

    def test_half_precision_weights_take_float_input(self):
        model = self.spec.model().to(torch.bfloat16)
        with torch.no_grad():
            logits = model(self.spec.pixel_values(model.config)).logits
        assert logits.dtype == torch.bfloat16
        assert torch.isfinite(logits.float()).all()

    # -------------------------------------------------------------------------------------------------- loss

    @pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "inferred"])
    @pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
    def test_loss(self, problem_type, explicit):
        overrides = {"num_labels": 1} if problem_type == "regression" else {}
        if explicit:
            overrides["problem_type"] = problem_type
        model = self.spec.model(**overrides)
        num_labels = model.config.num_labels
        generator = torch.Generator().manual_seed(1)
        if problem_type == "single_label_classification":
            labels = torch.randint(0, num_labels, (4,), generator=generator)
        elif problem_type == "multi_label_classification":
            labels = torch.randint(0, 2, (4, num_labels), generator=generator).float()
        else:
            labels = torch.randn(4, generator=generator)
        pixel_values = self.spec.pixel_values(model.config, batch_size=4)
        with torch.no_grad():
            outputs = model(pixel_values, labels=labels)
        logits = outputs.logits
        if problem_type == "single_label_classification":
            expected = nn.functional.cross_entropy(logits, labels)
        elif problem_type == "multi_label_classification":
            expected = nn.functional.binary_cross_entropy_with_logits(logits, labels)
        else:
            assert logits.shape == (4, 1)
            expected = nn.functional.mse_loss(logits.squeeze(-1), labels)
        assert model.config.problem_type == problem_type
        torch.testing.assert_close(outputs.loss, expected)

    def test_every_parameter_gets_a_gradient(self):
        model = self.spec.model().train()
        pixel_values = self.spec.pixel_values(model.config, batch_size=4)
        model(pixel_values, labels=torch.tensor([0, 1, 2, 3])).loss.backward()
        without = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not without, f"parameters that take no part in the loss: {without}"

    # ------------------------------------------------------------------------------------ save, load and Auto

    @pytest.fixture(scope="class")
    def saved(self, tmp_path_factory) -> tuple[Path, PreTrainedModel]:
        """A tiny classifier saved with its processor, as a Hub folder is."""
        folder = tmp_path_factory.mktemp(f"{self.spec.name}-tiny")
        model = self.spec.model()
        model.save_pretrained(folder)
        self.spec.processor().save_pretrained(folder)
        return folder, model

    def test_save_writes_safetensors(self, saved):
        folder, _ = saved
        assert (folder / "model.safetensors").is_file()
        assert not (folder / "pytorch_model.bin").exists()
        assert (folder / "config.json").is_file() and (folder / "preprocessor_config.json").is_file()

    def test_save_load_round_trip(self, saved):
        folder, model = saved
        pixel_values = self.spec.pixel_values(model.config)
        with torch.no_grad():
            expected = model(pixel_values).logits
        loaded, info = self.spec.classification_class.from_pretrained(folder, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
        auto = AutoModelForImageClassification.from_pretrained(folder)
        assert type(auto) is self.spec.classification_class
        assert auto.state_dict().keys() == model.state_dict().keys()
        for reloaded in (loaded, auto):
            assert not reloaded.training
            with torch.no_grad():
                assert torch.equal(reloaded(pixel_values).logits, expected)
        assert auto.config.to_dict() == {**model.config.to_dict(), "_name_or_path": str(folder)}

    def test_auto_model_loads_the_backbone(self, saved):
        folder, model = saved
        backbone = AutoModel.from_pretrained(folder)
        assert type(backbone) is self.spec.model_class
        pixel_values = self.spec.pixel_values(model.config)
        with torch.no_grad():
            expected = getattr(model, model.base_model_prefix)(pixel_values).last_hidden_state
            assert torch.equal(backbone(pixel_values).last_hidden_state, expected)

    def test_auto_config(self, saved):
        folder, model = saved
        model_type = self.spec.config_class.model_type
        config = AutoConfig.for_model(model_type, **self.spec.tiny_config)
        assert type(config) is self.spec.config_class
        assert config.to_dict() == self.spec.config_class(**self.spec.tiny_config).to_dict()
        assert type(AutoConfig.from_pretrained(folder)) is self.spec.config_class

    def test_auto_model_from_config(self):
        config = self.spec.config()
        assert type(AutoModelForImageClassification.from_config(config)) is self.spec.classification_class
        assert type(AutoModel.from_config(config)) is self.spec.model_class

    def test_auto_image_processor(self, saved):
        folder, _ = saved
        saved_dict = self.spec.processor().to_dict()
        for requested, backend in (
            ({}, "torchvision"),
            ({"backend": "torchvision"}, "torchvision"),
            ({"backend": "pil"}, "pil"),
        ):
            processor = AutoImageProcessor.from_pretrained(folder, **requested)
            assert type(processor) is self.spec.processor_classes[backend], requested
            for key in ("size", "crop_size", "image_mean", "image_std", "resample", "do_center_crop"):
                assert processor.to_dict().get(key) == saved_dict.get(key), key

    def test_exported_folder_is_remote_code_ready(self, saved):
        folder, _ = saved
        suffix = self.spec.module_suffix
        for name in (f"configuration_{suffix}.py", f"modeling_{suffix}.py", f"image_processing_{suffix}.py"):
            assert (folder / name).is_file(), f"{name} was not copied next to the weights"
        auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
        assert auto_map == {
            "AutoConfig": f"configuration_{suffix}.{self.spec.config_class.__name__}",
            "AutoModel": f"modeling_{suffix}.{self.spec.model_class.__name__}",
            "AutoModelForImageClassification": f"modeling_{suffix}.{self.spec.classification_class.__name__}",
            **{auto: f"modeling_{suffix}.{cls.__name__}" for auto, cls in self.spec.extra_auto_classes.items()},
        }
        processor_map = json.loads((folder / "preprocessor_config.json").read_text())["auto_map"]
        backends = {b: f"image_processing_{suffix}.{c.__name__}" for b, c in self.spec.processor_classes.items()}
        assert processor_map == {"AutoImageProcessor": backends}

    def test_saving_the_pil_processor_names_both_backends(self, tmp_path):
        self.spec.processor("pil").save_pretrained(tmp_path)
        processor_map = json.loads((tmp_path / "preprocessor_config.json").read_text())["auto_map"]
        assert set(processor_map["AutoImageProcessor"]) == {"torchvision", "pil"}
        assert type(AutoImageProcessor.from_pretrained(tmp_path)) is self.spec.processor_classes["torchvision"]

    def test_pipeline(self, saved, photos):
        folder, model = saved
        classifier = pipeline("image-classification", model=str(folder))
        assert type(classifier.model) is self.spec.classification_class
        assert classifier.model.state_dict().keys() == model.state_dict().keys()
        assert type(classifier.image_processor) is self.spec.processor_classes["torchvision"]
        processor = self.spec.processor()
        for name, photo in photos.items():
            predictions = classifier(photo, top_k=3)
            assert len(predictions) == 3, name
            assert {p["label"] for p in predictions} <= set(LABELS)
            scores = [p["score"] for p in predictions]
            assert scores == sorted(scores, reverse=True)
            assert sum(scores) <= 1 + 1e-6
            # What the pipeline reports is the softmax of our model on our processor's output.
            with torch.no_grad():
                probabilities = model(**processor(photo, return_tensors="pt")).logits.softmax(-1)[0]
            top = probabilities.topk(3)
            assert [p["label"] for p in predictions] == [LABELS[i] for i in top.indices.tolist()]
            torch.testing.assert_close(torch.tensor(scores), top.values, atol=1e-5, rtol=0)

    def test_feature_extraction_pipeline(self, saved, chelsea):
        """`pipeline("image-feature-extraction")` runs the bare model: its tokens, and with `pool=True` its pooled
        representation, equal those of `AutoModel` on the processor's output."""
        folder, _ = saved
        extractor = pipeline("image-feature-extraction", model=str(folder))
        assert type(extractor.model) is self.spec.model_class
        pixel_values = extractor.image_processor(chelsea, return_tensors="pt").pixel_values
        with torch.no_grad():
            expected = AutoModel.from_pretrained(folder).eval()(pixel_values)
        features = torch.tensor(extractor(chelsea, return_tensors=False))
        torch.testing.assert_close(features, expected.last_hidden_state, atol=1e-5, rtol=1e-5)
        pooled = extractor(chelsea, pool=True, return_tensors=True)
        torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-5, rtol=1e-5)

    def test_remote_code(self, saved, chelsea, tmp_path):
        """The saved folder loads, predicts the same and runs in a pipeline where hf_vits cannot be imported."""
        folder, model = saved
        pixel_values = self.spec.pixel_values(model.config)
        photo_path = tmp_path / "photo.png"
        chelsea.save(photo_path)
        processor = self.spec.processor()
        pil_processor = self.spec.processor("pil")
        with torch.no_grad():
            expected = {
                "pixel_values": pixel_values,
                "logits": model(pixel_values).logits,
                "last_hidden_state": getattr(model, model.base_model_prefix)(pixel_values).last_hidden_state,
                "processed_torchvision": processor(chelsea, return_tensors="pt").pixel_values,
                "processed_pil": pil_processor(chelsea, return_tensors="pt").pixel_values,
            }
        torch.save(expected, tmp_path / "expected.pt")
        local_predictions = pipeline("image-classification", model=str(folder))(chelsea, top_k=3)

        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "HF_", "TRANSFORMERS_"))
        }
        env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
        result = subprocess.run(
            [sys.executable, str(REMOTE_CODE_PROBE), str(folder), str(tmp_path), str(photo_path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"remote-code probe failed:\n{result.stdout}\n{result.stderr}"
        report = json.loads((tmp_path / "report.json").read_text())
        remote = torch.load(tmp_path / "remote.pt", weights_only=True)

        assert report["hf_vits_import_error"], "hf_vits was importable in the remote-code process"
        assert report["hf_vits_modules"] == [], "hf_vits modules were loaded in the remote-code process"
        expected_classes = {
            "config": self.spec.config_class.__name__,
            "classifier": self.spec.classification_class.__name__,
            "backbone": self.spec.model_class.__name__,
            "pipeline_model": self.spec.classification_class.__name__,
            "processor_torchvision": self.spec.processor_classes["torchvision"].__name__,
            "processor_pil": self.spec.processor_classes["pil"].__name__,
            "pipeline_processor": self.spec.processor_classes["torchvision"].__name__,
        }
        for role, class_name in expected_classes.items():
            loaded = report["classes"][role]
            assert loaded["name"] == class_name, role
            assert loaded["module"].startswith("transformers_modules."), f"{role} is not remote code: {loaded}"
        assert report["state_dict_keys"]["classifier"] == sorted(model.state_dict().keys())
        assert report["state_dict_keys"]["pipeline_model"] == sorted(model.state_dict().keys())
        assert report["loading_info"] == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
        for key in ("logits", "last_hidden_state", "pipeline_logits"):
            reference = expected["last_hidden_state" if key == "last_hidden_state" else "logits"]
            torch.testing.assert_close(remote[key], reference, atol=1e-6, rtol=0, msg=key)
        for backend in ("torchvision", "pil"):
            torch.testing.assert_close(remote[f"processed_{backend}"], expected[f"processed_{backend}"], atol=0, rtol=0)
        assert [p["label"] for p in report["pipeline"]] == [p["label"] for p in local_predictions]
        torch.testing.assert_close(
            torch.tensor([p["score"] for p in report["pipeline"]]),
            torch.tensor([p["score"] for p in local_predictions]),
            atol=1e-6,
            rtol=0,
        )

    # -------------------------------------------------------------------------------------------- training

    @pytest.mark.parametrize("entry_point", ["gradient_checkpointing_enable", "activation_checkpointing_enable"])
    def test_gradient_checkpointing(self, entry_point):
        if not self.spec.classification_class.supports_gradient_checkpointing:
            pytest.fail("every architecture must support gradient checkpointing")
        model = self.spec.model().train()
        pixel_values = self.spec.pixel_values(model.config, batch_size=4)
        labels = torch.tensor([0, 1, 2, 3])
        layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
        assert layers, "no GradientCheckpointingLayer to checkpoint"
        # A checkpointed layer reruns its sub-modules (not its own __call__) in the backward pass.
        calls = []
        for layer in layers:
            for submodule in layer.modules():
                if submodule is not layer:
                    submodule.register_forward_hook(lambda *_: calls.append(1))

        def loss_and_grads():
            model.zero_grad(set_to_none=True)
            calls.clear()
            loss = model(pixel_values, labels=labels).loss
            loss.backward()
            return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, len(calls)

        loss, grads, plain_calls = loss_and_grads()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            getattr(model, entry_point)()
        assert model.is_activation_checkpointing
        checkpointed_loss, checkpointed_grads, checkpointed_calls = loss_and_grads()
        assert checkpointed_calls > plain_calls, "no layer was recomputed in the backward pass"
        torch.testing.assert_close(checkpointed_loss, loss, atol=1e-6, rtol=0)
        assert grads.keys() == checkpointed_grads.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(checkpointed_grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)

    def test_drop_path_is_random_in_training_only(self):
        model = self.spec.model(drop_path_rate=0.5)
        reference = self.spec.model(drop_path_rate=0.0)
        pixel_values = self.spec.pixel_values(model.config, batch_size=8)
        with torch.no_grad():
            torch.manual_seed(1)
            model.train()
            first, second = model(pixel_values).logits, model(pixel_values).logits
            assert not torch.allclose(first, second), "drop_path does nothing in training"
            model.eval()
            # Taken after training, as norms with running statistics (BatchNorm) update them there.
            reference.load_state_dict(model.state_dict())
            evaluated = model(pixel_values).logits
            assert torch.equal(model(pixel_values).logits, evaluated)
            torch.testing.assert_close(evaluated, reference(pixel_values).logits, atol=1e-6, rtol=0)

    def test_drop_path_rates_are_linear_in_depth(self):
        rate = 0.3
        model = self.spec.model(drop_path_rate=rate, **self.spec.deep_config_overrides)
        rates = [module.drop_prob for module in drop_path_modules(model)]
        assert len(rates) >= 3, "not enough stochastic-depth modules found"
        torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, rate, len(rates)), atol=1e-7, rtol=0)
        assert rates[0] == 0.0 and rates[-1] == pytest.approx(rate)

    def test_no_weight_decay(self):
        model = self.spec.model()
        exempt = model.no_weight_decay()
        parameters = dict(model.named_parameters())
        assert exempt <= parameters.keys(), f"unknown names: {exempt - parameters.keys()}"
        for suffix in self.spec.no_weight_decay_suffixes:
            matching = [name for name in parameters if name.endswith(suffix)]
            assert matching, f"no parameter ends with {suffix!r}"
            assert set(matching) <= exempt, f"{suffix} takes weight decay"
        norm_types = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)
        norms = {
            f"{module_name}.{name}"
            for module_name, module in model.named_modules()
            if isinstance(module, norm_types)
            for name, _ in module.named_parameters(recurse=False)
        }
        biases = {name for name in parameters if name.endswith(".bias")}
        assert norms and biases
        assert norms <= exempt, f"norm parameters that take weight decay: {norms - exempt}"
        assert biases <= exempt, f"biases that take weight decay: {biases - exempt}"
        one_dimensional = {name for name, p in parameters.items() if p.ndim <= 1}
        assert one_dimensional <= exempt, f"1-D parameters that take weight decay: {one_dimensional - exempt}"
        weights = {
            f"{module_name}.weight"
            for module_name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d))
        }
        assert weights and not (weights & exempt), f"weights exempt from decay: {weights & exempt}"

    def test_no_split_modules_exist(self):
        model = self.spec.model()
        class_names = {type(module).__name__ for module in model.modules()}
        assert model._no_split_modules
        assert set(model._no_split_modules) <= class_names

    # ------------------------------------------------------------------------------------------ input checks

    def test_interpolate_pos_encoding(self):
        if not self.spec.has_absolute_position_embeddings:
            pytest.skip("no absolute position embeddings")
        model = self.spec.model()
        config = model.config
        other = self.spec.other_input_size
        assert other != self.spec.input_size(config)
        pixel_values = self.spec.pixel_values(config, size=other)
        with pytest.raises(ValueError, match="interpolate_pos_encoding"), torch.no_grad():
            model(pixel_values)
        with torch.no_grad():
            outputs = model(pixel_values, interpolate_pos_encoding=True, output_hidden_states=True)
            backbone = getattr(model, model.base_model_prefix)(pixel_values, interpolate_pos_encoding=True)
        assert outputs.logits.shape == (2, len(LABELS))
        assert torch.isfinite(outputs.logits).all()
        assert backbone.last_hidden_state.shape == self.spec.last_hidden_state_shape(config, 2, size=other)
        same_size = self.spec.pixel_values(config)
        with torch.no_grad():
            assert torch.equal(model(same_size, interpolate_pos_encoding=True).logits, model(same_size).logits)

    def test_wrong_channel_count(self):
        model = self.spec.model()
        config = model.config
        height, width = self.spec.input_size(config)
        bad_channels = 7
        with pytest.raises(ValueError) as error, torch.no_grad():
            model(torch.randn(2, bad_channels, height, width))
        message = str(error.value)
        assert str(config.num_channels) in message and str(bad_channels) in message, message

    def test_bad_input(self):
        model = self.spec.model()
        height, width = self.spec.input_size(model.config)
        image = torch.randn(3, height, width)
        for bad in (image.tolist(), image.numpy()[None], "cat.jpg"):
            with pytest.raises((TypeError, ValueError), match="pixel_values"), torch.no_grad():
                model(bad)
        with pytest.raises(ValueError, match=re.escape(str(tuple(image.shape)))), torch.no_grad():
            model(image)
        with pytest.raises(ValueError, match="pixel_values"):
            model()

    # --------------------------------------------------------------------------------------------- variants

    def test_variant_parameter_count(self, variant_name):
        variant = hf_vits.get_variant(variant_name)
        with torch.device("meta"):
            model = hf_vits.create_model(variant_name)
        assert type(model) is self.spec.classification_class
        assert model.config.num_labels == 1000, "variants are the papers' ImageNet-1k models"
        count = sum(p.numel() for p in model.parameters())
        count += sum(b.numel() for name, b in model.named_buffers() if name.endswith(self.spec.counted_buffers))
        count /= 1e6
        assert count == pytest.approx(variant.params_m, rel=0.01), f"{count:.2f}M vs the paper's {variant.params_m}M"

    def test_variant_is_consistent(self, variant_name):
        variant = hf_vits.get_variant(variant_name)
        assert variant.architecture.name == self.spec.name
        config = hf_vits.create_config(variant_name)
        assert type(config) is self.spec.config_class
        assert as_pair(config.image_size) == (variant.resolution, variant.resolution)
        processor = hf_vits.create_image_processor(variant_name)
        assert type(processor) is self.spec.processor_classes["torchvision"]
        crop = processor.crop_size if processor.do_center_crop else processor.size
        assert (crop["height"], crop["width"]) == (variant.resolution, variant.resolution)
        assert variant.params_m > 0 and variant.source

    def test_create_model_honours_overrides(self):
        name = hf_vits.list_variants(self.spec.name)[0].name
        with torch.device("meta"):
            model = hf_vits.create_model(name, num_labels=10, attn_implementation="eager", drop_path_rate=0.1)
        assert type(model) is self.spec.classification_class
        assert model.config.num_labels == 10 and len(model.config.id2label) == 10
        assert model.config._attn_implementation == "eager"
        assert model.config.drop_path_rate == 0.1
        assert max(m.drop_prob for m in drop_path_modules(model)) == pytest.approx(0.1)
        classifier_out = {m.out_features for n, m in model.named_modules() if isinstance(m, nn.Linear) and "class" in n}
        assert classifier_out == {10}
        with torch.device("meta"):
            default = hf_vits.create_model(name)
        assert default.config._attn_implementation == "sdpa"

    def test_registry_entry(self):
        architecture = hf_vits.ARCHITECTURES[self.spec.name]
        assert architecture.config_class is self.spec.config_class
        assert architecture.model_class is self.spec.model_class
        assert architecture.classification_class is self.spec.classification_class
        assert architecture.processor_classes == self.spec.processor_classes
