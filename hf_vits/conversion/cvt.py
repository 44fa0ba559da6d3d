"""CvT's state-dict layouts: transformers' on-disk `CvtForImageClassification` and the original Microsoft repository's
(`lib/models/cls_cvt.py`), each as a key table onto ours, with the configs.

The two differ from ours in names only (and transformers' final LayerNorm sits outside its `cvt.` base model); the
BatchNorms' running statistics and counters are carried over with their weights. transformers' port computes its
MLP with exact GELU where the original uses QuickGELU, so the configs converted from each say which.
"""

from __future__ import annotations

from transformers import PreTrainedConfig

from ..modeling.cvt import ZooCvTConfig
from .common import ConversionError, KeyRule, KeyTable

LAYOUTS = ("original", "transformers")

_BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_PROJECTIONS = (("q", "query"), ("k", "key"), ("v", "value"))


def _module_names(layout: str, stage: int, layer: int) -> dict[str, str]:
    """A block's weight-and-bias modules in `layout` and ours."""
    if layout == "transformers":
        theirs = f"cvt.encoder.stages.{stage}.layers.{layer}."
        names = {
            "layernorm_before": "layernorm_before",
            "attention.output.dense": "attention.proj",
            "layernorm_after": "layernorm_after",
            "intermediate.dense": "mlp.fc1",
            "output.dense": "mlp.fc2",
        }
        names.update({f"attention.attention.projection_{name}": f"attention.{name}" for _, name in _PROJECTIONS})
    else:
        theirs = f"stage{stage}.blocks.{layer}."
        names = {"norm1": "layernorm_before", "attn.proj": "attention.proj", "norm2": "layernorm_after"}
        names.update({"mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"})
        names.update({f"attn.proj_{short}": f"attention.{name}" for short, name in _PROJECTIONS})
    ours = f"cvt.encoder.stages.{stage}.layers.{layer}."
    return {f"{theirs}{src}": f"{ours}{dst}" for src, dst in names.items()}


def _conv_projection_names(layout: str, stage: int, layer: int) -> dict[str, str]:
    """A block's depthwise convolution + BatchNorm prefixes in `layout` and ours."""
    ours = f"cvt.encoder.stages.{stage}.layers.{layer}.attention.conv_projection_"
    names = {}
    for short, name in _PROJECTIONS:
        if layout == "transformers":
            theirs = (
                f"cvt.encoder.stages.{stage}.layers.{layer}.attention.attention.convolution_projection_{name}"
                ".convolution_projection."
            )
            names[f"{theirs}convolution"] = f"{ours}{name}.convolution"
            names[f"{theirs}normalization"] = f"{ours}{name}.normalization"
        else:
            theirs = f"stage{stage}.blocks.{layer}.attn.conv_proj_{short}."
            names[f"{theirs}conv"] = f"{ours}{name}.convolution"
            names[f"{theirs}bn"] = f"{ours}{name}.normalization"
    return names


def cvt_key_table(config: ZooCvTConfig, layout: str) -> KeyTable:
    """The key table from `layout` ("original" or "transformers") onto our CvT image classifier for `config`."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown CvT layout {layout!r}; expected one of {LAYOUTS}.")
    rules = []
    for stage, depth in enumerate(config.depths):
        ours = f"cvt.encoder.stages.{stage}."
        if layout == "transformers":
            theirs = f"cvt.encoder.stages.{stage}.embedding.convolution_embeddings."
            stem = {
                f"{theirs}projection": f"{ours}embeddings.projection",
                f"{theirs}normalization": f"{ours}embeddings.norm",
            }
            cls_token = f"cvt.encoder.stages.{stage}.cls_token"
        else:
            stem = {f"stage{stage}.patch_embed.proj": f"{ours}embeddings.projection"}
            stem[f"stage{stage}.patch_embed.norm"] = f"{ours}embeddings.norm"
            cls_token = f"stage{stage}.cls_token"
        rules += [
            KeyRule.rename(f"{src}.{kind}", f"{dst}.{kind}") for src, dst in stem.items() for kind in ("weight", "bias")
        ]
        if config.use_class_token and stage == config.num_stages - 1:
            rules.append(KeyRule.rename(cls_token, f"{ours}cls_token"))
        for layer in range(depth):
            for src, dst in _module_names(layout, stage, layer).items():
                for kind in ("weight", "bias"):
                    if dst.endswith(("query", "key", "value")) and kind == "bias" and not config.qkv_bias:
                        continue
                    rules.append(KeyRule.rename(f"{src}.{kind}", f"{dst}.{kind}"))
            for src, dst in _conv_projection_names(layout, stage, layer).items():
                names = ("weight",) if dst.endswith("convolution") else _BATCH_NORM
                rules += [KeyRule.rename(f"{src}.{name}", f"{dst}.{name}") for name in names]
    final_norm, head = ("layernorm", "classifier") if layout == "transformers" else ("norm", "head")
    modules = [(final_norm, "cvt.layernorm")]
    if config.num_labels > 0:
        modules.append((head, "classifier"))
    rules += [KeyRule.rename(f"{src}.{kind}", f"{dst}.{kind}") for src, dst in modules for kind in ("weight", "bias")]
    return KeyTable(rules)


# --- transformers -------------------------------------------------------------------------------------------------

# transformers' CvtConfig lists that must hold one value for all stages, and our field for it.
_UNIFORM_FIELDS = {
    "mlp_ratio": "mlp_ratio",
    "qkv_bias": "qkv_bias",
    "kernel_qkv": "kernel_qkv",
    "stride_q": "stride_q",
    "stride_kv": "stride_kv",
    "padding_q": "padding_q",
    "padding_kv": "padding_kv",
    "drop_rate": "hidden_dropout_prob",
    "attention_drop_rate": "attention_probs_dropout_prob",
}
_STAGE_FIELDS = {
    "patch_sizes": "patch_sizes",
    "patch_stride": "patch_strides",
    "patch_padding": "patch_paddings",
    "embed_dim": "embed_dims",
    "num_heads": "num_heads",
    "depth": "depths",
}
# transformers' CvT builds every LayerNorm and BatchNorm with PyTorch's default epsilon, whatever its config says.
_TORCH_DEFAULT_EPS = 1e-5


def transformers_config(hf_config: PreTrainedConfig, hf_class: str) -> ZooCvTConfig:
    """Our config for transformers' CvT `hf_class` with `hf_config` (its exact-GELU MLPs included)."""
    problems = []
    kwargs = {ours: list(getattr(hf_config, theirs)) for theirs, ours in _STAGE_FIELDS.items()}
    for theirs, ours in _UNIFORM_FIELDS.items():
        values = list(getattr(hf_config, theirs))
        if len(set(values)) != 1:
            problems.append(f"{theirs} differing between stages ({values})")
        kwargs[ours] = values[0]
    methods = set(hf_config.qkv_projection_method)
    if methods != {"dw_bn"}:
        problems.append(f"query/key/value projections {sorted(methods)} (only 'dw_bn', the paper's)")
    cls_tokens = list(hf_config.cls_token)
    if any(cls_tokens[:-1]):
        problems.append(f"class tokens before the last stage ({cls_tokens})")
    if not cls_tokens[-1]:
        # Its classifier reads the class token from the base model's output tuple, which then has none.
        problems.append("no class token in the last stage, without which transformers' CvT classifier cannot run")
    if problems:
        raise ConversionError(f"{hf_class} uses what hf-vits' CvT does not implement: {'; '.join(problems)}.")
    return ZooCvTConfig(
        **kwargs,
        use_class_token=True,
        hidden_act="gelu",
        layer_norm_eps=_TORCH_DEFAULT_EPS,
        batch_norm_eps=_TORCH_DEFAULT_EPS,
        drop_path_rate=max(hf_config.drop_path_rate),
        num_channels=hf_config.num_channels,
        initializer_range=hf_config.initializer_range,
        id2label={int(index): label for index, label in hf_config.id2label.items()},
        label2id=hf_config.label2id,
        problem_type=hf_config.problem_type,
    )


def transformers_config_kwargs(config: ZooCvTConfig) -> dict:
    """transformers' CvtConfig fields equivalent to our `config`."""
    problems = []
    if config.hidden_act != "gelu":
        problems.append(f"the MLP activation {config.hidden_act!r} (transformers' CvT has exact GELU)")
    if not config.use_class_token:
        problems.append("no class token (transformers' CvT classifier cannot run without one)")
    for name in ("layer_norm_eps", "batch_norm_eps"):
        if getattr(config, name) != _TORCH_DEFAULT_EPS:
            problems.append(f"{name} {getattr(config, name)} (transformers' CvT has {_TORCH_DEFAULT_EPS})")
    if problems:
        raise ConversionError(f"transformers' CvT cannot reproduce this model: {'; '.join(problems)}.")
    stages = config.num_stages
    kwargs = {theirs: list(getattr(config, ours)) for theirs, ours in _STAGE_FIELDS.items()}
    kwargs.update({theirs: [getattr(config, ours)] * stages for theirs, ours in _UNIFORM_FIELDS.items()})
    return {
        **kwargs,
        "num_channels": config.num_channels,
        "qkv_projection_method": ["dw_bn"] * stages,
        "cls_token": [False] * (stages - 1) + [True],
        # Evaluation does not drop paths; transformers' per-stage rule only indexes these.
        "drop_path_rate": [0.0] * stages,
        "initializer_range": config.initializer_range,
        "id2label": config.id2label,
        "label2id": config.label2id,
        "problem_type": config.problem_type,
    }
