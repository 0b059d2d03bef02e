"""The corpus folder as the UI changes it: list, add (upload) and delete articles, keeping the index in step."""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.articles.documents import parse_article
from rag.core.errors import RagError
from rag.interfaces.views import NO_DATE
from rag.pipeline import Pipeline
from rag.store.index import ingest_lock

UPLOAD_SUFFIXES = (".txt", ".md", ".html")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w. -]+")  # letters and digits of any script stay: "Київ.txt" is not "_.txt"


@dataclass(frozen=True)
class ArticleRow:
    """One indexed article as the corpus panel lists it."""

    source: str
    title: str
    outlet: str
    date: str
    chunks: int


def list_articles(pipeline: Pipeline) -> list[ArticleRow]:
    """List the indexed articles, by file name."""
    return [
        ArticleRow(r.source, r.title or r.lead or r.source, r.outlet or "", r.date or NO_DATE, r.chunks)
        for r in sorted(pipeline.index.manifest().values(), key=lambda r: r.source)
    ]


def safe_name(name: str) -> str:
    """Reduce an uploaded file's name to a plain file name, or raise RagError.

    Browsers and clients send whatever name they like; only the last path component survives,
    so `../../x.txt` becomes `x.txt` and can never point outside the corpus folder.
    """
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name.strip())[-1])
    base = _UNSAFE.sub("_", base).strip(" .")  # no hidden files, no trailing dots
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem:
        raise RagError(f"{name!r}: the file needs a name and one of the extensions {', '.join(UPLOAD_SUFFIXES)}.")
    suffix = suffix.lower()
    if f".{suffix}" not in UPLOAD_SUFFIXES:
        raise RagError(f"{name!r}: .{suffix} files are not accepted; upload {', '.join(UPLOAD_SUFFIXES)} files.")
    return f"{stem[: MAX_NAME_CHARS - len(suffix) - 1]}.{suffix}"


def add_article(pipeline: Pipeline, name: str, data: bytes) -> str:
    """Check an uploaded article, save it into the corpus folder and index it; return what happened.

    The file is read and parsed before anything is written, and removed again if indexing fails,
    so a bad upload leaves both the folder and the index as they were.
    """
    source = safe_name(name)
    if len(data) > MAX_UPLOAD_BYTES:
        raise RagError(f"{source}: {len(data) / 2**20:.1f} MB is over the {MAX_UPLOAD_BYTES // 2**20} MB upload limit.")
    parse_article(source, data)  # raises RagError for empty, binary or textless files
    if source in pipeline.index.manifest():
        raise RagError(f"{source} is already indexed; delete it first, or rename the file to add it as a new article.")
    target = _write_new(pipeline.settings.corpus_dir, source, data)
    try:
        report = pipeline.ingest([target], progress=False)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if source in report.failed:
        target.unlink(missing_ok=True)
        raise RagError(report.failed[source])
    chunks = pipeline.index.manifest()[source].chunks
    return f"Added {source} ({chunks} chunk{'s' if chunks != 1 else ''})."


def delete_article(pipeline: Pipeline, source: str) -> str:
    """Remove an article from the index and, when it lives in the corpus folder, from disk."""
    record = pipeline.index.manifest().get(source)
    if record is None:
        raise RagError(f"{source!r} is not in the index; refresh the list.")
    corpus = pipeline.settings.corpus_dir.resolve()
    path = Path(record.path)
    with ingest_lock(pipeline.settings):
        in_corpus = path.resolve().is_relative_to(corpus)
        # The file steps aside under a hidden name (ingest skips those) while the entry goes, and
        # comes back if removing the entry fails: a refused delete loses nothing.
        aside = path.with_name(f".deleting-{secrets.token_hex(6)}") if in_corpus else None
        if aside is not None and path.exists():
            path.rename(aside)
        try:
            pipeline.index.remove(source)
        except BaseException:
            if aside is not None and aside.exists():
                aside.rename(path)
            raise
        if aside is not None:
            aside.unlink(missing_ok=True)
    if in_corpus:
        return f"Deleted {source}."
    return f"Removed {source} from the index; its file {path} is outside the corpus folder and was left in place."


def _write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` as folder/name without ever replacing an existing file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise RagError(f"{name!r}: not a plain file name.")
    # A hidden temporary name: ingest skips hidden files, so a half-written upload is never indexed.
    partial = folder / f".upload-{secrets.token_hex(6)}"
    try:
        partial.write_bytes(data)  # may fail part-way (a full disk): the finally removes the remains
        os.link(partial, target)  # unlike rename, fails when the target exists
    except FileExistsError:
        raise RagError(f"{name} already exists in the corpus folder; rename the file or delete the old one.") from None
    except OSError as exc:
        raise RagError(f"{name}: could not be saved in {folder} ({exc.strerror}); nothing was added.") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target
