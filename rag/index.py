"""The Chroma store: chunk vectors plus a manifest of indexed files, kept consistent with each other."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunking import Chunk
from rag.config import Settings
from rag.documents import Article
from rag.errors import RagError

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@dataclass(frozen=True)
class FileRecord:
    """What the manifest knows about one indexed file."""

    source: str
    sha256: str
    path: str
    chunks: int
    title: str | None
    outlet: str | None
    author: str | None
    date: str | None
    duplicate_of: str | None = None  # the canonical article this one repeats (rag/duplicates.py)


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    """Drop None values: Chroma metadata holds only str, int, float and bool."""
    return {k: v for k, v in meta.items() if v is not None}


def date_ordinal(date: str | None) -> int:
    """Turn YYYY-MM-DD into a sortable int (0 when unknown) for Chroma range filters."""
    return int(date.replace("-", "")) if date else 0


class Index:
    """Chunks and manifest for one settings fingerprint, in an embedded or remote Chroma."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = _connect(settings)
        name = settings.collection_name
        try:
            self.chunks = self.client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
            self.files = self.client.get_or_create_collection(f"{name}-files", embedding_function=None)
        except Exception as exc:  # chromadb raises many types for an unreachable or unwritable store
            raise RagError(storage_error(settings, "open the index", exc)) from exc

    # Reading

    def manifest(self) -> dict[str, FileRecord]:
        with self._storage("read the manifest"):
            got = self.files.get(include=["metadatas"])
        return {
            id_: FileRecord(
                source=id_,
                sha256=str(m["sha256"]),
                path=str(m.get("path", "")),
                chunks=int(m.get("chunks", 0)),
                title=_opt(m.get("title")),
                outlet=_opt(m.get("outlet")),
                author=_opt(m.get("author")),
                date=_opt(m.get("date")),
                duplicate_of=_opt(m.get("duplicate_of")) or None,
            )
            for id_, m in zip(got["ids"], got["metadatas"] or [], strict=True)
            if m
        }

    def article_text(self, source: str) -> str | None:
        got = self.files.get(ids=[source], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else None

    def chunk_count(self) -> int:
        with self._storage("count the chunks"):
            return int(self.chunks.count())

    def all_chunks(self) -> dict[str, Any]:
        with self._storage("read the chunks"):
            return self.chunks.get(include=["documents", "metadatas"])

    def chunk_vectors(self) -> dict[str, np.ndarray]:
        """Each indexed file's chunk vectors, one row per chunk."""
        got = self.chunks.get(include=["embeddings", "metadatas"])
        rows: dict[str, list[Any]] = {}
        for vector, meta in zip(got["embeddings"], got["metadatas"] or [], strict=True):
            rows.setdefault(str(meta["source"]), []).append(vector)
        return {source: np.asarray(vectors, dtype=np.float32) for source, vectors in rows.items()}

    # Writing: chunks first, then the manifest entry, then stale chunks go.
    # A crash between steps leaves chunks the manifest does not vouch for, which reconcile() removes.

    def put_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray, path: str) -> None:
        ids = [f"{article.source}::{article.sha256[:16]}::{c.index}" for c in chunks]
        metas = [
            _clean(
                {
                    "source": article.source,
                    "sha256": article.sha256,
                    "chunk": c.index,
                    "start": c.start,
                    "end": c.end,
                    "sentences": json.dumps(c.sentences),
                    "title": article.title,
                    "outlet": article.outlet,
                    "date": article.date,
                    "date_ord": date_ordinal(article.date),
                }
            )
            for c in chunks
        ]
        with self._storage(f"store {article.source}", bytes_needed(article)):
            self._write_article(article, chunks, vectors, path, ids, metas)

    def _write_article(
        self,
        article: Article,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        path: str,
        ids: list[str],
        metas: list[dict[str, Any]],
    ) -> None:
        for lo in range(0, len(ids), 500):
            self.chunks.upsert(
                ids=ids[lo : lo + 500],
                embeddings=vectors[lo : lo + 500].tolist(),
                documents=[c.text for c in chunks[lo : lo + 500]],
                metadatas=metas[lo : lo + 500],  # type: ignore[arg-type]
            )
        record = {
            "sha256": article.sha256,
            "path": path,
            "chunks": len(chunks),
            "title": article.title,
            "outlet": article.outlet,
            "author": article.author,
            "date": article.date,
            "indexed_at": time.time(),
        }
        self.files.upsert(
            ids=[article.source], embeddings=[[1.0]], documents=[article.text], metadatas=[_clean(record)]
        )
        self.chunks.delete(where={"$and": [{"source": article.source}, {"sha256": {"$ne": article.sha256}}]})

    def set_duplicates(self, duplicates: dict[str, str]) -> None:
        """Record for every file which canonical file it repeats, if any ("" for none)."""
        got = self.files.get(include=["metadatas"])
        ids, metas = [], []
        for id_, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            wanted = duplicates.get(id_, "")
            if meta is not None and meta.get("duplicate_of") != wanted:
                ids.append(id_)
                metas.append({**meta, "duplicate_of": wanted})
        if ids:
            self.files.update(ids=ids, metadatas=metas)  # type: ignore[arg-type]

    def remove(self, source: str) -> None:
        with self._storage(f"remove {source}"):
            self.files.delete(ids=[source])
            self.chunks.delete(where={"source": source})

    def reconcile(self) -> int:
        """Delete chunks the manifest does not vouch for; return how many went."""
        before = self.chunk_count()
        manifest = self.manifest()
        with self._storage("clean up after an interrupted ingest"):
            if manifest:
                self.chunks.delete(where={"source": {"$nin": list(manifest)}})
                for record in manifest.values():
                    self.chunks.delete(where={"$and": [{"source": record.source}, {"sha256": {"$ne": record.sha256}}]})
            elif before:
                self.chunks.delete(where={"chunk": {"$gte": 0}})
        return before - self.chunk_count()

    @contextmanager
    def _storage(self, action: str, need_bytes: int = 0) -> Iterator[None]:
        """Turn a storage failure (disk full, read-only, server gone) into a RagError that says what to do."""
        try:
            yield
        except RagError:
            raise
        except Exception as exc:  # chromadb raises many types, OSError among them
            raise RagError(storage_error(self.settings, action, exc, need_bytes)) from exc


def bytes_needed(article: Article) -> int:
    """Estimate the disk an article takes: its text in the manifest and chunks, the search index, vectors."""
    return 8 * len(article.text.encode()) + 64 * 1024


def storage_error(settings: Settings, action: str, exc: BaseException, need_bytes: int = 0) -> str:
    """Describe a failed storage operation and what the user can do about it."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    errno_ = getattr(exc, "errno", None)
    free = _free_bytes(settings)
    if errno_ == errno.ENOSPC or "disk is full" in lowered or "no space left" in lowered:
        hint = "the disk is full; free some space and run `rag ingest` again (what was indexed before is kept)"
    elif free is not None and free < max(need_bytes, 1 << 20):
        # Chroma's compaction reports a full disk without saying so; the free space tells.
        hint = (
            f"only {free / 2**20:.1f} MB is free on the index's disk and this needs about "
            f"{max(need_bytes, 1 << 20) / 2**20:.1f} MB; free some space and run `rag ingest` again "
            "(what was indexed before is kept)"
        )
    elif errno_ in (errno.EACCES, errno.EPERM, errno.EROFS) or "read-only" in lowered or "readonly" in lowered:
        hint = f"the index is not writable; make {settings.index_dir} writable or point RAG_INDEX_DIR elsewhere"
    elif settings.chroma_url:
        hint = f"check that the Chroma server at {settings.chroma_url} is running, or unset RAG_CHROMA_URL"
    else:
        hint = "run `rag doctor` to check the installation"
    return f"Could not {action} ({_where(settings)}): {text.strip()[:300]}. What to do: {hint}."


def _free_bytes(settings: Settings) -> int | None:
    if settings.chroma_url:
        return None
    try:
        return shutil.disk_usage(settings.index_dir).free
    except OSError:
        return None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(settings: Settings) -> str:
    return settings.chroma_url or str(settings.index_dir)


def _connect(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:
            raise RagError(
                f"Cannot reach the Chroma server at {settings.chroma_url} ({exc}). What to do: start it "
                "(`chroma run --path DIR --port PORT`) or unset RAG_CHROMA_URL to use the embedded index."
            ) from exc
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"Cannot create the index folder {settings.index_dir}: {exc.strerror}.") from exc
    try:
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
    except Exception as exc:
        raise RagError(storage_error(settings, "open the index", exc)) from exc


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock so two ingests never write one index at once."""
    import fcntl

    lock_dir = settings.index_dir
    path = Path(lock_dir) / ".ingest.lock"
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 -- closed by the with block below
    except OSError as exc:
        raise RagError(storage_error(settings, "lock the index for writing", exc)) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RagError(f"Another `rag ingest` is writing this index ({lock_dir}); wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
