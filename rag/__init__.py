"""Grounded, cited answers over a folder of news articles.

>>> from rag import ask
>>> answer = ask("What land terms were proposed?")
>>> answer.text, answer.citations[0].source
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import rag.ingest as _ingest_room  # bound to `rag.ingest` by the import itself
from rag.core.citations import Answer, Citation
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.evidence.passages import Reading

if TYPE_CHECKING:
    from rag.ingest.run import IngestReport
    from rag.pipeline import Pipeline
    from rag.session import Session

__all__ = [
    "Answer",
    "Citation",
    "RagError",
    "Reading",
    "Session",
    "Settings",
    "ask",
    "ask_stream",
    "get_pipeline",
    "ingest",
]


def get_pipeline() -> Pipeline:
    """Return the process-wide pipeline built from `RAG_*` settings, creating it on first use."""
    from rag.pipeline import default_pipeline

    return default_pipeline()


def ask(question: str, *, k: int | None = None, since: str | None = None, until: str | None = None) -> Answer:
    """Answer a question from the indexed articles, citing the sentences it rests on."""
    return get_pipeline().ask(question, k=k, since=since, until=until)


def ask_stream(
    question: str,
    *,
    k: int | None = None,
    since: str | None = None,
    until: str | None = None,
    passages: bool = False,
) -> Iterator[str | Reading | Answer]:
    """Yield the answer's text as it is generated, then the final verified Answer; with `passages`,
    first a `Reading` of the passages the model reads, as soon as they are retrieved."""
    return get_pipeline().ask_stream(question, k=k, since=since, until=until, passages=passages)


class _Ingest(types.ModuleType):
    """`rag.ingest` is the ingest subpackage, and calling it is the API's ingest: one name, one object,
    so that `rag.ingest(paths)`, `from rag import ingest` and `import rag.ingest.run` all work."""

    def __call__(self, paths: Sequence[str | Path] | None = None) -> IngestReport:
        """Index new and changed articles (default: the corpus folder) and drop removed ones."""
        return get_pipeline().ingest([Path(p) for p in paths] if paths else None)


_ingest_room.__class__ = _Ingest


def __getattr__(name: str) -> object:
    if name == "Session":  # imported lazily: it pulls in the pipeline and its models' libraries
        from rag.session import Session

        return Session
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
