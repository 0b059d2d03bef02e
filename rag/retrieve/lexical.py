"""The BM25 index, saved beside the store and keyed by what it holds.

Building BM25 means reading and tokenizing every chunk: about a minute and a half at 100k
chunks. So it is built once per content and saved under `<index_dir>/lexical/<key>`, where the
key is a digest of the collection and of every indexed file's hash. Any process that finds the
key's folder loads it in well under a second; one that does not builds and saves it. Two
processes on one Chroma server that see the same files compute the same key and the same
scores, whether they load the folder or build it themselves.

Only the BM25 arrays, the chunk ids and the fields filters need (file, date) are kept in
memory; the text and metadata of a hit are read from the store, a handful per query.
Tokenization is llama-index's `BM25Retriever`'s (bm25s, English stop words, the Snowball
English stemmer, the node's embed-mode content), so its rankings are the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # llama-index BM25Retriever's default
LAYOUT = 1  # bump when what a saved folder holds changes
KEEP = 2  # saved folders kept per index: the current one and the one before, for processes mid-switch


def content_key(namespace: str, vouched: Mapping[str, str]) -> str:
    """Name a BM25 build after what it indexes: the collection (`namespace`) and each file's hash."""
    digest = hashlib.sha256(f"{LAYOUT}|{namespace}".encode())
    for source in sorted(vouched):
        digest.update(f"\n{source}\t{vouched[source]}".encode())
    return digest.hexdigest()[:24]


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def embed_mode_text(text: str, metadata: dict[str, Any]) -> str:
    """What llama-index's BM25Retriever tokenizes for a chunk: its embed-mode content."""
    from llama_index.core.schema import MetadataMode, TextNode

    return TextNode(text=text, metadata=metadata).get_content(metadata_mode=MetadataMode.EMBED)


@dataclass
class LexicalIndex:
    """BM25 over one content of the store, with each chunk's id, file and date ordinal."""

    key: str
    ids: list[str]
    sources: np.ndarray
    dates: np.ndarray
    bm25: Any

    @classmethod
    def build(
        cls, key: str, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> LexicalIndex:
        import bm25s

        tokens = bm25s.tokenize(
            [embed_mode_text(t, m) for t, m in zip(texts, metadatas, strict=True)],
            stopwords="en",
            stemmer=_stemmer(),
            token_pattern=TOKEN_PATTERN,
            show_progress=False,
        )
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(
            key,
            list(ids),
            np.array([str(m.get("source", "")) for m in metadatas], dtype=object),
            np.array([int(m.get("date_ord", 0)) for m in metadatas], dtype=np.int64),
            bm25,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self,
        question: str,
        n: int,
        sources: Collection[str] = (),
        since: int | None = None,
        until: int | None = None,
    ) -> list[tuple[str, float]]:
        """The ids and scores of the n best chunks, only of `sources` and the date range when given
        (`until` also excludes undated chunks, as the dense filter does)."""
        import bm25s

        if not self.ids or n <= 0:
            return []
        mask = np.ones(len(self.ids), dtype=bool)
        if sources:
            mask &= np.isin(self.sources, list(sources))
        if since is not None:
            mask &= self.dates >= since
        if until is not None:
            mask &= (self.dates > 0) & (self.dates <= until)
        allowed = int(mask.sum())
        if not allowed:
            return []
        tokens = bm25s.tokenize(question, stemmer=_stemmer(), token_pattern=TOKEN_PATTERN, show_progress=False)
        weights = None if allowed == len(mask) else mask.astype(np.float32)
        # k as llama-index asks it: chunks without a query word come last, at score 0
        found, scores = self.bm25.retrieve(tokens, k=min(n, allowed), show_progress=False, weight_mask=weights)
        if not scores[0].any():
            return []  # no word of the question is indexed: no ranking at all (llama-index ranks at random)
        return [(self.ids[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if mask[int(i)]]

    def save(self, folder: Path) -> None:
        """Write to `folder/<key>` whole or not at all (a temporary folder renamed into place)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self.key
        if target.exists():
            return
        staging = Path(tempfile.mkdtemp(prefix=f".{self.key}-", dir=folder))
        try:
            self.bm25.save(str(staging / "bm25"))
            table = {"ids": self.ids, "sources": self.sources.tolist(), "dates": self.dates.tolist()}
            (staging / "chunks.json").write_text(json.dumps(table), encoding="utf-8")
            try:
                os.rename(staging, target)
            except OSError:  # another process saved the same key first
                if not target.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _prune(folder, keep=self.key)

    @classmethod
    def load(cls, folder: Path, key: str) -> LexicalIndex | None:
        """The saved build of `key`, or None when there is none or it cannot be read."""
        import bm25s

        where = folder / key
        try:
            table = json.loads((where / "chunks.json").read_text(encoding="utf-8"))
            bm25 = bm25s.BM25.load(str(where / "bm25"), mmap=True)
            sources = np.array(table["sources"], dtype=object)
            dates = np.array(table["dates"], dtype=np.int64)
            if not len(table["ids"]) == len(sources) == len(dates):
                return None
        except (OSError, ValueError, KeyError):
            return None
        return cls(key, list(table["ids"]), sources, dates, bm25)


def _prune(folder: Path, keep: str) -> None:
    """Delete all but the KEEP most recently saved builds (the one just saved among them), and
    the temporary folders of saves that died more than an hour ago."""
    now = time.time()
    for staging in folder.glob(".*"):
        with contextlib.suppress(OSError):
            if staging.is_dir() and now - staging.stat().st_mtime > 3600:
                shutil.rmtree(staging, ignore_errors=True)
    builds = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (p.name == keep, p.stat().st_mtime),
        reverse=True,
    )
    for old in builds[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
