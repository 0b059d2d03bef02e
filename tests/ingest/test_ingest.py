"""Ingest against a real embedded Chroma, with the fake embedder."""

from pathlib import Path

import pytest

from rag.core.errors import RagError
from rag.pipeline import Pipeline
from rag.store.index import ingest_lock
from tests.conftest import ingest_elsewhere, plant_orphan_chunk


def chunk_sources(pipeline: Pipeline) -> dict[str, int]:
    counts: dict[str, int] = {}
    for meta in pipeline.index.all_chunks()["metadatas"]:
        counts[meta["source"]] = counts.get(meta["source"], 0) + 1
    return counts


def test_second_run_embeds_nothing(fake_pipeline: Pipeline) -> None:
    first = fake_pipeline.ingest(progress=False)
    assert len(first.added) == 5 and first.chunks_embedded == first.chunks_total > 0
    second = fake_pipeline.ingest(progress=False)
    assert second.chunks_embedded == 0
    assert len(second.unchanged) == 5 and not (second.added or second.changed or second.removed)


def test_editing_one_file_reembeds_only_that_file(fake_pipeline: Pipeline, corpus: Path) -> None:
    fake_pipeline.ingest(progress=False)
    before = chunk_sources(fake_pipeline)
    path = corpus / "003_8988beed483b4692.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new closing sentence was added.\n", encoding="utf-8")
    report = fake_pipeline.ingest(progress=False)
    assert report.changed == ["003_8988beed483b4692.txt"]
    assert report.chunks_embedded == chunk_sources(fake_pipeline)["003_8988beed483b4692.txt"]
    after = chunk_sources(fake_pipeline)
    assert {k: v for k, v in after.items() if not k.startswith("003")} == {
        k: v for k, v in before.items() if not k.startswith("003")
    }
    texts = " ".join(fake_pipeline.index.all_chunks()["documents"])
    assert "A new closing sentence was added." in texts


def test_removed_file_loses_its_chunks(fake_pipeline: Pipeline, corpus: Path) -> None:
    fake_pipeline.ingest(progress=False)
    (corpus / "004_e2343d4eb54106e2.txt").unlink()
    report = fake_pipeline.ingest(progress=False)
    assert report.removed == ["004_e2343d4eb54106e2.txt"]
    assert "004_e2343d4eb54106e2.txt" not in chunk_sources(fake_pipeline)
    assert "004_e2343d4eb54106e2.txt" not in fake_pipeline.index.manifest()


def test_interrupted_write_is_cleaned_up_on_the_next_run(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    # Chunks written for a file the manifest does not know, as after a crash before its manifest entry.
    plant_orphan_chunk(index)
    assert index.reconcile() == 1
    assert "ghost.txt" not in chunk_sources(fake_pipeline)


def test_concurrent_ingest_is_refused(fake_pipeline: Pipeline) -> None:
    """Another thread (an upload in `rag serve`) holds the lock: this ingest is refused."""
    with ingest_elsewhere(fake_pipeline.settings), pytest.raises(RagError, match="Another `rag ingest`"):
        fake_pipeline.ingest(progress=False)


def test_the_ingest_lock_is_reentrant_within_a_thread(fake_pipeline: Pipeline) -> None:
    with ingest_lock(fake_pipeline.settings):
        assert fake_pipeline.ingest(progress=False).added


def test_new_files_skip_the_stale_chunk_delete(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = fake_pipeline.index
    calls: list[str] = []
    for name in ("bump", "put_articles"):
        original = getattr(index, name)
        monkeypatch.setattr(index, name, lambda *a, _name=name, _f=original: (calls.append(_name), _f(*a))[1])
    fake_pipeline.ingest(progress=False)
    # Five new files in one grouped write, and no stale-chunk deletes (then the duplicate marks may bump once more).
    assert calls[:2] == ["put_articles", "bump"] and calls.count("put_articles") == 1
    calls.clear()
    path = corpus / "003_8988beed483b4692.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    assert calls[:3] == ["put_articles", "bump", "bump"]  # a changed file: its old chunks go, then readers hear of it


def test_writes_group_whole_articles_up_to_the_chunk_budget(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.ingest.run as run

    monkeypatch.setattr(run, "CHUNKS_PER_WRITE", 20)
    groups: list[list[int]] = []
    original = fake_pipeline.index.put_articles
    monkeypatch.setattr(
        fake_pipeline.index,
        "put_articles",
        lambda puts: (groups.append([len(p.chunks) for p in puts]), original(puts))[1],
    )
    report = fake_pipeline.ingest(progress=False)
    assert sum(len(g) for g in groups) == len(report.added) and len(groups) > 1
    assert all(sum(g[:-1]) < 20 for g in groups)  # a group closes once it holds the budget, with whole articles


def test_texts_embedded_in_length_order_get_their_own_vectors_back() -> None:
    import numpy as np

    from rag.ingest.run import _embed_all
    from rag.models.embedding import FakeEmbedder

    texts = [("word " * n).strip() + f" {n}" for n in (40, 3, 700, 1, 3, 90) * 60]
    embedder = FakeEmbedder()
    assert np.array_equal(_embed_all(texts, embedder, progress=False), embedder.embed(texts))
