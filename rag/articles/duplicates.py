"""Duplicate articles: a reprint of a story is ranked and cited once, as its canonical copy.

Two articles are duplicates when they cover each other in meaning *and* state the same facts:
every name and figure of each is in the other, and no name or figure of one stands where the other
has another. Meaning alone is not enough: two short reports of one event ("X won the 2019 final",
"Y won the 2021 final") are as close in embedding space as a reprint, and hiding one of them hides
a fact, or one side of a disagreement.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from difflib import SequenceMatcher

import numpy as np


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


_WORD = re.compile(r"[\w'’-]+")


def facts(text: str) -> frozenset[str]:
    """The names and figures a text states: capitalised words that do not open a sentence, and
    words with digits. Writing-system facts, not a vocabulary: any language with capitals works."""
    found = set()
    for m in _WORD.finditer(text):
        word = m.group(0)
        if any(ch.isdigit() for ch in word) or (word[0].isupper() and not _opens_sentence(text, m.start())):
            found.add(word.lower())
    return frozenset(found)


def facts_key(texts: Iterable[str]) -> str:
    """A short digest of the facts of an article's chunk texts: articles with different keys are never duplicates."""
    return hashlib.sha256("\n".join(sorted(facts(" ".join(texts)))).encode()).hexdigest()[:16]


def swaps_a_fact(a: str, b: str) -> bool:
    """Whether, aligned word by word, one text has a name or figure where the other has another.

    "Zyxland won the final" against "Qorvia won the final" state the same set of facts when each
    name opens its sentence (`facts` leaves sentence openers out), and "May 8" against "Nov 18"
    when both texts write 8 and 18 elsewhere; they still disagree. A reprint may add a headline,
    drop a sentence or reword a phrase: only a name or figure replaced by another counts, a
    capitalised word that either text also writes in lower case ("The", "A") being no name.
    Letter case is ignored, so a headline in capitals is the same words.
    """
    words_a, words_b = _WORD.findall(a), _WORD.findall(b)
    common = {w for w in words_a + words_b if w.islower()}

    def fact(word: str) -> bool:
        return any(ch.isdigit() for ch in word) or (word[0].isupper() and word.lower() not in common)

    aligned = SequenceMatcher(None, [w.lower() for w in words_a], [w.lower() for w in words_b], autojunk=False)
    return any(
        op == "replace" and any(map(fact, words_a[i1:i2])) and any(map(fact, words_b[j1:j2]))
        for op, i1, i2, j1, j2 in aligned.get_opcodes()
    )


def _opens_sentence(text: str, at: int) -> bool:
    """True when the word at `at` starts the text, a line or a sentence (or a quotation)."""
    i = at - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in '.!?:;"“”\n'


def find_duplicates(
    vectors: Mapping[str, np.ndarray],
    dates: Mapping[str, str | None],
    threshold: float,
    stated: Mapping[str, Hashable] | None = None,
    text: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Map each duplicate article to the canonical article it repeats; canonical ones are not keys.

    Articles at least `threshold` alike (`article_similarity`) are duplicates, unless one swaps a
    name or figure of the other (`swaps_a_fact`, given each article's `text`). `stated` gives each
    article's facts (`facts` or `facts_key`): only articles stating the same facts are compared,
    so the work grows with the size of each group, not the square of the corpus.
    """

    def repeats(source: str, other: str) -> bool:
        if article_similarity(vectors[source], vectors[other]) < threshold:
            return False
        return text is None or not swaps_a_fact(text(source), text(other))

    duplicates: dict[str, str] = {}
    canonical: dict[Hashable, list[str]] = {}
    for source in sorted(vectors, key=lambda s: canonical_order(s, dates.get(s))):
        group = canonical.setdefault(stated.get(source, "") if stated is not None else "", [])
        match = next((c for c in group if repeats(source, c)), None)
        if match is None:
            group.append(source)
        else:
            duplicates[source] = match
    return duplicates


def pairwise_scores(vectors: Mapping[str, np.ndarray]) -> list[tuple[str, str, float]]:
    """Every pair's similarity, for choosing and reporting the threshold."""
    names = sorted(vectors)
    return [(a, b, article_similarity(vectors[a], vectors[b])) for i, a in enumerate(names) for b in names[i + 1 :]]
