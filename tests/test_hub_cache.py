"""The Hub code paths of `convert`, exercised offline against a populated Hugging Face cache.

`hf-vits convert timm:<name>` without `--checkpoint` and `hf-vits convert transformers:<owner/name>` fetch
from the Hub; with `HF_HUB_OFFLINE=1` and the files already in the cache they must resolve from it, as they
do for a user who downloaded them before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from transformers import ViTConfig, ViTForImageClassification

COMMIT = "0123456789abcdef0123456789abcdef01234567"

_CONVERT = """
import sys
from hf_vits.conversion import convert
convert(sys.argv[1], sys.argv[2])
"""


def cache_snapshot(cache: Path, repo_id: str) -> Path:
    """The snapshot folder of `repo_id` at `main` in a Hub cache laid out as huggingface_hub writes it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    return snapshot


def convert_offline(source: str, output: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(cache.parent)}
    return subprocess.run(
        [sys.executable, "-c", _CONVERT, source, str(output)], env=env, capture_output=True, text=True, timeout=300
    )


def test_transformers_hub_id_from_the_cache(tmp_path):
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    reference = ViTForImageClassification(config).eval()
    snapshot = cache_snapshot(tmp_path / "hub", "acme/tiny-vit")
    reference.save_pretrained(snapshot)

    result = convert_offline("transformers:acme/tiny-vit", tmp_path / "out", tmp_path / "hub")
    assert result.returncode == 0, result.stderr

    converted = json.loads((tmp_path / "out" / "config.json").read_text())
    assert converted["model_type"] == "hfvits_vit" and converted["layer_norm_eps"] == 1e-12
    ours = load_file(tmp_path / "out" / "model.safetensors")
    theirs = reference.state_dict()
    torch.testing.assert_close(ours["classifier.weight"], theirs["classifier.weight"], atol=0, rtol=0)


def test_transformers_hub_id_missing_from_the_cache_is_a_clear_error(tmp_path):
    (tmp_path / "hub").mkdir()
    result = convert_offline("transformers:acme/absent", tmp_path / "out", tmp_path / "hub")
    assert result.returncode != 0
    assert "'acme/absent' is no local folder, and downloading it from the Hugging Face Hub failed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_timm_pretrained_weights_from_the_cache(tmp_path):
    torch.manual_seed(0)
    reference = timm.create_model("deit_tiny_patch16_224", pretrained=False)
    repo_id = reference.pretrained_cfg["hf_hub_id"]
    snapshot = cache_snapshot(tmp_path / "hub", repo_id)
    save_file(reference.state_dict(), str(snapshot / "model.safetensors"))

    result = convert_offline("timm:deit_tiny_patch16_224", tmp_path / "out", tmp_path / "hub")
    assert result.returncode == 0, result.stderr

    ours = load_file(tmp_path / "out" / "model.safetensors")
    torch.testing.assert_close(ours["deit.embeddings.cls_token"], reference.cls_token, atol=0, rtol=0)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["id2label"]["0"].startswith("tench")
