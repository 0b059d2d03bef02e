"""Incremental ingest: read, chunk, embed and store only what changed."""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.articles.chunking import Chunk, chunk_article
from rag.articles.documents import Article, iter_article_paths, read_article
from rag.articles.duplicates import facts_key, find_duplicates
from rag.core.config import Settings
from rag.core.errors import IndexBusy, RagError
from rag.models.embedding import Embedder
from rag.store.index import INDEX_FORMAT, Index, Put, bytes_needed, ingest_lock

# Chunks stored per write, in whole articles: one write per article cost 100 s of a 101 s ingest
# of 1,000 one-sentence files, and groups bring it to 10 s. A SIGKILL inside an upsert can leave
# embedded Chroma 1.5.9 unable to read the collection ("Failed to apply logs to the hnsw segment
# writer"), with groups and, more rarely, with single articles; opening the index then repairs it
# (`Index._repair_if_damaged`) and the next ingest embeds again (tests/ingest/test_crash.py).
CHUNKS_PER_WRITE = 256
# Longest a write holds the store from other processes' readers (rag/store/lock.py).
WRITE_SLICE_SECONDS = 0.5


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # duplicate file -> its canonical file
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged; {self.chunks_embedded} chunks embedded, "
            f"{self.chunks_total} in the index; {self.seconds:.1f} s"
        )
        if self.duplicates:
            line += "; duplicates: " + ", ".join(f"{d} repeats {c}" for d, c in sorted(self.duplicates.items()))
        if self.failed:
            line += f"; {len(self.failed)} skipped:\n" + "\n".join(f"  {k}: {v}" for k, v in self.failed.items())
        return line


def _sources(roots: Sequence[Path], corpus: Path) -> tuple[dict[str, tuple[Path, Path | None]], list[Path]]:
    """Map each file's citation key (its path relative to the corpus folder) to its path and corpus.

    Only files inside the corpus are taken: a key names one file, so a same-named file from
    elsewhere can never replace an indexed article.
    """
    corpus = corpus.resolve()
    found: dict[str, tuple[Path, Path | None]] = {}
    dirs: list[Path] = []
    for root in roots:
        # Resolve the folders on the way but not the file itself: a symlink is judged by read_source.
        where = Path(os.path.abspath(root))
        where = where.resolve() if where.is_dir() else where.parent.resolve() / where.name
        if not where.exists():
            raise RagError(f"{root}: no such file or folder.")
        if not (where == corpus or _is_under(where.parent, corpus)):
            raise RagError(
                f"{root}: outside the corpus folder {corpus}; copy it into that folder, or make its folder "
                "the corpus (`rag --corpus FOLDER ingest`, or RAG_CORPUS_DIR) and run `rag ingest` again."
            )
        if where.is_dir():
            dirs.append(where)
        for path in iter_article_paths(where):
            found[path.relative_to(corpus).as_posix()] = (path, corpus)
    return found, dirs


def ingest(
    paths: Sequence[Path],
    index: Index,
    embedder: Embedder,
    settings: Settings,
    *,
    progress: bool = True,
) -> IngestReport:
    """Bring the index in line with `paths` (folders are synced, files added or updated)."""
    started = time.perf_counter()
    report = IngestReport()
    with ingest_lock(settings):
        index.reconcile()
        manifest = index.manifest()
        found, dirs = _sources(paths, settings.corpus_dir)
        todo: list[tuple[Article, Path, list[Chunk], bool]] = []
        for source, (path, folder) in found.items():
            try:
                article = read_source(path, source, folder)
                previous = manifest.get(source)
                if previous and previous.sha256 == article.sha256:
                    report.unchanged.append(source)
                    continue
                chunks = _chunk(article, settings)
            except RagError as exc:
                report.failed[source] = str(exc)
                continue
            (report.changed if previous else report.added).append(source)
            todo.append((article, path, chunks, previous is not None))

        check_free_space(settings, [article for article, *_ in todo])
        vectors = _embed_all([c.text for _, _, chunks, _ in todo for c in chunks], embedder, progress)
        offset, puts = 0, []
        for article, path, chunks, replaces in todo:
            put_vectors = vectors[offset : offset + len(chunks)]
            puts.append(Put(article, chunks, put_vectors, str(path), replaces, facts_key(c.text for c in chunks)))
            offset += len(chunks)
        _store(index, puts)
        report.chunks_embedded = offset

        for record in manifest.values():
            gone = record.source not in found and any(_is_under(Path(record.path), d) for d in dirs)
            if gone and not Path(record.path).exists():
                index.remove(record.source)
                report.removed.append(record.source)
        report.duplicates = _mark_duplicates(index, {*report.added, *report.changed, *report.removed})
        index.set_format(INDEX_FORMAT)
        report.chunks_total = index.chunk_count()
    report.seconds = time.perf_counter() - started
    return report


def upgrade(index: Index, settings: Settings) -> bool:
    """Bring an index written by an older version up to `INDEX_FORMAT`; True if it needed it.

    Format 1 predates duplicate detection: its rewrites compete with their originals for
    evidence places until duplicates are marked, which needs no re-embedding. Format 2 could mark
    two reports that swap a name or figure as one (`swaps_a_fact`): every mark is decided again.
    While another ingest holds the lock (an index being built reads as format 1 until it
    finishes), that ingest marks duplicates and stamps the format itself, so there is nothing to do.
    """
    if index.format() >= INDEX_FORMAT:
        return False
    try:
        with ingest_lock(settings):
            if index.format() >= INDEX_FORMAT:
                return False
            _mark_duplicates(index)
            index.set_format(INDEX_FORMAT)
            return True
    except IndexBusy:
        return False


def _mark_duplicates(index: Index, touched: Collection[str] | None = None) -> dict[str, str]:
    """Decide which articles repeat another, and record it; return every article's mark.

    Only articles that state the same facts can be duplicates, so only the groups of articles
    sharing facts with a `touched` (added, changed or removed) article are decided again; the
    others keep their marks. `touched=None` decides every group, as for an older index.
    """
    manifest = index.manifest()
    keys = {source: record.facts for source, record in manifest.items() if record.facts}
    unkeyed = [source for source in manifest if source not in keys]  # written before facts were recorded
    if unkeyed:
        texts: dict[str, list[str]] = {}
        got = index.all_chunks(unkeyed)
        for text, meta in zip(got["documents"], got["metadatas"], strict=True):
            texts.setdefault(str(meta["source"]), []).append(text)
        keys.update({source: facts_key(texts.get(source, [])) for source in unkeyed})
    if touched is None:
        regroup = set(keys.values())
    else:
        regroup = {keys[s] for s in touched if s in keys}
        # a duplicate whose canonical article changed or went must find a new one
        regroup |= {
            keys[s]
            for s, r in manifest.items()
            if r.duplicate_of and (r.duplicate_of in touched or r.duplicate_of not in manifest)
        }
    members = [source for source in manifest if keys[source] in regroup]
    decided = find_duplicates(
        index.chunk_vectors(members),
        {s: manifest[s].date for s in members},
        index.settings.ingest.duplicate_similarity,
        {s: keys[s] for s in members},
        _texts(index),
    )
    kept = {s: r.duplicate_of for s, r in manifest.items() if r.duplicate_of and keys[s] not in regroup}
    duplicates = {**kept, **decided}
    if touched is None or touched or unkeyed:
        index.set_duplicates(duplicates, {s: keys[s] for s in unkeyed})
    return duplicates


def _texts(index: Index) -> Callable[[str], str]:
    """An article's text as its chunks hold it, read from the store when first asked for."""

    @functools.cache
    def text(source: str) -> str:
        got = index.all_chunks([source])
        starts = [int(m.get("start", 0)) for m in got["metadatas"]]
        return " ".join(t for _, t in sorted(zip(starts, got["documents"], strict=True)))

    return text


def _store(index: Index, puts: Sequence[Put]) -> None:
    """Write whole articles about CHUNKS_PER_WRITE chunks at a time, holding the store for
    WRITE_SLICE_SECONDS at most.

    Between slices other processes' readers get the store (each slice ends with whole files, so
    they answer from wholly indexed files); within one, the lock is not taken again per write.
    """
    groups: list[list[Put]] = []
    size = CHUNKS_PER_WRITE
    for put in puts:
        if size >= CHUNKS_PER_WRITE:
            groups.append([])
            size = 0
        groups[-1].append(put)
        size += len(put.chunks)
    lo = 0
    while lo < len(groups):
        with index.writing():
            started = time.perf_counter()
            while lo < len(groups) and time.perf_counter() - started < WRITE_SLICE_SECONDS:
                index.put_articles(groups[lo])
                lo += 1


def check_free_space(settings: Settings, articles: Sequence[Article]) -> None:
    """Refuse, before writing anything, an ingest the index's disk clearly cannot hold.

    A write that fills the disk midway leaves Chroma unable even to read until space is freed.
    """
    if settings.chroma_url or not articles:
        return
    need = sum(bytes_needed(a) for a in articles)
    try:
        free = shutil.disk_usage(settings.index_dir).free
    except OSError:
        return
    if free < need:
        raise RagError(
            f"Indexing {len(articles)} files needs about {need / 2**20:.1f} MB, and only {free / 2**20:.1f} MB "
            f"is free on the disk of {settings.index_dir}; free some space and run `rag ingest` again "
            "(none of them was written)."
        )


def read_source(path: Path, source: str, folder: Path | None) -> Article:
    """Read a corpus file as ingest does, or raise RagError saying why it is skipped."""
    if folder is not None and path.is_symlink():
        target = path.resolve()
        if not _is_under(target, folder):
            raise RagError(f"{source}: a symlink pointing outside the corpus ({target}); not followed.")
    try:
        return read_article(path, source)
    except OSError as exc:
        raise RagError(f"{source}: cannot read the file ({exc.strerror}).") from exc


def _chunk(article: Article, settings: Settings) -> list[Chunk]:
    try:
        return chunk_article(article, settings.chunking.max_words, settings.chunking.overlap_sentences)
    except Exception as exc:
        raise RagError(f"{article.source}: cannot be cut into chunks ({type(exc).__name__}: {exc}).") from exc


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _embed_all(texts: list[str], embedder: Embedder, progress: bool) -> np.ndarray:
    """Embed in slices (for the progress bar) of texts sorted by length, as the encoder sorts a
    whole list: a slice of mixed lengths pads every text to its longest (14% slower on seeds and snippets)."""
    batch = 256
    order = np.argsort([len(t) for t in texts], kind="stable")
    parts = []
    with tqdm(total=len(texts), desc="Embedding", unit="chunk", disable=not progress or not texts) as bar:
        for lo in range(0, len(texts), batch):
            parts.append(embedder.embed([texts[i] for i in order[lo : lo + batch]]))
            bar.update(len(parts[-1]))
    if not parts:
        return np.zeros((0, 1), dtype=np.float32)
    vectors = np.empty_like(np.concatenate(parts))
    vectors[order] = np.concatenate(parts)
    return vectors
