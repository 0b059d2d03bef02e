"""Disagreeing figures: when relevant evidence gives different numbers for one thing, say so.

News coverage of one story rarely agrees on its figures (CNN's 11% of Ukraine's land against
another report's almost 20%; one article's 25% and 50% tariffs). A small model tends to pick one
and drop the other. This module finds such pairs in the evidence, deterministically, so the
answer can give every figure with its source instead of choosing silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.evidence import Evidence

# Two sentences are about the same quantity when they are this close in meaning...
SAME_TOPIC_SIMILARITY = 0.35
# ...and both are among the evidence that matches the question well.
RELEVANT_FRACTION = 0.75

_PERCENT = re.compile(
    r"(?P<hedge>\b(?:about|almost|nearly|around|roughly|some|over|more than|less than|up to|at least)\s+)?"
    r"(?P<value>\d+(?:\.\d+)?)\s?(?:%|\s?percent\b|\s?per cent\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Figure:
    """A percentage as the sentence writes it ("about 11%"), and its value."""

    text: str
    value: float


def figures(sentence: str) -> list[Figure]:
    """The percentages a sentence states, with their hedging words."""
    return [Figure(m.group(0).strip(), float(m.group("value"))) for m in _PERCENT.finditer(sentence)]


@dataclass(frozen=True)
class Conflict:
    """Evidence sentences (indices into the evidence list) that give different figures for one thing."""

    indices: tuple[int, ...]
    figures: tuple[Figure, ...]


def find_conflicts(evidence: Sequence[Evidence]) -> list[Conflict]:
    """Group relevant evidence sentences that state different percentages about the same topic."""
    if not evidence:
        return []
    floor = max(e.score for e in evidence) * RELEVANT_FRACTION
    # A sentence with one figure only: then it is clear what the figure stands for.
    stated = [(i, found[0]) for i, e in enumerate(evidence) if e.score >= floor and len(found := figures(e.text)) == 1]
    groups: list[list[tuple[int, Figure]]] = []
    for i, figure in stated:
        for group in groups:
            if all(_same_topic(evidence[i], evidence[j]) for j, _ in group):
                group.append((i, figure))
                break
        else:
            groups.append([(i, figure)])
    return [
        Conflict(tuple(i for i, _ in group), tuple(f for _, f in group))
        for group in groups
        if len({f.value for _, f in group}) > 1
    ]


def _same_topic(a: Evidence, b: Evidence) -> bool:
    return float(np.dot(a.vector, b.vector)) >= SAME_TOPIC_SIMILARITY


def describe(conflict: Conflict, evidence: Sequence[Evidence]) -> tuple[str, list[int]]:
    """A sentence giving every figure, in the words of the report, with who reported it.

    Each figure comes with the words around it, quoted, so the reader sees what it counts
    and the sentence stays close to what it cites. The caller adds the citation markers.
    """
    items = [(evidence[i], figure) for i, figure in zip(conflict.indices, conflict.figures, strict=True)]
    if len({e.source for e, _ in items}) == 1:
        quoted = " and ".join(f"“{_clause(e.text, figure)}”" for e, figure in items)
        who = items[0][0].outlet
        head = f"The {who} report" if who else "One article"
        return f"{head} gives differing figures: {quoted}.", list(conflict.indices)
    parts = "; ".join(
        f"{_who(e)} ({e.date or 'date unknown'}) reports “{_clause(e.text, figure)}”" for e, figure in items
    )
    return f"The reports differ on this figure: {parts}.", list(conflict.indices)


CLAUSE_WORDS = 6  # words kept on each side of a figure


def _clause(sentence: str, figure: Figure) -> str:
    """The clause around a figure, verbatim: up to a few words each side, not past a comma."""
    at = sentence.find(figure.text)
    before = " ".join(sentence[:at].split()[-CLAUSE_WORDS:])
    after = " ".join(sentence[at + len(figure.text) :].split()[:CLAUSE_WORDS])
    before = re.split(r"[,;:]\s*", before)[-1]
    before = re.sub(r"^(?:and|but|while|as)\s+", "", before)
    after = re.split(r"[,;:]", after)[0]
    return " ".join(filter(None, [before, figure.text, after])).strip(" .")


def _who(evidence: Evidence) -> str:
    # Not the file name: its digits would read as figures, and the citation marker names the file.
    return evidence.outlet or "an article with no named outlet"
