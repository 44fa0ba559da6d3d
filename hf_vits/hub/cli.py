"""The `export`, `push` and `card` sub-commands of `hf-vits`, added to its parser by `add_hub_commands`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..images import open_image
from .card import CATALOGUE_FOLDER, DEFAULT_LICENSE, render_model_card, stale_catalogue_cards, write_catalogue
from .export import DEFAULT_MAX_SHARD_SIZE, export_model
from .push import PushError, push_folder


def _read_photo(path: str | None):
    """The photo at `path` as an RGB PIL image (None without a path), or a ValueError naming the file."""
    return None if path is None else open_image(path).convert("RGB")


def cmd_export(args: argparse.Namespace) -> int:
    """Export a model folder or Hub repo as a complete, verified Hub folder with its model card."""
    result = export_model(
        args.source,
        args.to,
        overwrite=args.overwrite,
        repo_id=args.repo_id,
        license=args.license,
        max_shard_size=args.max_shard_size,
        revision=args.revision,
        check_image=_read_photo(args.check_image),
        fuse_batchnorm=args.fuse_batchnorm,
    )
    print(
        f"Exported {args.source} to {result.folder}: loads without hf-vits and predicts the same "
        f"(max |Δ| {result.max_abs_diff:.2g})."
    )
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """Check an export folder and publish it to the Hugging Face Hub."""
    try:
        result = push_folder(
            args.source,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            check_image=_read_photo(args.check_image),
        )
    except PushError as error:
        print(f"hf-vits push: error: {error}", file=sys.stderr)
        return 1
    print(f"Published {args.source} to {result.repo_url} (revision {result.revision}): {result.commit_url}")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    """Render architecture cards: print them, write the MODEL_CARDS/ catalogue, or check that it is fresh."""
    if args.all == bool(args.architectures):
        raise ValueError("name architectures or pass --all (not both).")
    if args.all:
        if args.check:
            stale = stale_catalogue_cards(args.output_dir)
            for name in stale:
                print(f"{args.output_dir}/{name}", file=sys.stderr)
            return 1 if stale else 0
        for path in write_catalogue(args.output_dir):
            print(path)
        return 0
    for name in args.architectures:
        print(render_model_card(name))
    return 0


def add_hub_commands(commands: argparse._SubParsersAction) -> None:
    """Add `export`, `push` and `card` to the sub-commands of the `hf-vits` parser."""
    export = commands.add_parser("export", help="write a complete, verified Hub folder with its model card")
    export.add_argument("source", help="model folder (e.g. a training run's output) or Hub repo id")
    export.add_argument("--to", required=True, type=Path, help="output folder")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    export.add_argument("--repo-id", help="the Hub repo the folder is for (OWNER/NAME), named in the card's examples")
    export.add_argument("--license", default=DEFAULT_LICENSE, help="license identifier for the card")
    export.add_argument(
        "--max-shard-size", default=DEFAULT_MAX_SHARD_SIZE, help="split the weights into shards above this size"
    )
    export.add_argument("--revision", help="revision of a Hub source")
    export.add_argument("--check-image", help="photo for the check (default: scikit-image's cat)")
    export.add_argument(
        "--fuse-batchnorm",
        action="store_true",
        help="export the inference form: every BatchNorm folded into the layer next to it (LeViT)",
    )
    export.set_defaults(func=cmd_export)

    push = commands.add_parser("push", help="publish an export folder to the Hugging Face Hub")
    push.add_argument("source", help="export folder (or Hub repo id)")
    push.add_argument("--repo-id", required=True, help="OWNER/NAME on the Hub (created when missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--revision", default=None, help="branch to push to (default: main; created when missing)")
    push.add_argument("--commit-message", help="message of the commit")
    push.add_argument("--check-image", help="photo for the check (default: scikit-image's cat)")
    push.set_defaults(func=cmd_push)

    card = commands.add_parser("card", help="render architecture model cards (the MODEL_CARDS/ catalogue)")
    card.add_argument("architectures", nargs="*", help="architectures to print (e.g. vit deit)")
    card.add_argument("--all", action="store_true", help="write every architecture's card into --output-dir")
    card.add_argument("--output-dir", default=CATALOGUE_FOLDER, help="catalogue folder (default: MODEL_CARDS)")
    card.add_argument("--check", action="store_true", help="with --all: list stale cards and exit 1, write nothing")
    card.set_defaults(func=cmd_card)
