"""Evidence: the retrieved chunks as passages of numbered sentences, each sentence citable on its own.

The model reads whole passages, so a sentence keeps the sentences around it that say who "he" is
or which plan "it" means; the numbers stay sentence-exact, so a citation still lands on the one
sentence that says the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.core.citations import Citation
from rag.models.prompts import as_data as clean
from rag.retrieve.hybrid import RetrievedChunk

_ADJACENT_GAP = 4  # characters between two consecutive sentences: a space, or a blank line with its \r\n


@dataclass(frozen=True)
class Evidence:
    """One sentence of one article, in the passage it was shown in."""

    source: str
    start: int
    end: int
    text: str
    title: str | None
    outlet: str | None
    date: str | None
    score: float  # the fused retrieval score of the best chunk that holds it
    passage: int = 0  # which passage (0-based) the sentence was shown in
    also_reported_by: tuple[str, ...] = ()
    author: str | None = None

    @property
    def asks(self) -> bool:
        """Whether the sentence is a question ("Readers asked: how long will it last?"): it states
        nothing, so it supports no claim and answers nothing, however many words it shares."""
        return self.text.rstrip(" \"'\u201d\u2019)]").endswith("?")

    def is_next_to(self, other: Evidence) -> bool:
        """Whether the two sentences follow one another in their article, with only a line break or
        spaces between them (offsets of the same file)."""
        gap = self.start - other.end if self.start >= other.end else other.start - self.end
        return self.source == other.source and 0 <= gap <= _ADJACENT_GAP

    @property
    def shown(self) -> str:
        """The sentence as a checker sees it, with who published it ("according to X" needs that)."""
        return f"({self.label}) {self.text}"

    @property
    def label(self) -> str:
        """Say who published it, who wrote it and when, as far as the article tells."""
        parts = [self.outlet or self.source, f"by {self.author}" if self.author else "", self.date or "no date given"]
        return ", ".join(filter(None, parts))

    def citation(self, n: int) -> Citation:
        return Citation(
            n=n,
            source=self.source,
            quote=self.text,
            start=self.start,
            end=self.end,
            title=self.title,
            outlet=self.outlet,
            date=self.date,
            author=self.author,
            also_reported_by=list(self.also_reported_by),
        )


@dataclass(frozen=True)
class Reading:
    """The passages the model is about to read, for a reader to look at while it drafts."""

    evidence: tuple[Evidence, ...]

    def passages(self) -> list[list[Evidence]]:
        """The sentences grouped by passage, in the order the model reads them."""
        grouped: dict[int, list[Evidence]] = {}
        for e in self.evidence:
            grouped.setdefault(e.passage, []).append(e)
        return [grouped[p] for p in sorted(grouped)]


def build_passages(
    chunks: Sequence[RetrievedChunk],
    max_chunks: int,
    max_sentences: int,
    window: int | None = None,
    relevance: Callable[[list[str]], np.ndarray] | None = None,
) -> list[Evidence]:
    """The sentences of the best `max_chunks` chunks, grouped into one passage per article.

    Passages come in the order of their best chunk; inside a passage, sentences keep the
    article's order, and chunks of one article that overlap or touch merge into one run. With a
    `window`, each chunk gives only its sentence most relevant to the question (`relevance`
    scores texts) and `window` sentences either side: the context that sentence needs, in fewer
    tokens. Chunks of articles known to repeat another (`duplicate_of`) are not shown: their
    article is credited as also reporting the sentences it shares word for word.
    """
    twins = [c for c in chunks if c.metadata.get("duplicate_of")]
    chosen = [c for c in chunks if not c.metadata.get("duplicate_of")][:max_chunks]
    order: list[str] = []
    sentences: dict[str, dict[int, tuple[int, str, float]]] = {}
    meta: dict[str, RetrievedChunk] = {}
    for chunk in chosen:
        if chunk.source not in sentences:
            order.append(chunk.source)
            sentences[chunk.source] = {}
            meta[chunk.source] = chunk
        for start, end, text in _window(list(chunk.sentence_texts()), window, relevance):
            sentences[chunk.source].setdefault(start, (end, text, chunk.score))
    repeats = _repeated_by(twins)
    evidence: list[Evidence] = []
    for passage, source in enumerate(order):
        first = meta[source].metadata
        for start, (end, text, score) in sorted(sentences[source].items()):
            if len(evidence) >= max_sentences:
                return evidence
            evidence.append(
                Evidence(
                    source=source,
                    start=start,
                    end=end,
                    text=text,
                    title=first.get("title") or None,
                    outlet=first.get("outlet") or None,
                    date=first.get("date") or None,
                    score=score,
                    passage=passage,
                    also_reported_by=tuple(sorted(repeats.get(" ".join(text.split()), ()))),
                    author=first.get("author") or None,
                )
            )
    return evidence


def _window(
    sentences: list[tuple[int, int, str]], window: int | None, relevance: Callable[[list[str]], np.ndarray] | None
) -> list[tuple[int, int, str]]:
    """The chunk's sentences, or the best one and `window` either side of it."""
    if window is None or relevance is None or len(sentences) <= 2 * window + 1:
        return sentences
    best = int(np.argmax(relevance([text for *_, text in sentences])))
    return sentences[max(0, best - window) : best + window + 1]


def _repeated_by(twins: Sequence[RetrievedChunk]) -> dict[str, set[str]]:
    """For each sentence of a duplicate article's chunks, the duplicate articles that have it verbatim."""
    found: dict[str, set[str]] = {}
    for chunk in twins:
        for _, _, text in chunk.sentence_texts():
            found.setdefault(" ".join(text.split()), set()).add(chunk.source)
    return found


HEADING = "Passage from"  # how the prompt introduces each passage's source


def is_heading(text: str, evidence: Sequence[Evidence]) -> bool:
    """Whether a draft sentence repeats the heading the prompt gave one of the passages ("Passage
    from X, 2025-03-16:"): it names a source, and says nothing any sentence states. A sentence that
    merely starts with the same words ("Passage from the Senate is expected…") is not one."""
    said = " ".join(text.split()).lower()
    return any(said.startswith(f"{HEADING} {clean(e.label)}".lower()) for e in evidence)


def passages_text(evidence: Sequence[Evidence]) -> str:
    """Render passages for the prompt: a heading per article, then one numbered sentence a line."""
    lines: list[str] = []
    current = -1
    for n, e in enumerate(evidence, 1):
        if e.passage != current:
            current = e.passage
            heading = f"{HEADING} {clean(e.label)}" + (f', headline "{clean(e.title)}"' if e.title else "")
            lines.append(("\n" if lines else "") + heading + ":")
        lines.append(f"[{n}] {clean(e.text)}")
    return "\n".join(lines)
