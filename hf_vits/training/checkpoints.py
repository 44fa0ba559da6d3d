"""Checkpoints: Accelerate's `save_state` folders under OUTPUT_DIR/checkpoints/, with the trainer's position.

Each checkpoint holds what `accelerator.save_state` writes (model, optimizer, scheduler, EMA, random states) and
`trainer_state.json`: where the run stands (epoch, batch, optimizer step), the metrics so far, and which model
it belongs to, checked before a resume loads anything. `checkpoints/last` links to the newest one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

CHECKPOINTS = "checkpoints"
LAST = "last"
STATE_FILE = "trainer_state.json"
PREFIX = "step-"


@dataclass
class TrainerState:
    """Where a run stands: the next batch to train is batch `batch_in_epoch` of epoch `epoch`."""

    model: str
    parameter_shapes: dict[str, list[int]]
    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    history: list[dict] = field(default_factory=list)
    # Sums over the batches of the current epoch so far, so that a mid-epoch resume reports the same epoch means.
    running: dict[str, float] = field(default_factory=dict)

    @classmethod
    def for_model(cls, name: str, model: nn.Module) -> TrainerState:
        """A fresh state for the zoo variant `name` built as `model`."""
        shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
        return cls(model=name, parameter_shapes=shapes)

    def check_model_name(self, name: str, checkpoint: Path) -> None:
        """Raise a ValueError when this checkpoint belongs to another variant than `name`."""
        if name != self.model:
            raise ValueError(f"{checkpoint} is a checkpoint of {self.model}, not of {name}.")

    def check_same_model(self, other: TrainerState, checkpoint: Path) -> None:
        """Raise a ValueError when `other` (this run) is not the model this checkpoint was written for."""
        self.check_model_name(other.model, checkpoint)
        if other.parameter_shapes != self.parameter_shapes:
            differing = sorted(
                key
                for key in self.parameter_shapes.keys() | other.parameter_shapes.keys()
                if self.parameter_shapes.get(key) != other.parameter_shapes.get(key)
            )
            raise ValueError(
                f"{checkpoint} is a checkpoint of {self.model} with other shapes than this run builds "
                f"(e.g. {', '.join(differing[:3])}); pass the same model options as the checkpointed run."
            )


def checkpoints_dir(output_dir: Path) -> Path:
    return output_dir / CHECKPOINTS


def checkpoint_name(global_step: int) -> str:
    return f"{PREFIX}{global_step:08d}"


def write_state(folder: Path, state: TrainerState) -> None:
    """Write `trainer_state.json` into a checkpoint folder."""
    (folder / STATE_FILE).write_text(json.dumps(dataclasses.asdict(state), indent=2))


def read_state(checkpoint: str | Path) -> tuple[Path, TrainerState]:
    """The resolved checkpoint folder and its trainer state, or a ValueError that says why it is none."""
    path = Path(checkpoint).expanduser()
    if not path.is_dir():
        raise ValueError(f"{checkpoint}: no such checkpoint folder.")
    path = path.resolve()
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise ValueError(f"{checkpoint}: not a training checkpoint (no {STATE_FILE}).")
    return path, TrainerState(**json.loads(state_file.read_text()))


def point_last_to(output_dir: Path, folder: Path) -> None:
    """Make `checkpoints/last` a relative link to `folder`, replacing the old link atomically."""
    link = checkpoints_dir(output_dir) / LAST
    staging = link.with_name(f".{LAST}.tmp")
    staging.unlink(missing_ok=True)
    staging.symlink_to(folder.name, target_is_directory=True)
    os.replace(staging, link)


def prune(output_dir: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints."""
    folders = sorted(path for path in checkpoints_dir(output_dir).glob(f"{PREFIX}*") if path.is_dir())
    for folder in folders[:-keep]:
        shutil.rmtree(folder)
