"""Checkpoint conversion: equivalence with timm and transformers on random weights, the written folder, the
inverse tables, and the errors (keys, files, unsupported features, sources, half-written output)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import transformers
from conversion_helpers import max_diff, save_hf
from PIL import Image
from safetensors.torch import load_file, save_file
from timm.data import create_transform, resolve_model_data_config
from transformers import AutoImageProcessor, AutoModelForImageClassification

import hf_vits
from hf_vits.conversion import (
    ConversionError,
    KeyRule,
    KeyTable,
    convert,
    convert_timm_model,
    convert_transformers_model,
    from_timm,
    load_timm,
    load_transformers,
    read_checkpoint,
    timm_key_table,
    to_timm_model,
    to_timm_state_dict,
    to_transformers_model,
    to_transformers_state_dict,
    verify_against_timm,
    write_model_folder,
)

TOLERANCE = 1e-4
TINY_TIMM = {"img_size": 32, "patch_size": 8, "depth": 2, "num_classes": 10}
TINY_HF = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
    "num_labels": 5,
}


def tiny_timm(name: str = "vit_tiny_patch16_224", **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **{**TINY_TIMM, **overrides}).eval()


def pixels(height: int = 32, width: int = 32, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


def leftovers(folder: Path) -> list[str]:
    """Hidden staging or backup folders a conversion could leave beside its output."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


# --- timm ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "overrides", "expected_config"),
    [
        ("vit_tiny_patch16_224", {}, {"pooling": "cls", "fc_norm": False, "qkv_bias": True}),
        ("vit_tiny_patch16_224", {"global_pool": "avg"}, {"pooling": "mean", "fc_norm": True}),
        ("vit_tiny_patch16_224", {"global_pool": "avg", "fc_norm": False}, {"pooling": "mean", "fc_norm": False}),
        ("vit_tiny_patch16_224", {"class_token": False, "global_pool": "avg"}, {"use_class_token": False}),
        ("vit_tiny_patch16_224", {"qkv_bias": False}, {"qkv_bias": False}),
        ("vit_tiny_patch16_224", {"act_layer": "gelu_tanh"}, {"hidden_act": "gelu_pytorch_tanh"}),
        ("deit_tiny_patch16_224", {}, {"use_distillation_token": False}),
        ("deit_tiny_distilled_patch16_224", {}, {"use_distillation_token": True}),
    ],
)
def test_timm_logits_match(name, overrides, expected_config):
    timm_model = tiny_timm(name, **overrides)
    model, _ = convert_timm_model(timm_model)
    expected_class = (
        hf_vits.ZooDeiTForImageClassification if name.startswith("deit") else hf_vits.ZooViTForImageClassification
    )
    assert type(model) is expected_class
    for field, value in expected_config.items():
        assert getattr(model.config, field) == value, field
    height, width = model.config.image_size_pair
    batch = pixels(height, width)
    with torch.no_grad():
        assert max_diff(model(pixel_values=batch).logits, timm_model(batch)) <= TOLERANCE


def test_timm_distilled_heads_match_in_training():
    timm_model = tiny_timm("deit_tiny_distilled_patch16_224")
    model, _ = convert_timm_model(timm_model)
    timm_model.set_distilled_training(True)
    timm_model.train()
    model.train()
    batch = pixels()
    with torch.no_grad():
        cls_logits, distillation_logits = timm_model(batch)
        outputs = model(pixel_values=batch)
    assert max_diff(outputs.cls_logits, cls_logits) <= TOLERANCE
    assert max_diff(outputs.distillation_logits, distillation_logits) <= TOLERANCE
    assert max_diff(cls_logits, distillation_logits) > 1e-3  # the heads differ, so the comparison means something


def test_verification_catches_different_weights():
    timm_model = tiny_timm()
    model, _ = convert_timm_model(timm_model)
    assert verify_against_timm(model, timm_model) <= TOLERANCE
    with torch.no_grad():
        model.vit.encoder.layers[1].mlp.fc2.weight.mul_(1.5)
    with pytest.raises(ConversionError, match="does not reproduce timm model 'vit_tiny_patch16_224'"):
        verify_against_timm(model, timm_model)


def test_timm_imagenet_head_gets_imagenet_class_names():
    model, _ = convert_timm_model(tiny_timm(num_classes=1000, depth=1))
    assert model.config.num_labels == 1000
    assert model.config.id2label[0] == "tench, Tinca tinca"
    assert model.config.label2id["tench, Tinca tinca"] == 0
    small, _ = convert_timm_model(tiny_timm(depth=1))
    assert small.config.id2label == {index: f"LABEL_{index}" for index in range(10)}


@pytest.mark.parametrize(
    ("name", "shortest_edge", "crop"),
    [("vit_tiny_patch16_224", 248, 224), ("deit_base_patch16_384", 384, 384)],
)
def test_timm_processor_reproduces_timm_eval_transform(name, shortest_edge, crop):
    from skimage import data as skimage_data

    image = Image.fromarray(skimage_data.chelsea())
    timm_model = timm.create_model(name, pretrained=False, depth=1, embed_dim=32, num_heads=2)
    processor = from_timm.timm_image_processor(timm_model)
    assert processor.size.shortest_edge == shortest_edge and processor.crop_size.height == crop
    reference = create_transform(**resolve_model_data_config(timm_model))(image)

    ours = processor(image, return_tensors="pt").pixel_values[0]
    assert ours.shape == reference.shape == (3, crop, crop)
    # The torchvision backend resizes the tensor, timm the PIL image: they agree to within rounding to 8 bits.
    assert max_diff(ours, reference) <= 2 / 255 / min(processor.image_std)
    pil_class = type(processor).__name__ + "Pil"
    pil_processor = getattr(hf_vits, pil_class)(**processor.to_dict())
    pil_pixels = torch.as_tensor(np.asarray(pil_processor(image, return_tensors="np").pixel_values[0]))
    assert max_diff(pil_pixels, reference) <= 1e-6


@pytest.mark.parametrize(
    ("name", "overrides", "feature"),
    [
        ("vit_base_patch16_reg4_gap_256", {}, "register tokens"),
        ("deit3_small_patch16_224", {}, "layer scale"),
        ("vit_tiny_patch16_224", {"no_embed_class": True}, "no_embed_class"),
        ("vit_tiny_patch16_224", {"qk_norm": True}, "qk_norm"),
        ("vit_tiny_patch16_224", {"global_pool": "map"}, "attention pooling"),
        ("vit_tiny_patch16_224", {"pre_norm": True}, "pre_norm"),
        ("vit_tiny_patch16_224", {"dynamic_img_size": True}, "dynamic image size"),
        ("vit_tiny_patch16_224", {"act_layer": "quick_gelu"}, "activation QuickGELU"),
        ("vit_tiny_patch16_224", {"norm_layer": "rmsnorm"}, "RmsNorm"),
        ("deit_tiny_patch16_224", {"global_pool": "avg"}, "pooling other than the class token in a DeiT"),
    ],
)
def test_unsupported_timm_features_are_refused_by_name(name, overrides, feature):
    timm_model = tiny_timm(name, embed_dim=32, num_heads=2, depth=1, **overrides)
    with pytest.raises(ConversionError, match=f"timm model '{name}' uses features") as error:
        convert_timm_model(timm_model)
    assert feature in str(error.value)


def test_non_square_center_crop_is_refused():
    """timm resizes to cover a non-square crop keeping the aspect ratio; the processors cannot express that."""
    with pytest.raises(ConversionError, match="non-square center crop"):
        convert_timm_model(tiny_timm(img_size=(32, 48), depth=1))


def test_swiglu_mlp_is_refused():
    from timm.layers import SwiGLUPacked

    timm_model = tiny_timm(mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU, embed_dim=32, num_heads=2)
    with pytest.raises(ConversionError, match="the MLP type GluMlp"):
        convert_timm_model(timm_model)


def test_timm_inverse_round_trips():
    timm_model = tiny_timm("deit_tiny_distilled_patch16_224")
    model, _ = convert_timm_model(timm_model)
    timm_layout = to_timm_state_dict(model)
    original = timm_model.state_dict()
    assert timm_layout.keys() == original.keys()
    assert all(torch.equal(timm_layout[key], original[key]) for key in original)
    back = timm_key_table(model.config).convert(timm_layout, model.state_dict())
    ours = model.state_dict()
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[key], ours[key]) for key in ours)


@pytest.mark.parametrize("variant", ["vit-tiny-patch16-224", "deit-tiny-distilled-patch16-224"])
def test_to_timm_model_reproduces_our_model(variant):
    model = hf_vits.create_model(variant, num_hidden_layers=2, image_size=32, patch_size=8, num_labels=7).eval()
    timm_model = to_timm_model(model)
    batch = pixels()
    with torch.no_grad():
        assert max_diff(model(pixel_values=batch).logits, timm_model(batch)) <= TOLERANCE


def test_inverses_refuse_what_the_reference_lacks():
    mean_pooled = hf_vits.create_model("vit-tiny-patch16-224", num_hidden_layers=1, pooling="mean")
    with pytest.raises(ConversionError, match="pooling='mean'"):
        to_transformers_model(mean_pooled)
    pre_logits = hf_vits.create_model("vit-tiny-patch16-224", num_hidden_layers=1, representation_size=48)
    with pytest.raises(ConversionError, match="representation_size"):
        to_timm_model(pre_logits)


# --- transformers -------------------------------------------------------------------------------------------------


def hf_case(kind: str):
    torch.manual_seed(0)
    vit, deit = transformers.ViTConfig, transformers.DeiTConfig
    return {
        "vit": lambda: transformers.ViTForImageClassification(vit(**TINY_HF)),
        "vit-no-qkv-bias": lambda: transformers.ViTForImageClassification(vit(**TINY_HF, qkv_bias=False)),
        "vit-model-pooler": lambda: transformers.ViTModel(vit(**TINY_HF, pooler_output_size=48)),
        "vit-model-no-pooler": lambda: transformers.ViTModel(vit(**TINY_HF), add_pooling_layer=False),
        "deit-teacher": lambda: transformers.DeiTForImageClassificationWithTeacher(deit(**TINY_HF)),
        "deit-model": lambda: transformers.DeiTModel(deit(**TINY_HF), add_pooling_layer=False),
    }[kind]().eval()


@pytest.mark.parametrize(
    ("kind", "our_class", "outputs"),
    [
        ("vit", "ZooViTForImageClassification", ["logits"]),
        ("vit-no-qkv-bias", "ZooViTForImageClassification", ["logits"]),
        ("vit-model-pooler", "ZooViTModel", ["pooler_output", "last_hidden_state"]),
        ("vit-model-no-pooler", "ZooViTModel", ["last_hidden_state"]),
        ("deit-teacher", "ZooDeiTForImageClassification", ["logits", "cls_logits", "distillation_logits"]),
        ("deit-model", "ZooDeiTModel", ["last_hidden_state"]),
    ],
)
def test_transformers_folder_outputs_match(tmp_path, kind, our_class, outputs):
    hf_model = hf_case(kind)
    folder = save_hf(tmp_path, hf_model)
    converted = load_transformers(folder)
    model = converted.model
    assert type(model).__name__ == our_class
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE
    assert model.config.layer_norm_eps == hf_model.config.layer_norm_eps == 1e-12
    if kind == "vit-model-pooler":
        assert model.config.representation_size == 48
    batch = pixels()
    with torch.no_grad():
        ours, theirs = model(pixel_values=batch), hf_model(pixel_values=batch)
    for name in outputs:
        assert max_diff(getattr(ours, name), getattr(theirs, name)) <= TOLERANCE, name


def test_transformers_conversion_reads_the_legacy_names_on_disk(tmp_path):
    hf_model = hf_case("vit")
    on_disk = load_file(save_hf(tmp_path, hf_model) / "model.safetensors")
    assert "vit.encoder.layer.0.attention.attention.query.weight" in on_disk
    model, _ = convert_transformers_model(hf_model)
    qkv = model.vit.encoder.layers[0].attention.qkv.weight
    prefix = "vit.encoder.layer.0.attention.attention"
    assert torch.equal(qkv, torch.cat([on_disk[f"{prefix}.{name}.weight"] for name in ("query", "key", "value")]))
    inverse = to_transformers_state_dict(model)
    assert inverse.keys() == on_disk.keys()
    assert all(torch.equal(inverse[key], on_disk[key]) for key in on_disk)


@pytest.mark.parametrize("kind", ["vit", "vit-model-pooler", "deit-teacher"])
def test_to_transformers_model_reproduces_our_model(kind):
    model, _ = convert_transformers_model(hf_case(kind))
    hf_model = to_transformers_model(model)
    assert type(hf_model).__name__ == type(hf_case(kind)).__name__
    batch = pixels()
    with torch.no_grad():
        ours, theirs = model(pixel_values=batch), hf_model(pixel_values=batch)
    name = "pooler_output" if kind == "vit-model-pooler" else "logits"
    assert max_diff(getattr(ours, name), getattr(theirs, name)) <= TOLERANCE


def test_transformers_processor_settings_carry_over(tmp_path):
    hf_processor = transformers.DeiTImageProcessor(
        size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32}
    )
    folder = save_hf(tmp_path, hf_case("deit-teacher"), hf_processor)
    processor = load_transformers(folder).processor
    assert isinstance(processor, hf_vits.ZooDeiTImageProcessor)
    assert (processor.size.height, processor.size.width) == (40, 40)
    assert (processor.crop_size.height, processor.crop_size.width) == (32, 32)
    assert processor.do_center_crop and int(processor.resample) == int(hf_processor.resample) == 3
    assert list(processor.image_mean) == list(hf_processor.image_mean) == [0.5, 0.5, 0.5]
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8))
    expected = hf_processor(image, return_tensors="pt").pixel_values
    assert max_diff(processor(image, return_tensors="pt").pixel_values, expected) <= 1e-6


def test_deit_without_distillation_head_is_refused(tmp_path):
    folder = save_hf(tmp_path, transformers.DeiTForImageClassification(transformers.DeiTConfig(**TINY_HF)))
    with pytest.raises(ConversionError, match="DeiTForImageClassification cannot be converted faithfully"):
        load_transformers(folder)


# --- convert(): the written folder --------------------------------------------------------------------------------


def test_convert_timm_checkpoint_writes_a_complete_folder(tmp_path):
    timm_model = tiny_timm("deit_tiny_distilled_patch16_224")
    checkpoint = tmp_path / "weights.safetensors"
    save_file(timm_model.state_dict(), checkpoint)
    output = convert(
        "timm:deit_tiny_distilled_patch16_224",
        tmp_path / "out",
        checkpoint=checkpoint,
        model_kwargs={"img_size": 32, "patch_size": 8, "depth": 2},
    )
    assert output == tmp_path / "out"
    files = {path.name for path in output.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= files
    assert {"configuration_deit.py", "modeling_deit.py", "image_processing_deit.py"} <= files
    config = json.loads((output / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_deit.ZooDeiTForImageClassification"
    assert len(config["id2label"]) == 10
    assert "AutoImageProcessor" in json.loads((output / "preprocessor_config.json").read_text())["auto_map"]
    assert leftovers(tmp_path) == []

    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert isinstance(loaded, hf_vits.ZooDeiTForImageClassification)
    assert isinstance(AutoImageProcessor.from_pretrained(output), hf_vits.ZooDeiTImageProcessor)
    batch = pixels()
    with torch.no_grad():
        assert max_diff(loaded(pixel_values=batch).logits, timm_model(batch)) <= TOLERANCE


def test_convert_transformers_folder_loads_back_with_its_eps(tmp_path):
    hf_model = hf_case("vit")
    source = save_hf(tmp_path, hf_model, transformers.ViTImageProcessor(size={"height": 32, "width": 32}))
    output = convert(f"transformers:{source}", tmp_path / "out")
    assert json.loads((output / "config.json").read_text())["layer_norm_eps"] == 1e-12
    loaded = AutoModelForImageClassification.from_pretrained(output).eval()
    assert loaded.config.layer_norm_eps == 1e-12
    assert loaded.config.id2label == hf_model.config.id2label
    batch = pixels()
    with torch.no_grad():
        assert max_diff(loaded(pixel_values=batch).logits, hf_model(pixel_values=batch).logits) <= TOLERANCE


def test_written_folder_loads_as_remote_code_without_hf_vits(tmp_path):
    timm_model = tiny_timm()
    output = tmp_path / "out"
    converted = convert_timm_model(timm_model)
    write_model_folder(*converted, output)
    batch = pixels()
    torch.save(batch, tmp_path / "batch.pt")
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForImageClassification\n"
        f"model = AutoModelForImageClassification.from_pretrained({str(output)!r}, trust_remote_code=True).eval()\n"
        "assert 'hf_vits' not in sys.modules, 'hf_vits was imported'\n"
        f"batch = torch.load({str(tmp_path / 'batch.pt')!r})\n"
        f"torch.save(model(pixel_values=batch).logits.detach(), {str(tmp_path / 'logits.pt')!r})\n"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path, timeout=120)
    with torch.no_grad():
        assert max_diff(torch.load(tmp_path / "logits.pt"), timm_model(batch)) <= TOLERANCE


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    model, processor = convert_timm_model(tiny_timm(depth=1))
    with pytest.raises(FileExistsError, match="not empty"):
        write_model_folder(model, processor, output)
    assert (output / "keep.txt").read_text() == "mine"
    write_model_folder(model, processor, output, overwrite=True)
    assert not (output / "keep.txt").exists() and (output / "model.safetensors").is_file()
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    model, processor = convert_timm_model(tiny_timm(depth=1))

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(processor), "save_pretrained", fail)
    with pytest.raises(OSError, match="disk full"):
        write_model_folder(model, processor, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_failed_verification_writes_nothing(tmp_path, monkeypatch):
    """A wrong key table (two blocks' attention projections swapped) converts cleanly but is caught."""
    checkpoint = tmp_path / "weights.safetensors"
    save_file(tiny_timm().state_dict(), checkpoint)
    correct_table = from_timm.timm_key_table

    def swapped_table(config):
        rules = correct_table(config).rules
        swap = {"blocks.0.attn.proj.weight": "blocks.1.attn.proj.weight"}
        swap.update({value: key for key, value in swap.items()})
        return KeyTable(KeyRule(tuple(swap.get(s, s) for s in rule.sources), rule.target) for rule in rules)

    monkeypatch.setattr(from_timm, "timm_key_table", swapped_table)
    output = tmp_path / "out"
    with pytest.raises(ConversionError, match="does not reproduce"):
        convert(
            "timm:vit_tiny_patch16_224",
            output,
            checkpoint=checkpoint,
            model_kwargs={"img_size": 32, "patch_size": 8, "depth": 2},
        )
    assert not output.exists()
    assert leftovers(tmp_path) == []


# --- checkpoints --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nesting", [None, "model", "state_dict", "state_dict_ema"])
def test_torch_checkpoints_nested_or_not(tmp_path, nesting):
    timm_model = tiny_timm()
    state_dict = timm_model.state_dict()
    checkpoint = tmp_path / "checkpoint.pth"
    torch.save(state_dict if nesting is None else {nesting: state_dict, "epoch": 3}, checkpoint)
    read = read_checkpoint(checkpoint)
    assert read.keys() == state_dict.keys()
    assert all(torch.equal(read[key], state_dict[key]) for key in state_dict)


def test_convert_torch_checkpoint_nested_under_model(tmp_path):
    timm_model = tiny_timm("deit_tiny_patch16_224", num_classes=6)
    checkpoint = tmp_path / "deit.pth"
    torch.save({"model": timm_model.state_dict(), "epoch": 300}, checkpoint)
    converted = load_timm("deit_tiny_patch16_224", checkpoint, {"img_size": 32, "patch_size": 8, "depth": 2})
    assert converted.max_abs_diff is not None and converted.max_abs_diff <= TOLERANCE
    assert converted.model.config.num_labels == 6
    batch = pixels()
    with torch.no_grad():
        assert max_diff(converted.model(pixel_values=batch).logits, timm_model(batch)) <= TOLERANCE


def test_ddp_module_prefix_is_stripped(tmp_path):
    state_dict = {"module.a": torch.zeros(2), "module.b": torch.ones(1)}
    torch.save(state_dict, tmp_path / "ddp.pth")
    assert set(read_checkpoint(tmp_path / "ddp.pth")) == {"a", "b"}


def checkpoint_error(tmp_path: Path, state_dict: dict) -> str:
    checkpoint = tmp_path / "edited.safetensors"
    save_file(state_dict, checkpoint)
    with pytest.raises(ConversionError) as error:
        convert("timm:vit_tiny_patch16_224", tmp_path / "out", checkpoint=checkpoint, model_kwargs=TINY_TIMM)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    message = str(error.value)
    assert str(checkpoint) in message
    return message


def test_checkpoint_with_a_missing_key(tmp_path):
    state_dict = tiny_timm().state_dict()
    del state_dict["blocks.1.mlp.fc2.bias"]
    message = checkpoint_error(tmp_path, state_dict)
    assert "missing keys (1): blocks.1.mlp.fc2.bias" in message
    assert "unexpected" not in message


def test_checkpoint_with_an_extra_key(tmp_path):
    state_dict = tiny_timm().state_dict()
    state_dict["blocks.0.attn.gate.weight"] = torch.zeros(3)
    message = checkpoint_error(tmp_path, state_dict)
    assert "unexpected keys (1): blocks.0.attn.gate.weight" in message
    assert "missing" not in message


def test_checkpoint_with_missing_and_extra_keys(tmp_path):
    state_dict = tiny_timm().state_dict()
    state_dict["norm.scale"] = state_dict.pop("norm.weight")
    message = checkpoint_error(tmp_path, state_dict)
    assert "missing keys (1): norm.weight" in message and "unexpected keys (1): norm.scale" in message


def test_checkpoint_with_a_wrong_shape(tmp_path):
    state_dict = tiny_timm().state_dict()
    state_dict["pos_embed"] = torch.zeros(1, 5, 192)
    message = checkpoint_error(tmp_path, state_dict)
    assert "shape mismatches (1): pos_embed (1, 5, 192) (expected (1, 17, 192)" in message


@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_truncated_checkpoint(tmp_path, kind):
    state_dict = tiny_timm(depth=1).state_dict()
    checkpoint = tmp_path / f"weights.{kind}"
    if kind == "safetensors":
        save_file(state_dict, checkpoint)
    else:
        torch.save(state_dict, checkpoint)
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated or corrupt") as error:
        read_checkpoint(checkpoint)
    assert str(checkpoint) in str(error.value)


def test_text_file_is_not_a_checkpoint(tmp_path):
    checkpoint = tmp_path / "notes.txt"
    checkpoint.write_text("these are not weights\n")
    with pytest.raises(ConversionError, match="is not a checkpoint: expected a safetensors file or a PyTorch") as error:
        read_checkpoint(checkpoint)
    assert str(checkpoint) in str(error.value)


def test_checkpoint_with_pickled_objects_is_not_unpickled(tmp_path):
    checkpoint = tmp_path / "train.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=0.1)}, checkpoint)
    with pytest.raises(ConversionError, match="weights_only=True"):
        read_checkpoint(checkpoint)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist.pth"):
        read_checkpoint(tmp_path / "does-not-exist.pth")


# --- sources ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["vit_tiny_patch16_224", "hf:google/vit", "timm:", "TIMM:vit_tiny_patch16_224"])
def test_unknown_source_form(tmp_path, source):
    with pytest.raises(ValueError, match="expected 'timm:<timm model name>'"):
        convert(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_timm_name_suggests_close_ones(tmp_path):
    with pytest.raises(ConversionError, match="Did you mean .*vit_tiny_patch16_224"):
        convert("timm:vit_tiny_patch16_244", tmp_path / "out")


def test_transformers_source_that_is_no_checkpoint_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        convert(f"transformers:{tmp_path / 'absent'}", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="has no config.json"):
        convert(f"transformers:{tmp_path / 'empty'}", tmp_path / "out")


def test_hub_id_that_cannot_be_downloaded(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConversionError, match="'hf-vits-tests/no-such-model' is no local folder, and downloading"):
        convert("transformers:hf-vits-tests/no-such-model", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_key_table_fuses_in_order_and_splits_back():
    table = KeyTable([KeyRule(("q", "k", "v"), "qkv"), KeyRule.rename("b", "bias")])
    source = {"q": torch.zeros(2, 3), "k": torch.ones(2, 3), "v": torch.full((2, 3), 2.0), "b": torch.arange(3.0)}
    target = table.convert(source)
    assert target["qkv"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    back = table.invert(target)
    assert all(torch.equal(back[key], source[key]) for key in source)
    with pytest.raises(ValueError, match="more than once"):
        KeyTable([KeyRule.rename("a", "x"), KeyRule.rename("a", "y")])
