"""The Chroma store: chunk vectors plus a manifest of indexed files, kept consistent with each other."""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.articles.chunking import Chunk
from rag.articles.documents import Article
from rag.core.config import Settings
from rag.core.errors import IndexBusy, RagError
from rag.store.lock import StoreAccess, store_access

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

T = TypeVar("T")
_held_locks = threading.local()  # the ingest locks this thread holds


# What an index written by this version holds beyond chunks and files. 2: every file records
# whether it repeats another (`duplicate_of`). 3: reports that swap a name or figure are never
# duplicates. An older index is brought up to date on opening.
INDEX_FORMAT = 3


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
    duplicate_of: str | None = None  # the canonical article this one repeats (rag/articles/duplicates.py)
    facts: str | None = None  # digest of the names and figures it states (rag.articles.duplicates.facts_key)
    lead: str | None = None  # its first line of text, for lists when it has no headline


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    """Drop None values: Chroma metadata holds only str, int, float and bool."""
    return {k: v for k, v in meta.items() if v is not None}


def date_ordinal(date: str | None) -> int:
    """Turn YYYY-MM-DD into a sortable int (0 when unknown) for Chroma range filters."""
    return int(date.replace("-", "")) if date else 0


def _holding(hold: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run an Index method inside one of its holds on the store: `reading` or `writing`."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(self: Index, *args: Any, **kwargs: Any) -> T:
            with getattr(self, hold)():
                return method(self, *args, **kwargs)

        return run

    return decorate


_reads, _writes = _holding("reading"), _holding("writing")


class Index:
    """Chunks and manifest for one settings fingerprint, in an embedded or remote Chroma."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # An embedded store is shared with other processes through its StoreAccess (rag/store/lock.py).
        self._access = None if settings.chroma_url else _embedded_access(settings)
        self._epoch = -1
        try:
            if self._access is None:
                self.client = _http_client(str(settings.chroma_url), settings.chroma_database)
                self._open_collections()
            self.repaired = False
            with self.writing(changes=False):
                self.repaired = self._repair_if_damaged()
        except RagError:
            raise
        except Exception as exc:  # chromadb raises many types for an unreachable or unwritable store
            raise RagError(storage_error(settings, "open the index", exc)) from exc

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Read the store: no other process writes it meanwhile, and this process's view is current."""
        if self._access is None:
            yield
            return
        with self._access.hold(exclusive=False):
            self._current()
            yield

    @contextmanager
    def writing(self, *, changes: bool = True) -> Iterator[None]:
        """Write the store: no other process reads or writes it meanwhile; the others see the change after."""
        if self._access is None:
            yield
            return
        with self._access.hold(exclusive=True, writes=changes):
            self._current()
            yield

    def _current(self) -> None:
        """Fetch the collections again when the process's client was reopened since they were fetched."""
        assert self._access is not None
        client = self._access.client
        if self._epoch != self._access.epoch:
            self.client = client
            self._open_collections()
            self._epoch = self._access.epoch

    def _repair_if_damaged(self) -> bool:
        """Empty the index when embedded Chroma can no longer read its vectors; True if it did.

        A process killed while Chroma 1.5 writes its HNSW files can leave the store unreadable
        ("Failed to apply logs to the hnsw segment writer"): it happened in 1 of 3 runs of the
        50-kill test, with one article per write. The index holds nothing but what ingest derives
        from the article files, so the repair drops the chunks and the manifest; the next `rag
        ingest` (or the first question) embeds every article again. The articles are untouched.
        """
        try:
            self.chunks.get(limit=1, include=[])
            return False
        except Exception as exc:
            if "hnsw segment" not in str(exc).lower():
                raise
        name = self.settings.collection_name
        with self.writing():
            for collection in (name, f"{name}-files"):
                self.client.delete_collection(collection)
            self._open_collections()
            self.bump()
        return True

    def _open_collections(self) -> None:
        """Open (or create) the chunk vectors and the manifest of files."""
        name = self.settings.collection_name
        self.chunks = self.client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        self.files = self.client.get_or_create_collection(f"{name}-files", embedding_function=None)
        self.state = self.client.get_or_create_collection(f"{name}-state", embedding_function=None)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a Chroma server that stops answering mid-run into a RagError that says so."""
        import httpx

        try:
            yield
        except httpx.TransportError as exc:
            raise RagError(
                f"The Chroma server at {_where(self.settings)} stopped answering ({exc}); restart it and try again."
            ) from exc

    # Reading

    @_reads
    def manifest(self) -> dict[str, FileRecord]:
        with self._storage("read the manifest"):
            got = _get_all(self.files, ["metadatas"])
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
                facts=_opt(m.get("facts")) or None,
                lead=_opt(m.get("lead")) or None,
            )
            for id_, m in zip(got["ids"], got["metadatas"] or [], strict=True)
            if m
        }

    @_reads
    def article_text(self, source: str) -> str | None:
        got = self.files.get(ids=[source], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else None

    @_reads
    def generation(self) -> str:
        """A token that changes whenever chunks or manifest change ("" for an index written before it existed).

        Readers compare it to decide whether derived state (the BM25 index) is stale: one small
        read per query instead of the whole manifest, which at 10,000 files costs tens of ms.
        """
        got = self.state.get(ids=["generation"], include=["metadatas"])
        metas = got.get("metadatas") or []
        return str(metas[0].get("value", "")) if metas and metas[0] else ""

    @_reads
    def format(self) -> int:
        """Which `INDEX_FORMAT` the last complete ingest wrote (1 for an index from before the stamp)."""
        got = self.state.get(ids=["format"], include=["metadatas"])
        metas = got.get("metadatas") or []
        return int(metas[0].get("value", 1)) if metas and metas[0] else 1

    @_writes
    def set_format(self, value: int) -> None:
        self.state.upsert(ids=["format"], embeddings=[[1.0]], metadatas=[{"value": value}])

    @_writes
    def bump(self) -> None:
        """Record that chunks or the manifest changed, for readers holding derived state."""
        self.state.upsert(ids=["generation"], embeddings=[[1.0]], metadatas=[{"value": uuid.uuid4().hex}])

    @_reads
    def file_count(self) -> int:
        """How many articles the manifest holds, without reading it."""
        with self._storage("count the articles"):
            return int(self.files.count())

    @_reads
    def chunk_count(self) -> int:
        with self._storage("count the chunks"):
            return int(self.chunks.count())

    @_reads
    def all_chunks(self, sources: Collection[str] | None = None) -> dict[str, Any]:
        """Chunk texts and metadata, of every file or only of `sources`."""
        where = None if sources is None else {"source": {"$in": sorted(sources)}}
        if sources is not None and not sources:
            return {"ids": [], "documents": [], "metadatas": []}
        with self._storage("read the chunks"):
            return _get_all(self.chunks, ["documents", "metadatas"], where)

    @_reads
    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, Any]:
        """The texts and metadata of the chunks with these ids (those that exist)."""
        with self._storage("read the chunks"):
            got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])  # type: ignore[list-item]
        return {"ids": got["ids"], "documents": got["documents"] or [], "metadatas": got["metadatas"] or []}

    @_reads
    def chunk_vectors(self, sources: Collection[str] | None = None) -> dict[str, np.ndarray]:
        """Each indexed file's chunk vectors, one row per chunk (only `sources`' when given)."""
        if sources is not None and not sources:
            return {}
        where = None if sources is None else {"source": {"$in": sorted(sources)}}
        with self._storage("read the chunk vectors"):
            got = _get_all(self.chunks, ["embeddings", "metadatas"], where)
        rows: dict[str, list[Any]] = {}
        for vector, meta in zip(got["embeddings"], got["metadatas"] or [], strict=True):
            rows.setdefault(str(meta["source"]), []).append(vector)
        return {source: np.asarray(vectors, dtype=np.float32) for source, vectors in rows.items()}

    # Writing: chunks first, then the manifest entry, then stale chunks go.
    # A crash between steps leaves chunks the manifest does not vouch for, which reconcile() removes.

    def put_article(
        self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray, path: str, *, replaces: bool = True
    ) -> None:
        """Store one article's chunks and manifest entry (see put_articles)."""
        self.put_articles([Put(article, chunks, vectors, path, replaces)])

    @_writes
    def put_articles(self, puts: Sequence[Put]) -> None:
        """Store several articles' chunks, then their manifest entries, then drop replaced versions' chunks.

        Writing a group at once costs a few store round trips instead of a few per file (a
        quarter of a fresh ingest of small files went to them). A put with `replaces=False` is a
        new file: it has no old chunks once reconcile() has run, so it needs no delete.
        """
        need = sum(bytes_needed(p.article) for p in puts)
        with self._storage(f"store {', '.join(p.article.source for p in puts[:3])}", need):
            self._write(puts)

    def _write(self, puts: Sequence[Put]) -> None:
        rows = [row for put in puts for row in _chunk_rows(put)]
        for lo in range(0, len(rows), 500):
            batch = rows[lo : lo + 500]
            self.chunks.upsert(
                ids=[r[0] for r in batch],
                embeddings=[r[1] for r in batch],
                documents=[r[2] for r in batch],
                metadatas=[r[3] for r in batch],  # type: ignore[misc]
            )
        self.files.upsert(
            ids=[p.article.source for p in puts],
            embeddings=[[1.0]] * len(puts),
            documents=[p.article.text for p in puts],
            metadatas=[_clean(_file_record(p)) for p in puts],  # type: ignore[misc]
        )
        self.bump()  # right after the manifest write, so readers never keep a view the manifest has left
        replaced = [p.article for p in puts if p.replaces]
        for article in replaced:
            self.chunks.delete(where={"$and": [{"source": article.source}, {"sha256": {"$ne": article.sha256}}]})
        if replaced:
            self.bump()

    @_writes
    def set_duplicates(self, duplicates: dict[str, str], facts: dict[str, str] | None = None) -> None:
        """Record for every file which canonical file it repeats, if any ("" for none), and any
        `facts` digests it lacked."""
        facts = facts or {}
        with self._storage("record duplicate articles"):
            got = _get_all(self.files, ["metadatas"])
            ids, metas = [], []
            for id_, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                wanted = {"duplicate_of": duplicates.get(id_, "")}
                if id_ in facts:
                    wanted["facts"] = facts[id_]
                if meta is not None and any(meta.get(k) != v for k, v in wanted.items()):
                    ids.append(id_)
                    metas.append({**meta, **wanted})
            # in pages: one update of more rows than the store's batch limit (5,461 embedded) fails
            for lo in range(0, len(ids), PAGE):
                self.files.update(ids=ids[lo : lo + PAGE], metadatas=metas[lo : lo + PAGE])  # type: ignore[arg-type]
            if ids:
                self.bump()

    @_writes
    def remove(self, source: str) -> None:
        with self._storage(f"remove {source}"):
            self.files.delete(ids=[source])
            self.chunks.delete(where={"source": source})
            self.bump()

    @_writes
    def reconcile(self) -> int:
        """Delete chunks the manifest does not vouch for; return how many went.

        One read of every chunk's file and hash, and deletes only when something is stale: the
        cost of an ingest that finds nothing to clean does not grow with deletes per file.
        """
        vouched = {r.source: r.sha256 for r in self.manifest().values()}
        with self._storage("clean up after an interrupted ingest"):
            got = _get_all(self.chunks, ["metadatas"])
            stale = [
                id_
                for id_, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
                if not meta or vouched.get(str(meta.get("source"))) != meta.get("sha256")
            ]
            for lo in range(0, len(stale), PAGE):
                self.chunks.delete(ids=stale[lo : lo + PAGE])
        if stale:
            self.bump()
        return len(stale)

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


@dataclass(frozen=True)
class Put:
    """One article to store: its chunks, their vectors, where it was read from, and whether it replaces a version."""

    article: Article
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    path: str
    replaces: bool = True
    facts: str | None = None  # rag.articles.duplicates.facts_key of its chunks


def _chunk_rows(put: Put) -> list[tuple[str, list[float], str, dict[str, Any]]]:
    article = put.article
    return [
        (
            f"{article.source}::{article.sha256[:16]}::{c.index}",
            put.vectors[i].tolist(),
            c.text,
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
            ),
        )
        for i, c in enumerate(put.chunks)
    ]


def _file_record(put: Put) -> dict[str, Any]:
    article = put.article
    return {
        "sha256": article.sha256,
        "path": put.path,
        "chunks": len(put.chunks),
        "title": article.title,
        "outlet": article.outlet,
        "author": article.author,
        "date": article.date,
        "facts": put.facts,
        "lead": article.lead,
        "indexed_at": time.time(),
    }


PAGE = 5000


def _get_all(collection: Any, include: list[str], where: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a whole collection in pages: one unbounded get fails past ~32k rows ("too many SQL variables")."""
    out: dict[str, Any] = {"ids": [], **{key: [] for key in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE, offset=offset, where=where)
        out["ids"].extend(got["ids"])
        for key in include:
            rows = got.get(key)  # embeddings come as a numpy array, whose truth value is ambiguous
            out[key].extend([] if rows is None else rows)
        if len(got["ids"]) < PAGE:
            return out
        offset += PAGE


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(settings: Settings) -> str:
    return settings.chroma_url or str(settings.index_dir)


def _embedded_access(settings: Settings) -> StoreAccess:
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"Cannot create the index folder {settings.index_dir}: {exc.strerror}.") from exc

    def connect(folder: Path) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            return chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as exc:
            raise RagError(storage_error(settings, "open the index", exc)) from exc

    return store_access(settings.index_dir, connect, _forget_store)


def release(settings: Settings) -> None:
    """Close this process's client on an embedded index (Index objects on it reopen it when next used)."""
    if not settings.chroma_url:
        _embedded_access(settings).close()


def _forget_store(folder: Path) -> None:
    """Stop this process's Chroma system for the store, so that the next client reads it from disk."""
    from chromadb.api.shared_system_client import SharedSystemClient

    identifier = str(folder)
    system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    SharedSystemClient._identifier_to_refcount.pop(identifier, None)
    if system is not None:
        system.stop()


def _http_client(address: str, database: str) -> Any:
    """Connect to a Chroma server, creating the database on first use."""
    from urllib.parse import urlparse

    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.errors import NotFoundError

    url = urlparse(address)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RagError(f"RAG_CHROMA_URL {address!r} is not a server address; write it as http://host:port.")
    host, ssl = url.hostname, url.scheme == "https"
    port = url.port or (443 if ssl else 8000)
    for attempt in range(2):
        try:
            return chromadb.HttpClient(
                host=host, port=port, ssl=ssl, database=database, settings=ChromaSettings(anonymized_telemetry=False)
            )
        except NotFoundError:
            if attempt:
                raise
            _create_database(host, port, ssl, database, address)
        except Exception as exc:  # chromadb turns a refused connection into ValueError
            raise RagError(
                f"Cannot reach the Chroma server at {address} ({exc}). What to do: start it (`chroma run --path DIR "
                f"--host {host} --port {port}`) or unset RAG_CHROMA_URL to use the embedded index."
            ) from exc
    raise AssertionError("unreachable")


def _create_database(host: str, port: int, ssl: bool, database: str, address: str) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    server = ChromaSettings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI",
        chroma_server_host=host,
        chroma_server_http_port=port,
        chroma_server_ssl_enabled=ssl,
        anonymized_telemetry=False,
    )
    try:
        chromadb.AdminClient(server).create_database(database)
    except Exception as exc:
        raise RagError(f"Cannot create the database {database!r} on the Chroma server {address}: {exc}") from exc


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock so two ingests never write one index at once.

    Re-entrant within a thread (an ingest inside an upload); another thread or process is refused.
    """
    import fcntl

    lock_dir = settings.index_dir
    path = Path(lock_dir) / ".ingest.lock"
    held = _held_locks.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 -- closed by the with block below
    except OSError as exc:
        raise RagError(storage_error(settings, "lock the index for writing", exc)) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(
                f"Another `rag ingest` is writing this index ({lock_dir}); wait for it to finish."
            ) from None
        held.add(path)
        try:
            with _server_lock(settings):
                yield
        finally:
            held.discard(path)
            fcntl.flock(handle, fcntl.LOCK_UN)


SERVER_LOCK_STALE_SECONDS = 120.0  # a lock whose holder has not renewed it for this long is abandoned
SERVER_LOCK_RENEW_SECONDS = 20.0


@contextmanager
def _server_lock(settings: Settings) -> Iterator[None]:
    """With a Chroma server, the ingest lock is also a record on the server, so that ingests on
    two machines exclude each other too. `add` never replaces an existing record: of two
    ingests that race, the first record stays and the other sees it. The holder renews it while
    it works; a record left by a killed ingest goes stale and is taken over."""
    if not settings.chroma_url:
        yield
        return
    import socket

    client = _http_client(settings.chroma_url, settings.chroma_database)
    locks = client.get_or_create_collection(f"{settings.collection_name}-locks", embedding_function=None)
    me = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"

    def holder() -> dict[str, Any] | None:
        got = locks.get(ids=["ingest"], include=["metadatas"])
        metas = got.get("metadatas") or []
        return dict(metas[0]) if metas and metas[0] else None

    current = holder()
    if current and time.time() - float(current.get("renewed", 0)) > SERVER_LOCK_STALE_SECONDS:
        locks.delete(ids=["ingest"])  # abandoned by an ingest that died
    locks.add(ids=["ingest"], embeddings=[[1.0]], metadatas=[{"owner": me, "renewed": time.time()}])
    current = holder()
    if not current or current.get("owner") != me:
        owner = current.get("owner") if current else "unknown"
        raise IndexBusy(
            f"Another `rag ingest` ({owner}) is writing this index on the Chroma server {settings.chroma_url}; "
            "wait for it to finish."
        )
    done = threading.Event()

    def renew() -> None:
        while not done.wait(SERVER_LOCK_RENEW_SECONDS):
            with suppress(Exception):  # the server being away is reported by the ingest itself
                locks.update(ids=["ingest"], metadatas=[{"owner": me, "renewed": time.time()}])

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        with suppress(Exception):  # unreachable now: the record goes stale and the next ingest takes over
            if (holder() or {}).get("owner") == me:
                locks.delete(ids=["ingest"])
