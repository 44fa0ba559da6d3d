"""Export: a complete, self-describing Hub folder (config with `auto_map`, safetensors weights, processor config
with both backends, remote code, model card, the run's metrics and curves), written atomically and verified by
re-loading it where hf_vits cannot be imported."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoImageProcessor, AutoModelForImageClassification, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from ..conversion.common import (
    VERIFY_TOLERANCE,
    check_folder_complete,
    check_output_dir,
    max_abs_difference,
    staged_folder,
)
from ..registry import BACKENDS, Architecture
from .card import DEFAULT_LICENSE, architecture_for_model_type, render_model_card, validate_model_card
from .download import check_repo_id, resolve_model
from .training_summary import LOCAL_PATH_KEYS, METRICS_FILE, TrainingSummary, read_training_summary

logger = logging.getLogger(__name__)

# Weights are split into shards above this size: files the Hub and its CDN move comfortably, and the largest a
# machine must hold twice while loading.
DEFAULT_MAX_SHARD_SIZE = "5GB"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
CARD_FILE = "README.md"
# Generous: the probe imports torch and transformers and loads the weights, on whatever machine exports.
PROBE_TIMEOUT_S = 900
_PROBE_SOURCE = Path(__file__).with_name("reload_probe.py")


class ExportCheckError(ValueError):
    """A folder that is not a complete, loadable hf-vits export."""


@dataclass(frozen=True)
class ExportResult:
    """A written export folder and what its check measured."""

    folder: Path
    architecture: str
    max_abs_diff: float
    training: TrainingSummary | None


def export_model(
    source: str | Path,
    output_dir: str | Path,
    *,
    overwrite: bool = False,
    repo_id: str | None = None,
    license: str = DEFAULT_LICENSE,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    revision: str | None = None,
    check_image: Image.Image | None = None,
    fuse_batchnorm: bool = False,
) -> ExportResult:
    """Export the model of `source` (a folder, e.g. a training run's output, or a Hub repo id) into `output_dir` as a
    complete Hub folder with its model card, and verify it loads and predicts the same without hf-vits installed.
    With `fuse_batchnorm`, the model is exported in its inference form, every BatchNorm folded into the layer next
    to it (LeViT's `fuse()`), and checked against the model as it was."""
    if repo_id is not None:
        check_repo_id(repo_id)
    output_dir = check_output_dir(output_dir, overwrite)
    folder = resolve_model(source, revision)
    arch = check_model_files(folder)
    model, processors = load_model(folder)
    training = read_training_summary(folder)
    photo = check_image or sample_photo()
    expected = classify(model, processors, photo)
    if fuse_batchnorm:
        model = fused_model(model)
    with staged_folder(output_dir, overwrite) as staging:
        model.save_pretrained(staging, max_shard_size=max_shard_size)
        processors["torchvision"].save_pretrained(staging)
        check_folder_complete(staging, model, processors["torchvision"])
        _copy_training_files(folder, staging, training)
        card = render_model_card(
            arch.name,
            model=model,
            processor=processors["torchvision"],
            training=training,
            model_name=repo_id.split("/")[-1] if repo_id else output_dir.name,
            repo_id=repo_id,
            license=license,
        )
        (staging / CARD_FILE).write_text(card)
        max_abs_diff = verify_without_hf_vits(staging, expected, photo)
    logger.info("Exported %s to %s (max |Δ| without hf-vits: %.3g).", source, output_dir, max_abs_diff)
    return ExportResult(output_dir, arch.name, max_abs_diff, training)


def fused_model(model: PreTrainedModel) -> PreTrainedModel:
    """`model` with its BatchNorms folded for inference (its `fuse()`), or an ExportCheckError when it has none."""
    fuse = getattr(model, "fuse", None)
    if not callable(fuse):
        raise ExportCheckError(
            f"{type(model).__name__} has no BatchNorm folding (`fuse()`, e.g. LeViT's); export it without "
            "--fuse-batchnorm."
        )
    return fuse()


def check_export(folder: str | Path, check_image: Image.Image | None = None) -> float:
    """Raise an ExportCheckError unless `folder` is a complete export (files, `auto_map`s, a valid model card) that
    loads without hf-vits and predicts what hf-vits predicts; return the largest logit difference."""
    folder = Path(folder)
    check_model_files(folder)
    card = folder / CARD_FILE
    if not card.is_file():
        raise ExportCheckError(f"{folder} has no {CARD_FILE} (model card); export it with `hf-vits export`.")
    try:
        validate_model_card(card.read_text())
    except ValueError as error:
        raise ExportCheckError(f"{card}: {error}") from error
    model, processors = load_model(folder)
    check_folder_complete(folder, model, processors["torchvision"])
    photo = check_image or sample_photo()
    return verify_without_hf_vits(folder, classify(model, processors, photo), photo)


def check_model_files(folder: Path) -> Architecture:
    """The architecture of the model saved in `folder`, or an ExportCheckError naming what is missing or foreign:
    `config.json` of an hf-vits architecture, safetensors weights (every shard) and `preprocessor_config.json`."""
    if not folder.is_dir():
        raise ExportCheckError(f"{folder} is not a folder.")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ExportCheckError(f"{folder} has no config.json: it is not a saved model.")
    config = json.loads(config_file.read_text())
    arch = architecture_for_model_type(config.get("model_type"))
    if arch is None:
        classes = ", ".join(config.get("architectures") or []) or "no architectures listed"
        raise ExportCheckError(
            f"{config_file} is for model_type {config.get('model_type')!r} ({classes}), which is not an hf-vits "
            f"architecture; convert it first (`hf-vits convert transformers:{folder} OUT`)."
        )
    missing = _missing_weights(folder)
    if missing:
        raise ExportCheckError(f"{folder} has no weights: {missing}.")
    if not (folder / "preprocessor_config.json").is_file():
        raise ExportCheckError(f"{folder} has no preprocessor_config.json: save the image processor with the model.")
    return arch


def _missing_weights(folder: Path) -> str | None:
    """What is missing of the safetensors weights of `folder` (a single file, or an index and its shards)."""
    index = folder / WEIGHTS_INDEX_FILE
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
        absent = [shard for shard in shards if not (folder / shard).is_file()]
        if not shards:
            return f"{WEIGHTS_INDEX_FILE} lists no shards"
        return f"shards listed in {WEIGHTS_INDEX_FILE} are missing: {', '.join(absent)}" if absent else None
    return None if (folder / WEIGHTS_FILE).is_file() else f"neither {WEIGHTS_FILE} nor {WEIGHTS_INDEX_FILE}"


def load_model(folder: Path) -> tuple[PreTrainedModel, dict[str, BaseImageProcessor]]:
    """The classifier of `folder` (eval mode) and its image processor in each backend, through the Auto classes."""
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processors = {backend: AutoImageProcessor.from_pretrained(folder, backend=backend) for backend in BACKENDS}
    return model, processors


def sample_photo() -> Image.Image:
    """The photo the export check classifies: scikit-image's Chelsea the cat (451x300, RGB)."""
    try:
        from skimage import data
    except ImportError as error:
        raise ValueError(
            "The export check classifies scikit-image's sample photo, and scikit-image is not installed: "
            "`pip install scikit-image`, or give another photo (--check-image PATH)."
        ) from error
    return Image.fromarray(data.chelsea())


def classify(
    model: PreTrainedModel, processors: dict[str, BaseImageProcessor], photo: Image.Image
) -> dict[str, torch.Tensor]:
    """The logits of `photo` through each processor backend and `model`."""
    with torch.no_grad():
        return {
            backend: model(**processor(photo, return_tensors="pt")).logits.float()
            for backend, processor in processors.items()
        }


def verify_without_hf_vits(folder: Path, expected: dict[str, torch.Tensor], photo: Image.Image) -> float:
    """Load `folder` in a fresh interpreter where hf_vits cannot be imported (`trust_remote_code=True`), classify
    `photo` there, and raise an ExportCheckError unless the logits equal `expected` (fp32 tolerance)."""
    remote, report = reload_without_hf_vits(folder, photo)
    not_remote = [
        f"{role} is {loaded['module']}.{loaded['name']}"
        for role, loaded in report["classes"].items()
        if not loaded["module"].startswith("transformers_modules.")
    ]
    if not_remote or report["hf_vits_modules"]:
        raise ExportCheckError(
            f"{folder} did not load through its own code: {'; '.join(not_remote) or report['hf_vits_modules']}."
        )
    max_abs_diff = max_abs_difference({backend: (remote[backend], expected[backend]) for backend in expected})
    if not max_abs_diff <= VERIFY_TOLERANCE:
        raise ExportCheckError(
            f"{folder} loaded without hf-vits predicts differently: max |Δ| of the logits on the sample photo is "
            f"{max_abs_diff:.3g}, above the tolerance {VERIFY_TOLERANCE:g}."
        )
    return max_abs_diff


def reload_without_hf_vits(folder: Path, photo: Image.Image) -> tuple[dict[str, torch.Tensor], dict]:
    """The logits of `photo` per processor backend from `folder` loaded in a fresh interpreter where hf_vits cannot be
    imported, and the report of what was loaded there (see `reload_probe.py`)."""
    with tempfile.TemporaryDirectory(prefix="hf-vits-export-check-") as tmp:
        workdir = Path(tmp)
        photo.convert("RGB").save(workdir / "photo.png")
        # A private modules cache: the remote code loaded is this folder's, never a copy cached from elsewhere.
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(workdir / "modules")}
        command = [sys.executable, "-c", _PROBE_SOURCE.read_text(), str(folder.resolve()), "photo.png", str(workdir)]
        result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
        if result.returncode != 0:
            raise ExportCheckError(
                f"{folder} does not load without hf-vits installed (trust_remote_code=True):\n"
                f"{result.stderr.strip()[-3000:]}"
            )
        return load_file(workdir / "logits.safetensors"), json.loads((workdir / "report.json").read_text())


def _copy_training_files(source: Path, staging: Path, training: TrainingSummary | None) -> None:
    """Copy the run's metrics.json (without the training machine's paths) and the curves the card shows."""
    if training is None:
        return
    metrics = json.loads((source / METRICS_FILE).read_text())
    if isinstance(metrics.get("config"), dict):
        metrics["config"] = {key: value for key, value in metrics["config"].items() if key not in LOCAL_PATH_KEYS}
    (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    for plot in training.plots:
        (staging / plot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / plot, staging / plot)
