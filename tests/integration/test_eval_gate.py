"""The eval gate: the real pipeline on the whole question set, against eval/thresholds.json."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import rag
from eval.run import format_table, run_eval
from rag.config import PROJECT_DIR, Settings
from rag.pipeline import Pipeline
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_DIR / "artifacts"


def test_eval_meets_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SEEDS, tmp_path / "corpus")
    pipeline = Pipeline(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))
    monkeypatch.setattr(rag, "_default", pipeline)
    ARTIFACTS.mkdir(exist_ok=True)
    data, failures = run_eval(
        out=ARTIFACTS / "eval-report.json", chart=ARTIFACTS / "eval-chart.png", progress=not os.environ.get("CI")
    )
    print(format_table({name: system["metrics"] for name, system in data["systems"].items()}))
    assert not failures, "\n".join(failures)
