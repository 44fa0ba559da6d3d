"""The Accelerate trainer: learning, exact resume, two processes, distillation, the recipe's pieces and bad input."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.nn import functional as F
from transformers import pipeline

import hf_vits
from hf_vits.cli import main
from hf_vits.training import TrainingConfig, train
from hf_vits.training.augmentation import BatchMixer, train_transform
from hf_vits.training.checkpoints import STATE_FILE
from hf_vits.training.data import load_training_data
from hf_vits.training.distillation import distillation_loss, load_teacher
from hf_vits.training.loaders import AugmentedImages, EpochSampler
from hf_vits.training.optim import parameter_groups, peak_learning_rate, warmup_cosine
from hf_vits.training.report import TIMING_KEYS

TINY = {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 3, "intermediate_size": 96}
# A quiet recipe for tiny, fast runs; tests that exercise the random augmentations switch them on.
QUICK = {
    "model": "deit-tiny-patch16-224",
    "dataset": "digits",
    "image_size": 16,
    "patch_size": 4,
    "model_overrides": TINY,
    "batch_size": 32,
    "lr": 3.2e-2,
    "label_smoothing": 0.0,
    "warmup_epochs": 0.5,
    "repeated_augmentation": 1,
    "randaugment_ops": 0,
    "hflip": 0.0,
    "random_erasing": 0.0,
    "mixup_prob": 0.0,
    "crop_scale": (0.7, 1.0),
    "drop_path": 0.0,
    "log_every_steps": 5,
}
TRAIN_FLAGS = [
    "--model", "deit-tiny-patch16-224", "--image-size", "16", "--patch-size", "4",
    "--model-overrides", *(f"{key}={value}" for key, value in TINY.items()),
    "--batch-size", "32", "--lr", "3.2e-2", "--label-smoothing", "0", "--warmup-epochs", "0.5",
    "--repeated-augmentation", "1", "--randaugment-ops", "0", "--hflip", "0", "--random-erasing", "0",
    "--mixup-prob", "0", "--drop-path", "0",
]  # fmt: skip


def quick_config(output_dir: Path, **overrides) -> TrainingConfig:
    return TrainingConfig(**{**QUICK, "output_dir": str(output_dir), **overrides})


def without_timing(history: list[dict]) -> list[dict]:
    return [{key: value for key, value in epoch.items() if key not in TIMING_KEYS} for epoch in history]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DeiT trained for 6 epochs on digits; several tests read its export."""
    return train(quick_config(tmp_path_factory.mktemp("run") / "out", epochs=6))


# --- a run learns, and leaves a complete folder -------------------------------------------------------------


def test_training_learns_digits(trained):
    history = trained.history
    assert [epoch["epoch"] for epoch in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.8
    assert trained.metrics["eval_top1"] > 50, "chance is 10%"
    assert trained.metrics["eval_top5"] >= trained.metrics["eval_top1"]


def test_export_is_a_complete_hub_folder(trained):
    folder = trained.output_dir
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "modeling_deit.py", "metrics.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(d): str(d) for d in range(10)}
    assert config["label2id"] == {str(d): d for d in range(10)}
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_deit.ZooDeiTForImageClassification"
    assert json.loads((folder / "preprocessor_config.json").read_text())["crop_size"] == {"height": 16, "width": 16}


def test_export_has_a_model_card_with_the_runs_own_results(trained):
    from huggingface_hub import ModelCard

    card = ModelCard.load(trained.output_dir / "README.md")
    final_top1 = json.loads((trained.output_dir / "metrics.json").read_text())["final"]["eval_top1"]
    results = card.data.eval_results
    top1 = [result for result in results if result.metric_type == "accuracy"]
    assert top1 and top1[0].dataset_type == "digits"
    assert top1[0].metric_value == pytest.approx(final_top1, abs=0.01)


def test_metrics_json_has_every_epoch_and_the_final_figures(trained):
    metrics = json.loads((trained.output_dir / "metrics.json").read_text())
    assert metrics["model"] == "deit-tiny-patch16-224" and metrics["eval_split"] == "test"
    assert metrics["train_images"] == 1437 and metrics["eval_images"] == 360
    assert metrics["peak_lr"] == pytest.approx(3.2e-2 * 32 / 512)
    assert len(metrics["epochs"]) == 6
    for key in ("train_loss", "eval_loss", "eval_top1", "eval_top5", "lr", "images_per_s", "epoch_seconds"):
        assert all(key in epoch for epoch in metrics["epochs"]), key
    assert metrics["final"]["eval_top1"] == metrics["epochs"][-1]["eval_top1"]
    assert metrics["final"]["epochs"] == 6 and metrics["final"]["step"] == 6 * (1437 // 32)
    assert metrics["epochs"][-1]["lr"] == pytest.approx(1e-5), "the cosine ends at min_lr"


def test_plots_tensorboard_and_checkpoints_are_written(trained):
    folder = trained.output_dir
    assert sorted(path.name for path in trained.plots) == ["accuracy.png", "learning_rate.png", "loss.png"]
    for path in trained.plots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((folder / "logs").rglob("events.out.tfevents.*"))
    checkpoints = folder / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last", "step-00000220", "step-00000264"]
    assert (checkpoints / "last").resolve() == (checkpoints / "step-00000264").resolve()
    state = json.loads((checkpoints / "last" / STATE_FILE).read_text())
    assert state["epoch"] == 6 and state["global_step"] == 264 and len(state["history"]) == 6


def test_export_loads_with_the_pipeline_and_evaluates_to_the_same_figures(trained, capsys):
    classifier = pipeline("image-classification", model=str(trained.output_dir))
    assert type(classifier.model).__name__ == "ZooDeiTForImageClassification"
    digits = load_training_data("digits").eval
    sample = digits.select(range(20))
    predictions = classifier([row["image"] for row in sample], top_k=3)
    assert all(prediction[0]["label"] in {str(d) for d in range(10)} for prediction in predictions)
    hits = sum(prediction[0]["label"] == str(row["label"]) for prediction, row in zip(predictions, sample, strict=True))
    assert hits >= 10

    assert main(["evaluate", str(trained.output_dir), "--dataset", "digits", "--split", "test"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["images"] == 360
    assert evaluated["top1"] == pytest.approx(trained.metrics["eval_top1"], abs=1e-4)
    assert evaluated["loss"] == pytest.approx(trained.metrics["eval_loss"], abs=1e-4)


# --- resume -------------------------------------------------------------------------------------------------


def test_resume_is_exact_from_mid_epoch_and_epoch_end(tmp_path):
    """Every random part of the recipe on (augmentations, mixing, stochastic depth, repeated augmentation, EMA,
    accumulation): a run resumed from a copied checkpoint ends with the same weights and metrics."""
    recipe = {
        "epochs": 2,
        "batch_size": 96,
        "grad_accum_steps": 2,
        "randaugment_ops": 2,
        "hflip": 0.5,
        "random_erasing": 0.25,
        "repeated_augmentation": 3,
        "mixup_prob": 1.0,
        "drop_path": 0.1,
        "ema": True,
        "ema_decay": 0.9,
        "checkpoint_every_steps": 5,
        "keep_checkpoints": 10,
    }
    straight = train(quick_config(tmp_path / "straight", **recipe))
    checkpoints = tmp_path / "straight" / "checkpoints"
    steps_per_epoch = 1437 // 48 // 2 + 1  # 29 micro-batches, 15 optimizer steps
    assert (checkpoints / "step-00000010").is_dir() and (checkpoints / f"step-{steps_per_epoch:08d}").is_dir()
    final_weights = load_file(tmp_path / "straight" / "model.safetensors")
    final_ema = load_file(tmp_path / "straight" / "ema" / "model.safetensors")

    for step in (10, steps_per_epoch):
        # A crashed run leaves only its checkpoints: resume from a copy, in a folder of its own.
        crashed = tmp_path / f"crashed-{step}"
        shutil.copytree(checkpoints / f"step-{step:08d}", crashed / "checkpoints" / f"step-{step:08d}")
        resumed = train(quick_config(crashed, **recipe, resume=str(crashed / "checkpoints" / f"step-{step:08d}")))
        assert without_timing(resumed.history) == without_timing(straight.history), step
        weights = load_file(crashed / "model.safetensors")
        assert all(torch.equal(weights[key], final_weights[key]) for key in final_weights), step
        ema = load_file(crashed / "ema" / "model.safetensors")
        assert all(torch.equal(ema[key], final_ema[key]) for key in final_ema), step


def test_resume_from_another_model_is_refused(trained, tmp_path, capsys):
    last = str(trained.output_dir / "checkpoints" / "last")
    out = str(tmp_path / "out")
    assert main(["train", *TRAIN_FLAGS, "--model", "vit-tiny-patch16-224", "--resume", last, "--output-dir", out]) == 2
    assert "is a checkpoint of deit-tiny-patch16-224, not of vit-tiny-patch16-224" in capsys.readouterr().err

    wider = [*TRAIN_FLAGS, "--model-overrides", "hidden_size=96", "--resume", last, "--output-dir", out]
    assert main(["train", *wider]) == 2
    assert "with other shapes than this run builds" in capsys.readouterr().err

    assert main(["train", *TRAIN_FLAGS, "--resume", str(trained.output_dir), "--output-dir", out]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


# --- two processes --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_match_one_process_at_the_same_global_batch(tmp_path):
    flags = [*TRAIN_FLAGS, "--epochs", "2", "--cpu"]
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
        "-m", "hf_vits.cli", "train", *flags, "--output-dir", str(tmp_path / "two"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    result = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Exported ") == 1, "one export, by the main process"
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["num_processes"] == 2
    assert sorted(path.name for path in (tmp_path / "two" / "checkpoints" / "last").glob("random_states_*")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]

    assert main(["train", *flags, "--output-dir", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert one["num_processes"] == 1
    # Same images, augmentations and global batches; only the order of floating-point sums differs.
    for epoch_one, epoch_two in zip(one["epochs"], two["epochs"], strict=True):
        assert epoch_two["step"] == epoch_one["step"]
        assert epoch_two["train_loss"] == pytest.approx(epoch_one["train_loss"], abs=1e-4)
        assert epoch_two["eval_loss"] == pytest.approx(epoch_one["eval_loss"], abs=1e-4)
        assert abs(epoch_two["eval_top1"] - epoch_one["eval_top1"]) <= 0.6, "at most two of 360 images"
    # Weights are compared through what they compute: AdamW turns the float noise on gradients that should be
    # zero (the key bias, which softmax ignores) into full-size steps, so single weights may differ.
    images = [row["image"] for row in load_training_data("digits").eval.select(range(64))]
    logits = []
    for run in ("one", "two"):
        classifier = pipeline("image-classification", model=str(tmp_path / run))
        with torch.no_grad():
            pixel_values = classifier.image_processor(images, return_tensors="pt")["pixel_values"]
            logits.append(classifier.model(pixel_values).logits)
    torch.testing.assert_close(logits[1], logits[0], atol=1e-3, rtol=1e-3)


# --- distillation ---------------------------------------------------------------------------------------------


def test_distillation_loss_terms():
    torch.manual_seed(0)
    cls_logits, distillation_logits, teacher_logits = torch.randn(3, 8, 10).unbind(0)
    labels = torch.randint(0, 10, (8,))
    outputs = SimpleNamespace(
        logits=(cls_logits + distillation_logits) / 2, cls_logits=cls_logits, distillation_logits=distillation_logits
    )
    hard = TrainingConfig(distillation_type="hard", label_smoothing=0.0)
    total, label_term, distill_term = distillation_loss(outputs, labels, teacher_logits, hard)
    assert label_term == pytest.approx(F.cross_entropy(cls_logits, labels).item())
    assert distill_term == pytest.approx(F.cross_entropy(distillation_logits, teacher_logits.argmax(-1)).item())
    assert total == pytest.approx(0.5 * label_term.item() + 0.5 * distill_term.item())

    soft = TrainingConfig(distillation_type="soft", distillation_tau=3.0, distillation_alpha=0.1, label_smoothing=0.0)
    total, label_term, soft_term = distillation_loss(outputs, labels, teacher_logits, soft)
    student, teacher = (torch.log_softmax(logits / 3.0, -1) for logits in (distillation_logits, teacher_logits))
    assert soft_term == pytest.approx(((teacher.exp() * (teacher - student)).sum(-1).mean() * 9.0).item(), rel=1e-5)
    assert total == pytest.approx(0.9 * label_term.item() + 0.1 * soft_term.item())
    _, _, agreeing = distillation_loss(outputs, labels, distillation_logits, soft)
    assert agreeing == pytest.approx(0.0, abs=1e-6), "no soft distillation loss when the student agrees"

    plain = SimpleNamespace(logits=cls_logits)  # a student without a distillation head distils through its one head
    _, label_term, distill_term = distillation_loss(plain, labels, teacher_logits, hard)
    assert distill_term == pytest.approx(F.cross_entropy(cls_logits, teacher_logits.argmax(-1)).item())


def test_distillation_hard_and_soft_train_a_distilled_student(trained, tmp_path):
    runs = {}
    for kind in ("hard", "soft"):
        config = quick_config(
            tmp_path / kind,
            model="deit-tiny-distilled-patch16-224",
            epochs=1,
            teacher=str(trained.output_dir),
            distillation_type=kind,
            distillation_tau=2.0,
        )
        runs[kind] = train(config)
        epoch = runs[kind].history[0]
        assert epoch["train_label_loss"] > 0 and epoch["train_distillation_loss"] > 0, kind
        expected = 0.5 * epoch["train_label_loss"] + 0.5 * epoch["train_distillation_loss"]
        assert epoch["train_loss"] == pytest.approx(expected, abs=1e-5), kind
    hard, soft = (runs[kind].history[0] for kind in ("hard", "soft"))
    assert hard["train_label_loss"] != soft["train_label_loss"], "the two modes train different students"
    assert hard["train_distillation_loss"] != pytest.approx(soft["train_distillation_loss"], rel=1e-2)

    classifier = pipeline("image-classification", model=str(tmp_path / "hard"))
    assert classifier.model.config.use_distillation_token
    outputs = classifier.model(pixel_values=torch.zeros(1, 3, 16, 16))
    assert outputs.distillation_logits is not None and outputs.cls_logits is not None
    predictions = classifier(Image.fromarray(np.zeros((8, 8), np.uint8)), top_k=3)
    assert len(predictions) == 3 and predictions[0]["label"] in {str(d) for d in range(10)}


def test_timm_teacher_sees_its_own_normalisation_and_resolution(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = timm.create_model("resnet10t", pretrained=False, num_classes=10).eval()
    checkpoint = tmp_path / "resnet10t.safetensors"
    save_file(reference.state_dict(), str(checkpoint))
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    teacher = load_teacher("timm:resnet10t", str(checkpoint), [str(d) for d in range(10)], mean, std)
    pixels = torch.rand(2, 3, 16, 16)
    student_view = (pixels - 0.5) / 0.25
    imagenet = timm.data.resolve_data_config(model=reference)
    teacher_view = (pixels - torch.tensor(imagenet["mean"]).view(1, 3, 1, 1)) / torch.tensor(imagenet["std"]).view(
        1, 3, 1, 1
    )
    size = imagenet["input_size"][-2:]
    assert teacher.resolution == size != (16, 16)
    teacher_view = F.interpolate(teacher_view, size=size, mode="bicubic", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(teacher(student_view), reference(teacher_view), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="does not fit timm:resnet10t with the dataset's 3 classes"):
        load_teacher("timm:resnet10t", str(checkpoint), ["a", "b", "c"], mean, std)


# --- the recipe's pieces ----------------------------------------------------------------------------------------


def test_no_weight_decay_on_norms_biases_position_embeddings_and_tokens():
    model = hf_vits.create_model("deit-tiny-distilled-patch16-224", num_labels=10, image_size=16, patch_size=4, **TINY)
    decayed, undecayed = parameter_groups(model, weight_decay=0.05)
    names = {id(param): name for name, param in model.named_parameters()}
    undecayed_names = {names[id(param)] for param in undecayed["params"]}
    decayed_names = {names[id(param)] for param in decayed["params"]}
    assert undecayed["weight_decay"] == 0.0 and decayed["weight_decay"] == 0.05
    assert {
        "deit.embeddings.cls_token",
        "deit.embeddings.distillation_token",
        "deit.embeddings.position_embeddings",
    } <= undecayed_names
    assert all(name.endswith(("bias", "token", "embeddings")) or "norm" in name for name in undecayed_names)
    assert all(name.endswith("weight") and "norm" not in name for name in decayed_names)
    assert len(decayed_names) + len(undecayed_names) == len(list(model.parameters()))


def test_learning_rate_scales_with_batch_and_follows_warmup_then_cosine():
    assert peak_learning_rate(TrainingConfig(batch_size=1024)) == pytest.approx(1e-3)
    assert peak_learning_rate(TrainingConfig(batch_size=256, scale_lr=False, lr=3e-4)) == pytest.approx(3e-4)
    rates = [warmup_cosine(step, 10, 110, 1e-6, 1e-3, 1e-5) for step in range(111)]
    assert rates[0] == pytest.approx(1e-6) and rates[10] == pytest.approx(1e-3) and rates[110] == pytest.approx(1e-5)
    assert rates[60] == pytest.approx((1e-3 + 1e-5) / 2)
    assert all(a < b for a, b in zip(rates[:10], rates[1:11], strict=True))
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))


def test_epoch_order_and_augmentation_depend_only_on_seed_epoch_and_position():
    sampler = EpochSampler(num_images=10, repeats=3, seed=0)
    first = list(sampler)
    assert len(first) == 10 and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    # Repeated augmentation: consecutive copies of one image, each a distinct virtual index.
    assert [index % 10 for index in first[:3]] == [first[0] % 10] * 3 and len(set(first[:3])) == 3

    split = load_training_data("digits").train.select(range(4))
    config = TrainingConfig(randaugment_ops=2, random_erasing=0.5)
    images = AugmentedImages(split, train_transform(config, (16, 16), (0.5,) * 3, (0.5,) * 3), repeats=3, seed=0)
    item = images[1]["pixel_values"]
    torch.manual_seed(123)  # the global random state plays no part
    assert torch.equal(images[1]["pixel_values"], item)
    assert not torch.equal(images[1 + 4]["pixel_values"], item), "another copy, another augmentation"
    images.set_epoch(1)
    assert not torch.equal(images[1]["pixel_values"], item)
    assert item.shape == (3, 16, 16) and images[1]["labels"] == split[1]["label"]


def test_batch_mixer_gives_smoothed_soft_targets():
    config = TrainingConfig(mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0, label_smoothing=0.1)
    mixer = BatchMixer(config, num_classes=10)
    torch.manual_seed(0)
    pixel_values, labels = torch.randn(8, 3, 16, 16), torch.arange(8)
    mixed, targets = mixer(pixel_values, labels)
    assert targets.shape == (8, 10)
    torch.testing.assert_close(targets.sum(-1), torch.ones(8))
    assert targets.min() >= 0.01 - 1e-6 and not torch.equal(mixed, pixel_values)
    assert (targets > 0.05).sum(-1).max() == 2, "each image mixes two classes"


def test_yaml_recipe_and_flags(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 3\nlr: 0.001\nmodel_overrides:\n  hidden_size: 64\n")
    config = TrainingConfig.from_sources(recipe, epochs=1, model_overrides={"num_hidden_layers": 2}, lr=None)
    assert config.epochs == 1 and config.lr == 0.001 and config.weight_decay == 0.05
    assert config.model_overrides == {"hidden_size": 64, "num_hidden_layers": 2}
    recipe.write_text("epoch: 3\n")
    with pytest.raises(ValueError, match="unknown training option.*epoch"):
        TrainingConfig.from_sources(recipe)
    with pytest.raises(ValueError, match="`mixup_prob` must be in"):
        TrainingConfig(mixup_prob=1.5)


# --- bad input --------------------------------------------------------------------------------------------------


def _image_folder(root: Path, classes: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / name / f"{index}.jpg")
    return root


def test_missing_dataset_paths_are_clear_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["train", *TRAIN_FLAGS, "--dataset", f"imagefolder:{tmp_path / 'nowhere'}", "--output-dir", out]) == 2
    assert f"{tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
    assert main(["train", *TRAIN_FLAGS, "--dataset", str(tmp_path / "saved"), "--output-dir", out]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["train", *TRAIN_FLAGS, "--dataset", str(tmp_path / "plain"), "--output-dir", out]) == 2
    assert "not a dataset written by save_to_disk; for a folder of images use imagefolder:" in capsys.readouterr().err


def test_corrupt_jpeg_is_named_and_skipped_on_request(tmp_path, capsys, caplog):
    folder = _image_folder(tmp_path / "images", {"cat": 12, "dog": 12})
    (folder / "dog" / "broken.jpg").write_bytes((folder / "dog" / "0.jpg").read_bytes()[:200])
    flags = [*TRAIN_FLAGS, "--dataset", f"imagefolder:{folder}", "--epochs", "1", "--batch-size", "8"]
    assert main(["train", *flags, "--output-dir", str(tmp_path / "failed")]) == 2
    error = capsys.readouterr().err
    assert "1 unreadable image(s) in the train split: broken.jpg" in error and "--bad-images skip" in error

    assert main(["train", *flags, "--bad-images", "skip", "--output-dir", str(tmp_path / "skipped")]) == 0
    assert "Skipped 1 unreadable image(s): broken.jpg" in caplog.text
    metrics = json.loads((tmp_path / "skipped" / "metrics.json").read_text())
    assert metrics["train_images"] + metrics["eval_images"] == 24, "the broken file left out, the rest kept"
    assert [name.split()[0] for name in metrics["skipped_images"]] == ["broken.jpg"]
    config = json.loads((tmp_path / "skipped" / "config.json").read_text())
    assert config["id2label"] == {"0": "cat", "1": "dog"}


def test_empty_class_folder_is_refused(tmp_path, capsys):
    folder = _image_folder(tmp_path / "images", {"cat": 3, "dog": 3})
    (folder / "bird").mkdir()
    assert main(["train", *TRAIN_FLAGS, "--dataset", f"imagefolder:{folder}", "--output-dir", str(tmp_path / "o")]) == 2
    assert f"{folder / 'bird'}: empty class folder" in capsys.readouterr().err


def test_unknown_model_lists_close_names(tmp_path, capsys):
    assert main(["train", *TRAIN_FLAGS, "--model", "deit-tiny-patch16", "--output-dir", str(tmp_path / "o")]) == 2
    assert "Did you mean deit-tiny-patch16-224" in capsys.readouterr().err
    assert main(["train", *TRAIN_FLAGS, "--model", "deit-tiny-patch16-244", "--output-dir", str(tmp_path / "o")]) == 2
    assert "deit-tiny-patch16-224" in capsys.readouterr().err
    assert not (tmp_path / "o").exists(), "nothing written"


def test_existing_output_dir_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    flags = [*TRAIN_FLAGS, "--epochs", "1", "--output-dir", str(out)]
    assert main(["train", *flags]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"
    assert main(["train", *flags, "--overwrite", "--teacher", str(tmp_path / "no-teacher")]) == 2
    assert "no-teacher: not a model folder or Hub id" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me", "a refused run clears nothing"
    assert main(["train", *flags, "--overwrite"]) == 0
    assert not (out / "precious.txt").exists() and (out / "model.safetensors").is_file()
    assert main(["train", *flags, "--overwrite", "--resume", str(out / "checkpoints" / "last")]) == 2
    assert "pass one of them" in capsys.readouterr().err
