"""Incremental ingest: read, chunk, embed and store only what changed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.chunking import Chunk, chunk_article
from rag.config import Settings
from rag.documents import Article, iter_article_paths, read_article
from rag.embedding import Embedder
from rag.errors import RagError
from rag.index import Index, Put, ingest_lock

FILES_PER_WRITE = 100  # articles stored per group of writes: few round trips, bounded requests


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged; {self.chunks_embedded} chunks embedded, "
            f"{self.chunks_total} in the index; {self.seconds:.1f} s"
        )
        if self.failed:
            line += f"; {len(self.failed)} skipped:\n" + "\n".join(f"  {k}: {v}" for k, v in self.failed.items())
        return line


def _sources(roots: Sequence[Path]) -> tuple[dict[str, tuple[Path, Path | None]], list[Path]]:
    """Map each file's citation key to its path and the folder it was found in.

    The key is the path relative to that folder, so for a flat corpus it is the file name.
    """
    found: dict[str, tuple[Path, Path | None]] = {}
    dirs: list[Path] = []
    for root in roots:
        if root.is_dir():
            folder = root.resolve()
            dirs.append(folder)
            for path in iter_article_paths(folder):
                found[path.relative_to(folder).as_posix()] = (path, folder)
        else:
            for path in iter_article_paths(root):
                found[path.name] = (path, None)
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
        found, dirs = _sources(paths)
        todo: list[tuple[Article, Path, list[Chunk], bool]] = []
        for source, (path, folder) in found.items():
            try:
                article = _read(path, source, folder)
            except RagError as exc:
                report.failed[source] = str(exc)
                continue
            previous = manifest.get(source)
            if previous and previous.sha256 == article.sha256:
                report.unchanged.append(source)
                continue
            (report.changed if previous else report.added).append(source)
            chunks = chunk_article(article, settings.chunk_max_words, settings.chunk_overlap_sentences)
            todo.append((article, path, chunks, previous is not None))

        vectors = _embed_all([c.text for _, _, chunks, _ in todo for c in chunks], embedder, progress)
        offset, puts = 0, []
        for article, path, chunks, replaces in todo:
            puts.append(Put(article, chunks, vectors[offset : offset + len(chunks)], str(path), replaces))
            offset += len(chunks)
        for lo in range(0, len(puts), FILES_PER_WRITE):
            index.put_articles(puts[lo : lo + FILES_PER_WRITE])
        report.chunks_embedded = offset

        for record in manifest.values():
            gone = record.source not in found and any(_is_under(Path(record.path), d) for d in dirs)
            if gone and not Path(record.path).exists():
                index.remove(record.source)
                report.removed.append(record.source)
        report.chunks_total = index.chunk_count()
    report.seconds = time.perf_counter() - started
    return report


def _read(path: Path, source: str, folder: Path | None) -> Article:
    if folder is not None and path.is_symlink():
        target = path.resolve()
        if not _is_under(target, folder):
            raise RagError(f"{source}: a symlink pointing outside the corpus ({target}); not followed.")
    try:
        return read_article(path, source)
    except OSError as exc:
        raise RagError(f"{source}: cannot read the file ({exc.strerror}).") from exc


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _embed_all(texts: list[str], embedder: Embedder, progress: bool) -> np.ndarray:
    batch = 256
    parts = []
    with tqdm(total=len(texts), desc="Embedding", unit="chunk", disable=not progress or not texts) as bar:
        for lo in range(0, len(texts), batch):
            parts.append(embedder.embed(texts[lo : lo + batch]))
            bar.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
