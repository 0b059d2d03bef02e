"""The whole pipeline with the real embedding model, real Chroma and the real local LLM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.citations import Answer
from rag.config import Settings
from rag.pipeline import Pipeline
from rag.prompts import NO_ANSWER
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real")
    shutil.copytree(SEEDS, root / "corpus")
    return root


@pytest.fixture(scope="module")
def pipeline(workdir: Path) -> Iterator[Pipeline]:
    yield Pipeline(Settings(corpus_dir=workdir / "corpus", index_dir=workdir / "index"))


def assert_verbatim(answer: Answer, corpus: Path) -> None:
    for c in answer.citations:
        text = (corpus / c.source).read_bytes().decode("utf-8")
        assert text[c.start : c.end] == c.quote


@pytest.mark.xfail(
    strict=False,
    reason="Known gap: the 1.5B model does not yet reliably name all five places for this question, "
    "although the evidence holds the 002 plan sentences (see README, Status).",
)
def test_land_terms_are_named_and_cited(pipeline: Pipeline, workdir: Path) -> None:
    answer = pipeline.ask("What land terms were proposed?")
    assert answer.answered, answer.model_dump_json(indent=1)
    for place in ("Crimea", "Donetsk", "Luhansk", "Kherson", "Zaporizhzhia"):
        assert place in answer.text
    assert "frozen" in answer.text.lower()
    assert "002_bf4c599bf41a5fdc.txt" in {c.source for c in answer.citations}
    assert_verbatim(answer, workdir / "corpus")


def test_disagreeing_territory_figures_are_both_given(pipeline: Pipeline, workdir: Path) -> None:
    answer = pipeline.ask("How much of Ukraine's territory does Russia control?")
    assert answer.answered, answer.model_dump_json(indent=1)
    assert "about 11%" in answer.text and "almost 20%" in answer.text and "differ" in answer.text
    assert {"001_8a2a514bf6660ac7.txt", "003_8988beed483b4692.txt"} <= {c.source for c in answer.citations}
    assert "CNN (2025-03-16)" in answer.text  # each figure with who reported it, and when
    assert_verbatim(answer, workdir / "corpus")


def test_super_bowl_is_not_answered(pipeline: Pipeline) -> None:
    answer = pipeline.ask("Who won the 2024 Super Bowl?")
    assert (answer.answered, answer.text, answer.citations) == (False, NO_ANSWER, [])


def test_numbers_come_with_verbatim_citations(pipeline: Pipeline, workdir: Path) -> None:
    answer = pipeline.ask("To how many personnel would Ukraine cut its armed forces under the initial US plan?")
    assert answer.answered and "600,000" in answer.text
    assert_verbatim(answer, workdir / "corpus")


def test_real_embedder_reingests_only_what_changed(pipeline: Pipeline, workdir: Path) -> None:
    pipeline.ensure_index()
    assert pipeline.ingest(progress=False).chunks_embedded == 0
    path = workdir / "corpus" / "004_e2343d4eb54106e2.txt"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\nIndia said it would answer the tariffs next month.\n")
        report = pipeline.ingest(progress=False)
        assert report.changed == ["004_e2343d4eb54106e2.txt"] and len(report.unchanged) == 4
        assert 0 < report.chunks_embedded <= pipeline.index.manifest()["004_e2343d4eb54106e2.txt"].chunks
    finally:
        path.write_bytes(original)
        pipeline.ingest(progress=False)


def run_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAG_CORPUS_DIR": str(workdir / "corpus"), "RAG_INDEX_DIR": str(workdir / "cli-index")}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_cli_ingest_twice_then_ask_json(workdir: Path) -> None:
    first = run_cli(workdir, "ingest")
    assert first.returncode == 0, first.stderr
    assert "5 added" in first.stdout
    second = run_cli(workdir, "ingest")
    assert "0 chunks embedded" in second.stdout and "5 unchanged" in second.stdout
    asked = run_cli(workdir, "ask", "--json", "Who won the 2024 Super Bowl?")
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["answered"] is False and data["text"] == NO_ANSWER
