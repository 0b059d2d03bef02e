"""BM25 saved beside the index: the rankings of llama-index's BM25Retriever, loaded by a new process
instead of rebuilt, and never saved when partial."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.core.config import Settings
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.retrieve.lexical import KEEP, LexicalIndex, content_key
from rag.store.index import date_ordinal

QUESTIONS = [
    "What did Trump say about Crimea?",
    "tariffs on India",
    "Which territories would Ukraine give up?",
    "the the of",  # stop words only
    "Zyxbridge quokka",  # words no article has
]


def saved(settings: Settings) -> list[Path]:
    folder = settings.index_dir / "lexical"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_rankings_and_scores_are_llama_indexs_bm25_retriever(fake_pipeline: Pipeline) -> None:
    import Stemmer
    from llama_index.core import QueryBundle
    from llama_index.core.schema import TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    fake_pipeline.ingest(progress=False)
    got = fake_pipeline.index.all_chunks()
    nodes = [
        TextNode(id_=i, text=t, metadata=m)
        for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    ours = LexicalIndex.build("k", got["ids"], got["documents"], got["metadatas"])
    stock = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=12, stemmer=Stemmer.Stemmer("english"))
    for question in QUESTIONS:
        theirs = [(r.node.node_id, r.score) for r in stock.retrieve(QueryBundle(query_str=question))]
        mine = ours.search(question, 12)
        if not any(score for _, score in theirs):
            assert mine == [], question  # no indexed word: no ranking (the stock retriever lists any 12)
            continue
        assert [i for i, _ in mine] == [i for i, _ in theirs], question
        assert [s for _, s in mine] == pytest.approx([s for _, s in theirs]), question


def test_filters_keep_only_the_asked_files_and_dates(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest(progress=False)
    got = fake_pipeline.index.all_chunks()
    lexical = LexicalIndex.build("k", got["ids"], got["documents"], got["metadatas"])
    meta = dict(zip(got["ids"], got["metadatas"], strict=True))
    one = str(got["metadatas"][0]["source"])
    hits = lexical.search("Trump Putin talks", 50, sources={one})
    assert hits and {meta[i]["source"] for i, _ in hits} == {one}
    dated = sorted({int(m["date_ord"]) for m in got["metadatas"] if m.get("date_ord")})
    since, until = dated[-1], dated[0]
    assert all(int(meta[i]["date_ord"]) >= since for i, _ in lexical.search("Trump", 50, since=since))
    assert all(0 < int(meta[i]["date_ord"]) <= until for i, _ in lexical.search("Trump", 50, until=until))
    assert lexical.search("Trump", 50, since=date_ordinal("2999-01-01")) == []


def test_a_new_process_loads_the_saved_bm25_instead_of_reading_every_chunk(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    writer.ingest(progress=False)  # builds and saves BM25 for what it indexed
    assert len(saved(settings)) == 1
    expected = writer.retriever.search_lexical("What did Trump say about Crimea?", 10)

    fresh = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())

    def no_full_read(*args: object) -> None:
        raise AssertionError("BM25 was rebuilt from every chunk")

    monkeypatch.setattr(fresh.index, "all_chunks", no_full_read)
    assert fresh.retriever.search_lexical("What did Trump say about Crimea?", 10) == expected
    assert fresh.evidence("What did Trump say about Crimea?")


def test_a_changed_corpus_gets_a_new_build_and_old_ones_are_pruned(settings: Settings, corpus: Path) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    pipeline.ingest(progress=False)
    keys = [p.name for p in saved(settings)]
    for n in range(KEEP + 1):
        (corpus / f"new{n}.txt").write_text(f"Zyxbridge quokkas met {n} times on Monday.\n", encoding="utf-8")
        pipeline.ingest(progress=False)
        keys.append(pipeline.retriever.lexical.key)  # type: ignore[union-attr]
    assert len(set(keys)) == KEEP + 2
    assert [p.name for p in saved(settings)] == sorted(keys[-KEEP:])
    assert any("new2.txt" in i for i, _ in pipeline.retriever.search_lexical("Zyxbridge quokkas", 5))


def test_a_build_missing_chunks_of_the_manifest_is_used_but_not_saved(settings: Settings) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    pipeline.ingest(progress=False)
    for build in saved(settings):
        for file in sorted(build.rglob("*"), reverse=True):
            file.unlink() if file.is_file() else file.rmdir()
        build.rmdir()
    some = pipeline.index.all_chunks()["ids"][0]
    pipeline.index.chunks.delete(ids=[some])  # as a write between the manifest read and the chunk read
    fresh = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    assert fresh.retriever.search_lexical("Trump", 5)
    assert saved(settings) == []


def test_an_unreadable_saved_build_is_rebuilt(settings: Settings) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    pipeline.ingest(progress=False)
    (build,) = saved(settings)
    (build / "chunks.json").write_text("{not json", encoding="utf-8")
    assert LexicalIndex.load(build.parent, build.name) is None
    fresh = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    assert fresh.retriever.search_lexical("Trump", 5)


def test_the_key_names_the_content() -> None:
    assert content_key("c", {"a.txt": "1", "b.txt": "2"}) == content_key("c", {"b.txt": "2", "a.txt": "1"})
    assert content_key("c", {"a.txt": "1"}) != content_key("c", {"a.txt": "2"})
    assert content_key("c", {"a.txt": "1"}) != content_key("d", {"a.txt": "1"})
