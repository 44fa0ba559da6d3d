"""Hub repo ids: checking them, and resolving a model given as a local folder or as a repo id to a folder through the
Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

import httpx2
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
from huggingface_hub.utils import HFValidationError, validate_repo_id


def resolve_model(source: str | Path, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """The folder of `source`: the folder itself, or the snapshot of a Hub repo id (`owner/name`) in the Hugging Face
    cache (`cache_dir`, else the default one), downloaded when online and read from the cache offline
    (`HF_HUB_OFFLINE=1`)."""
    path = Path(source)
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"{source} is a file; expected a model folder or a Hub repo id (owner/name).")
    try:
        validate_repo_id(str(source))
    except HFValidationError as error:
        raise FileNotFoundError(f"{source}: no such folder, and not a Hub repo id (owner/name).") from error
    try:
        return Path(snapshot_download(str(source), revision=revision, cache_dir=cache_dir))
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, httpx2.TransportError) as error:
        raise FileNotFoundError(
            f"{source} is no local folder, and downloading it from the Hugging Face Hub failed: {error}"
        ) from error


def check_repo_id(repo_id: str) -> str:
    """`repo_id` when it is a valid `owner/name` Hub model id, else a ValueError that says what is wrong."""
    if repo_id.count("/") != 1:
        raise ValueError(f"Invalid repo id {repo_id!r}: expected OWNER/NAME, e.g. me/deit-tiny-digits.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"Invalid repo id {repo_id!r}: {error}") from error
    return repo_id
