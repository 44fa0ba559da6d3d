"""The architecture folders stay self-contained and their shared blocks stay identical.

- `# Copied from hf_vits.modeling.<arch>.<module>.<Name>[.<method>] [with A->B[, C->D]]` above a def or class
  promises that its source is the named object's source with the replacements applied (transformers'
  convention; `all-casing` after a pair also replaces its lower- and upper-case forms). A marker over the line
  limit ends with `# noqa: E501`.
- configuration, modeling and image-processing modules import only torch, torchvision, transformers, numpy,
  PIL, the standard library and single-dot siblings: that is what `save_pretrained` can copy as remote code.
- module file names are unique across the zoo, since remote code flattens them into one folder per model.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

import hf_vits

MODELING_ROOT = Path(hf_vits.__file__).parent / "modeling"
MARKER = re.compile(
    r"^[ \t]*# Copied from hf_vits\.modeling\.(?P<arch>\w+)\.(?P<module>\w+)\.(?P<name>[\w.]+)"
    r"(?:[ \t]+with[ \t]+(?P<replacements>.+?))?"
    # A marker longer than the line limit says so to the linter.
    r"(?:[ \t]+# noqa: E501)?[ \t]*$"
)
REPLACEMENT = re.compile(r"^(?P<old>[\w.]+)->(?P<new>[\w.]+)(?:[ \t]+(?P<option>all-casing))?$")
REMOTE_CODE_PREFIXES = ("configuration_", "modeling_", "image_processing_")
ALLOWED_PACKAGES = {"torch", "torchvision", "transformers", "numpy", "PIL", "__future__"}
CONTRACT_FILES = ("__init__.py", "variants.py")


@dataclass(frozen=True)
class Copy:
    path: Path
    line: int  # 1-based line of the marker
    source_module: str  # e.g. hf_vits.modeling.vit.modeling_vit
    qualified_name: str  # e.g. ZooViTEmbeddings.interpolate_pos_encoding
    replacements: tuple[tuple[str, str, bool], ...]

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} (copy of {self.source_module}.{self.qualified_name})"


def architecture_folders() -> list[Path]:
    return sorted(p for p in MODELING_ROOT.iterdir() if (p / "__init__.py").is_file())


def module_path(module: str) -> Path:
    """hf_vits.modeling.vit.modeling_vit -> .../hf_vits/modeling/vit/modeling_vit.py"""
    parts = module.split(".")
    return MODELING_ROOT.joinpath(*parts[2:]).with_suffix(".py")


def parse_replacements(text: str | None) -> tuple[tuple[str, str, bool], ...]:
    if not text:
        return ()
    pairs = []
    for item in text.split(","):
        match = REPLACEMENT.match(item.strip())
        if match is None:
            raise ValueError(f"malformed replacement {item.strip()!r}")
        pairs.append((match["old"], match["new"], match["option"] is not None))
    return tuple(pairs)


def apply_replacements(code: str, replacements: tuple[tuple[str, str, bool], ...]) -> str:
    for old, new, all_casing in replacements:
        code = code.replace(old, new)
        if all_casing:
            code = code.replace(old.lower(), new.lower()).replace(old.upper(), new.upper())
    return code


def definitions(tree: ast.AST) -> dict[int, ast.AST]:
    """Every def/class by the first line of its source (its first decorator's line if decorated)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found[start] = node
    return found


def node_source(lines: list[str], node: ast.AST) -> str:
    """The dedented source of a def/class, decorators included."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return textwrap.dedent("".join(lines[start - 1 : node.end_lineno]))


def find_object(tree: ast.Module, qualified_name: str) -> ast.AST | None:
    """A top-level def/class, or a def/class inside one (`Class.method`)."""
    scope: list[ast.stmt] = tree.body
    node = None
    for part in qualified_name.split("."):
        node = next(
            (
                n
                for n in scope
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        scope = node.body
    return node


def copy_problems(path: Path, text: str | None = None, sources: dict[str, str] | None = None) -> list[str]:
    """What is wrong with the `Copied from` blocks of one file. `text` and `sources` (module -> text) stand in
    for the files on disk, for the self-tests."""
    text = path.read_text() if text is None else text
    sources = sources or {}
    lines = text.splitlines(keepends=True)
    starts = definitions(ast.parse(text))
    problems = []
    for copy in find_copies(path, text):
        node = starts.get(copy.line + 1)
        if node is None:
            problems.append(f"{copy}: the marker is not directly above a def or class")
            continue
        source_file = module_path(copy.source_module)
        if copy.source_module not in sources and not source_file.is_file():
            problems.append(f"{copy}: no module {copy.source_module}")
            continue
        source_text = sources.get(copy.source_module) or source_file.read_text()
        original = find_object(ast.parse(source_text), copy.qualified_name)
        if original is None:
            problems.append(f"{copy}: {copy.qualified_name} does not exist in {copy.source_module}")
            continue
        expected = apply_replacements(node_source(source_text.splitlines(keepends=True), original), copy.replacements)
        if node_source(lines, node) != expected:
            problems.append(f"{copy}: differs from its source after the replacements")
    return problems


def find_copies(path: Path, text: str | None = None) -> list[Copy]:
    text = path.read_text() if text is None else text
    copies = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "Copied from" not in line:
            continue
        match = MARKER.match(line)
        if match is None:
            raise ValueError(f"{path.name}:{number}: malformed `Copied from` marker: {line.strip()!r}")
        copies.append(
            Copy(
                path=path,
                line=number,
                source_module=f"hf_vits.modeling.{match['arch']}.{match['module']}",
                qualified_name=match["name"],
                replacements=parse_replacements(match["replacements"]),
            )
        )
    return copies


def modeling_files() -> list[Path]:
    return sorted(MODELING_ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", modeling_files(), ids=lambda p: str(p.relative_to(MODELING_ROOT)))
def test_copies_are_identical_to_their_source(path):
    problems = copy_problems(path)
    assert not problems, "\n".join(problems)


def test_the_zoo_has_copies_to_check():
    copies = [copy for path in modeling_files() for copy in find_copies(path)]
    files = {copy.path.name for copy in copies}
    assert {"configuration_deit.py", "modeling_deit.py", "image_processing_deit.py"} <= files
    assert len(copies) >= 10
    assert any("." in copy.qualified_name for copy in copies), "a method-level copy"
    assert any(copy.replacements for copy in copies), "a copy with replacements"


# --------------------------------------------------------------------------------- the checker checks itself

DEIT_MODELING = MODELING_ROOT / "deit" / "modeling_deit.py"


def test_checker_catches_a_drifted_copy():
    text = DEIT_MODELING.read_text()
    drifted = text.replace("keep_prob = 1.0 - drop_prob", "keep_prob = 1.0 + drop_prob")
    assert drifted != text
    problems = copy_problems(DEIT_MODELING, drifted)
    assert len(problems) == 1 and "drop_path" in problems[0]


def test_checker_catches_a_missed_replacement():
    text = DEIT_MODELING.read_text()
    start = text.index("class ZooDeiTMLP")
    drifted = text[:start] + text[start:].replace("config: ZooDeiTConfig", "config: ZooViTConfig", 1)
    problems = copy_problems(DEIT_MODELING, drifted)
    assert len(problems) == 1 and "ZooViTMLP" in problems[0]


def test_checker_catches_a_change_in_a_copied_method():
    text = DEIT_MODELING.read_text()
    drifted = text.replace('mode="bicubic", align_corners=False', 'mode="bilinear", align_corners=False')
    assert drifted != text
    problems = copy_problems(DEIT_MODELING, drifted)
    assert len(problems) == 1 and "interpolate_pos_encoding" in problems[0]


def test_checker_catches_a_change_in_the_source():
    source = (MODELING_ROOT / "vit" / "modeling_vit.py").read_text()
    changed = source.replace("self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)", "self.fc1 = None")
    assert changed != source
    problems = copy_problems(DEIT_MODELING, sources={"hf_vits.modeling.vit.modeling_vit": changed})
    assert len(problems) == 1 and "ZooViTMLP" in problems[0]


def test_checker_catches_bad_markers():
    text = DEIT_MODELING.read_text()
    missing = text.replace(
        "# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTMLP with",
        "# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTPerceptron with",
    )
    assert any("does not exist" in p for p in copy_problems(DEIT_MODELING, missing))
    detached = text.replace(
        "# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTMLP with ViT->DeiT\n",
        "# Copied from hf_vits.modeling.vit.modeling_vit.ZooViTMLP with ViT->DeiT\n\n",
    )
    assert any("not directly above" in p for p in copy_problems(DEIT_MODELING, detached))
    with pytest.raises(ValueError, match="malformed"):
        find_copies(DEIT_MODELING, "# Copied from somewhere else\ndef f():\n    pass\n")
    with pytest.raises(ValueError, match="malformed replacement"):
        parse_replacements("ViT=>DeiT")


def test_replacements():
    pairs = parse_replacements("ViT->DeiT, vit->deit all-casing")
    assert pairs == (("ViT", "DeiT", False), ("vit", "deit", True))
    assert apply_replacements("ZooViTLayer vit VIT", pairs) == "ZooDeiTLayer deit DEIT"


# ------------------------------------------------------------------------------------------ self-containment


def remote_code_modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.name.startswith(REMOTE_CODE_PREFIXES))


def import_problems(path: Path, text: str | None = None) -> list[str]:
    """Imports that `save_pretrained` could not carry into a remote-code folder."""
    tree = ast.parse(path.read_text() if text is None else text)
    allowed = ALLOWED_PACKAGES | set(sys.stdlib_module_names)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in allowed:
                    problems.append(f"{path.name}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module.split(".")[0] not in allowed:
                    problems.append(f"{path.name}:{node.lineno}: from {node.module} import ...")
            elif node.level > 1:
                problems.append(f"{path.name}:{node.lineno}: relative import beyond the folder")
            else:
                siblings = [node.module] if node.module else [alias.name for alias in node.names]
                for sibling in siblings:
                    if "." in sibling or not (path.parent / f"{sibling}.py").is_file():
                        problems.append(f"{path.name}:{node.lineno}: .{sibling} is not a module of this folder")
    return problems


def sibling_imports(path: Path) -> set[Path]:
    siblings = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [alias.name for alias in node.names]
            siblings |= {path.parent / f"{name}.py" for name in names if (path.parent / f"{name}.py").is_file()}
    return siblings


@pytest.mark.parametrize("folder", architecture_folders(), ids=lambda p: p.name)
def test_architecture_folder_is_self_contained(folder):
    name = folder.name
    for required in (*CONTRACT_FILES, f"configuration_{name}.py", f"modeling_{name}.py", f"image_processing_{name}.py"):
        assert (folder / required).is_file(), f"{folder.name}/ lacks {required}"
    # The remote-code modules and every sibling they pull in, transitively.
    pending, checked = list(remote_code_modules(folder)), set()
    while pending:
        path = pending.pop()
        if path in checked:
            continue
        checked.add(path)
        problems = import_problems(path)
        assert not problems, "\n".join(problems)
        pending += sibling_imports(path)
    assert len(checked) >= 3


def test_import_checker_catches_what_remote_code_cannot_carry():
    path = MODELING_ROOT / "vit" / "modeling_vit.py"
    assert import_problems(path) == []
    for bad in (
        "import hf_vits\n",
        "from hf_vits.modeling.vit import ZooViTConfig\n",
        "from ..vit.modeling_vit import ZooViTModel\n",
        "from .layers.attention import Attention\n",
        "from .no_such_module import X\n",
        "import timm\n",
        "def lazy():\n    import hf_vits.registry\n",
    ):
        assert import_problems(path, bad), bad
    assert import_problems(path, "import os\nimport torch.nn\nfrom .configuration_vit import ZooViTConfig\n") == []


def test_module_file_names_are_unique_across_the_zoo():
    names = Counter(
        path.name
        for folder in architecture_folders()
        for path in folder.glob("*.py")
        if path.name not in CONTRACT_FILES
    )
    duplicates = [name for name, count in names.items() if count > 1]
    assert not duplicates, f"module names used by more than one architecture: {duplicates}"
    assert len(names) >= 3 * len(architecture_folders())
