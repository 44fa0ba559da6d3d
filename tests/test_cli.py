"""The `hf-vits` command line: list, info, predict and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import hf_vits
from hf_vits.cli import main

TINY = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny DeiT classifier with named labels, saved with its processor."""
    folder = tmp_path_factory.mktemp("model")
    labels = ["cat", "coffee", "rocket"]
    model = hf_vits.create_model(
        "deit-tiny-patch16-224",
        intermediate_size=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **TINY,
    )
    model.save_pretrained(folder)
    hf_vits.create_image_processor("deit-tiny-patch16-224", image_size=32).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


def test_list_shows_every_variant_with_figures(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for variant in hf_vits.list_variants():
        assert variant.name in out
    row = next(line for line in out.splitlines() if line.startswith("deit-small-distilled-patch16-224 "))
    assert row.split()[2:5] == ["22.4", "4.6", "81.2"]


def test_list_filters_by_architecture(capsys):
    assert main(["list", "--architecture", "deit"]) == 0
    out = capsys.readouterr().out
    assert "deit-tiny-patch16-224" in out and "vit-base-patch16-224" not in out


def test_info_counts_parameters_on_meta_device(capsys):
    assert main(["info", "vit-huge-patch14-224"]) == 0
    out = capsys.readouterr().out
    assert '"params_m_counted": 632.05' in out, "the 1000-class model the paper counts (632.0M)"
    assert '"model_type": "hfvits_vit"' in out


def test_info_unknown_variant_suggests_names(capsys):
    assert main(["info", "deit-smal"]) == 2
    err = capsys.readouterr().err
    assert "Unknown variant 'deit-smal'" in err and "deit-small-patch16-224" in err


def test_predict_prints_top_k_from_id2label(model_dir, photo, capsys):
    assert main(["predict", str(model_dir), str(photo), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(photo)
    scored = [line.split() for line in lines[1:]]
    assert len(scored) == 2
    assert {label for _, label in scored} <= {"cat", "coffee", "rocket"}
    scores = [float(score) for score, _ in scored]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0


def test_predict_scales_16_bit_like_its_8_bit_twin(model_dir, tmp_path, capsys):
    gray = np.asarray(Image.fromarray(data.camera()))
    path8, path16 = tmp_path / "camera8.png", tmp_path / "camera16.png"
    Image.fromarray(gray).save(path8)
    Image.fromarray(gray.astype(np.uint16) * 257).save(path16)
    assert Image.open(path16).mode.startswith("I")
    assert main(["predict", str(model_dir), str(path8), str(path16), "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(path8) and lines[4] == str(path16)
    assert lines[1:4] == lines[5:8]


def test_predict_missing_image_is_a_clear_error(model_dir, tmp_path, capsys):
    missing = tmp_path / "nope.jpg"
    assert main(["predict", str(model_dir), str(missing)]) == 2
    assert f"{missing}: no such image file." in capsys.readouterr().err


def test_predict_non_image_is_a_clear_error(model_dir, tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert main(["predict", str(model_dir), str(text)]) == 2
    err = capsys.readouterr().err
    assert f"{text}: not a readable image" in err


def test_bench_rejects_unknown_models(capsys):
    assert main(["bench", "--models", "vit-giant"]) == 2
    assert "No benchmark pairing" in capsys.readouterr().err


def test_convert_writes_a_verified_folder(tmp_path, caplog):
    import timm
    from safetensors.torch import save_file
    from transformers import AutoModelForImageClassification

    checkpoint = tmp_path / "deit.safetensors"
    reference = timm.create_model("deit_tiny_distilled_patch16_224", num_classes=4).eval()
    save_file(reference.state_dict(), str(checkpoint))
    output = tmp_path / "converted"
    with caplog.at_level("INFO", logger="hf_vits"):
        code = main(["convert", "timm:deit_tiny_distilled_patch16_224", str(output), "--checkpoint", str(checkpoint)])
    assert code == 0
    assert "max |Δ| = 0" in caplog.text
    model = AutoModelForImageClassification.from_pretrained(output).eval()
    assert model.config.use_distillation_token and model.config.num_labels == 4
    pixel_values = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values).logits, reference(pixel_values), atol=1e-4, rtol=0)


def test_convert_refuses_an_existing_folder_without_overwrite(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert main(["convert", "timm:deit_tiny_patch16_224", str(tmp_path / "out"), "--checkpoint", "x"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_convert_unknown_source_form(tmp_path, capsys):
    assert main(["convert", "torchhub:vit", str(tmp_path / "out")]) == 2
    assert "expected 'timm:<timm model name>'" in capsys.readouterr().err


def test_export_check_image_must_be_an_image(model_dir, tmp_path, capsys):
    text = tmp_path / "photo.png"
    text.write_text("not an image")
    assert main(["export", str(model_dir), "--to", str(tmp_path / "out"), "--check-image", str(text)]) == 2
    assert f"{text}: not a readable image" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
