"""Hub publishing: export, model cards and the MODEL_CARDS/ catalogue, push for real over HTTP to a local stand-in for
the Hub API, and download through the Hugging Face cache (from the stand-in, and offline from a populated cache).

Everything that talks HTTP runs in a subprocess with `HF_ENDPOINT` pointing at the stand-in, because
huggingface_hub reads its endpoint and offline mode when it is imported (and the test process is offline).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
)

import hf_vits
import hf_vits.hub.export as export_module
from hf_vits.hub import (
    ExportCheckError,
    export_model,
    render_model_card,
    resolve_model,
    stale_catalogue_cards,
    validate_model_card,
    write_catalogue,
)
from hf_vits.hub.cli import add_hub_commands

REPO_ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = REPO_ROOT / "MODEL_CARDS"
LABELS = {0: "tabby", 1: "espresso", 2: "teapot"}
REPO_ID = "acme/tiny-deit"
WRITE_TOKEN = "hf_standin_write_token"
READ_TOKEN = "hf_standin_read_token"
DROP_TOKEN = "hf_standin_drop_token"  # the stand-in hangs up on it without answering: a network failure
SUBPROCESS_TIMEOUT_S = 300
STAND_IN_LIFETIME_S = 600
INITIAL_FILES = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}

# The hub sub-commands run as `hf-vits` runs them: user errors print "hf-vits <cmd>: error: ..." and exit 2.
CLI = """
import argparse, sys
from hf_vits.hub.cli import add_hub_commands

def hf_vits_cli(argv):
    parser = argparse.ArgumentParser(prog="hf-vits")
    add_hub_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as error:
        print(f"hf-vits {args.command}: error: {error}", file=sys.stderr)
        return 2
"""

RUN_CLI = CLI + "\nsys.exit(hf_vits_cli(sys.argv[1:]))\n"

PUSH_THEN_DOWNLOAD = (
    CLI
    + """
import torch
from huggingface_hub import snapshot_download
from PIL import Image
from safetensors.torch import save_file
from transformers import AutoImageProcessor, AutoModelForImageClassification

folder, photo, output = sys.argv[1:4]
if hf_vits_cli(["push", folder, "--repo-id", "acme/tiny-deit", "--private", "--revision", "release"]) != 0:
    sys.exit("push failed")
snapshot = snapshot_download("acme/tiny-deit", revision="release")
print("SNAPSHOT", snapshot)
model = AutoModelForImageClassification.from_pretrained("acme/tiny-deit", revision="release").eval()
processor = AutoImageProcessor.from_pretrained("acme/tiny-deit", revision="release")
print("MODEL", type(model).__module__, type(model).__name__)
with torch.no_grad():
    logits = model(**processor(Image.open(photo), return_tensors="pt")).logits
save_file({"logits": logits.contiguous()}, output)
"""
)

PUSH_WITH_TOKENS = (
    CLI
    + """
import contextlib, io, json, os

outcomes = []
for token in json.loads(sys.argv[2]):
    os.environ.pop("HF_TOKEN", None)
    if token is not None:
        os.environ["HF_TOKEN"] = token
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = hf_vits_cli(["push", sys.argv[1], "--repo-id", "acme/tiny-deit"])
    outcomes.append({"rc": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()})
print(json.dumps(outcomes))
"""
)

LOAD_WITHOUT_HF_VITS = """
import sys

sys.modules["hf_vits"] = None  # a Hub user who never installed hf-vits
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

photo = Image.open(sys.argv[1])
model = AutoModelForImageClassification.from_pretrained("acme/tiny-deit", trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained("acme/tiny-deit", trust_remote_code=True)
print("MODEL", type(model).__module__, type(model).__name__)
with torch.no_grad():
    logits = model(**processor(photo, return_tensors="pt")).logits
classifier = pipeline("image-classification", model="acme/tiny-deit", trust_remote_code=True)
print("TOP", classifier(photo, top_k=1)[0]["label"])
save_file({"logits": logits.contiguous()}, sys.argv[2])
"""


# ------------------------------------------------------------------------------------------ the Hub stand-in


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class StandInRepo:
    """One model repository: branches pointing at commits, each commit a full file tree."""

    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def commit(self, branch: str, parent: str | None, files: dict[str, bytes], message: str) -> str:
        listing = sorted((path, git_blob_oid(content)) for path, content in files.items())
        oid = hashlib.sha1(json.dumps([parent, message, listing]).encode()).hexdigest()
        self.trees[oid], self.messages[oid], self.branches[branch] = files, message, oid
        return oid

    def resolve(self, revision: str) -> str | None:
        return self.branches.get(revision) or (revision if revision in self.trees else None)


class StandInHub:
    """An in-memory stand-in for the endpoints of the Hub's HTTP API that huggingface_hub 2.x calls to check a token,
    create a repository and a branch, validate a model card's metadata, upload (preupload + NDJSON commit, every
    file "regular", so inline base64 and never Xet or LFS), list a tree, describe a repository and resolve files.
    Serves on 127.0.0.1 on a port the OS picks, and stops by itself after `lifetime_s` if nobody stops it."""

    def __init__(self, lifetime_s: float = STAND_IN_LIFETIME_S):
        self.repos: dict[str, StandInRepo] = {}
        self.failing_commits: set[str] = set()
        self.commit_attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._stopped = threading.Event()

    def start(self) -> StandInHub:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()


TOKENS = {WRITE_TOKEN: ("acme", "write"), READ_TOKEN: ("acme", "read")}
REPO = r"(?P<repo>[^/?]+/[^/?]+)"
ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami"),
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("POST", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", "create_branch"),
    ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", "commit"),
    ("POST", rf"/api/models/{REPO}/paths-info/(?P<rev>[^/]+)", "paths_info"),
    ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", "tree"),
    ("GET", rf"/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?", "model_info"),
    ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]


def _handler_class(hub: StandInHub) -> type[BaseHTTPRequestHandler]:
    class Handler(StandInHandler):
        pass

    Handler.hub = hub
    return Handler


class DropConnection(Exception):
    """Close the connection without answering."""


class HubError(Exception):
    """An error answer of the stand-in: status, message, and the X-Error-Code huggingface_hub maps to an exception."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: StandInHub

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args) -> None:  # quiet
        return

    # -- plumbing

    def _dispatch(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        self.query = parse_qs(query)
        self.body = self._read_body()
        for route_method, pattern, name in ROUTES:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                try:
                    with self.hub.lock:
                        status, payload, headers = getattr(self, name)(**params)
                except DropConnection:
                    self.close_connection = True
                    return
                except HubError as error:
                    headers = {"X-Error-Message": str(error), **error.headers}
                    if error.code:
                        headers["X-Error-Code"] = error.code
                    status, payload = error.status, {"error": str(error)}
                self._send(status, payload, headers, send_body=method != "HEAD")
                return
        self._send(404, {"error": f"no route for {method} {path}"}, {}, send_body=method != "HEAD")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload, headers: dict, send_body: bool) -> None:
        if isinstance(payload, bytes):
            body, content_type = payload, "application/octet-stream"
        else:
            body, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _user(self, write: bool = False) -> str | None:
        """The user of the request's token; 401 for an unknown token, 403 for a read token where writing."""
        authorization = self.headers.get("Authorization", "")
        if authorization == f"Bearer {DROP_TOKEN}":
            raise DropConnection
        if not authorization:
            if write:
                raise HubError(401, "Invalid credentials in Authorization header")
            return None
        user, role = TOKENS.get(authorization.removeprefix("Bearer "), (None, None))
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        if write and role != "write":
            raise HubError(403, "You don't have the rights to write to this repository")
        return user

    def _repo(self, repo_id: str) -> StandInRepo:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and self._user() is None):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _revision(self, repo: StandInRepo, revision: str) -> str:
        oid = repo.resolve(revision)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return oid

    def _json(self):
        return json.loads(self.body or b"{}")

    def _file_entry(self, path: str, content: bytes) -> dict:
        return {"type": "file", "path": path, "size": len(content), "oid": git_blob_oid(content)}

    # -- endpoints

    def whoami(self):
        user = self._user()
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        role = TOKENS[self.headers["Authorization"].removeprefix("Bearer ")][1]
        return 200, {"type": "user", "name": user, "orgs": [], "auth": {"accessToken": {"role": role}}}, {}

    def create_repo(self):
        user, payload = self._user(write=True), self._json()
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        if payload.get("organization") not in (None, user):
            raise HubError(403, f"You don't have the rights to create a repo under {payload['organization']}")
        if repo_id in self.hub.repos:
            raise HubError(409, "You already created this model repo")
        repo = StandInRepo(private=payload.get("visibility") == "private")
        repo.commit("main", None, dict(INITIAL_FILES), "initial commit")
        self.hub.repos[repo_id] = repo
        return 200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id}, {}

    def validate_yaml(self):
        """The Hub's check of a README's metadata before an upload, here done with huggingface_hub.ModelCard."""
        try:
            ModelCard(self._json()["content"], ignore_metadata_errors=False)
        except ValueError as error:
            return 400, {"errors": [{"message": str(error)}], "warnings": []}, {}
        return 200, {"errors": [], "warnings": []}, {}

    def create_branch(self, repo: str, branch: str):
        self._user(write=True)
        stored = self._repo(repo)
        if branch in stored.branches:
            raise HubError(409, f"Branch {branch} already exists")
        stored.branches[branch] = stored.branches["main"]
        return 200, {}, {}

    def preupload(self, repo: str, rev: str):
        self._user(write=True)
        stored = self._repo(repo)
        tree = stored.trees[self._revision(stored, rev)]
        files = [
            {
                "path": entry["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_oid(tree[entry["path"]]) if entry["path"] in tree else None,
            }
            for entry in self._json()["files"]
        ]
        return 200, {"files": files}, {}

    def commit(self, repo: str, rev: str):
        self._user(write=True)
        stored = self._repo(repo)
        parent = stored.branches.get(rev)
        if parent is None:
            raise HubError(404, f"Invalid rev id: {rev} (commits go to a branch)", "RevisionNotFound")
        self.hub.commit_attempts[repo] = self.hub.commit_attempts.get(repo, 0) + 1
        if repo in self.hub.failing_commits:
            raise HubError(500, "Internal Error", headers={"Retry-After": "0"})
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header, operations = lines[0]["value"], lines[1:]
        files = dict(stored.trees[parent])
        for operation in operations:
            key, value = operation["key"], operation["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            else:
                raise HubError(400, f"The stand-in takes regular files only, got {key}")
        oid = stored.commit(rev, parent, files, header["summary"])
        return 200, {"commitUrl": f"{self.hub.url}/{repo}/commit/{oid}", "commitOid": oid}, {}

    def paths_info(self, repo: str, rev: str):
        stored = self._repo(repo)
        tree = stored.trees[self._revision(stored, rev)]
        paths = parse_qs(self.body.decode()).get("paths", [])
        return 200, [self._file_entry(path, tree[path]) for path in paths if path in tree], {}

    def tree(self, repo: str, rev: str, path: str = ""):
        stored = self._repo(repo)
        tree = stored.trees[self._revision(stored, rev)]
        prefix = f"{path}/" if path else ""
        recursive = self.query.get("recursive", ["False"])[0].lower() == "true"
        entries, folders = [], set()
        for file_path, content in sorted(tree.items()):
            if not file_path.startswith(prefix):
                continue
            relative = file_path[len(prefix) :]
            if "/" in relative and not recursive:
                folders.add(prefix + relative.split("/")[0])
                continue
            entries.append(self._file_entry(file_path, content))
            folders.update(prefix + "/".join(relative.split("/")[: i + 1]) for i in range(relative.count("/")))
        entries += [{"type": "directory", "path": folder, "oid": git_blob_oid(folder.encode())} for folder in folders]
        return 200, entries, {}

    def model_info(self, repo: str, rev: str = "main"):
        stored = self._repo(repo)
        oid = self._revision(stored, rev)
        siblings = [{"rfilename": path} for path in sorted(stored.trees[oid])]
        return 200, {"id": repo, "sha": oid, "private": stored.private, "siblings": siblings}, {}

    def resolve(self, repo: str, rev: str, path: str):
        stored = self._repo(repo)
        oid = self._revision(stored, rev)
        content = stored.trees[oid].get(path)
        if content is None:
            raise HubError(404, f"{path} does not exist", "EntryNotFound", {"X-Repo-Commit": oid})
        return 200, content, {"X-Repo-Commit": oid, "ETag": f'"{git_blob_oid(content)}"'}


# ------------------------------------------------------------------------------------------------- fixtures


def subprocess_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a child process: no inherited HF_* settings, its own HF home and cache, loopback unproxied."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_", "HUGGING"))}
    env.update(
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_CACHE=str(tmp_path / "hf_cache"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(overrides)
    return env


def run_python(script: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


def hub_cli(argv: list[str]) -> int:
    """Run a hub sub-command in this process, as `hf-vits` does (user errors raise)."""
    parser = argparse.ArgumentParser(prog="hf-vits")
    add_hub_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def tiny_run(folder: Path) -> Path:
    """A training run's output as the trainer leaves it: model, processor, metrics.json and PNG curves."""
    torch.manual_seed(0)
    model = hf_vits.create_model(
        "deit-tiny-patch16-224",
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
        id2label=LABELS,
        label2id={label: index for index, label in LABELS.items()},
    )
    model.save_pretrained(folder)
    hf_vits.create_image_processor("deit-tiny-patch16-224", image_size=32).save_pretrained(folder)
    history = [
        {
            "epoch": epoch,
            "step": 7 * epoch,
            "train_loss": 2.0 / epoch,
            "eval_loss": 1.5 / epoch,
            "eval_top1": 40.0 + 9 * epoch,
            "eval_top5": 100.0,
            "lr": 1e-4,
            "images_per_s": 310.5,
            "epoch_seconds": 40.0,
        }
        for epoch in (1, 2, 3)
    ]
    final = {key: value for key, value in history[-1].items() if key not in ("epoch", "epoch_seconds")}
    final.update(epochs=3, train_seconds=120.0, best_eval_top1=67.0)
    run = {
        "model": "deit-tiny-patch16-224",
        "dataset": "digits",
        "eval_split": "train (held out)",
        "train_images": 1617,
        "eval_images": 180,
        "num_processes": 2,
        "peak_lr": 6.25e-05,
        "config": {
            "output_dir": "/home/someone/runs/tiny",
            "epochs": 3,
            "batch_size": 64,
            "lr": 0.0005,
            "mixed_precision": "no",
            "crop_scale": [0.08, 1.0],
            "teacher": None,
            "num_workers": 4,
        },
    }
    (folder / "metrics.json").write_text(json.dumps({**run, "epochs": history, "final": final}, indent=2))
    (folder / "plots").mkdir()
    for name in ("loss", "accuracy", "learning_rate"):
        Image.new("RGB", (60, 40), "white").save(folder / "plots" / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def exported(run_folder, tmp_path_factory):
    """The run exported for acme/tiny-deit, its weights split into several shards."""
    output = tmp_path_factory.mktemp("export") / "tiny-deit"
    return export_model(run_folder, output, repo_id=REPO_ID, max_shard_size="40KB")


@pytest.fixture(scope="module")
def photo_file(chelsea, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "chelsea.png"
    chelsea.save(path)
    return path


@pytest.fixture(scope="module")
def local_logits(exported, chelsea) -> torch.Tensor:
    """The exported model's logits on the photo, loaded here with hf_vits."""
    model = AutoModelForImageClassification.from_pretrained(exported.folder).eval()
    processor = AutoImageProcessor.from_pretrained(exported.folder)
    with torch.no_grad():
        return model(**processor(chelsea, return_tensors="pt")).logits


@pytest.fixture
def hub():
    stand_in = StandInHub().start()
    yield stand_in
    stand_in.stop()


def foreign_folder(folder: Path) -> Path:
    """A transformers ViT classifier: a saved model, but not of an hf-vits architecture."""
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


# --------------------------------------------------------------------------------------------------- export


def test_export_writes_a_complete_self_describing_folder(exported):
    folder = exported.folder
    files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    shards = [name for name in files if re.fullmatch(r"model-\d{5}-of-\d{5}\.safetensors", name)]
    assert len(shards) >= 2, files
    expected = {
        "README.md",
        "config.json",
        "configuration_deit.py",
        "image_processing_deit.py",
        "metrics.json",
        "model.safetensors.index.json",
        "modeling_deit.py",
        "plots/accuracy.png",
        "plots/learning_rate.png",
        "plots/loss.png",
        "preprocessor_config.json",
    }
    assert set(files) == expected | set(shards)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == shards

    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "hfvits_deit" and config["id2label"] == {str(k): v for k, v in LABELS.items()}
    assert config["auto_map"] == {
        "AutoConfig": "configuration_deit.ZooDeiTConfig",
        "AutoModel": "modeling_deit.ZooDeiTModel",
        "AutoModelForImageClassification": "modeling_deit.ZooDeiTForImageClassification",
    }
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["auto_map"]["AutoImageProcessor"] == {
        "torchvision": "image_processing_deit.ZooDeiTImageProcessor",
        "pil": "image_processing_deit.ZooDeiTImageProcessorPil",
    }
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "output_dir" not in metrics["config"] and metrics["config"]["batch_size"] == 64
    assert 0 <= exported.max_abs_diff <= 1e-4
    assert leftovers(folder.parent) == []


def test_export_card_reports_the_architecture_and_the_run(exported, run_folder):
    text = (exported.folder / "README.md").read_text()
    card = validate_model_card(text)
    data = card.data
    assert (data.library_name, data.pipeline_tag, data.license) == (
        "transformers",
        "image-classification",
        "apache-2.0",
    )
    assert {"hf-vits", "hfvits_deit", "image-classification"} <= set(data.tags)
    assert data.metrics == ["accuracy"] and not data.datasets  # the bundled digits are no Hub dataset

    final = json.loads((run_folder / "metrics.json").read_text())["final"]
    results = {result.metric_name: result for result in data.eval_results}
    assert data.model_name == "tiny-deit"
    assert results["Top-1 accuracy (%)"].metric_value == final["eval_top1"] == 67.0
    assert results["Top-5 accuracy (%)"].metric_value == final["eval_top5"]
    assert {result.dataset_split for result in results.values()} == {"train (held out)"}

    for variant in hf_vits.list_variants("deit"):
        figures = [
            f"{value:g}" if value is not None else "—" for value in (variant.params_m, variant.gflops, variant.top1)
        ]
        assert f"| `{variant.name}` | {' | '.join(figures)} | {variant.resolution} | {variant.source} |" in text
    assert "a custom configuration: `hidden_size=32`" in text and "**Labels (3):** tabby, espresso, teapot" in text
    assert "resize the shorter side to 36 (bicubic); center-crop 32x32" in text
    assert 'AutoModelForImageClassification.from_pretrained("acme/tiny-deit", trust_remote_code=True)' in text
    assert 'pipeline("image-classification", model="acme/tiny-deit", trust_remote_code=True)' in text
    assert "1617 training images; evaluated on the `train (held out)` split (180 images)" in text
    assert "**Hardware:** 2 training processes, mixed precision: no" in text and "**Training time:** 2 min 00 s" in text
    assert "| `batch_size` | 64 |" in text and "| `peak_lr` | 6.25e-05 |" in text and "output_dir" not in text
    for plot in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (exported.folder / plot).is_file(), plot
    assert "![loss](plots/loss.png)" in text and "![accuracy](plots/accuracy.png)" in text
    assert "@inproceedings{touvron2021training" in text


def test_card_without_a_training_run_claims_no_results(exported):
    model = AutoModelForImageClassification.from_pretrained(exported.folder)
    text = render_model_card("deit", model=model, model_name="converted-deit")
    data = validate_model_card(text).data
    assert data.eval_results is None and "model-index" not in data.to_dict()
    assert "No training run is recorded with these weights" in text and "## Training" in text
    assert 'from_pretrained("<owner>/converted-deit")' in text


def remote_load(logits: dict[str, torch.Tensor], module: str = "transformers_modules.tiny.modeling_deit"):
    """A stand-in for the reload in a fresh interpreter (the fixture `exported` and the push tests run the real one)."""
    classes = {"classifier": {"name": "ZooDeiTForImageClassification", "module": module}}
    return lambda folder, photo: (logits, {"classes": classes, "hf_vits_modules": []})


def test_export_check_refuses_different_predictions_and_writes_nothing(run_folder, chelsea, tmp_path, monkeypatch):
    model, processors = export_module.load_model(run_folder)
    nudged = {backend: logits + 1e-3 for backend, logits in export_module.classify(model, processors, chelsea).items()}
    monkeypatch.setattr(export_module, "reload_without_hf_vits", remote_load(nudged))
    with pytest.raises(ExportCheckError, match=r"loaded without hf-vits predicts differently: max \|Δ\| .* 0\.001"):
        export_model(run_folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_export_check_refuses_a_reload_that_used_hf_vits(run_folder, chelsea, tmp_path, monkeypatch):
    model, processors = export_module.load_model(run_folder)
    same = export_module.classify(model, processors, chelsea)
    monkeypatch.setattr(
        export_module, "reload_without_hf_vits", remote_load(same, "hf_vits.modeling.deit.modeling_deit")
    )
    with pytest.raises(ExportCheckError, match="did not load through its own code: classifier is hf_vits.modeling"):
        export_model(run_folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_export_refuses_a_model_of_another_architecture(tmp_path):
    source = foreign_folder(tmp_path / "vit")
    with pytest.raises(ExportCheckError, match=r"model_type 'vit' \(ViTForImageClassification\).*not an hf-vits"):
        export_model(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_keeps_an_existing_output_folder(run_folder, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--overwrite"):
        hub_cli(["export", str(run_folder), "--to", str(output)])
    assert [path.name for path in output.iterdir()] == ["mine.txt"]


# ---------------------------------------------------------------------------------------- cards and catalogue


def test_catalogue_is_fresh():
    stale = stale_catalogue_cards(CATALOGUE)
    assert stale == [], f"MODEL_CARDS/ is stale: {stale}; regenerate it with `hf-vits card --all`."


def test_every_architecture_has_a_valid_card_in_the_catalogue():
    for name, arch in hf_vits.ARCHITECTURES.items():
        path = CATALOGUE / f"{name}.md"
        assert path.is_file(), f"no catalogue card for {name}"
        text = path.read_text()
        data = validate_model_card(text).data
        assert arch.model_type in data.tags and "model-index" not in data.to_dict()
        assert text.startswith("---\n") and f"# {arch.title}\n" in text and arch.paper in text
        for variant in hf_vits.list_variants(name):
            assert f"| `{variant.name}` |" in text


def test_catalogue_check_finds_missing_changed_and_orphan_cards(tmp_path):
    written = write_catalogue(tmp_path)
    assert sorted(path.name for path in written) == sorted(f"{name}.md" for name in hf_vits.ARCHITECTURES)
    assert stale_catalogue_cards(tmp_path) == []
    assert hub_cli(["card", "--all", "--check", "--output-dir", str(tmp_path)]) == 0
    (tmp_path / "vit.md").write_text((tmp_path / "vit.md").read_text().replace("ICLR 2021", "ICLR 2020"))
    (tmp_path / "deit.md").unlink()
    (tmp_path / "resnet.md").write_text("---\n---\n")
    assert stale_catalogue_cards(tmp_path) == [
        "deit.md (missing)",
        "resnet.md (no such architecture)",
        "vit.md (out of date)",
    ]
    assert hub_cli(["card", "--all", "--check", "--output-dir", str(tmp_path)]) == 1
    hub_cli(["card", "--all", "--output-dir", str(tmp_path)])
    assert stale_catalogue_cards(tmp_path) == []


def test_card_validation_rejects_broken_metadata():
    good = render_model_card("vit")
    with pytest.raises(ValueError, match="model_index"):
        validate_model_card(good.replace("---\n", "---\nmodel-index:\n- name: x\n  results:\n  - metrics: []\n", 1))
    with pytest.raises(ValueError, match="library_name is 'timm'"):
        validate_model_card(good.replace("library_name: transformers", "library_name: timm"))
    with pytest.raises(KeyError, match="Unknown architecture 'resnet'"):
        render_model_card("resnet")


# ------------------------------------------------------------------------------------------- push over HTTP


def test_push_then_download_gives_the_same_logits(exported, hub, photo_file, local_logits, tmp_path):
    env = subprocess_env(tmp_path, HF_ENDPOINT=hub.url, HF_TOKEN=WRITE_TOKEN)
    result = run_python(
        PUSH_THEN_DOWNLOAD, [str(exported.folder), str(photo_file), "logits.safetensors"], env, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"Published {exported.folder} to {hub.url}/{REPO_ID} (revision release)" in result.stdout

    repo = hub.repos[REPO_ID]
    assert repo.private and repo.trees[repo.branches["main"]] == INITIAL_FILES  # --revision release left main alone
    pushed = repo.trees[repo.branches["release"]]
    local = {str(p.relative_to(exported.folder)): p.read_bytes() for p in exported.folder.rglob("*") if p.is_file()}
    assert pushed == {**INITIAL_FILES, **local}
    assert repo.messages[repo.branches["release"]] == "Upload tiny-deit with hf-vits"

    assert "MODEL hf_vits.modeling.deit.modeling_deit ZooDeiTForImageClassification" in result.stdout
    snapshot = Path(re.search(r"SNAPSHOT (.+)", result.stdout).group(1))
    assert snapshot.is_relative_to(tmp_path / "hf_cache" / "models--acme--tiny-deit" / "snapshots")
    assert {str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()} == set(pushed)
    downloaded = load_file(tmp_path / "logits.safetensors")["logits"]
    torch.testing.assert_close(downloaded, local_logits, atol=1e-6, rtol=0)


def test_push_that_fails_mid_upload_claims_nothing(exported, hub, tmp_path):
    hub.failing_commits.add(REPO_ID)
    env = subprocess_env(tmp_path, HF_ENDPOINT=hub.url, HF_TOKEN=WRITE_TOKEN)
    result = run_python(RUN_CLI, ["push", str(exported.folder), "--repo-id", REPO_ID], env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "hf-vits push: error: Push to acme/tiny-deit failed while uploading: the Hub answered 500" in result.stderr
    assert "Nothing was committed" in result.stderr and "Published" not in result.stdout
    assert hub.commit_attempts[REPO_ID] >= 1  # the files were announced (preupload) and the commit was refused
    repo = hub.repos[REPO_ID]
    assert list(repo.branches) == ["main"] and repo.trees[repo.branches["main"]] == INITIAL_FILES


def test_push_with_bad_credentials_or_network_fails_before_anything_is_created(exported, hub, tmp_path):
    """An invalid token, a read-only token, no token at all (no HF_TOKEN, no saved login) and a connection that drops
    (a network failure), in one process."""
    scenarios = {
        "hf_not_a_token": (
            1,
            r"failed while checking the token with http://127\.0\.0\.1:\d+: the token was rejected \(401\)",
        ),
        READ_TOKEN: (1, r"refused: the token is read-only"),
        None: (2, r"hf-vits push: error: No Hugging Face token: set HF_TOKEN or log in"),
        DROP_TOKEN: (1, r"failed while checking the token .*: network failure \(RemoteProtocolError"),
    }
    env = subprocess_env(tmp_path, HF_ENDPOINT=hub.url)
    result = run_python(PUSH_WITH_TOKENS, [str(exported.folder), json.dumps(list(scenarios))], env, tmp_path)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout.splitlines()[-1])
    for (token, (code, message)), outcome in zip(scenarios.items(), outcomes, strict=True):
        assert outcome["rc"] == code and re.search(message, outcome["stderr"]), (token, outcome)
        assert "Published" not in outcome["stdout"]
    assert hub.repos == {}


@pytest.mark.parametrize("repo_id", ["no-owner", "acme/tiny/deit", "acme/bad name", "acme/--x"])
def test_push_refuses_an_invalid_repo_id(exported, repo_id):
    with pytest.raises(ValueError, match=f"Invalid repo id '{re.escape(repo_id)}'"):
        hub_cli(["push", str(exported.folder), "--repo-id", repo_id])


def test_push_refuses_a_folder_without_weights(exported, tmp_path):
    folder = shutil.copytree(exported.folder, tmp_path / "no-weights")
    for weights in folder.glob("model*.safetensors*"):
        weights.unlink()
    with pytest.raises(ExportCheckError, match="has no weights: neither model.safetensors nor"):
        hub_cli(["push", str(folder), "--repo-id", REPO_ID])
    shutil.copy(exported.folder / "model.safetensors.index.json", folder)
    with pytest.raises(ExportCheckError, match="shards listed in model.safetensors.index.json are missing"):
        hub_cli(["push", str(folder), "--repo-id", REPO_ID])


def test_push_refuses_a_config_of_another_architecture(tmp_path):
    folder = foreign_folder(tmp_path / "vit")
    with pytest.raises(ExportCheckError, match="model_type 'vit'.*not an hf-vits architecture"):
        hub_cli(["push", str(folder), "--repo-id", REPO_ID])


# ------------------------------------------------------------------------------------------ offline download

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def populated_cache(exported, tmp_path) -> Path:
    """acme/tiny-deit at main in a Hugging Face cache laid out as huggingface_hub writes it."""
    repo = tmp_path / "hf_cache" / "models--acme--tiny-deit"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(exported.folder, repo / "snapshots" / COMMIT)
    return repo / "snapshots" / COMMIT


def test_offline_download_by_repo_id_with_hf_vits(populated_cache, chelsea, local_logits):
    cache = populated_cache.parents[2]
    assert resolve_model(REPO_ID, cache_dir=cache) == populated_cache  # what export and push do with a repo id
    model = AutoModelForImageClassification.from_pretrained(REPO_ID, cache_dir=cache).eval()
    processor = AutoImageProcessor.from_pretrained(REPO_ID, cache_dir=cache)
    assert type(model) is hf_vits.ZooDeiTForImageClassification
    with torch.no_grad():
        logits = model(**processor(chelsea, return_tensors="pt")).logits
    torch.testing.assert_close(logits, local_logits, atol=0, rtol=0)


def test_offline_download_by_repo_id_without_hf_vits(populated_cache, photo_file, local_logits, tmp_path):
    env = subprocess_env(tmp_path, HF_HUB_OFFLINE="1")
    result = run_python(LOAD_WITHOUT_HF_VITS, [str(photo_file), "logits.safetensors"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    module, name = re.search(r"MODEL (\S+) (\S+)", result.stdout).groups()
    assert name == "ZooDeiTForImageClassification" and module.startswith("transformers_modules.")
    assert re.search(r"TOP (tabby|espresso|teapot)", result.stdout)
    logits = load_file(tmp_path / "logits.safetensors")["logits"]
    torch.testing.assert_close(logits, local_logits, atol=1e-6, rtol=0)
