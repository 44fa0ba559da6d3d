"""SAN's state-dict layout in the authors' repository (hszhao/SAN, `model/san.py`), as a key table onto ours.

Their checkpoints (`model_best.pth`) hold the weights under "state_dict", saved from DistributedDataParallel with a
"module." prefix; `read_checkpoint` unwraps both. The layouts differ in names only: the stem `conv_in`/`bn_in`, each
stage's `conv{i}`/`bn{i}` and blocks `layer{i}.{j}` (pre-activation `bn1`, self-attention `sam`, `bn2`, `conv`), in
`sam` the transforms `conv1` (phi), `conv2` (psi), `conv3` (beta), the position map `conv_p` (pairwise) and the
mapping gamma `conv_w` (BatchNorm, ReLU, convolution, BatchNorm, ReLU, convolution: indices 0, 2, 3, 5), and the
classifier `fc`. BatchNorm running statistics and counters are carried over with the weights.
"""

from __future__ import annotations

from ..modeling.san import ZooSANConfig
from .common import KeyRule, KeyTable

_BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_WEIGHT_AND_BIAS = ("weight", "bias")


def _block_modules(config: ZooSANConfig) -> dict[str, tuple[str, tuple[str, ...]]]:
    """A block's modules: their name -> (our name, the tensors they hold)."""
    modules = {
        "bn1": ("normalization_before", _BATCH_NORM),
        "bn2": ("normalization_after", _BATCH_NORM),
        "conv": ("projection", _WEIGHT_AND_BIAS),
        "sam.conv1": ("attention.query", _WEIGHT_AND_BIAS),
        "sam.conv2": ("attention.key", _WEIGHT_AND_BIAS),
        "sam.conv3": ("attention.value", _WEIGHT_AND_BIAS),
        "sam.conv_w.0": ("attention.weight_encoding.input_norm", _BATCH_NORM),
        "sam.conv_w.2": ("attention.weight_encoding.input_projection", ("weight",)),
        "sam.conv_w.3": ("attention.weight_encoding.hidden_norm", _BATCH_NORM),
        "sam.conv_w.5": ("attention.weight_encoding.output_projection", _WEIGHT_AND_BIAS),
    }
    if config.self_attention_type == "pairwise" and config.use_position_encoding:
        modules["sam.conv_p"] = ("attention.position_encoding", _WEIGHT_AND_BIAS)
    return modules


def san_key_table(config: ZooSANConfig) -> KeyTable:
    """The key table from the authors' layout (without the "module." prefix) onto our SAN image classifier."""
    modules = {
        "conv_in": ("san.encoder.embeddings.convolution", ("weight",)),
        "bn_in": ("san.encoder.embeddings.normalization", _BATCH_NORM),
    }
    for stage, depth in enumerate(config.depths):
        ours = f"san.encoder.stages.{stage}"
        modules[f"conv{stage}"] = (f"{ours}.transition", ("weight",))
        for layer in range(depth):
            for theirs, (name, tensors) in _block_modules(config).items():
                modules[f"layer{stage}.{layer}.{theirs}"] = (f"{ours}.layers.{layer}.{name}", tensors)
        modules[f"bn{stage}"] = (f"{ours}.normalization", _BATCH_NORM)
    if config.num_labels > 0:
        modules["fc"] = ("classifier", _WEIGHT_AND_BIAS)
    return KeyTable(
        KeyRule.rename(f"{theirs}.{tensor}", f"{ours}.{tensor}")
        for theirs, (ours, tensors) in modules.items()
        for tensor in tensors
    )
