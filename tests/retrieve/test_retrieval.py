"""Hybrid retrieval's BM25 index follows the store's generation token, not a manifest read per query."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.core.config import Settings
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.store.index import Index

NEW_ARTICLE = "Quokkavian officials met in Zyxbridge on Monday. The Zyxbridge meeting ended without a deal.\n"


def lexical_sources(pipeline: Pipeline, question: str) -> set[str]:
    hits = pipeline.retriever.search_lexical(question, 10)
    return {meta["source"] for meta in pipeline.index.chunks_by_id([id_ for id_, _ in hits])["metadatas"]}


def test_generation_changes_with_every_write_and_only_then(fake_pipeline: Pipeline, corpus: Path) -> None:
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    first = index.generation()
    assert first
    fake_pipeline.ingest(progress=False)
    assert index.generation() == first  # nothing changed, nothing to rebuild
    (corpus / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    second = index.generation()
    assert second != first
    (corpus / "new.txt").unlink()
    fake_pipeline.ingest(progress=False)
    assert index.generation() not in (first, second)


def test_queries_do_not_read_the_manifest(fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pipeline.evidence("What did the Kremlin say about the talks?")

    def no_manifest() -> None:
        raise AssertionError("the manifest was read on the query path")

    monkeypatch.setattr(fake_pipeline.index, "manifest", no_manifest)
    assert fake_pipeline.evidence("What tariffs did Trump announce on India?")


def test_another_process_ingest_reaches_a_running_retriever(settings: Settings, corpus: Path) -> None:
    serving = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    serving.ingest(progress=False)
    assert "new.txt" not in lexical_sources(serving, "Zyxbridge Quokkavian meeting")
    (corpus / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    writer = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())  # its own Index, like `rag ingest`
    writer.ingest(progress=False)
    assert "new.txt" in lexical_sources(serving, "Zyxbridge Quokkavian meeting")


def test_index_written_before_generations_still_follows_the_manifest(settings: Settings, corpus: Path) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    pipeline.ingest(progress=False)
    pipeline.index.state.delete(ids=["generation"])  # as an index from before this change
    assert pipeline.index.generation() == ""
    assert "new.txt" not in lexical_sources(pipeline, "Zyxbridge Quokkavian meeting")
    (corpus / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM()).ingest(progress=False)
    Index(settings).state.delete(ids=["generation"])
    assert "new.txt" in lexical_sources(pipeline, "Zyxbridge Quokkavian meeting")


UNN = "004_e2343d4eb54106e2.txt"
CNN = "001_8a2a514bf6660ac7.txt"


def test_a_question_that_names_an_outlet_reads_only_that_outlets_article(fake_pipeline: Pipeline) -> None:
    question = "Within what time frame had Trump promised peace, according to UNN?"
    fake_pipeline.ensure_index()
    assert fake_pipeline.retriever.named_sources(question) == [UNN]
    assert {e.source for e in fake_pipeline.evidence(question)} == {UNN}


def test_an_author_names_an_article(fake_pipeline: Pipeline) -> None:
    question = "What did Jessie Yeung report about the ceasefire?"
    fake_pipeline.ensure_index()
    retriever = fake_pipeline.retriever
    assert retriever.named_sources(question) == [CNN]
    vector = fake_pipeline.embedder.embed([question])[0]
    assert {c.source for c in retriever.retrieve(question, vector, 10)} > {CNN}  # unscoped: every article
    assert {c.source for c in retriever.retrieve(question, vector, 10, sources=[CNN])} == {CNN}


def test_outlet_names_match_whole_words_only(fake_pipeline: Pipeline) -> None:
    retriever = fake_pipeline.retriever
    fake_pipeline.ensure_index()
    assert retriever.named_sources("What did the Kremlin say about the talks?") == []
    assert retriever.named_sources("Were the cnnx and unnamed officials quoted?") == []
    assert sorted(retriever.named_sources("Do CNN and UNN agree on the tariff?")) == [CNN, UNN]
