"""Hybrid retrieval through llama-index: dense (Chroma) plus BM25, fused by reciprocal rank."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.core.config import Settings
from rag.models.embedding import Embedder
from rag.store.index import FileRecord, Index, date_ordinal

WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ0-9]*")


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
    """Dense and BM25 retrievers over one index, fused; BM25 is rebuilt when the manifest changes."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._bm25: Any = None
        self._key: object = None
        self._generation = ""
        self._manifest: dict[str, FileRecord] = {}
        self._vocabulary: frozenset[str] = frozenset()
        self._spread: Counter[str] = Counter()
        self._nodes: dict[str, Any] = {}
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
        dense = [r for r in self._dense(n, filters).retrieve(bundle) if is_vouched(r.node.metadata, vouched)]
        # BM25 cannot filter: scoped to some articles, it ranks every chunk and keeps theirs.
        lexical = [
            r
            for r in self._lexical(bundle, None if scope else n)
            if _in_range(r.node.metadata, since, until) and is_vouched(r.node.metadata, vouched)
        ][:n]
        fused = reciprocal_rank_fusion(
            [[r.node.node_id for r in dense], [r.node.node_id for r in lexical]], self.settings.retrieval.rrf_k
        )
        nodes = {r.node.node_id: r.node for r in [*lexical, *dense]}
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

    def _lexical(self, bundle: Any, n: int | None) -> list[Any]:
        """The top n chunks by BM25 (n None: all of them)."""
        with self._lock:
            if self._bm25 is None:
                return []
            self._bm25.similarity_top_k = len(self._bm25.corpus) if n is None else min(n, len(self._bm25.corpus))
            return list(self._bm25.retrieve(bundle))

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

    def vocabulary(self) -> frozenset[str]:
        """Every word of the indexed articles, lower-cased; rebuilt with BM25 when the corpus changes."""
        self._refresh()
        return self._vocabulary

    def spread(self) -> tuple[Mapping[str, int], int]:
        """How many articles use each (lower-cased) word, and how many articles there are."""
        manifest = self._refresh()
        return self._spread, len(manifest)

    def _refresh(self) -> dict[str, FileRecord]:
        """Bring the manifest, BM25 and the vocabulary up to date with the index; return the manifest.

        One small read per query (the index's generation token); the manifest and the chunks
        are read again only after a write. An index from before generations existed is
        compared by its manifest instead.
        """
        with self._lock:
            generation = self.index.generation()
            if generation and generation == self._generation:
                return self._manifest
            manifest = self.index.manifest()
            key = generation or tuple(sorted((r.source, r.sha256) for r in manifest.values()))
            if key != self._key:
                vouched = {r.source: r.sha256 for r in manifest.values()}
                got = self.index.all_chunks() if vouched else {"ids": [], "documents": [], "metadatas": []}
                self._bm25 = _build_bm25(got, vouched)
                words: dict[str, set[str]] = {}
                for text, meta in zip(got["documents"], got["metadatas"], strict=True):
                    if is_vouched(meta, vouched):
                        words.setdefault(meta["source"], set()).update(w.lower() for w in WORD.findall(text))
                self._vocabulary = frozenset().union(*words.values())
                self._spread = Counter(w for article in words.values() for w in article)
                self._key = key
            self._manifest, self._generation = manifest, generation
            return manifest


def is_vouched(meta: dict[str, Any], vouched: dict[str, str]) -> bool:
    """Tell whether a chunk belongs to the version of its file that the manifest records."""
    return vouched.get(str(meta.get("source"))) == meta.get("sha256")


def _build_bm25(got: Any, vouched: dict[str, str]) -> Any:
    import Stemmer
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.retrievers.bm25 import BM25Retriever

    nodes: list[BaseNode] = [
        TextNode(id_=id_, text=doc, metadata=meta)
        for id_, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        if is_vouched(meta, vouched)
    ]
    if not nodes:
        return None
    return BM25Retriever.from_defaults(
        nodes=nodes, similarity_top_k=min(10, len(nodes)), stemmer=Stemmer.Stemmer("english")
    )


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
