"""The registry: one table of architectures and variants, registered with transformers' Auto classes."""

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import pytest
import torch

import hf_vits
import hf_vits.modeling

EXPECTED_ARCHITECTURES = {
    "vit",
    "deit",
    "swin",
    "cvt",
    "t2t_vit",
    "levit",
    "aanet",
    "nonlocal_net",
    "san",
    "sasa",
    "ccnet",
    "lrnet",
}

# How each architecture's variants are named: as its paper names its models.
VARIANT_PREFIXES = {
    "vit": "vit-",
    "deit": "deit-",
    "swin": "swin-",
    "cvt": "cvt-",
    "t2t_vit": "t2t-vit-",
    "levit": "levit-",
    "nonlocal_net": "nonlocal-resnet",
    "ccnet": "ccnet-",
    "aanet": "aa-resnet-",
    "sasa": "sasa-resnet-",
    "lrnet": "lrnet-",
    "san": ("san10-", "san15-", "san19-"),
}

REGISTRATION_PROBE = """
import json
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING, MODEL_MAPPING

before = sorted(t for t in CONFIG_MAPPING.keys() if t.startswith("hfvits_"))
import hf_vits

report = {"before": before, "after": {}}
for name, arch in hf_vits.ARCHITECTURES.items():
    config_class = CONFIG_MAPPING[arch.model_type]
    report["after"][arch.model_type] = {
        "config": config_class.__name__,
        "model": MODEL_MAPPING[config_class].__name__,
        "classifier": MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING[config_class].__name__,
        "processors": {b: c.__name__ for b, c in IMAGE_PROCESSOR_MAPPING[config_class].items()},
    }
print(json.dumps(report))
"""


def test_importing_hf_vits_registers_every_architecture():
    """In a fresh interpreter: nothing of ours is known to transformers until `import hf_vits`."""
    result = subprocess.run(
        [sys.executable, "-c", REGISTRATION_PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == []
    registered = report["after"]
    assert set(registered) == {f"hfvits_{name}" for name in hf_vits.ARCHITECTURES}
    assert {f"hfvits_{name}" for name in EXPECTED_ARCHITECTURES} <= set(registered)
    for model_type, classes in registered.items():
        arch = hf_vits.ARCHITECTURES[model_type.removeprefix("hfvits_")]
        assert classes == {
            "config": arch.config_class.__name__,
            "model": arch.model_class.__name__,
            "classifier": arch.classification_class.__name__,
            "processors": {b: c.__name__ for b, c in arch.processor_classes.items()},
        }


def test_registering_again_is_harmless():
    hf_vits.register_with_transformers()
    hf_vits.register_with_transformers()
    from transformers import AutoConfig

    assert type(AutoConfig.for_model("hfvits_deit")) is hf_vits.ZooDeiTConfig


def test_architectures_table():
    assert set(hf_vits.ARCHITECTURES) >= EXPECTED_ARCHITECTURES
    for name, arch in hf_vits.ARCHITECTURES.items():
        assert arch.name == name
        assert arch.model_type == f"hfvits_{name}"
        assert arch.title and arch.paper
        assert set(arch.processor_classes) == {"torchvision", "pil"}
        assert arch.model_class.config_class is arch.config_class
        assert arch.classification_class.config_class is arch.config_class


def test_model_types_do_not_collide_with_transformers():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    for arch in hf_vits.ARCHITECTURES.values():
        assert arch.model_type.startswith("hfvits_")
        assert arch.model_type not in CONFIG_MAPPING_NAMES, "transformers already owns this model_type"
        assert arch.config_class.__name__ not in CONFIG_MAPPING_NAMES.values()


def test_list_variants():
    variants = hf_vits.list_variants()
    assert variants
    names = [v.name for v in variants]
    assert len(names) == len(set(names))
    for variant in variants:
        assert variant.architecture.name in hf_vits.ARCHITECTURES
        assert variant.architecture is hf_vits.ARCHITECTURES[variant.architecture.name]
        assert variant.name.startswith(VARIANT_PREFIXES[variant.architecture.name])
        assert hf_vits.get_variant(variant.name) is variant
        assert variant.params_m > 0 and variant.resolution > 0 and variant.source
        assert variant.gflops is None or variant.gflops > 0
        assert variant.top1 is None or 0 < variant.top1 < 100
    assert set(VARIANT_PREFIXES) == EXPECTED_ARCHITECTURES
    for name in EXPECTED_ARCHITECTURES:
        in_architecture = hf_vits.list_variants(name)
        assert in_architecture and all(v.architecture.name == name for v in in_architecture)
    assert sum(len(hf_vits.list_variants(name)) for name in hf_vits.ARCHITECTURES) == len(variants)


def test_unknown_architecture():
    with pytest.raises(KeyError, match="vit"):
        hf_vits.list_variants("vitt")


def test_unknown_variant_suggests_close_names():
    with pytest.raises(KeyError, match="deit-tiny-patch16-224") as error:
        hf_vits.get_variant("deit-tiny-patch16-244")
    assert "Did you mean" in str(error.value)
    for function in (hf_vits.create_config, hf_vits.create_model, hf_vits.create_image_processor):
        with pytest.raises(KeyError, match="vit-base-patch16-224"):
            function("vit-base-patch16-22")
    # Far from every variant name (`resnet50` is close to the AA-ResNets').
    with pytest.raises(KeyError, match="hf-vits list"):
        hf_vits.get_variant("efficientnet-b0")


def test_create_config_defaults_to_imagenet_and_takes_overrides():
    config = hf_vits.create_config("deit-small-patch16-224")
    assert config.num_labels == 1000
    assert (config.hidden_size, config.num_attention_heads) == (384, 6)
    small = hf_vits.create_config("deit-small-patch16-224", num_labels=10, image_size=32, drop_path_rate=0.1)
    assert (small.num_labels, small.image_size, small.drop_path_rate) == (10, 32, 0.1)
    named = hf_vits.create_config("vit-tiny-patch16-224", id2label={0: "cat", 1: "dog", 2: "cup"})
    assert named.num_labels == 3 and named.id2label[2] == "cup"
    with pytest.raises(ValueError, match="hidden_size"):
        hf_vits.create_config("vit-tiny-patch16-224", num_attention_heads=5)


def test_create_model_on_the_meta_device_costs_nothing():
    with torch.device("meta"):
        model = hf_vits.create_model("vit-huge-patch14-224")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) > 600e6


def public_classes():
    """Every public class defined in the architecture folders."""
    for module_info in pkgutil.walk_packages(hf_vits.modeling.__path__, "hf_vits.modeling."):
        module = importlib.import_module(module_info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and not name.startswith("_"):
                yield module.__name__, name


def test_every_public_model_class_carries_the_zoo_prefix():
    found = list(public_classes())
    assert len(found) > 10
    offenders = [f"{module}.{name}" for module, name in found if not name.startswith("Zoo")]
    assert not offenders, f"public classes without the Zoo prefix: {offenders}"
    # The registry's own bookkeeping types are no models, configs or processors.
    exempt = {"Architecture", "Variant"}
    exported = [name for name in hf_vits.__all__ if inspect.isclass(getattr(hf_vits, name))]
    assert all(name.startswith("Zoo") or name in exempt for name in exported)
    for arch in hf_vits.ARCHITECTURES.values():
        for cls in (arch.config_class, arch.model_class, arch.classification_class, *arch.processor_classes.values()):
            assert cls.__name__.startswith("Zoo"), cls
            assert getattr(hf_vits, cls.__name__) is cls, f"{cls.__name__} is not exported by hf_vits"
