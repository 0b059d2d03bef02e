"""The eval gate: the real pipeline on the frozen `test` split, judged by the LLM judge, against its floors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import rag.pipeline
from eval.judge import default_judge
from eval.run import format_report, run_suites, seed_suite
from rag.core.config import PROJECT_DIR, Settings
from rag.pipeline import Pipeline
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_DIR / "artifacts"


def test_test_split_meets_its_floors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SEEDS, tmp_path / "corpus")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    monkeypatch.setattr(rag.pipeline, "_default", Pipeline(settings))
    ARTIFACTS.mkdir(exist_ok=True)
    data, failures = run_suites(
        [seed_suite("test", corpus_dir=settings.corpus_dir)],
        out=ARTIFACTS / "eval-report.json",
        chart=ARTIFACTS / "eval-chart.png",
        judge=default_judge(settings),
        progress=not os.environ.get("CI"),
    )
    print(format_report(data))
    assert "test" in data["suites"] and not failures, "\n".join(failures)
