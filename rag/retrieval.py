"""Hybrid retrieval through llama-index: dense (Chroma) plus BM25, fused by reciprocal rank."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder
from rag.index import Index, date_ordinal

RRF_K = 60.0


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


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: float = RRF_K) -> dict[str, float]:
    """Score ids by the sum of 1 / (k + rank) over the rankings that contain them."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, id_ in enumerate(ranking):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (k + rank + 1)
    return scores


class Retriever:
    """Dense and BM25 retrievers over one index, fused; BM25 is rebuilt when the manifest changes."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._bm25: Any = None
        self._bm25_key: object = None
        self._nodes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def retrieve(
        self,
        question: str,
        query_vector: np.ndarray,
        k: int,
        since: str | None = None,
        until: str | None = None,
    ) -> list[RetrievedChunk]:
        """Return the top-k chunks for a question, optionally within a publication-date range."""
        from llama_index.core import QueryBundle

        bundle = QueryBundle(query_str=question, embedding=query_vector.tolist())
        n = max(k, self.settings.candidates_per_retriever)
        filters = _date_filters(since, until)
        dense = self._dense(n, filters).retrieve(bundle)
        bm25 = self._bm25_retriever(n)
        lexical = [r for r in bm25.retrieve(bundle) if _in_range(r.node.metadata, since, until)] if bm25 else []
        fused = reciprocal_rank_fusion([[r.node.node_id for r in dense], [r.node.node_id for r in lexical]])
        nodes = {r.node.node_id: r.node for r in [*lexical, *dense]}
        ranked = sorted(fused, key=lambda id_: fused[id_], reverse=True)[:k]
        return [
            RetrievedChunk(id_, nodes[id_].get_content(), dict(nodes[id_].metadata), fused[id_], rank)
            for rank, id_ in enumerate(ranked)
        ]

    def _dense(self, n: int, filters: Any) -> Any:
        return self._vector_index.as_retriever(similarity_top_k=n, filters=filters)

    @cached_property
    def _vector_index(self) -> Any:
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        store = ChromaVectorStore(chroma_collection=self.index.chunks)
        return VectorStoreIndex.from_vector_store(store, embed_model=as_llama_index_embedding(self.embedder))

    def _bm25_retriever(self, n: int) -> Any:
        with self._lock:
            key = self.index.generation() or _manifest_key(self.index)
            if key != self._bm25_key:
                self._bm25 = _build_bm25(self.index)
                self._bm25_key = key
            if self._bm25 is not None:
                self._bm25.similarity_top_k = min(n, len(self._bm25.corpus))
            return self._bm25


def _manifest_key(index: Index) -> tuple[tuple[str, str], ...]:
    """What the index holds, for an index written before generations existed."""
    return tuple(sorted((r.source, r.sha256) for r in index.manifest().values()))


def _build_bm25(index: Index) -> Any:
    import Stemmer
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    got = index.all_chunks()
    nodes: list[BaseNode] = [
        TextNode(id_=id_, text=doc, metadata=meta)
        for id_, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    if not nodes:
        return None
    return BM25Retriever.from_defaults(
        nodes=nodes, similarity_top_k=min(10, len(nodes)), stemmer=Stemmer.Stemmer("english")
    )


def _date_filters(since: str | None, until: str | None) -> Any:
    if not since and not until:
        return None
    from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

    filters = []
    if since:
        filters.append(MetadataFilter(key="date_ord", value=date_ordinal(since), operator=FilterOperator.GTE))
    if until:
        filters.append(MetadataFilter(key="date_ord", value=date_ordinal(until), operator=FilterOperator.LTE))
        filters.append(MetadataFilter(key="date_ord", value=0, operator=FilterOperator.GT))
    return MetadataFilters(filters=filters)


def _in_range(meta: dict[str, Any], since: str | None, until: str | None) -> bool:
    value = int(meta.get("date_ord", 0))
    if since and value < date_ordinal(since):
        return False
    return not (until and not 0 < value <= date_ordinal(until))


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
