"""Faults: backends down, a read-only index, a full disk. Each is a clear message, and the index is intact."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import rag.pipeline
from rag.core.config import PROJECT_DIR, Settings
from rag.core.errors import RagError
from rag.interfaces.cli import main
from rag.interfaces.ui import ask_json
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.store.index import release
from tests.conftest import index_snapshot

QUESTION = "What did the initial US plan propose about Ukraine's armed forces and NATO?"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setattr(rag.pipeline, "_default", pipeline)
    return pipeline


def test_llm_server_down_gives_the_evidence_and_a_notice_not_a_traceback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    down = settings.model_copy(update={"llm_url": f"http://127.0.0.1:{closed_port()}/v1"})
    pipeline = use(Pipeline(down, embedder=FakeEmbedder()), monkeypatch)
    pipeline.ingest(progress=False)
    before = index_snapshot(pipeline)
    assert main(["ask", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert "Cannot reach the LLM server" in err and "Traceback" not in err + out
    answer = ask_json(pipeline, QUESTION)
    assert answer["retrieval_only"] and "Cannot reach the LLM server" in answer["notice"]
    assert index_snapshot(pipeline) == before


def test_chroma_server_down_is_a_clear_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    down = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{closed_port()}"})
    use(Pipeline(down, embedder=FakeEmbedder(), llm=FakeLLM()), monkeypatch)
    for argv in (["ingest", "--quiet"], ["ask", QUESTION]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Cannot reach the Chroma server" in err and "unset RAG_CHROMA_URL" in err and "Traceback" not in err


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make a folder read-only: chmod for ordinary users; root ignores modes, so a read-only bind mount."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False)
    if bind.returncode != 0:
        pytest.skip(f"root ignores chmod, and a read-only bind mount is not allowed here: {bind.stderr!r}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# `rag` with the FakeEmbedder: the faults here are in storage, and the fake keeps big files quick to embed.
FAKE_EMBEDDER_CLI = (
    "import sys\n"
    "import rag.pipeline\n"
    "from rag.models.embedding import FakeEmbedder\n"
    "rag.pipeline._default = rag.pipeline.Pipeline(embedder=FakeEmbedder())\n"
    "from rag.interfaces.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def run_cli(settings: Settings, *args: str, no_estimate: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `rag ARGS` (with the FakeEmbedder) in a separate process on these settings' folders.

    `no_estimate` switches off ingest's up-front free-space check, to reach a disk filling up mid-write.
    """
    script = FAKE_EMBEDDER_CLI
    if no_estimate:
        script = "import rag.ingest.run as run\nrun.check_free_space = lambda *args: None\n" + script
    env = {
        **os.environ,
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "PYTHONPATH": str(PROJECT_DIR),
    }
    return subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_read_only_index_refuses_ingest_with_a_clear_message(fake_pipeline: Pipeline, corpus: Path) -> None:
    """A real read-only index folder, written by a separate `rag ingest` process."""
    fake_pipeline.ingest(progress=False)
    before = index_snapshot(fake_pipeline)
    (corpus / "new.txt").write_text("A new article arrived. It has two sentences.", encoding="utf-8")
    with read_only(fake_pipeline.settings.index_dir):
        done = run_cli(fake_pipeline.settings, "ingest", "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not writable" in done.stderr and "Traceback" not in done.stderr
    assert index_snapshot(fake_pipeline) == before


def test_permission_error_at_the_chroma_write_is_a_clear_message(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Injected: the write itself fails as it would on a folder that turned read-only after opening."""
    use(fake_pipeline, monkeypatch)
    fake_pipeline.ingest(progress=False)
    before = index_snapshot(fake_pipeline)
    (corpus / "new.txt").write_text("A new article arrived. It has two sentences.", encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fake_pipeline.index.chunks, "upsert", refuse)
    assert main(["ingest", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Could not store new.txt" in err and "not writable" in err and "Traceback" not in err
    assert index_snapshot(fake_pipeline) == before


def test_disk_full_at_the_chroma_write_keeps_what_was_stored(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected ENOSPC on the second write: the first write's file is wholly stored, the second's not at all."""
    import rag.ingest.run

    monkeypatch.setattr(rag.ingest.run, "CHUNKS_PER_WRITE", 1)  # one small article per write
    fake_pipeline.ingest(progress=False)
    before = index_snapshot(fake_pipeline)
    for name in ("a_new.txt", "b_new.txt"):
        (corpus / name).write_text(f"Article {name} arrived today. It has two sentences.", encoding="utf-8")
    real_upsert, calls = fake_pipeline.index.chunks.upsert, []

    def fill_up(*args: object, **kwargs: object) -> None:
        calls.append(kwargs.get("ids"))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_upsert(*args, **kwargs)

    monkeypatch.setattr(fake_pipeline.index.chunks, "upsert", fill_up)
    with pytest.raises(RagError, match="disk is full; free some space and run `rag ingest` again"):
        fake_pipeline.ingest(progress=False)
    manifest, chunks = index_snapshot(fake_pipeline)
    assert set(manifest) == {*before[0], "a_new.txt"}
    assert {s: v for s, v in manifest.items() if s in before[0]} == before[0]
    assert {i: v for i, v in chunks.items() if not i.startswith("a_new.txt")} == before[1]
    monkeypatch.undo()
    assert fake_pipeline.ingest(progress=False).added == ["b_new.txt"]


@contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (root only); an index of the seeds takes about 1.3 MB of it."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected ENOSPC test covers the write path")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


LINE = "Negotiators met again in Geneva on Tuesday and talked for many hours about the plan.\n"


@pytest.mark.slow
def test_ingest_too_big_for_the_disk_is_refused_before_writing(corpus: Path, tmp_path: Path) -> None:
    """A real small disk under separate `rag ingest` processes: refused up front, the index still readable."""
    with small_disk(tmp_path / "disk") as disk:
        settings = Settings(corpus_dir=corpus, index_dir=disk / "index")
        first = run_cli(settings, "ingest", "--quiet")
        assert first.returncode == 0, first.stderr
        before = snapshot_of(settings)
        (corpus / "big.txt").write_text(LINE * 10_000, encoding="utf-8")  # 0.9 MB
        full = run_cli(settings, "ingest", "--quiet")
        assert full.returncode == 2, full.stdout + full.stderr
        assert "is free on the disk of" in full.stderr and "none of them was written" in full.stderr
        assert "Traceback" not in full.stderr
        again = run_cli(settings, "ingest", "--quiet", str(corpus / "001_8a2a514bf6660ac7.txt"))
        assert again.returncode == 0 and "1 unchanged" in again.stdout, again.stderr
        assert snapshot_of(settings) == before


def snapshot_of(settings: Settings) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, str]]]:
    """Read the index in this process, then drop the client so later processes see the disk alone."""
    try:
        return index_snapshot(Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM()))
    finally:
        release(settings)


@pytest.mark.slow
def test_disk_filling_up_during_the_write_is_a_clear_message_and_recoverable(corpus: Path, tmp_path: Path) -> None:
    """A real full disk in the middle of Chroma's write; the up-front estimate is switched off to get there.

    Chroma then cannot even read until space is freed (it retries applying its log); both are clear
    messages, and once the disk has room the next `rag ingest` completes with the seeds' chunks unchanged.
    """
    with small_disk(tmp_path / "disk") as disk:
        settings = Settings(corpus_dir=corpus, index_dir=disk / "index")
        assert run_cli(settings, "ingest", "--quiet").returncode == 0
        before = snapshot_of(settings)
        (corpus / "big.txt").write_text(LINE * 10_000, encoding="utf-8")
        full = run_cli(settings, "ingest", "--quiet", no_estimate=True)
        assert full.returncode == 2, full.stdout + full.stderr
        assert "Could not store big.txt" in full.stderr and "free some space" in full.stderr
        reader = run_cli(settings, "ingest", "--quiet", str(corpus / "001_8a2a514bf6660ac7.txt"))
        assert reader.returncode == 2 and "free some space" in reader.stderr, reader.stdout + reader.stderr
        assert "Traceback" not in full.stderr + reader.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = run_cli(settings, "ingest", "--quiet")
        assert again.returncode == 0 and "1 added" in again.stdout, again.stdout + again.stderr
        manifest, chunks = snapshot_of(settings)
        assert {s: v for s, v in manifest.items() if s != "big.txt"} == before[0]
        assert {i: v for i, v in chunks.items() if not i.startswith("big.txt")} == before[1]
