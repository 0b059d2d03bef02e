"""Evaluation metrics: pure functions over answers, citations and expected facts."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rag.articles.chunking import split_sentences
from rag.core.citations import Citation, marker_numbers, normalise, strip_markers
from rag.models.prompts import NO_ANSWER

if TYPE_CHECKING:
    from eval.judge import Judge


def missing_facts(text: str, facts: Sequence[Sequence[str]]) -> list[str]:
    """Return the first variant of each fact group none of whose variants the text contains.

    A variant is contained word for word (case, quote marks and spacing aside), or, for a date,
    as the same day written another way ("September 20th" or "20/9/2019" for "September 20,
    2019"; see `may_state` for the rule on years).
    """
    norm = normalise(text)
    return [group[0] for group in facts if not any(normalise(v) in norm or _date_appears(v, text) for v in group)]


_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


def may_state(text: str, facts: Sequence[Sequence[str]]) -> bool:
    """True when the text may give every fact group in some spelling, where `missing_facts` asks for
    one of the listed spellings word for word, or its date.

    A spelling counts when its words all appear in the text in any order, each word of four letters
    or more matched at a rapidfuzz ratio of at least 90 ("Doe Jane" for "Jane Doe", "Cristopher"
    for "Christopher", "2.5 billion dollars" for "$2.5 billion"), or, for a date, when dateparser or
    spaCy's entities find that day of that month in the text, in the same year when both write one
    ("3/14/2021", "Sunday, March 14", "14th March"). At 90, one letter added or dropped passes
    and "million" for "billion" (85.7) does not. It errs towards yes, for the question
    "could this text answer it?": a corpus meant to hold no answer drops every text it says yes to.
    """
    return all(any(_words_appear(s, text) or _date_appears(s, text) for s in group) for group in facts)


def _words_appear(spelling: str, text: str) -> bool:
    from rapidfuzz import fuzz

    wanted = [w for w in _WORD.findall(normalise(spelling)) if len(w) > 1 or w.isdigit()]
    present = set(_WORD.findall(normalise(text)))
    words = [w for w in present if w[0].isalpha() and len(w) >= 4]
    return bool(wanted) and all(
        w in present or (w[0].isalpha() and len(w) >= 4 and any(fuzz.ratio(w, o) >= 90 for o in words)) for w in wanted
    )


def _date_appears(spelling: str, text: str) -> bool:
    """Whether the text has the day and month the spelling gives, in its year when both write one.

    A day the text writes with a year, or as a time counted from a date it gives ("10 years ago
    today"), is in that year. A day it writes without one counts for any year, unless the text also
    writes that day with a year: a search can find "on November 17" inside "on November 17, 2019".
    """
    day = _parsed_date(spelling, relative=False)
    if day is None:
        return False
    found = [(written, d) for written, d in _dates_in(text) if (d.month, d.day) == (day.month, day.day)]
    dated = {d.year for written, d in found if _has_year(written)}
    return bool(found) and (not _YEAR.search(spelling) or day.year in dated or not dated)


def _has_year(written: str) -> bool:
    """Whether a date as written says its year: a year in figures, or a time counted from another date."""
    return bool(_YEAR.search(written)) or _parsed_date(written, relative=False) is None


_YEAR = re.compile(r"\b\d{4}\b")
_DATE_SETTINGS: Any = {"REQUIRE_PARTS": ["day", "month"]}
# A fact's spelling is a date only when it writes a day and a month: never a relative time ("24
# hours"), which dateparser would count from today. In a text, a relative time counts from the
# date the text gives ("May 15, 2022 ... launched 10 years ago today").
_SPELLING_SETTINGS: Any = {**_DATE_SETTINGS, "PARSERS": ["timestamp", "custom-formats", "absolute-time"]}


@lru_cache(maxsize=1024)
def _parsed_date(text: str, relative: bool = True) -> Any:
    import dateparser

    return dateparser.parse(text, languages=["en"], settings=_DATE_SETTINGS if relative else _SPELLING_SETTINGS)


@lru_cache(maxsize=64)
def _dates_in(text: str) -> list[tuple[str, Any]]:
    """Every day-and-month date in the text, as written and as parsed."""
    from dateparser.search import search_dates

    # dateparser's search misses some dates in longer texts ("released on March 14th [1]."), and
    # spaCy's entities miss others ("3/14/2021"): a date either finds is looked at.
    found = search_dates(text, languages=["en"], settings=_DATE_SETTINGS) or []
    for entity in _recogniser()(text).ents:
        if entity.label_ == "DATE" and (parsed := _parsed_date(entity.text)):
            found.append((entity.text, parsed))
    return found


@lru_cache(maxsize=1)
def _recogniser() -> Any:
    from rag.verify.roles import load_spacy

    return load_spacy(disable=["parser", "lemmatizer"])


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
    return judge_cited(text, {c.n: evidence_text(c) for c in citations}, judge, threshold)


def judge_cited(text: str, by_n: dict[int, str], judge: Judge, threshold: float = 0.5) -> Support:
    """`judge_support` from the text each marker number cites (`evidence_text`), as a report stores it."""
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
