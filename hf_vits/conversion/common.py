"""What every converter shares: key tables with strict accounting, checkpoint reading, numerical verification
against the reference implementation, and writing a complete output folder atomically."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

logger = logging.getLogger(__name__)

# Fp32 tolerance on the largest absolute difference of logits between a converted model and its reference.
VERIFY_TOLERANCE = 1e-4

# Where training checkpoints nest the weights, in the order they are looked for (timm and DeiT use "model" or
# "state_dict"; the EMA copy only when it is the only one).
STATE_DICT_NESTING_KEYS = ("model", "state_dict", "state_dict_ema", "model_ema")

_LISTED_KEYS = 20


class ConversionError(ValueError):
    """A checkpoint or model that cannot be converted faithfully, with the reason."""


@dataclass
class ConvertedModel:
    """A converted model with its image processor, and the measured largest |Δ| against the reference
    implementation (None when the conversion was not verified)."""

    model: PreTrainedModel
    processor: BaseImageProcessor
    max_abs_diff: float | None = None


@dataclass(frozen=True)
class KeyRule:
    """One target tensor made of one source tensor (a rename) or of several concatenated along dim 0 (e.g.
    separate query, key and value projections fused into one qkv projection)."""

    sources: tuple[str, ...]
    target: str

    @classmethod
    def rename(cls, source: str, target: str) -> KeyRule:
        return cls((source,), target)


class KeyTable:
    """An explicit, invertible table of renames and concatenations between two state-dict layouts.

    `convert` maps the source layout onto the target layout, `invert` maps back. Both are strict: every key of
    the input is consumed and every key of the output is produced, or a ConversionError lists the missing and
    the unexpected keys (and any shape that does not fit the model the output is for).

    `derived` names source keys that hold what the target model recomputes itself (buffers such as a relative
    position index): `convert` requires and consumes them without carrying them over, and `invert` does not
    produce them."""

    def __init__(self, rules: Iterable[KeyRule], derived: Iterable[str] = ()):
        self.rules = list(rules)
        self.derived = list(derived)
        for kind, keys in (("source", self.source_keys + self.derived), ("target", self.target_keys)):
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"Key table uses {kind} keys more than once: {duplicates}.")

    @property
    def source_keys(self) -> list[str]:
        return [source for rule in self.rules for source in rule.sources]

    @property
    def target_keys(self) -> list[str]:
        return [rule.target for rule in self.rules]

    def convert(
        self,
        state_dict: Mapping[str, torch.Tensor],
        expected: Mapping[str, torch.Tensor] | None = None,
        source_name: str = "source state dict",
    ) -> dict[str, torch.Tensor]:
        """The target-layout state dict of `state_dict`, checked against `expected` (e.g. the target model's own
        state dict) for keys and shapes when given."""
        _check_keys(source_name, self.source_keys + self.derived, state_dict)
        converted = {}
        for rule in self.rules:
            parts = [state_dict[source] for source in rule.sources]
            if len(parts) == 1:
                converted[rule.target] = parts[0]
                continue
            if len({part.shape for part in parts}) != 1:
                shapes = ", ".join(
                    f"{source} {tuple(part.shape)}" for source, part in zip(rule.sources, parts, strict=True)
                )
                raise ConversionError(
                    f"{source_name}: cannot fuse tensors of different shapes into {rule.target}: {shapes}."
                )
            converted[rule.target] = torch.cat(parts, dim=0)
        if expected is not None:
            _check_against(source_name, converted, expected, self._source_of)
        return converted

    def invert(
        self,
        state_dict: Mapping[str, torch.Tensor],
        expected: Mapping[str, torch.Tensor] | None = None,
        source_name: str = "state dict",
    ) -> dict[str, torch.Tensor]:
        """The source-layout state dict of a target-layout `state_dict`: renames undone, fused tensors split."""
        _check_keys(source_name, self.target_keys, state_dict)
        inverted = {}
        for rule in self.rules:
            tensor = state_dict[rule.target]
            if len(rule.sources) == 1:
                inverted[rule.sources[0]] = tensor
                continue
            if tensor.shape[0] % len(rule.sources):
                raise ConversionError(
                    f"{source_name}: {rule.target} {tuple(tensor.shape)} does not split into {len(rule.sources)} "
                    f"equal parts along dim 0."
                )
            # Separate copies, so that the parts can be saved (safetensors refuses tensors sharing memory).
            for source, part in zip(rule.sources, tensor.chunk(len(rule.sources), dim=0), strict=True):
                inverted[source] = part.clone()
        if expected is not None:
            _check_against(source_name, inverted, expected, lambda key: key)
        return inverted

    def _source_of(self, target: str) -> str:
        rule = next(rule for rule in self.rules if rule.target == target)
        return " + ".join(rule.sources)


def _format_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED_KEYS])
    more = f", ... and {len(keys) - _LISTED_KEYS} more" if len(keys) > _LISTED_KEYS else ""
    return f"{shown}{more}"


def _check_keys(name: str, needed: list[str], state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise a ConversionError listing the needed keys `state_dict` lacks and the keys nothing consumes."""
    needed_set = set(needed)
    missing = [key for key in needed if key not in state_dict]
    unexpected = sorted(key for key in state_dict if key not in needed_set)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing keys ({len(missing)}): {_format_keys(missing)}")
        if unexpected:
            problems.append(f"unexpected keys ({len(unexpected)}): {_format_keys(unexpected)}")
        raise ConversionError(f"{name} does not match the expected layout; " + "; ".join(problems) + ".")


def _check_against(
    name: str, produced: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], describe
) -> None:
    """Raise a ConversionError when `produced` does not have exactly the keys and shapes of `expected`."""
    not_filled = sorted(key for key in expected if key not in produced)
    extra = sorted(key for key in produced if key not in expected)
    shapes = [
        f"{describe(key)} {tuple(produced[key].shape)} (expected {tuple(expected[key].shape)} for {key})"
        for key in produced
        if key in expected and produced[key].shape != expected[key].shape
    ]
    if not_filled or extra or shapes:
        problems = []
        if not_filled:
            problems.append(f"target keys not filled ({len(not_filled)}): {_format_keys(not_filled)}")
        if extra:
            problems.append(f"keys the target does not have ({len(extra)}): {_format_keys(extra)}")
        if shapes:
            problems.append(f"shape mismatches ({len(shapes)}): {_format_keys(shapes)}")
        raise ConversionError(f"{name} does not fit the target model; " + "; ".join(problems) + ".")


def read_checkpoint(
    path: str | Path, nesting_keys: tuple[str, ...] = STATE_DICT_NESTING_KEYS, allowed_classes: tuple[type, ...] = ()
) -> dict[str, torch.Tensor]:
    """The state dict in a safetensors file or a `torch.save` file (read with `weights_only=True`, which also
    admits `allowed_classes`, e.g. the argparse arguments a training script saved beside the weights), unwrapped
    from the "model" / "state_dict" / "state_dict_ema" nesting of training checkpoints (the first of
    `nesting_keys` present)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    if not path.is_file():
        raise ConversionError(f"Checkpoint {path} is not a file; expected a .safetensors or torch.save file.")
    with path.open("rb") as file:
        head = file.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        try:
            with torch.serialization.safe_globals(list(allowed_classes)):
                loaded = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ConversionError(
                f"Checkpoint {path} holds objects other than tensors and plain containers, which are not loaded "
                f"(weights_only=True): {error}"
            ) from error
        except Exception as error:
            raise ConversionError(
                f"Could not read checkpoint {path} as a PyTorch file; it may be truncated or corrupt: {error}"
            ) from error
    elif len(head) > 8 and head[8:9] == b"{":
        try:
            loaded = load_file(path, device="cpu")
        except Exception as error:
            raise ConversionError(
                f"Could not read checkpoint {path} as a safetensors file; it may be truncated or corrupt: {error}"
            ) from error
    else:
        raise ConversionError(
            f"{path} is not a checkpoint: expected a safetensors file or a PyTorch checkpoint written by torch.save, "
            f"but it starts with {head!r}."
        )
    return _extract_state_dict(loaded, path, nesting_keys)


def _extract_state_dict(
    loaded: object, path: Path, nesting_keys: tuple[str, ...] = STATE_DICT_NESTING_KEYS
) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in nesting_keys:
            if isinstance(loaded.get(key), Mapping):
                logger.info("Reading the weights under %r of %s.", key, path)
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise ConversionError(
            f"Checkpoint {path} holds no state dict: expected a mapping of names to tensors, at the top level or "
            f"under one of {nesting_keys}, got {type(loaded).__name__}."
        )
    not_tensors = sorted(str(key) for key, value in loaded.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise ConversionError(f"Checkpoint {path} has entries that are not tensors: {_format_keys(not_tensors)}.")
    state_dict = dict(loaded)
    # DistributedDataParallel saves its wrapped module's weights under "module.".
    if all(key.startswith("module.") for key in state_dict):
        state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    return state_dict


def random_pixel_values(num_channels: int, height: int, width: int, batch_size: int = 2) -> torch.Tensor:
    """A reproducible random batch on which a converted model and its reference are compared."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, num_channels, height, width, generator=generator)


@contextmanager
def eval_mode(*modules: torch.nn.Module) -> Iterator[None]:
    """Put `modules` in eval mode for the duration, then back in the mode each was in."""
    modes = [module.training for module in modules]
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for module, mode in zip(modules, modes, strict=True):
            module.train(mode)


def max_abs_difference(pairs: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The largest absolute difference over named pairs of (ours, reference) outputs, which must match in shape."""
    worst = 0.0
    for name, (ours, reference) in pairs.items():
        if ours.shape != reference.shape:
            raise ConversionError(
                f"Converted model's {name} has shape {tuple(ours.shape)}, the reference's {tuple(reference.shape)}."
            )
        worst = max(worst, (ours.float() - reference.float()).abs().max().item())
    return worst


def check_tolerance(max_abs_diff: float, reference: str, tolerance: float = VERIFY_TOLERANCE) -> None:
    """Raise a ConversionError when the converted model strays from the reference by more than `tolerance`."""
    if not max_abs_diff <= tolerance:
        raise ConversionError(
            f"The converted model does not reproduce {reference}: max |Δ| = {max_abs_diff:.3g} on the same random "
            f"batch (fp32, eval), above the tolerance {tolerance:g}."
        )
    logger.info("Converted model matches %s: max |Δ| = %.3g (tolerance %g).", reference, max_abs_diff, tolerance)


def check_output_dir(output_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse an output path that is a file, or a non-empty folder unless `overwrite`."""
    output_dir = Path(output_dir)
    if output_dir.exists():
        if not output_dir.is_dir():
            raise FileExistsError(f"Output path {output_dir} exists and is not a folder.")
        if any(output_dir.iterdir()) and not overwrite:
            raise FileExistsError(
                f"Output folder {output_dir} is not empty; pass --overwrite (overwrite=True) to replace it."
            )
    return output_dir


@contextmanager
def staged_folder(output_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """A temporary sibling of `output_dir` to fill; when the block succeeds it is renamed into place (replacing an
    existing folder only with `overwrite`), when it fails it is removed and `output_dir` is left as it was."""
    output_dir = check_output_dir(output_dir, overwrite)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(output_dir, "partial")
    try:
        yield staging
        if output_dir.exists():
            # Move the old folder aside first, so that a failed rename can put it back.
            trash = _sibling(output_dir, "old")
            output_dir.rename(trash / output_dir.name)
            try:
                staging.rename(output_dir)
            except BaseException:
                (trash / output_dir.name).rename(output_dir)
                shutil.rmtree(trash, ignore_errors=True)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_model_folder(
    model: PreTrainedModel, processor: BaseImageProcessor, output_dir: str | Path, overwrite: bool = False
) -> Path:
    """Write model and processor as one complete folder (config, weights, processor config, remote code), built
    in a temporary sibling folder and renamed into place only once complete."""
    with staged_folder(output_dir, overwrite) as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        check_folder_complete(staging, model, processor)
    logger.info("Wrote %s.", output_dir)
    return Path(output_dir)


def _sibling(path: Path, kind: str) -> Path:
    """A new hidden folder beside `path` (made with the usual permissions, unlike `tempfile.mkdtemp`'s 0700)."""
    sibling = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.{kind}"
    sibling.mkdir()
    return sibling


def check_folder_complete(folder: Path, model: PreTrainedModel, processor: BaseImageProcessor) -> None:
    """Raise a ConversionError unless `folder` holds everything needed to load the model with or without hf-vits
    installed: config with `auto_map`, weights, processor config with `auto_map`, and the remote-code files."""
    code_files = {f"{type(obj).__module__.rsplit('.', 1)[-1]}.py" for obj in (model, model.config, processor)}
    weights = {"model.safetensors", "model.safetensors.index.json"}
    missing = sorted(
        name for name in {"config.json", "preprocessor_config.json", *code_files} if not (folder / name).is_file()
    )
    if not any((folder / name).is_file() for name in weights):
        missing.append("model.safetensors")
    problems = [f"missing files: {', '.join(missing)}"] if missing else []
    for name, needed in (
        ("config.json", ("AutoConfig", "AutoModel", "AutoModelForImageClassification")),
        ("preprocessor_config.json", ("AutoImageProcessor",)),
    ):
        if (folder / name).is_file():
            auto_map = json.loads((folder / name).read_text()).get("auto_map", {})
            absent = [auto for auto in needed if auto not in auto_map]
            if absent:
                problems.append(f"{name} has no auto_map entry for {', '.join(absent)}")
    if problems:
        raise ConversionError(f"The folder written for {type(model).__name__} is incomplete: {'; '.join(problems)}.")
