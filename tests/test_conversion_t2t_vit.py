"""T2T-ViT conversion from the authors' checkpoints (`original:t2t-vit-14`; yitu-opensource/T2T-ViT).

No library reads that layout, so the tests write state dicts whose keys and shapes are the reference `T2T_ViT`'s,
listed here from its modules (`tokens_to_token.attention{1,2}` Performers with `kqv`, `w`, `mlp.0`, `mlp.2`, or
`Token_transformer`s with `attn.qkv`; `blocks.{i}`; `norm`; `head`), and check the converted model's logits against
a functional forward written from the paper and the reference's equations on those keys. Checkpoint files are laid
out as the authors' timm training script saves them (`state_dict`, `state_dict_ema`, optimizer state, argparse
arguments), and the EMA weights are the ones converted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math

import pytest
import torch
from conversion_helpers import max_diff
from torch.nn import functional as F
from transformers import AutoModelForImageClassification

import hf_vits
from hf_vits.cli import main
from hf_vits.conversion import ConversionError, convert, load_original
from hf_vits.conversion.from_original import convert_original_state_dict
from hf_vits.conversion.t2t_vit import t2t_vit_key_table
from hf_vits.modeling.t2t_vit.modeling_t2t_vit import draw_random_features, sinusoid_position_table

TOLERANCE = 1e-4
TOKEN_DIM = 64


def authors_layout(variant: str, seed: int = 0, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the keys and shapes of the reference `T2T_ViT` for `variant`. Weights are
    drawn at 1/sqrt(fan_in) (attention at the reference initialisation is nearly uniform, which hides mistakes),
    norms near one, biases near zero; the position table and random features as the reference makes them."""
    config = hf_vits.create_config(variant)
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def linear(name: str, out_features: int, in_features: int, bias: bool = True) -> None:
        weight = torch.randn(out_features, in_features, generator=generator) / math.sqrt(in_features)
        state[f"{name}.weight"] = weight
        if bias:
            state[f"{name}.bias"] = 0.1 * torch.randn(out_features, generator=generator)

    def norm(name: str, features: int) -> None:
        state[f"{name}.weight"] = 1 + 0.1 * torch.randn(features, generator=generator)
        state[f"{name}.bias"] = 0.1 * torch.randn(features, generator=generator)

    dim, (rows, columns) = config.hidden_size, config.grid_size
    state["cls_token"] = 0.02 * torch.randn(1, 1, dim, generator=generator)
    state["pos_embed"] = sinusoid_position_table(rows * columns + 1, dim)
    for index, in_features in ((1, 3 * 7 * 7), (2, TOKEN_DIM * 3 * 3)):
        prefix = f"tokens_to_token.attention{index}"
        if config.tokens_to_token_type == "performer":
            state[f"{prefix}.w"] = draw_random_features(TOKEN_DIM // 2, TOKEN_DIM, generator)
            linear(f"{prefix}.kqv", 3 * TOKEN_DIM, in_features)
            linear(f"{prefix}.proj", TOKEN_DIM, TOKEN_DIM)
            norm(f"{prefix}.norm1", in_features)
            norm(f"{prefix}.norm2", TOKEN_DIM)
            linear(f"{prefix}.mlp.0", TOKEN_DIM, TOKEN_DIM)
            linear(f"{prefix}.mlp.2", TOKEN_DIM, TOKEN_DIM)
        else:
            norm(f"{prefix}.norm1", in_features)
            linear(f"{prefix}.attn.qkv", 3 * TOKEN_DIM, in_features, bias=False)
            linear(f"{prefix}.attn.proj", TOKEN_DIM, TOKEN_DIM)
            norm(f"{prefix}.norm2", TOKEN_DIM)
            linear(f"{prefix}.mlp.fc1", TOKEN_DIM, TOKEN_DIM)
            linear(f"{prefix}.mlp.fc2", TOKEN_DIM, TOKEN_DIM)
    linear("tokens_to_token.project", dim, TOKEN_DIM * 3 * 3)
    hidden = int(dim * config.mlp_ratio)
    for block in range(config.num_hidden_layers):
        prefix = f"blocks.{block}"
        norm(f"{prefix}.norm1", dim)
        linear(f"{prefix}.attn.qkv", 3 * dim, dim, bias=False)
        linear(f"{prefix}.attn.proj", dim, dim)
        norm(f"{prefix}.norm2", dim)
        linear(f"{prefix}.mlp.fc1", hidden, dim)
        linear(f"{prefix}.mlp.fc2", dim, hidden)
    norm("norm", dim)
    linear("head", num_classes, dim)
    return state


def reference_logits(state: dict[str, torch.Tensor], pixel_values: torch.Tensor, num_heads: int) -> torch.Tensor:
    """T2T-ViT written out on the authors' keys: soft split (unfold 7/4/2), two T2T layers each followed by
    re-structurization and a soft split (3/2/1), projection, class token and position table, pre-norm blocks with
    scores scaled by embed_dim^-0.5 (the released `qk_scale`), final norm, head on the class token."""

    def linear(x, name):
        return F.linear(x, state[f"{name}.weight"], state.get(f"{name}.bias"))

    def norm(x, name):
        return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"], eps=1e-5)

    def performer(x, prefix):
        key, query, value = linear(norm(x, f"{prefix}.norm1"), f"{prefix}.kqv").split(TOKEN_DIM, dim=-1)
        w = state[f"{prefix}.w"]

        def features(z):  # exp(w.z - |z|^2 / 2) / sqrt(m)
            return torch.exp(z @ w.T - (z * z).sum(-1, keepdim=True) / 2) / math.sqrt(w.shape[0])

        kernel = features(query) @ features(key).transpose(1, 2)  # (B, T, T): phi(q_t).phi(k_s)
        attended = kernel @ value / (kernel.sum(-1, keepdim=True) + 1e-8)
        x = value + linear(attended, f"{prefix}.proj")
        return x + linear(F.gelu(linear(norm(x, f"{prefix}.norm2"), f"{prefix}.mlp.0")), f"{prefix}.mlp.2")

    def token_transformer(x, prefix):
        query, key, value = linear(norm(x, f"{prefix}.norm1"), f"{prefix}.attn.qkv").split(TOKEN_DIM, dim=-1)
        probabilities = (query @ key.transpose(1, 2) * x.shape[-1] ** -0.5).softmax(-1)
        x = value + linear(probabilities @ value, f"{prefix}.attn.proj")
        return x + linear(F.gelu(linear(norm(x, f"{prefix}.norm2"), f"{prefix}.mlp.fc1")), f"{prefix}.mlp.fc2")

    batch = pixel_values.shape[0]
    tokens = F.unfold(pixel_values, kernel_size=7, stride=4, padding=2).transpose(1, 2)
    for index in (1, 2):
        prefix = f"tokens_to_token.attention{index}"
        layer = performer if f"{prefix}.w" in state else token_transformer
        tokens = layer(tokens, prefix)
        side = math.isqrt(tokens.shape[1])
        image = tokens.transpose(1, 2).reshape(batch, TOKEN_DIM, side, side)
        tokens = F.unfold(image, kernel_size=3, stride=2, padding=1).transpose(1, 2)
    x = linear(tokens, "tokens_to_token.project")
    dim = x.shape[-1]
    x = torch.cat((state["cls_token"].expand(batch, -1, -1), x), dim=1) + state["pos_embed"]
    blocks = sorted({int(key.split(".")[1]) for key in state if key.startswith("blocks.")})
    for block in blocks:
        prefix = f"blocks.{block}"
        qkv = linear(norm(x, f"{prefix}.norm1"), f"{prefix}.attn.qkv")
        query, key, value = qkv.reshape(batch, -1, 3, num_heads, dim // num_heads).permute(2, 0, 3, 1, 4)
        probabilities = (query @ key.transpose(-2, -1) * dim**-0.5).softmax(-1)
        x = x + linear((probabilities @ value).transpose(1, 2).reshape(batch, -1, dim), f"{prefix}.attn.proj")
        x = x + linear(F.gelu(linear(norm(x, f"{prefix}.norm2"), f"{prefix}.mlp.fc1")), f"{prefix}.mlp.fc2")
    return linear(norm(x, "norm")[:, 0], "head")


def pixels(size: int = 224, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def training_checkpoint(state: dict, ema: dict | None, arch: str) -> dict:
    """A checkpoint as the authors' timm training script (`CheckpointSaver`) writes it."""
    checkpoint = {
        "epoch": 309,
        "arch": arch,
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5, "weight_decay": 0.03, "params": [0, 1]}]},
        "version": 2,
        "args": argparse.Namespace(model=arch, img_size=224, lr=1e-3, weight_decay=0.03, model_ema=True),
        "metric": 71.7,
    }
    if ema is not None:
        checkpoint["state_dict_ema"] = ema
    return checkpoint


@pytest.fixture(scope="module")
def t2t_vit_7(tmp_path_factory):
    """T2T-ViT-7 weights and their moving average in the authors' layout, saved as their training run saves them."""
    state, ema = authors_layout("t2t-vit-7", seed=0), authors_layout("t2t-vit-7", seed=1)
    # The moving average keeps the frozen tensors of the model it averages.
    for key in ("pos_embed", "tokens_to_token.attention1.w", "tokens_to_token.attention2.w"):
        ema[key] = state[key]
    checkpoint = tmp_path_factory.mktemp("original") / "71.7_T2T_ViT_7.pth.tar"
    torch.save(training_checkpoint(state, ema, "t2t_vit_7"), checkpoint)
    return state, ema, checkpoint


def test_layout_has_the_authors_keys(t2t_vit_7):
    state, _, _ = t2t_vit_7
    shapes = {
        "cls_token": (1, 1, 256),
        "pos_embed": (1, 197, 256),
        "tokens_to_token.attention1.w": (32, 64),
        "tokens_to_token.attention1.kqv.weight": (192, 147),
        "tokens_to_token.attention2.kqv.weight": (192, 576),
        "tokens_to_token.attention2.mlp.2.bias": (64,),
        "tokens_to_token.project.weight": (256, 576),
        "blocks.6.attn.qkv.weight": (768, 256),
        "blocks.6.mlp.fc1.weight": (512, 256),
        "norm.bias": (256,),
        "head.weight": (1000, 256),
    }
    assert {key: tuple(state[key].shape) for key in shapes} == shapes
    assert "blocks.0.attn.qkv.bias" not in state and "blocks.7.norm1.weight" not in state
    # As many tensors as the reference module has parameters (its frozen ones included).
    assert len(state) == 2 + 2 * 13 + 2 + 7 * 11 + 4
    with torch.device("meta"):
        model = hf_vits.create_model("t2t-vit-7")
    assert sum(tensor.numel() for tensor in state.values()) == sum(t.numel() for t in model.state_dict().values())


def test_convert_original_checkpoint_takes_the_moving_average(t2t_vit_7, tmp_path):
    state, ema, checkpoint = t2t_vit_7
    output = convert("original:t2t-vit-7", tmp_path / "out", checkpoint=checkpoint)
    model = AutoModelForImageClassification.from_pretrained(output).eval()
    assert type(model) is hf_vits.ZooT2TViTForImageClassification
    assert model.config.attention_scale == 256**-0.5, "the released weights' qk_scale"
    assert model.config.id2label[1] == "goldfish, Carassius auratus"
    processor = json.loads((output / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": 248} and processor["crop_size"] == {"height": 224, "width": 224}
    batch = pixels()
    with torch.no_grad():
        logits = model(pixel_values=batch).logits
        expected, plain = reference_logits(ema, batch, num_heads=4), reference_logits(state, batch, num_heads=4)
    assert expected.abs().max() > 1 and max_diff(plain, expected) > 1
    assert max_diff(logits, expected) <= TOLERANCE
    features = model.t2t_vit.embeddings.tokens_to_token.layers[1].attention.random_features
    assert torch.equal(features, ema["tokens_to_token.attention2.w"]), "random features taken from the checkpoint"


def test_checkpoint_without_moving_average(t2t_vit_7, tmp_path):
    state, _, _ = t2t_vit_7
    checkpoint = tmp_path / "no-ema.pth.tar"
    torch.save(training_checkpoint(state, None, "t2t_vit_7"), checkpoint)
    converted = load_original("t2t-vit-7", checkpoint)
    assert converted.max_abs_diff is None, "nothing importable reads the T2T-ViT layout"
    batch = pixels(batch=1)
    with torch.no_grad():
        assert max_diff(converted.model(pixel_values=batch).logits, reference_logits(state, batch, 4)) <= TOLERANCE


def test_inverse_table_gives_back_the_authors_layout(t2t_vit_7):
    state, _, _ = t2t_vit_7
    converted = convert_original_state_dict("t2t-vit-7", state)
    table = t2t_vit_key_table(converted.model.config)
    inverted = table.invert(converted.model.state_dict())
    assert inverted.keys() == state.keys()
    assert all(torch.equal(inverted[key], state[key]) for key in state)


def test_resampled_position_table_is_loaded_as_it_is(t2t_vit_7, caplog):
    """After the authors' transfer-learning code, the table is no sinusoid: it is kept, with a warning."""
    state, _, _ = t2t_vit_7
    edited = {**state, "pos_embed": state["pos_embed"] + 0.01}
    with caplog.at_level(logging.WARNING, logger="hf_vits.conversion.t2t_vit"):
        model = convert_original_state_dict("t2t-vit-7", edited).model
    assert "is not the sinusoid of 197 positions" in caplog.text
    assert torch.equal(model.t2t_vit.embeddings.position_embeddings, edited["pos_embed"])


def test_missing_random_features_are_an_error(t2t_vit_7, tmp_path):
    state, _, _ = t2t_vit_7
    checkpoint = tmp_path / "edited.pth"
    torch.save({key: value for key, value in state.items() if key != "tokens_to_token.attention2.w"}, checkpoint)
    with pytest.raises(ConversionError, match=r"missing keys \(1\): tokens_to_token.attention2.w"):
        load_original("t2t-vit-7", checkpoint)


def test_headless_checkpoint_converts_to_a_model_without_classes(t2t_vit_7):
    state, _, _ = t2t_vit_7
    headless = {key: value for key, value in state.items() if not key.startswith("head.")}
    model = convert_original_state_dict("t2t-vit-7", headless).model
    assert model.config.num_labels == 0 and isinstance(model.classifier, torch.nn.Identity)


@pytest.fixture(scope="module")
def t2t_vit_t_14():
    return authors_layout("t2t-vit-t-14", seed=2)


def test_transformer_t2t_layers_convert(t2t_vit_t_14):
    """T2T-ViT_t-14: `Token_transformer` layers (softmax attention scaled by the input width^-0.5, no qkv bias)."""
    converted = convert_original_state_dict("t2t-vit-t-14", t2t_vit_t_14)
    assert converted.model.config.attention_scale == 384**-0.5
    batch = pixels(batch=1)
    with torch.no_grad():
        logits = converted.model(pixel_values=batch).logits
        expected = reference_logits(t2t_vit_t_14, batch, num_heads=6)
    assert expected.abs().max() > 1
    assert max_diff(logits, expected) <= TOLERANCE


def test_transformer_checkpoint_named_as_the_performer_model(t2t_vit_t_14, tmp_path):
    checkpoint = tmp_path / "81.7_T2T_ViTt_14.pth.tar"
    torch.save({"state_dict_ema": t2t_vit_t_14}, checkpoint)
    with pytest.raises(ConversionError, match=r"missing keys \(18\): tokens_to_token.attention1.kqv.weight") as error:
        load_original("t2t-vit-14", checkpoint)
    # Per T2T layer: the fused projection, the attention projection and the MLP's two layers under their names.
    assert "unexpected keys (14): tokens_to_token.attention1.attn.proj.bias" in str(error.value)


def test_cli_converts_original_t2t_vit_14(tmp_path):
    """`hf-vits convert original:t2t-vit-14 OUT --checkpoint FILE`, on T2T-ViT-14's layout as released."""
    state = authors_layout("t2t-vit-14", seed=3)
    checkpoint = tmp_path / "81.5_T2T_ViT_14.pth.tar"
    torch.save(training_checkpoint(authors_layout("t2t-vit-14", seed=4), state, "t2t_vit_14"), checkpoint)
    output = tmp_path / "t2t-vit-14"
    assert main(["convert", "original:t2t-vit-14", str(output), "--checkpoint", str(checkpoint)]) == 0
    model = AutoModelForImageClassification.from_pretrained(output).eval()
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 14
    batch = pixels(batch=1)
    with torch.no_grad():
        assert max_diff(model(pixel_values=batch).logits, reference_logits(state, batch, num_heads=6)) <= TOLERANCE


def test_original_source_names_the_t2t_vit_variants(t2t_vit_7, tmp_path):
    _, _, checkpoint = t2t_vit_7
    with pytest.raises(ConversionError, match="Unknown variant 't2t-vit-15'.*Supported:.*t2t-vit-t-14"):
        convert("original:t2t-vit-15", tmp_path / "out", checkpoint=checkpoint)
