"""The package's layers: each room of `rag/` imports only from rooms below it, or from itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rag

RAG = Path(rag.__file__).parent

# Lowest first. A module may import its own room and any room of a lower layer, never a room
# beside it or above it. `rag` is the package's __init__ (the Python API).
LAYERS: list[set[str]] = [
    {"core"},
    {"models", "articles"},
    {"store", "verify"},
    {"ingest", "retrieve"},
    {"evidence"},
    {"answer"},
    {"pipeline"},
    {"session"},
    {"rag"},
    {"interfaces"},
]
LAYER = {room: n for n, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str:
    """`rag.answer.compose` -> `answer`; `rag.pipeline` -> `pipeline`; `rag` -> `rag`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "rag"


def rag_modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(RAG.rglob("*.py")):
        parts = path.relative_to(RAG.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def is_room(name: str) -> bool:
    return (RAG / name).is_dir() or (RAG / f"{name}.py").is_file()


def imported(path: Path, module: str) -> set[str]:
    """Every `rag` module a file imports, at the top, in functions, or under TYPE_CHECKING."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names.update(f"rag.{alias.name}" if base == "rag" and is_room(alias.name) else base for alias in node.names)
    return {name for name in names if name == "rag" or name.startswith("rag.")}


def test_every_room_has_a_layer() -> None:
    rooms = {room(module) for module, _ in rag_modules()}
    assert rooms == set(LAYER), "a new room of rag/ needs a place in LAYERS"


@pytest.mark.parametrize(("module", "path"), rag_modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_module_imports_a_room_beside_or_above_its_own(module: str, path: Path) -> None:
    own = room(module)
    wrong = sorted(name for name in imported(path, module) if room(name) != own and LAYER[room(name)] >= LAYER[own])
    assert not wrong, f"{module} (layer {LAYER[own]}) imports {wrong}"


def test_the_data_model_imports_nothing_of_rag() -> None:
    for module, path in rag_modules():
        if room(module) == "core":
            assert not imported(path, module) - {module, "rag.core"}, module


def test_the_rooms_import_on_their_own() -> None:
    code = (
        "import rag.answer, rag.ingest, rag.retrieve, rag.interfaces.cli\n"
        "import rag.ingest.run as run\n"
        "from rag import ingest\n"
        "print(callable(ingest), ingest is rag.ingest, run.ingest.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "rag.ingest.run"]  # the room is also the API's ingest()


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    path = tmp_path / "compose.py"
    path.write_text(
        "def f():\n    from rag.pipeline import Pipeline\nfrom ..store import index\nfrom rag import ask\n",
        encoding="utf-8",
    )
    assert imported(path, "rag.answer.compose") == {"rag.pipeline", "rag.store", "rag"}
