"""Shared fixtures: a small corpus on disk, and pipelines built on fakes or on the real models."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.core.config import PROJECT_DIR, Settings
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.store.index import Index, ingest_lock

SEEDS = PROJECT_DIR / "seeds"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seed articles."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index")


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def fake_pipeline(settings: Settings, fake_llm: FakeLLM) -> Pipeline:
    """Real Chroma, fake embedder and fake LLM: fast and deterministic."""
    return Pipeline(settings, embedder=FakeEmbedder(), llm=fake_llm)


def index_snapshot(pipeline: Pipeline) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, str]]]:
    """The manifest (hash and chunk count per file) and every chunk's id, file hash and text."""
    index = pipeline.index
    manifest = {s: (r.sha256, r.chunks) for s, r in index.manifest().items()}
    got = index.all_chunks()
    chunks = {
        id_: (str(meta["sha256"]), doc)
        for id_, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }
    return manifest, chunks


def plant_orphan_chunk(index: Index) -> None:
    """Write a chunk for a file the manifest does not know, as a crash before its manifest entry leaves."""
    index.chunks.upsert(
        ids=["ghost::0"],
        embeddings=[[0.1] * 64],
        documents=["half written"],
        metadatas=[{"source": "ghost.txt", "sha256": "x", "chunk": 0}],
    )


@contextmanager
def ingest_elsewhere(settings: Settings) -> Iterator[None]:
    """Hold the index's ingest lock in another thread, as a concurrent ingest (or upload) would."""
    holding, done = threading.Event(), threading.Event()

    def other_ingest() -> None:
        with ingest_lock(settings):
            holding.set()
            done.wait(60)

    thread = threading.Thread(target=other_ingest)
    thread.start()
    try:
        assert holding.wait(30), "the other thread never got the lock"
        yield
    finally:
        done.set()
        thread.join()
