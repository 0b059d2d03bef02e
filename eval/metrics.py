"""Evaluation metrics: pure functions over answers, citations and expected facts."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag.chunking import split_sentences
from rag.citations import Citation, marker_numbers, strip_markers
from rag.prompts import NO_ANSWER
from rag.verification import Verifier, cited

_FOLD = str.maketrans("’‘“”–—\u202f\u00a0", "''\"\"--  ")


def normalise(text: str) -> str:
    """Lower-case, fold quotes, dashes and unusual spaces, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_FOLD)
    return re.sub(r"\s+", " ", text)


def missing_facts(text: str, facts: Sequence[Sequence[str]]) -> list[str]:
    """Return the first variant of each fact group none of whose variants the text contains."""
    norm = normalise(text)
    return [group[0] for group in facts if not any(normalise(v) in norm for v in group)]


def first_relevant_rank(ranked_sources: Sequence[str], expected: Sequence[str]) -> int | None:
    """1-based rank of the first expected source in a ranking, or None."""
    return next((i for i, s in enumerate(ranked_sources, 1) if s in expected), None)


def hit_rate(ranks: Sequence[int | None], k: int) -> float:
    return _mean([1.0 if r is not None and r <= k else 0.0 for r in ranks])


def mrr(ranks: Sequence[int | None], k: int) -> float:
    return _mean([1.0 / r if r is not None and r <= k else 0.0 for r in ranks])


def citations_verbatim(citations: Sequence[Citation], texts: Mapping[str, str]) -> bool:
    """True when every quote is exactly the text at its offsets in its source."""
    return all(c.source in texts and texts[c.source][c.start : c.end] == c.quote for c in citations)


@dataclass(frozen=True)
class Support:
    """Citation support of one answer, in the spirit of ALCE's citation recall and precision."""

    sentences: int
    supported: int
    citations: int
    contributing: int


def citation_support(text: str, citations: Sequence[Citation], verifier: Verifier, question: str = "") -> Support:
    """Check every answer sentence against the quotes it cites.

    A sentence is supported when its cited quotes, together, support it: every number, date and
    named entity of the sentence is in the cited text, and the sentence is close to it in meaning
    (the verifier's check). A citation contributes when it supports the sentence alone, or when
    the others without it no longer do. Given the question, the question's other words count as
    the reader's framing, as in the pipeline's own check (its names, numbers and dates never
    do); without it, the cited text alone must carry every word (the strict reading).
    """
    by_n = {c.n: cited(c.quote, c.outlet, c.date, c.title, c.author, c.context) for c in citations}
    sentences = supported = cites = contributing = 0
    for start, end in split_sentences(text):
        sentence = text[start:end]
        claim = strip_markers(sentence)
        if not claim or claim == NO_ANSWER:
            continue
        sentences += 1
        numbers = list(dict.fromkeys(marker_numbers(sentence)))
        sources = [by_n[n] for n in numbers if n in by_n]
        cites += len(numbers)
        if not sources or not verifier.verify(claim, sources, question).supported:
            continue
        supported += 1
        for i, quote in enumerate(sources):
            others = sources[:i] + sources[i + 1 :]
            alone = verifier.verify(claim, [quote], question).supported
            if alone or not (others and verifier.verify(claim, others, question).supported):
                contributing += 1
    return Support(sentences, supported, cites, contributing)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
