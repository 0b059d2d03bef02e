"""Hybrid retrieval: dense through llama-index's Chroma vector store, plus BM25 (`rag.retrieve.lexical`),
fused by reciprocal rank."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.core.config import Settings
from rag.models.embedding import Embedder
from rag.retrieve.lexical import LexicalIndex, content_key
from rag.store.index import INDEX_FORMAT, FileRecord, Index, date_ordinal


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk with its fused score and, when the dense retriever saw it, its cosine similarity."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float
    rank: int

    @property
    def source(self) -> str:
        return str(self.metadata["source"])

    @property
    def sentences(self) -> list[tuple[int, int]]:
        return [tuple(pair) for pair in json.loads(self.metadata["sentences"])]  # type: ignore[misc]

    def sentence_texts(self) -> Iterator[tuple[int, int, str]]:
        """Each sentence's offsets and text, sliced out of the chunk (sentences are joined by single spaces)."""
        pos = 0
        for start, end in self.sentences:
            yield start, end, self.text[pos : pos + end - start]
            pos += end - start + 1


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: float) -> dict[str, float]:
    """Score ids by the sum of 1 / (k + rank) over the rankings that contain them."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, id_ in enumerate(ranking):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (k + rank + 1)
    return scores


class Retriever:
    """Dense and BM25 retrievers over one index, fused; BM25 follows the indexed content."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.lexical: LexicalIndex | None = None
        self._generation = ""
        self._manifest: dict[str, FileRecord] = {}
        self._vectors: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def retrieve(
        self,
        question: str,
        query_vector: np.ndarray,
        k: int,
        since: str | None = None,
        until: str | None = None,
        sources: Collection[str] = (),
    ) -> list[RetrievedChunk]:
        """Return the top-k chunks for a question, optionally within a publication-date range and
        from the given articles only (`sources`, file names; their duplicates come along).

        Chunks of duplicate articles take no rank: the top k come from canonical articles, and
        the well-ranked chunks of those articles' duplicates follow, marked `duplicate_of`, so
        that evidence can credit them as "also reported by".
        """
        from llama_index.core import QueryBundle

        manifest = self._refresh()
        duplicates = {r.source: r.duplicate_of for r in manifest.values() if r.duplicate_of in manifest}
        bundle = QueryBundle(query_str=question, embedding=query_vector.tolist())
        n = max(k, self.settings.retrieval.candidates_per_retriever)
        n += min(n, sum(manifest[s].chunks for s in duplicates))  # room for the duplicates' chunks
        scope = {s for s in sources if s in manifest}
        scope |= {s for s, canonical in duplicates.items() if canonical in scope}
        filters = _filters(since, until, scope)
        # Only chunks the manifest vouches for: an interrupted or running ingest may have left others.
        vouched = {r.source: r.sha256 for r in manifest.values() if not scope or r.source in scope}
        dense = [r.node for r in self._dense(n, filters).retrieve(bundle) if is_vouched(r.node.metadata, vouched)]
        nodes = {node.node_id: node for node in dense}
        hits = self._search_lexical(question, n, scope, since, until)  # BM25 refreshed above
        nodes.update(self._read_nodes([id_ for id_, _ in hits if id_ not in nodes]))
        lexical = [id_ for id_, _ in hits if id_ in nodes and is_vouched(nodes[id_].metadata, vouched)]
        fused = reciprocal_rank_fusion([[node.node_id for node in dense], lexical], self.settings.retrieval.rrf_k)
        ranked = sorted(fused, key=lambda id_: fused[id_], reverse=True)
        canonical = [id_ for id_ in ranked if nodes[id_].metadata["source"] not in duplicates][:k]
        cited = {nodes[id_].metadata["source"] for id_ in canonical}
        twins = [id_ for id_ in ranked[: 2 * k] if duplicates.get(nodes[id_].metadata["source"]) in cited]
        chunks = []
        for rank, id_ in enumerate([*canonical, *twins]):
            meta = dict(nodes[id_].metadata)
            record = manifest.get(meta["source"])
            if record is not None and record.author:
                meta["author"] = record.author  # kept per file, not per chunk
            if meta["source"] in duplicates:
                meta["duplicate_of"] = duplicates[meta["source"]]
            chunks.append(RetrievedChunk(id_, nodes[id_].get_content(), meta, fused[id_], rank))
        return chunks

    def _dense(self, n: int, filters: Any) -> Any:
        return self._vector_index().as_retriever(similarity_top_k=n, filters=filters)

    def _vector_index(self) -> Any:
        """llama-index's view of the chunk collection, made again when the index reopened its store."""
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        collection = self.index.chunks
        if self._vectors is None or self._vectors[0] is not collection:
            store = ChromaVectorStore(chroma_collection=collection)
            embed = as_llama_index_embedding(self.embedder)
            self._vectors = (collection, VectorStoreIndex.from_vector_store(store, embed_model=embed))
        return self._vectors[1]

    def search_lexical(
        self, question: str, n: int, sources: Collection[str] = (), since: str | None = None, until: str | None = None
    ) -> list[tuple[str, float]]:
        """The ids and BM25 scores of the n best chunks, of `sources` and the date range when given."""
        self._refresh()
        return self._search_lexical(question, n, sources, since, until)

    def _search_lexical(
        self, question: str, n: int, sources: Collection[str], since: str | None, until: str | None
    ) -> list[tuple[str, float]]:
        lexical = self.lexical
        if lexical is None:
            return []
        return lexical.search(
            question,
            n,
            sources,
            date_ordinal(since) if since else None,
            date_ordinal(until) if until else None,
        )

    def _read_nodes(self, ids: Sequence[str]) -> dict[str, Any]:
        """The chunks of BM25's hits, as llama-index nodes, read from the store."""
        from llama_index.core.schema import TextNode

        if not ids:
            return {}
        got = self.index.chunks_by_id(ids)
        return {
            id_: TextNode(id_=id_, text=text, metadata=meta)
            for id_, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    def named_sources(self, question: str) -> list[str]:
        """The articles a question ties itself to by outlet or author: "according to UNN", "the CNN
        article by Jessie Yeung". Empty when it names none, or names every article's outlet."""
        manifest = self._refresh()
        asked = question.lower()
        named = [
            record.source
            for record in manifest.values()
            if any(
                re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", asked)
                for name in (record.outlet, record.author)
                if name and len(name) > 1
            )
        ]
        return named if len(named) < len(manifest) else []

    def refresh(self) -> None:
        """Bring the manifest and BM25 up to date with the index now (as the next query would)."""
        self._refresh()

    def _refresh(self) -> dict[str, FileRecord]:
        """Bring the manifest and BM25 up to date with the index; return the manifest.

        One small read per query (the index's generation token); the manifest is read again only
        after a write, and BM25 changes only when what it indexes did: it is loaded from the
        index folder when a process saved it for this content, and built (and saved) otherwise.
        """
        with self._lock:
            generation = self.index.generation()
            if generation and generation == self._generation:
                return self._manifest
            with self.index.reading():  # the manifest and the chunks of one moment
                manifest = self.index.manifest()
                vouched = {r.source: r.sha256 for r in manifest.values()}
                key = content_key(f"{INDEX_FORMAT}|{self.settings.collection_name}", vouched)
                whole = True
                if self.lexical is None or self.lexical.key != key:
                    self.lexical, whole = self._lexical_index(key, manifest)
            # a partial build is used once and made again at the next query
            self._manifest, self._generation = manifest, generation if whole else ""
            return manifest

    def _lexical_index(self, key: str, manifest: dict[str, FileRecord]) -> tuple[LexicalIndex | None, bool]:
        """BM25 for `key`, loaded or built, and whether it holds every chunk of the manifest."""
        if not manifest:
            return None, True
        folder = self.settings.index_dir / "lexical"
        loaded = LexicalIndex.load(folder, key)
        if loaded is not None:
            return loaded, True
        vouched = {r.source: r.sha256 for r in manifest.values()}
        got = self.index.all_chunks()
        keep = [i for i, meta in enumerate(got["metadatas"]) if is_vouched(meta, vouched)]
        built = LexicalIndex.build(
            key,
            [got["ids"][i] for i in keep],
            [got["documents"][i] for i in keep],
            [got["metadatas"][i] for i in keep],
        )
        # Saved only when whole: every file of the manifest with all its chunks (a Chroma server
        # has no lock, so a write between the two reads could leave one out).
        whole = len(built) == sum(r.chunks for r in manifest.values())
        if whole:
            with contextlib.suppress(OSError):  # a read-only index folder: the build serves this process
                built.save(folder)
        return built, whole


def is_vouched(meta: dict[str, Any], vouched: dict[str, str]) -> bool:
    """Tell whether a chunk belongs to the version of its file that the manifest records."""
    return vouched.get(str(meta.get("source"))) == meta.get("sha256")


def _filters(since: str | None, until: str | None, sources: Collection[str] = ()) -> Any:
    if not since and not until and not sources:
        return None
    from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

    filters = []
    if sources:
        filters.append(MetadataFilter(key="source", value=sorted(sources), operator=FilterOperator.IN))
    if since:
        filters.append(MetadataFilter(key="date_ord", value=date_ordinal(since), operator=FilterOperator.GTE))
    if until:
        filters.append(MetadataFilter(key="date_ord", value=date_ordinal(until), operator=FilterOperator.LTE))
        filters.append(MetadataFilter(key="date_ord", value=0, operator=FilterOperator.GT))
    return MetadataFilters(filters=filters)


def as_llama_index_embedding(embedder: Embedder) -> Any:
    """Wrap an Embedder as a llama-index BaseEmbedding, so no global Settings are consulted."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _Adapter(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return list(map(float, self._embedder.embed([query])[0]))

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_query_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, row)) for row in self._embedder.embed(texts)]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return _Adapter(embedder)
