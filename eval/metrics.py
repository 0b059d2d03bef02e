"""Evaluation metrics: pure functions over answers, citations and expected facts."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.articles.chunking import split_sentences
from rag.core.citations import Citation, marker_numbers, strip_markers
from rag.models.prompts import NO_ANSWER

if TYPE_CHECKING:
    from eval.judge import Judge

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
class JudgedClaim:
    """One answer sentence, the citations it carries and the judge's probability that they state it."""

    claim: str
    cited: list[int]
    evidence: list[str]
    p_supported: float
    contributing: int


@dataclass(frozen=True)
class Support:
    """Citation support of one answer, in the spirit of ALCE's citation recall and precision."""

    sentences: int
    supported: int
    citations: int
    contributing: int
    claims: list[JudgedClaim]


def judge_claim(claim: str, cited: list[int], sources: list[str], judge: Judge, threshold: float = 0.5) -> JudgedClaim:
    """Judge one claim on its cited texts, together and, for precision, each without the others."""
    p = judge.p_supported(claim, sources) if sources else 0.0
    contributing = 0
    if p >= threshold and len(sources) == 1:
        contributing = 1
    elif p >= threshold:
        for i, quote in enumerate(sources):
            others = sources[:i] + sources[i + 1 :]
            if judge.p_supported(claim, [quote]) >= threshold or judge.p_supported(claim, others) < threshold:
                contributing += 1
    return JudgedClaim(claim, cited, sources, round(p, 4), contributing)


def evidence_text(citation: Citation) -> str:
    """What a reader sees of a citation: the quote, after the sentence that says who it is about."""
    return f"{citation.context} {citation.quote}" if citation.context else citation.quote


def judge_support(text: str, citations: Sequence[Citation], judge: Judge, threshold: float = 0.5) -> Support:
    """Ask the judge whether each answer sentence is stated by the quotes it cites.

    A sentence is supported when the judge says its cited quotes, together, state it; a sentence
    without a citation is unsupported. A citation contributes when it states the sentence alone,
    or when the others without it no longer do (ALCE's citation precision).
    """
    by_n = {c.n: evidence_text(c) for c in citations}
    claims = []
    cites = 0
    for start, end in split_sentences(text):
        sentence = text[start:end]
        claim = strip_markers(sentence)
        if not claim or claim == NO_ANSWER:
            continue
        numbers = [n for n in dict.fromkeys(marker_numbers(sentence)) if n in by_n]
        cites += len(dict.fromkeys(marker_numbers(sentence)))
        claims.append(judge_claim(claim, numbers, [by_n[n] for n in numbers], judge, threshold))
    return Support(
        sentences=len(claims),
        supported=sum(c.p_supported >= threshold for c in claims),
        citations=cites,
        contributing=sum(c.contributing for c in claims),
        claims=claims,
    )


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
