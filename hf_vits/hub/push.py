"""Push: publish an export folder to the Hugging Face Hub with `huggingface_hub` (`create_repo` + `upload_folder`),
after checking it as `export` does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from PIL import Image

from .download import check_repo_id, resolve_model
from .export import check_export, check_model_files

logger = logging.getLogger(__name__)

DEFAULT_REVISION = "main"


class PushError(RuntimeError):
    """A push the Hub did not complete (authentication, permission, network or server failure)."""


@dataclass(frozen=True)
class PushResult:
    """Where a push landed."""

    repo_url: str
    revision: str
    commit_url: str
    commit_oid: str


def push_folder(
    source: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    check_image: Image.Image | None = None,
) -> PushResult:
    """Check the export folder `source` (or the snapshot of a Hub repo id) and publish it to `repo_id` at `revision`
    (created when missing) in one commit. The token is `token`, else `HF_TOKEN`, else the saved login."""
    check_repo_id(repo_id)
    folder = resolve_model(source)
    check_model_files(folder)
    token = token or get_token()
    if token is None:
        raise ValueError(
            "No Hugging Face token: set HF_TOKEN or log in once with `hf auth login` (`huggingface-cli login`)."
        )
    api = HfApi(token=token)
    # The token is checked before the export check, which takes a while, so that a bad one fails at once.
    identity = _call_hub(f"checking the token with {api.endpoint}", repo_id, api.whoami)
    if identity.get("auth", {}).get("accessToken", {}).get("role") == "read":
        raise PushError(f"Push to {repo_id} refused: the token is read-only; use a token with write access.")
    check_export(folder, check_image)
    revision = revision or DEFAULT_REVISION
    repo_url = _call_hub(
        "creating the repository", repo_id, lambda: api.create_repo(repo_id, private=private, exist_ok=True)
    )
    if revision != DEFAULT_REVISION:
        _call_hub(
            f"creating the branch {revision!r}",
            repo_id,
            lambda: api.create_branch(repo_id, branch=revision, exist_ok=True),
        )
    commit = _call_hub(
        "uploading",
        repo_id,
        lambda: api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message or f"Upload {folder.name} with hf-vits",
        ),
    )
    logger.info("Pushed %s to %s at %s: %s", folder, repo_id, revision, commit.commit_url)
    return PushResult(str(repo_url), revision, commit.commit_url, commit.oid)


def _call_hub(stage: str, repo_id: str, call):
    """Run one Hub call, turning its failures into a PushError that says what failed and that nothing of this push
    was committed (an export folder, a handful of files, goes up in one commit; a failed commit changes nothing)."""
    try:
        return call()
    except (HfHubHTTPError, httpx2.TransportError, OfflineModeIsEnabled) as error:
        raise PushError(
            f"Push to {repo_id} failed while {stage}: {_reason(error, repo_id)}. Nothing was committed; nothing of "
            "this push is published."
        ) from error


def _reason(error: Exception, repo_id: str) -> str:
    if isinstance(error, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    if isinstance(error, httpx2.TransportError):
        return f"network failure ({type(error).__name__}: {error})"
    status = error.response.status_code if error.response is not None else None
    if status == 401:
        return "the token was rejected (401): it is invalid or expired; set HF_TOKEN or run `hf auth login`"
    if status == 403:
        return f"the token may not write to {repo_id} (403): use a token with write access to its owner"
    return f"the Hub answered {status}: {str(error).splitlines()[0]}"
