"""spaCy loads without torch, and hides torch from its own thread only."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rag.verify.roles import _HiddenFrom


def test_a_new_process_parses_claims_without_importing_torch() -> None:
    script = (
        "import sys\n"
        "from rag.verify.roles import parser\n"
        "doc = parser()('Ann beat Bo to win the cup.')\n"
        "assert [t.text for t in doc if t.dep_ == 'nsubj'] == ['Ann'], [(t.text, t.dep_) for t in doc]\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"  # still importable afterwards, by anyone
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_hidden_package_is_hidden_from_one_thread_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hidden_for_test").mkdir()
    (tmp_path / "hidden_for_test" / "__init__.py").write_text("VALUE = 7\n")
    (tmp_path / "hidden_for_test" / "part.py").write_text("VALUE = 8\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("hidden_for_test", "hidden_for_test.part"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    finder = _HiddenFrom(threading.get_ident(), "hidden_for_test")
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    with pytest.raises(ModuleNotFoundError, match="hidden"):
        import hidden_for_test.part  # noqa: F401
    found: list[int] = []
    other = threading.Thread(target=lambda: found.append(__import__("hidden_for_test.part").part.VALUE))
    other.start()
    other.join()
    assert found == [8]
