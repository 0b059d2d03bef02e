"""Claim checks: does the cited text support a sentence? Pluggable; the default is lexical plus semantic."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.embedding import Embedder

MARKER = re.compile(r"\[(\d+)\]")

# Words that start sentences or carry no fact; capitalised, they are not named entities.
_COMMON = frozenset(
    (
        "a an the and or but if in on at of to for with by from as per into about after before during since "
        "while when where which who whom whose what why how this that these those it its he she they we you i "
        "his her their our there here both either neither also however meanwhile moreover yet still then thus "
        "so according under over between among against no not yes all some any each every most many much "
        "several other such one two three four five six seven eight nine ten first second third last next new "
        "is are was were be been has have had do does did will would can could may might should must mr mrs "
        "ms dr president minister chancellor spokesperson secretary envoy"
    ).split()
)
_NUMBER = re.compile(r"\d+(?:[.,\u202f\u00a0 ]\d{3})*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "dozen": "12"}
# Words that deny or refuse; a claim and its evidence must agree on them. Plain "not" and "no" are
# left out: they sit in too many subordinate clauses ("talks, which Ukraine was not at, ...").
_NEGATIONS = re.compile(
    r"\b(?:never|cannot|can['’]t|won['’]t|rejects?|rejected|rejecting|refuses?|refused|denies|denied|"
    r"nonstarter|unacceptable|opposes|opposed)\b",
    re.IGNORECASE,
)
_MONTH_NAMES = "January February March April May June July August September October November December".split()
CALENDAR_WORDS = frozenset(m.lower() for m in _MONTH_NAMES) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def claim_numbers(text: str) -> set[str]:
    """Return the numbers in a text, normalised: "600,000" and "600 000" give "600000", "four" gives "4"."""
    text = MARKER.sub(" ", text)
    found = {re.sub(r"[,\u202f\u00a0 ]", "", m.group(0)).rstrip(".") for m in _NUMBER.finditer(text)}
    found |= {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS and w != "one"}
    return {n.lstrip("0") or "0" for n in found}


def claim_entities(text: str) -> set[str]:
    """Return capitalised words that name something (people, places, bodies, months, days)."""
    text = MARKER.sub(" ", text)
    found = set()
    for m in _WORD.finditer(text):
        word = re.sub(r"['’]s$", "", m.group(0)).strip("'’-")
        if len(word) > 1 and word[0].isupper() and word.lower() not in _COMMON:
            found.add(word)
    return found


def negated(text: str) -> bool:
    return bool(_NEGATIONS.search(text))


def spelled_date(date: str | None) -> str | None:
    """Write an ISO date the way an answer would ("2025-03-16" -> "March 16, 2025")."""
    if not date or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        return None
    year, month, day = (int(x) for x in date.split("-"))
    return f"{_MONTH_NAMES[month - 1]} {day}, {year}" if 1 <= month <= 12 else None


_PUBLICATION_CUE = re.compile(r"\b(?:publish\w*|report\w*|article|dated|wr[io]te|written|story|piece)\b", re.I)


@dataclass(frozen=True)
class Cited:
    """A cited sentence and what its source says about it: outlet and title, and the publication date."""

    quote: str
    meta: str = ""
    date: str = ""
    context: str = ""

    def text_for(self, claim: str) -> str:
        """The text that may vouch for a claim's numbers and words: the quote, who published it,
        and the publication date for claims about publication."""
        date = self.date if _PUBLICATION_CUE.search(claim) else ""
        head = " ".join(filter(None, [self.meta, date]))
        return f"{head}. {self.quote}" if head else self.quote

    def names_for(self, claim: str) -> str:
        """The text that may vouch for a claim's names: `text_for`, plus the sentence that says who
        is speaking (`needs_context`). That sentence says who, not what: the claim's other words
        must be in the quote itself."""
        text = self.text_for(claim)
        return f"{self.context} {text}" if self.context and needs_context(self.quote) else text


_PRONOUN_OPENING = re.compile(r"\W*(?:(?:but|and|yet|so)\s+)?(?:he|she|they|his|her|their|it|its)\b", re.IGNORECASE)


def opens_with_pronoun(quote: str) -> bool:
    """True for a sentence whose subject is named only in the sentence before ("He added that ...",
    "But he also set out ...")."""
    return _PRONOUN_OPENING.match(quote) is not None


def opens_quotation(quote: str) -> bool:
    """True for a sentence that opens a quotation it does not close (“I believe it could serve as
    the basis for a settlement.): the article names the speaker where the quotation ends."""
    quote = quote.lstrip()
    if quote.startswith('"'):
        return quote.count('"') % 2 == 1
    return quote.startswith("“") and "”" not in quote


def closes_quotation(text: str) -> bool:
    """True for a sentence that ends a quotation opened in an earlier sentence."""
    return text.count('"') % 2 == 1 or text.count("”") > text.count("“")


# "Zelensky rejects this idea.", "Such a "peace plan" is unacceptable": which idea, which plan, the
# sentence before says. "This week" and "the fourth such visit" point back at nothing.
_POINTS_BACK = re.compile(
    r"\b(?:this|these)\s+(?!(?:week|year|month|morning|afternoon|evening|weekend|time|day|spring|summer|autumn|"
    r"winter|fall)s?\b)[a-z]+|^\W*this\s+(?:is|was|could|would|will|may|might)\b|\bsuch\s+an?\b",
    re.IGNORECASE,
)


def points_back(sentence: str) -> bool:
    """True for a sentence that names what it is about only in the sentence before ("this idea")."""
    return _POINTS_BACK.search(sentence) is not None


def needs_context(quote: str) -> bool:
    """True for a sentence that does not say who or what it is about: one that opens with a pronoun
    or points back ("this idea"), which the sentence before says, or opens a quotation, whose
    speaker is named where it ends."""
    return opens_with_pronoun(quote) or opens_quotation(quote) or points_back(quote)


def cited(
    quote: str,
    outlet: str | None,
    date: str | None,
    title: str | None,
    author: str | None = None,
    context: str | None = None,
) -> Cited:
    """What a citation vouches for: the quoted sentence, who published it, who wrote it and when,
    and the sentence that says who is speaking (`needs_context`)."""
    when = " ".join(filter(None, [date, spelled_date(date)]))
    return Cited(quote, " ".join(filter(None, [outlet, author, title])), when, context or "")


def _mentions(text_lower: str, word: str) -> bool:
    word = word.lower()
    return word[: max(4, len(word) - 3)] in text_lower


def missing_terms(claim: str, cited_text: str, question: str = "", names_text: str | None = None) -> list[str]:
    """List the claim's numbers and named entities that neither the cited text nor the question has.

    Terms the question itself names are the reader's framing, not new claims. Names may also come
    from `names_text` (the cited text with what says who a pronoun is), when given.
    """
    known_numbers = claim_numbers(cited_text) | claim_numbers(question)
    known = f"{cited_text if names_text is None else names_text} {question}".lower()
    missing = sorted(n for n in claim_numbers(claim) if n not in known_numbers)
    missing += sorted(e for e in claim_entities(claim) if not _mentions(known, e))
    return missing


_FILLER = frozenset(
    "also added according article articles report reports reported stated state states noted note notes "
    "mentioned mention mentions described describe describes called call calls said says told".split()
)


def novel_words(claim: str, cited_text: str, question: str = "") -> list[str]:
    """The claim's content words that neither the cited text nor the question has (crudely stemmed)."""
    seen = {w[:5] for w in re.findall(r"\w+", f"{cited_text} {question}".lower())}
    words = re.findall(r"[a-z][a-z'’-]+", MARKER.sub(" ", claim).lower())
    return [
        w for w in dict.fromkeys(words) if len(w) > 2 and w not in _COMMON and w not in _FILLER and w[:5] not in seen
    ]


_SPEECH = (
    r"(?:said|says|stated|states|told|tells|added|adds|noted|notes|claimed|claims|described|describes|warned|warns|"
    r"insisted|insists|argued|argues|declared|declares|confirmed|confirms|announced|announces|emphasi[sz]ed|stressed)"
)
_SPEAKER = re.compile(rf"\W*(?:The\s+)?((?:[A-Z][\w'’.-]*\s+){{1,3}})(?:[a-z]+ly\s+|also\s+|has\s+|had\s+)?{_SPEECH}\b")
_PRONOUN_SPEAKS = re.compile(rf"\b(?:he|she|they)\s+(?:\w+\s+)?{_SPEECH}\b|\b{_SPEECH}\s+(?:he|she|they)\b", re.I)


def _voices(source: Cited, claim: str, who: set[str]) -> bool:
    """Could the cited sentence be the named speaker talking?

    Yes when it names them; also when its speaker is a pronoun nothing cited resolves ("...,"
    he told reporters"), since the article named them earlier. No when it names someone else
    or nobody speaks.
    """
    text = source.names_for(claim).lower()
    if all(_mentions(text, w) for w in who):
        return True
    if opens_with_pronoun(source.quote):
        return not source.context or opens_with_pronoun(source.context)
    if opens_quotation(source.quote):
        return not source.context  # the quotation ends beyond the cited passage, naming its speaker there
    return _PRONOUN_SPEAKS.search(source.quote) is not None


def speaker(claim: str) -> set[str]:
    """The names of whoever a claim says spoke ("Chancellor Friedrich Merz stated ..." -> Friedrich, Merz)."""
    match = _SPEAKER.match(MARKER.sub(" ", claim))
    return claim_entities(match.group(1)) if match else set()


@dataclass(frozen=True)
class Verdict:
    """Whether cited text supports a claim, and why not when it does not."""

    supported: bool
    similarity: float
    reason: str = ""


class Verifier(Protocol):
    """Decide whether the cited sentences support a claim."""

    def verify(self, claim: str, sources: Sequence[Cited], question: str = "") -> Verdict: ...


SHORT_CLAIM_WORDS = 5


class HeuristicVerifier:
    """Supported when every number and named entity is in the cited text, most content words are in it
    or in the question, negation agrees, and the meaning is close.

    Similarity is the claim's cosine to the closest cited sentence or to all of them joined,
    whichever is higher, so a sentence combining two citations is judged against both.
    """

    def __init__(self, embedder: Embedder, min_similarity: float = 0.3, max_novel: float = 0.5) -> None:
        self.embedder = embedder
        self.min_similarity = min_similarity
        self.max_novel = max_novel
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache.update(zip(todo, self.embedder.embed(todo), strict=True))
        return np.stack([self._cache[t] for t in texts])

    def verify(self, claim: str, sources: Sequence[Cited], question: str = "") -> Verdict:
        if not sources:
            return Verdict(False, 0.0, "cites nothing")
        bare = MARKER.sub("", claim).strip()
        quotes = [s.quote for s in sources]
        # A fragment ("Jessie Yeung.") means something only as the answer to its question.
        said = f"{question} {bare}" if question and len(bare.split()) < SHORT_CLAIM_WORDS else bare
        texts = [said, *quotes] + ([" ".join(quotes)] if len(quotes) > 1 else [])
        vectors = self._vectors(texts)
        similarity = float(np.max(vectors[1:] @ vectors[0]))
        cited_text = " ".join(s.text_for(bare) for s in sources)
        missing = missing_terms(bare, cited_text, question, " ".join(s.names_for(bare) for s in sources))
        if missing:
            return Verdict(False, similarity, "not in the cited text: " + ", ".join(missing))
        content = novel_words(bare, "")
        novel = novel_words(bare, cited_text, question)
        if len(novel) > self.max_novel * len(content):
            return Verdict(False, similarity, "mostly words the cited text does not have: " + ", ".join(novel))
        if who := speaker(bare):
            # "Putin stated X" must cite a sentence where Putin says X, not X said by someone else
            # next to a sentence that names Putin. The question's words vouch for nothing here: what
            # the speaker said must be in the sentences where they speak.
            voiced = [s for s in sources if _voices(s, bare, who)]
            unsaid = novel_words(bare, " ".join(s.text_for(bare) for s in voiced))
            if not voiced or len(unsaid) > self.max_novel * len(content):
                return Verdict(False, similarity, f"the cited text does not have {' '.join(sorted(who))} say it")
        denied = any(negated(q) for q in quotes)
        if negated(bare) and not denied:
            # A refusal the question takes for granted ("Why did Russia flatly reject ...?") is
            # not in the cited text because the question says it.
            return Verdict(False, similarity, "the cited text does not deny or refuse anything")
        if denied and not negated(bare) and not negated(question):
            return Verdict(False, similarity, "the cited text says the opposite (negation differs)")
        if similarity < self.min_similarity:
            return Verdict(False, similarity, f"too far from the cited text (similarity {similarity:.2f})")
        return Verdict(True, similarity)
