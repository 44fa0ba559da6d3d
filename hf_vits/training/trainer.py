"""The training loop: Accelerate, any architecture of the zoo, DeiT's recipe.

The same code runs on a CPU, a GPU, or many processes under `accelerate launch` (DDP; FSDP and DeepSpeed through
Accelerate's own config). `--batch-size` is the global batch of one optimizer step: Accelerate splits each
loader batch across the processes, and the loader yields batch / accumulation images per micro-step, so a
recipe trains the same whatever the hardware. Every random choice of a step is seeded by (seed, epoch, batch,
process), which makes a resumed run repeat exactly what an uninterrupted one does.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm
from transformers import PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from hf_vits.hub.card import architecture_for_model_type, render_model_card
from hf_vits.hub.training_summary import read_training_summary
from hf_vits.registry import create_image_processor, create_model, get_variant

from .augmentation import BatchMixer, classification_loss, train_transform
from .checkpoints import (
    TrainerState,
    checkpoint_name,
    checkpoints_dir,
    point_last_to,
    prune,
    read_state,
    write_state,
)
from .config import TrainingConfig
from .data import load_training_data
from .distillation import distillation_loss, load_teacher
from .loaders import derived_seed, eval_loader, processor_resolution, train_loader
from .optim import build_optimizer, peak_learning_rate
from .report import final_metrics, write_metrics, write_plots

logger = get_logger(__name__)


@dataclass
class TrainingResult:
    """What `train` leaves: the export folder, the final metrics, every epoch's metrics and the plot files."""

    output_dir: Path
    metrics: dict
    history: list[dict]
    plots: list[Path]


def train(config: TrainingConfig) -> TrainingResult:
    """Train `config.model` on `config.dataset` and export it, Hub-ready, into `config.output_dir`."""
    if not config.output_dir:
        raise ValueError("An output folder is required (--output-dir).")
    if get_variant(config.model).task != "image-classification":
        raise ValueError(
            f"hf-vits train trains image classifiers; {config.model} is a {get_variant(config.model).task} variant."
        )
    output_dir = Path(config.output_dir).expanduser()
    resume = read_state(config.resume) if config.resume else None
    if resume is not None:
        resume[1].check_model_name(config.model, resume[0])
    _check_output_dir(output_dir, config)
    with accelerator_session(
        cpu=config.cpu,
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.grad_accum_steps,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    ) as accelerator:
        return TrainingRun(config, accelerator, output_dir, resume).fit()


@contextmanager
def accelerator_session(**kwargs) -> Iterator[Accelerator]:
    """An Accelerator that splits each loader batch across the processes, and is forgotten on exit.

    Accelerate keeps its state process-wide and refuses a second Accelerator with other settings; clearing it
    on exit lets one Python process (a notebook, a test session) train and evaluate several times."""
    accelerator = Accelerator(dataloader_config=DataLoaderConfiguration(split_batches=True), **kwargs)
    try:
        yield accelerator
    finally:
        accelerator.end_training()
        AcceleratorState._reset_state()
        GradientState._reset_state()


def _check_output_dir(output_dir: Path, config: TrainingConfig) -> None:
    """Refuse to write into a non-empty folder unless the run overwrites or resumes it."""
    if config.resume:
        if config.overwrite:
            raise ValueError("--resume continues an output folder and --overwrite replaces it: pass one of them.")
        return
    if output_dir.is_file() or (output_dir.is_dir() and any(output_dir.iterdir()) and not config.overwrite):
        raise FileExistsError(
            f"{output_dir} exists; pass --overwrite to replace it, or --resume {output_dir}/checkpoints/last "
            "to continue its training."
        )


def build_model(config: TrainingConfig, label_names: list[str]) -> PreTrainedModel:
    """The zoo variant with the dataset's classes and the recipe's overrides, randomly initialised."""
    overrides = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: index for index, name in enumerate(label_names)},
        "drop_path_rate": config.drop_path,
    }
    if config.image_size is not None:
        overrides["image_size"] = config.image_size
    if config.patch_size is not None:
        overrides["patch_size"] = config.patch_size
    overrides.update(config.model_overrides)
    return create_model(config.model, **overrides)


def build_processor(config: TrainingConfig, model: PreTrainedModel) -> BaseImageProcessor:
    """The variant's evaluation processor at the model's resolution (same crop ratio as the paper's)."""
    image_size = config.model_overrides.get("image_size", config.image_size)
    processor = create_image_processor(config.model, image_size=image_size)
    model_size = getattr(model.config, "image_size", None)
    if model_size is not None:
        expected = (model_size, model_size) if isinstance(model_size, int) else tuple(model_size)
        if processor_resolution(processor) != expected:
            raise ValueError(
                f"The image processor gives {processor_resolution(processor)} pixels, the model expects {expected}."
            )
    return processor


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader, accelerator: Accelerator, num_classes: int
) -> dict[str, float]:
    """Mean cross-entropy, top-1 and top-5 (%) over a prepared loader, gathered from every process."""
    model.eval()
    k = min(5, num_classes)
    loss_sum = correct1 = correctk = count = 0.0
    for batch in tqdm(loader, desc="eval", leave=False, disable=not accelerator.is_local_main_process):
        with accelerator.autocast():
            logits = model(pixel_values=batch["pixel_values"]).logits
        logits, labels = accelerator.gather_for_metrics((logits.float().contiguous(), batch["labels"]))
        top = logits.topk(k, dim=-1).indices
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct1 += (top[:, 0] == labels).sum().item()
        correctk += (top == labels[:, None]).any(dim=-1).sum().item()
        count += labels.numel()
    return {"loss": loss_sum / count, "top1": 100 * correct1 / count, "top5": 100 * correctk / count}


class TrainingRun:
    """One run: the prepared model, optimizer, data and teacher, the loop, checkpoints and the export."""

    def __init__(
        self,
        config: TrainingConfig,
        accelerator: Accelerator,
        output_dir: Path,
        resume: tuple[Path, TrainerState] | None,
    ):
        self.config = config
        self.accelerator = accelerator
        self.output_dir = output_dir
        with accelerator.main_process_first():
            self.data = load_training_data(
                config.dataset,
                train_split=config.train_split,
                eval_split=config.eval_split,
                val_fraction=config.val_fraction,
                image_column=config.image_column,
                label_column=config.label_column,
                bad_images=config.bad_images,
            )
        if self.data.skipped:
            logger.warning(f"Skipped {len(self.data.skipped)} unreadable image(s): {'; '.join(self.data.skipped)}")
        set_seed(config.seed)
        model = build_model(config, self.data.label_names)
        self.processor = build_processor(config, model)
        self.state = TrainerState.for_model(config.model, model)
        if resume is not None:
            resume[1].check_same_model(self.state, resume[0])
        self.micro_batch, self.eval_batch = self._batch_sizes()
        self.teacher = None
        if config.teacher:
            with accelerator.main_process_first():
                self.teacher = load_teacher(
                    config.teacher,
                    config.teacher_checkpoint,
                    self.data.label_names,
                    self.processor.image_mean,
                    self.processor.image_std,
                ).to(accelerator.device)
        # Everything that can refuse the run has run: only now is an overwritten output folder cleared.
        self._prepare_output_dir(resume is not None)
        self._build(model)
        if resume is not None:
            accelerator.load_state(str(resume[0]))
            self.state = resume[1]
            accelerator.print(
                f"Resumed from {resume[0]} at epoch {self.state.epoch + 1}, step {self.state.global_step}"
            )

    def _prepare_output_dir(self, resuming: bool) -> None:
        if self.accelerator.is_main_process:
            if self.config.overwrite and not resuming and self.output_dir.is_dir():
                shutil.rmtree(self.output_dir)
            checkpoints_dir(self.output_dir).mkdir(parents=True, exist_ok=True)
        self.accelerator.wait_for_everyone()

    def _batch_sizes(self) -> tuple[int, int]:
        """(global micro-batch per loader step, global evaluation batch), checked against the processes."""
        config, processes = self.config, self.accelerator.num_processes
        if config.batch_size % config.grad_accum_steps:
            raise ValueError(f"--batch-size {config.batch_size} is not divisible by --grad-accum-steps.")
        micro_batch = config.batch_size // config.grad_accum_steps
        eval_batch = config.eval_batch_size or config.batch_size
        for name, size in (("micro-batch (batch / accumulation)", micro_batch), ("evaluation batch", eval_batch)):
            if size % processes:
                raise ValueError(f"The {name} of {size} images does not split across {processes} processes.")
        if micro_batch > len(self.data.train):
            raise ValueError(f"The training split has {len(self.data.train)} images, fewer than one batch.")
        return micro_batch, eval_batch

    def _build(self, model: PreTrainedModel) -> None:
        """Loaders, optimizer and schedule, prepared by Accelerate; the batch mixer, the EMA and the trackers."""
        config, accelerator = self.config, self.accelerator
        resolution = processor_resolution(self.processor)
        transform = train_transform(config, resolution, self.processor.image_mean, self.processor.image_std)
        loaders = (
            train_loader(
                self.data.train,
                transform,
                self.micro_batch,
                config.repeated_augmentation,
                config.seed,
                config.num_workers,
            ),
            eval_loader(self.data.eval, self.processor, self.eval_batch, config.num_workers),
        )
        steps_per_epoch = math.ceil(len(loaders[0]) / config.grad_accum_steps)
        optimizer, scheduler = build_optimizer(model, config, steps_per_epoch)
        self.model, self.optimizer, self.train_loader, self.eval_loader, self.scheduler = accelerator.prepare(
            model, optimizer, *loaders, scheduler
        )
        self.mixer = BatchMixer(config, len(self.data.label_names)) if config.mixing else None
        self.ema = None
        if config.ema:
            self.ema = AveragedModel(
                accelerator.unwrap_model(self.model),
                multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay),
                use_buffers=True,
            )
            accelerator.register_for_checkpointing(self.ema)
        accelerator.init_trackers("tensorboard", config=_hyperparameters(config))

    def fit(self) -> TrainingResult:
        """Train the remaining epochs, evaluating and checkpointing after each, then export."""
        self.accelerator.print(
            f"Training {self.config.model} on {self.config.dataset}: {len(self.data.train)} train / "
            f"{len(self.data.eval)} {self.data.eval_split} images, {len(self.data.label_names)} classes, "
            f"{self.accelerator.num_processes} process(es) on {self.accelerator.device}, global batch "
            f"{self.config.batch_size}, peak lr {peak_learning_rate(self.config):.2e}"
        )
        for epoch in range(self.state.epoch, self.config.epochs):
            self._train_epoch(epoch)
            self._end_epoch(epoch)
        return self._export()

    def _train_epoch(self, epoch: int) -> None:
        """Train one epoch, from the batch the state points to (not 0 only right after a mid-epoch resume)."""
        start = self.state.batch_in_epoch
        self.train_loader.set_epoch(epoch)
        # Accelerate passes the epoch on to a sharded sampler but then not to the dataset, whose augmentations
        # depend on it too.
        self.train_loader.dataset.set_epoch(epoch)
        loader = self.accelerator.skip_first_batches(self.train_loader, start) if start else self.train_loader
        loader.set_epoch(epoch)
        running = self.state.running or dict.fromkeys(("loss", "label_loss", "distill_loss", "batches", "seconds"), 0.0)
        self.model.train()
        bar = tqdm(
            total=len(self.train_loader),
            initial=start,
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            disable=not self.accelerator.is_local_main_process,
        )
        started = time.perf_counter()
        for batch_index, batch in enumerate(loader, start=start):
            losses = self._train_batch(batch, epoch, batch_index)
            for key, value in losses.items():
                running[key] += value
            running["batches"] += 1
            self.state.batch_in_epoch = batch_index + 1
            bar.update()
            bar.set_postfix(loss=f"{losses['loss']:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
            if not self.accelerator.sync_gradients:
                continue
            self.state.global_step += 1
            if self.ema is not None:
                self.ema.update_parameters(self.accelerator.unwrap_model(self.model))
            if self.state.global_step % self.config.log_every_steps == 0:
                step_logs = {"train/loss": losses["loss"], "train/lr": self.scheduler.get_last_lr()[0]}
                self.accelerator.log(step_logs, step=self.state.global_step)
            every = self.config.checkpoint_every_steps
            if every and self.state.global_step % every == 0 and batch_index + 1 < len(self.train_loader):
                running["seconds"] += time.perf_counter() - started
                self.state.running = running
                self._save_checkpoint()
                started = time.perf_counter()
        bar.close()
        running["seconds"] += time.perf_counter() - started
        self.state.running = running

    def _train_batch(self, batch: dict, epoch: int, batch_index: int) -> dict[str, float]:
        """One micro-step: mix, forward (with the teacher), backward, and an optimizer step when it is due."""
        accelerator, config = self.accelerator, self.config
        torch.manual_seed(derived_seed(config.seed, epoch, batch_index, accelerator.process_index))
        pixel_values, targets = batch["pixel_values"], batch["labels"]
        if self.mixer is not None:
            pixel_values, targets = self.mixer(pixel_values, targets)
        with accelerator.accumulate(self.model):
            with accelerator.autocast():
                outputs = self.model(pixel_values=pixel_values)
                if self.teacher is None:
                    loss = classification_loss(outputs.logits, targets, config.label_smoothing)
                    terms = torch.stack([loss, loss, torch.zeros_like(loss)])
                else:
                    loss, label_term, distill_term = distillation_loss(
                        outputs, targets, self.teacher(pixel_values), config
                    )
                    terms = torch.stack([loss, label_term, distill_term])
            accelerator.backward(loss)
            if accelerator.sync_gradients and config.clip_grad_norm:
                accelerator.clip_grad_norm_(self.model.parameters(), config.clip_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
        loss, label_loss, distill_loss = accelerator.reduce(terms.detach(), reduction="mean").tolist()
        return {"loss": loss, "label_loss": label_loss, "distill_loss": distill_loss}

    def _end_epoch(self, epoch: int) -> None:
        """Evaluate, record the epoch's metrics, and checkpoint."""
        running, num_classes = self.state.running, len(self.data.label_names)
        metrics = {
            "epoch": epoch + 1,
            "step": self.state.global_step,
            "train_loss": running["loss"] / running["batches"],
        }
        if self.teacher is not None:
            metrics["train_label_loss"] = running["label_loss"] / running["batches"]
            metrics["train_distillation_loss"] = running["distill_loss"] / running["batches"]
        evaluation = evaluate_model(self.model, self.eval_loader, self.accelerator, num_classes)
        metrics.update({f"eval_{key}": value for key, value in evaluation.items()})
        if self.ema is not None:
            ema_evaluation = evaluate_model(self.ema.module, self.eval_loader, self.accelerator, num_classes)
            metrics.update({f"ema_eval_{key}": value for key, value in ema_evaluation.items()})
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        metrics["images_per_s"] = running["batches"] * self.micro_batch / running["seconds"]
        metrics["epoch_seconds"] = running["seconds"]
        metrics = {key: round(value, 6) if isinstance(value, float) else value for key, value in metrics.items()}

        self.state.history.append(metrics)
        self.state.epoch, self.state.batch_in_epoch, self.state.running = epoch + 1, 0, {}
        self.accelerator.log({f"epoch/{key}": value for key, value in metrics.items()}, step=self.state.global_step)
        if self.accelerator.is_main_process:
            write_metrics(self.output_dir, self.state.history, self._run_description())
        shown = ", ".join(f"{key} {value:.4g}" for key, value in metrics.items() if key not in ("epoch", "step"))
        self.accelerator.print(f"epoch {epoch + 1}/{self.config.epochs}: {shown}")
        self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        """`accelerator.save_state` into checkpoints/step-N (every process), then the trainer state and the link."""
        folder = checkpoints_dir(self.output_dir) / checkpoint_name(self.state.global_step)
        self.accelerator.save_state(str(folder))
        if self.accelerator.is_main_process:
            write_state(folder, self.state)
            point_last_to(self.output_dir, folder)
            prune(self.output_dir, self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()

    def _run_description(self) -> dict:
        return {
            "model": self.config.model,
            "dataset": self.config.dataset,
            "eval_split": self.data.eval_split,
            "train_images": len(self.data.train),
            "eval_images": len(self.data.eval),
            "skipped_images": self.data.skipped,
            "num_processes": self.accelerator.num_processes,
            "peak_lr": peak_learning_rate(self.config),
            "config": self.config.to_dict(),
        }

    def _export(self) -> TrainingResult:
        """Save the model and processor with `save_pretrained` (config with the dataset's labels, safetensors,
        remote code), the EMA model under ema/ when kept, `metrics.json`, the plots and the model card."""
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        state_dict = accelerator.get_state_dict(self.model)
        plots = []
        if accelerator.is_main_process:
            accelerator.unwrap_model(self.model).save_pretrained(self.output_dir, state_dict=state_dict)
            self.processor.save_pretrained(self.output_dir)
            if self.ema is not None:
                self.ema.module.save_pretrained(self.output_dir / "ema")
                self.processor.save_pretrained(self.output_dir / "ema")
            write_metrics(self.output_dir, self.state.history, self._run_description())
            plots = write_plots(self.output_dir, self.state.history)
            self._write_model_card(accelerator.unwrap_model(self.model))
        accelerator.wait_for_everyone()
        return TrainingResult(self.output_dir, final_metrics(self.state.history), self.state.history, plots)

    def _write_model_card(self, model: PreTrainedModel) -> None:
        """README.md: the Hub model card, with this run's dataset, recipe and results."""
        card = render_model_card(
            architecture_for_model_type(model.config.model_type).name,
            model=model,
            processor=self.processor,
            training=read_training_summary(self.output_dir),
            model_name=self.output_dir.name,
        )
        (self.output_dir / "README.md").write_text(card)


def _hyperparameters(config: TrainingConfig) -> dict:
    """The config as the scalars TensorBoard's hparams accept."""
    return {
        key: value if isinstance(value, (int, float, str, bool)) else str(value)
        for key, value in config.to_dict().items()
    }
