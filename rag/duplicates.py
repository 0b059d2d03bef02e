"""Duplicate articles: a rewrite or reprint of a story is ranked and cited once, as its canonical copy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# Measured on the seeds with all-MiniLM-L6-v2 chunk vectors (see README): the rewrite 000 and its
# CNN original 001 score 0.784; the other nine pairs of these same-topic articles 0.648-0.715.
DUPLICATE_ARTICLE_SIMILARITY = 0.75


def article_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Score how fully two articles cover each other: mean best-match cosine of their chunks, the weaker way.

    Taking the weaker direction keeps a short piece quoting a long one apart from it, so the long
    one's own facts are never hidden behind the short one.
    """
    if not len(a) or not len(b):
        return 0.0
    sims = a @ b.T
    return float(min(sims.max(axis=1).mean(), sims.max(axis=0).mean()))


def canonical_order(source: str, date: str | None) -> tuple[bool, str, str]:
    """Sort key: dated articles before undated ones, then the earliest, then by name."""
    return (date is None, date or "", source)


def find_duplicates(
    vectors: Mapping[str, np.ndarray],
    dates: Mapping[str, str | None],
    threshold: float = DUPLICATE_ARTICLE_SIMILARITY,
) -> dict[str, str]:
    """Map each duplicate article to the canonical article it repeats; canonical ones are not keys."""
    duplicates: dict[str, str] = {}
    canonical: list[str] = []
    for source in sorted(vectors, key=lambda s: canonical_order(s, dates.get(s))):
        match = next((c for c in canonical if article_similarity(vectors[source], vectors[c]) >= threshold), None)
        if match is None:
            canonical.append(source)
        else:
            duplicates[source] = match
    return duplicates


def pairwise_scores(vectors: Mapping[str, np.ndarray]) -> list[tuple[str, str, float]]:
    """Every pair's similarity, for choosing and reporting the threshold."""
    names = sorted(vectors)
    return [(a, b, article_similarity(vectors[a], vectors[b])) for i, a in enumerate(names) for b in names[i + 1 :]]
