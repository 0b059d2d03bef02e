"""The store's connection: a Chroma server that is down or mistyped gives a clear RagError."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.core.config import Settings
from rag.core.errors import RagError
from rag.pipeline import Pipeline
from rag.store.index import Index
from tests.servers import closed_port


def test_chroma_server_down_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(RagError, match=f"Cannot reach the Chroma server at {url}.*unset RAG_CHROMA_URL"):
        Index(Settings(index_dir=tmp_path / "index", chroma_url=url))


def test_chroma_url_that_is_not_an_address_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="write it as http://host:port"):
        Index(Settings(index_dir=tmp_path / "index", chroma_url="localhost:8000"))


def test_cli_with_chroma_server_down_prints_the_error_without_a_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    env = os.environ | {"RAG_CHROMA_URL": url, "RAG_INDEX_DIR": str(tmp_path / "index")}
    done = subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", "ingest", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: Cannot reach the Chroma server at {url}") and "Traceback" not in done.stderr


def test_chroma_server_that_stops_mid_run_is_a_clear_error(tmp_path: Path) -> None:
    from tests.servers import chroma_server

    with chroma_server(tmp_path) as url:
        index = Index(Settings(index_dir=tmp_path / "index", chroma_url=url))
        assert index.manifest() == {}
    # Whichever layer notices first, the message names the server and says what to do.
    with pytest.raises(RagError, match=f"Chroma server at {url} (stopped answering|is running)"), index.guard():
        index.manifest()


def test_whole_collection_reads_are_paged(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    everything = index.chunks.get(include=["documents"])
    monkeypatch.setattr("rag.store.index.PAGE", 4)  # seeds: 28 chunks, 5 files: several pages and a partial one
    got = index.all_chunks()
    assert sorted(got["ids"]) == sorted(everything["ids"]) and len(got["documents"]) == len(got["ids"])
    assert sorted(index.manifest()) == sorted(p.name for p in corpus.iterdir())


def test_an_unreadable_vector_segment_is_emptied_for_a_rebuild(
    fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma 1.5 can be left unable to read its HNSW files by a kill mid-write (see tests/ingest/test_crash.py)."""
    fake_pipeline.ensure_index()
    settings = fake_pipeline.settings
    assert Index(settings).repaired is False and Index(settings).manifest()
    from chromadb.api.models.Collection import Collection

    real_get = Collection.get

    def fake_damaged_get(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name == settings.collection_name and kwargs.get("limit") == 1:
            raise RuntimeError("Error executing plan: Failed to apply logs to the hnsw segment writer")
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", fake_damaged_get)
    index = Index(settings)
    assert index.repaired and index.chunk_count() == 0 and index.manifest() == {}
    monkeypatch.setattr(Collection, "get", real_get)
    report = Pipeline(settings, embedder=fake_pipeline.embedder, llm=fake_pipeline.llm).ingest(progress=False)
    assert len(report.added) == 5 and Index(settings).chunk_count() > 0  # the articles are embedded again


def test_duplicate_marks_for_more_articles_than_one_store_write_takes_are_recorded(tmp_path: Path) -> None:
    """Marking an older index's articles (its upgrade) updates every manifest entry: past Chroma's
    batch limit (5,461 rows embedded) one update call fails, and with it every question."""
    index = Index(Settings(index_dir=tmp_path / "index", corpus_dir=tmp_path))
    sources = [f"{i:05d}.txt" for i in range(6000)]
    for page in (sources[:3000], sources[3000:]):  # as ingest writes them, a few at a time
        index.files.upsert(
            ids=page,
            embeddings=[[1.0]] * len(page),
            documents=[""] * len(page),
            metadatas=[{"sha256": "x", "path": s, "chunks": 1} for s in page],
        )
    index.set_duplicates({"00001.txt": "00000.txt"}, {s: f"facts-{s}" for s in sources})
    got = index.files.get(ids=["00000.txt", "00001.txt", "05999.txt"], include=["metadatas"])
    marks = {id_: (m["duplicate_of"], m["facts"]) for id_, m in zip(got["ids"], got["metadatas"], strict=True)}
    assert marks == {
        "00000.txt": ("", "facts-00000.txt"),
        "00001.txt": ("00000.txt", "facts-00001.txt"),
        "05999.txt": ("", "facts-05999.txt"),
    }
