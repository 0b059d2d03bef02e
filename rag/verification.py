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


_MONTHS = "|".join(_MONTH_NAMES)
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
_DATE_LEAD = r"(?i:in|on|during|since|by|from|until|through|of|last|this|next)\s+"
# "in March 2025", "on 23 November", "on Tuesday", "since 2022", and a month used as an adjective
# ("Witkoff's April trip"), with the preposition that introduces it.
_DATE_PHRASE = re.compile(
    rf"(?:\b{_DATE_LEAD})?(?:\b(?i:early|late|mid)[\s-])?\b(?:{_DAY}\s+(?:{_MONTHS})(?:,?\s+{_YEAR})?"
    rf"|(?:{_MONTHS})(?:\s+{_DAY}\b)?(?:,?\s+{_YEAR})?|(?:{_WEEKDAYS})|{_YEAR})\b"
)
_DATE_TERM = re.compile(rf"(?:{_MONTHS}|{_WEEKDAYS})|\d+")


def without_asked_dates(claim: str, question: str) -> str:
    """The claim without the dates it repeats from the question, for a claim whose cited sentence
    does not give them: "Witkoff's April trip to Moscow was his fourth visit" becomes "Witkoff's
    trip to Moscow was his fourth visit" when the question asked about his April trip.

    The question's date says which event the reader means; written into the answer it becomes a
    claim, and the sentence the reader clicks must hold it. Dropping it keeps what the cited
    sentence does say. A date the question does not have is left alone: the model wrote that one
    itself, and it stands or falls with the claim.
    """
    asked = set(_DATE_TERM.findall(question))

    def drop(match: re.Match[str]) -> str:
        terms = _DATE_TERM.findall(match.group(0))
        return "" if terms and asked.issuperset(terms) else match.group(0)

    bare = MARKER.sub(" ", claim)
    trimmed = _DATE_PHRASE.sub(drop, bare)
    if trimmed == bare:
        return claim
    trimmed = re.sub(r",\s*,\s*", " ", trimmed)  # "agreed, on Tuesday, to" -> "agreed to"
    trimmed = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s{2,}", " ", trimmed)).strip(" ,;:")
    return trimmed[:1].upper() + trimmed[1:]


_PUBLICATION_CUE = re.compile(r"\b(?:publish\w*|report\w*|article|dated|wr[io]te|written|story|piece)\b", re.I)


@dataclass(frozen=True)
class Cited:
    """A cited sentence and what its source says about it: who published and wrote it, its headline,
    its publication date, and the sentences that say who or what it is about."""

    quote: str
    meta: str = ""
    date: str = ""
    context: str = ""
    title: str = ""

    def text_for(self, claim: str) -> str:
        """The text that may vouch for a claim's numbers and words: the quote, who published and
        wrote it, its headline (what the story is about), and the publication date for claims
        about publication."""
        date = self.date if _PUBLICATION_CUE.search(claim) else ""
        head = " ".join(filter(None, [self.meta, self.title, date]))
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
    """True for a sentence that does not say who or what it is about: one that opens with a pronoun,
    points back ("this idea") or gives a pronoun as its speaker ('...," he told reporters'), which
    the sentences before say, or opens a quotation, whose speaker is named where it ends."""
    return opens_with_pronoun(quote) or opens_quotation(quote) or points_back(quote) or attributed_to_pronoun(quote)


def cited(
    quote: str,
    outlet: str | None,
    date: str | None,
    title: str | None,
    author: str | None = None,
    context: str | None = None,
) -> Cited:
    """What a citation vouches for: the quoted sentence, who published it, who wrote it and when,
    its headline, and the sentences that say who is speaking (`needs_context`)."""
    when = " ".join(filter(None, [date, spelled_date(date)]))
    return Cited(quote, " ".join(filter(None, [outlet, author])), when, context or "", title or "")


def _mentions(text_lower: str, word: str) -> bool:
    word = word.lower()
    return word[: max(4, len(word) - 3)] in text_lower


# Other names news reports use for the same country: its people or its adjective ("American" for
# the US) and, for its government, its capital or seat ("Kyiv" for Ukraine, "the Kremlin" for
# Russia). Only a name the question itself uses may be matched this way: asked what the plan
# "asked Kyiv to give up", an answer may say Kyiv where the cited sentence says Ukraine; "talks in
# Moscow" is not supported by a sentence that says only "Russia" unless the reader asked so.
_SAME_COUNTRY = (
    ("US", "U.S.", "United States", "America", "American", "Americans", "Washington", "White House"),
    ("Ukraine", "Ukrainian", "Ukrainians", "Kyiv", "Kiev"),
    ("Russia", "Russian", "Russians", "Moscow", "Kremlin"),
    ("UK", "U.K.", "Britain", "British", "London"),
    ("China", "Chinese", "Beijing"),
    ("Germany", "German", "Germans", "Berlin"),
    ("France", "French", "Paris"),
    ("India", "Indian", "Indians", "New Delhi", "Delhi"),
)
_ALIASES = {name.lower().rstrip("."): group for group in _SAME_COUNTRY for name in group}


def _named(text: str, name: str, question_lower: str) -> bool:
    """Does the text name this, allowing inflection ("Crimean"), the parts of a compound
    ("US-Ukraine talks"), and, for a name the question uses, another name of the same country?"""
    if _mentions(text.lower(), name):
        return True
    parts = [p for p in re.split(r"[-–]", name) if p[:1].isupper()]
    if len(parts) > 1:
        return all(_named(text, part, question_lower) for part in parts)
    aliases = _ALIASES.get(name.lower().rstrip("."), ())
    return bool(aliases) and _mentions(question_lower, name) and any(_has_name(text, a) for a in aliases)


def _has_name(text: str, name: str) -> bool:
    """The name as a whole word; an abbreviation in capitals only ("US", not the pronoun "us")."""
    flags = 0 if name.replace(".", "").isupper() else re.IGNORECASE
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text, flags) is not None


def missing_terms(claim: str, cited_text: str, question: str = "", names_text: str | None = None) -> list[str]:
    """List the claim's numbers and named entities (people, places, bodies, months, days) that the
    cited text does not have.

    The cited text must hold them itself: a name, number or date the question gives is the
    reader's framing of what they asked, not something the quote says ("Witkoff's April trip"
    citing a sentence that says "On Friday"). The question only lets a name it uses be matched
    by another name of the same country (`_SAME_COUNTRY`). Names may also come from `names_text`
    (the cited text with what says who a pronoun is), when given.
    """
    known_numbers = claim_numbers(cited_text)
    known = cited_text if names_text is None else names_text
    asked = question.lower()
    missing = sorted(n for n in claim_numbers(claim) if n not in known_numbers)
    missing += sorted(e for e in claim_entities(claim) if not _named(known, e, asked))
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
        w
        for w in dict.fromkeys(words)
        if len(w) > 2 and w not in _COMMON and w not in _FILLER and not _seen_word(w, seen)
    ]


def _seen_word(word: str, seen: set[str]) -> bool:
    """A word is seen by its first five letters; a compound ("US-proposed", "Mar-a-Lago") by its parts."""
    if word[:5] in seen:
        return True
    parts = [p for p in re.split(r"[-'’]", word) if len(p) > 2]
    return len(parts) > 0 and "-" in word and all(p[:5] in seen for p in parts)


_SPEECH = (
    r"(?:said|says|stated|states|told|tells|added|adds|noted|notes|claimed|claims|described|describes|warned|warns|"
    r"insisted|insists|argued|argues|declared|declares|confirmed|confirms|announced|announces|emphasi[sz]ed|stressed|"
    r"suggested|suggests|acknowledged|acknowledges|revealed|reveals|urged|urges)"
)
_ATTRIBUTED_TO_PRONOUN = re.compile(rf"[\"”’][,.]?\s+(?:he|she|they)\s+(?:\w+\s+)?{_SPEECH}\b")


def attributed_to_pronoun(quote: str) -> bool:
    """True for a sentence whose speaker is a pronoun after the quotation ('“...,” he told reporters')."""
    return _ATTRIBUTED_TO_PRONOUN.search(quote) is not None


_SPEAKER = re.compile(rf"\W*(?:The\s+)?((?:[A-Z][\w'’.-]*\s+){{1,3}})(?:[a-z]+ly\s+|also\s+|has\s+|had\s+)?{_SPEECH}\b")
_PRONOUN_SPEAKS = re.compile(rf"\b(?:he|she|they)\s+(?:\w+\s+)?{_SPEECH}\b|\b{_SPEECH}\s+(?:he|she|they)\b", re.I)


# Where one speaker's clause ends and another's begins: "Trump said ..., while the Kremlin described ...".
_CLAUSE_BREAK = re.compile(r",\s+(?:while|whereas|but)\s+|;\s+|\s+[–—]\s+while\s+")


def _voiced(source: Cited, claim: str, who: set[str]) -> str | None:
    """What the named speaker says in the cited sentence, if they talk in it: the clause where it
    names them talking, or the whole sentence when its speaker is a pronoun nothing cited
    resolves ('...," he told reporters'), since the article named them earlier. None when it
    has someone else talking, or nobody.
    """
    named = speakers_in(source.quote)
    if named:
        # The sentence says who talks in it: "US President Donald Trump has said Russia and Ukraine
        # 'are very close to a deal', hours after ... Putin held talks" has Trump talking, not Putin;
        # "Trump said it had been a good day, while the Kremlin described the talks as constructive"
        # has the Kremlin say only the second half.
        if not all(_mentions(" ".join(named).lower(), w) for w in who):
            return None
        clauses = [c for c in _CLAUSE_BREAK.split(source.quote) if c.strip()]
        theirs = [c for c in clauses if all(_mentions(" ".join(speakers_in(c)).lower(), w) for w in who)]
        return " ".join(theirs) if theirs and len(theirs) < len(clauses) else source.quote
    # Who talks is said by the sentence itself or by the sentences before it, never by the
    # headline: a headline naming Putin does not make the Kremlin's words his.
    text = f"{source.context} {source.quote}" if source.context and needs_context(source.quote) else source.quote
    if all(_mentions(text.lower(), w) for w in who):
        return source.quote
    if opens_with_pronoun(source.quote):
        unresolved = not source.context or opens_with_pronoun(source.context)
    elif opens_quotation(source.quote) or attributed_to_pronoun(source.quote):
        # The quotation's speaker is named where it ends, or in the sentences before "he said";
        # when those are at hand and name someone else, it is not the claim's speaker talking.
        unresolved = not source.context
    else:
        unresolved = _PRONOUN_SPEAKS.search(source.quote) is not None
    return source.quote if unresolved else None


_SPEECH_VERB = re.compile(rf"\b{_SPEECH}\b")
_NAME_RUN_BEFORE = re.compile(r"((?:[A-Z][\w'’.-]*\s+)*[A-Z][\w'’.-]*)\s+(?:(?:has|had|have|also|[a-z]+ly)\s+){0,2}$")
_INVERTED = re.compile(r"[,\"”’]\s*$")  # '...," said Putin', ', stated Chancellor ... Merz'
_PASSIVE_BY = re.compile(r"\s+as\s+(?:\S+\s+){0,4}?by\s+")  # 'described as "very useful" by ...'
_ACCORDING_TO = re.compile(r"\baccording\s+to\s+")
# Words between or before a speaker's names: "Putin aide Yuri Ushakov", "press secretary Dmitry Peskov".
_ROLE_WORDS = frozenset(
    "of the aide adviser advisor spokesperson spokesman spokeswoman press secretary official officials special envoy "
    "foreign minister chancellor president prime kremlin's".split()
)


def _name_after(text: str) -> set[str]:
    """The speaker named at the start of `text`: role words and names up to the first other word;
    of several runs of names, the last ("Putin aide Yuri Ushakov" -> Yuri Ushakov)."""
    runs: list[list[str]] = [[]]
    for token in text.split()[:8]:
        word = token.strip('.,;:!?"“”’()')
        if word[:1].isupper():
            runs[-1].append(word)
        elif word.lower() in _ROLE_WORDS:
            runs.append([])
        else:
            break
        if word != token.rstrip("’'"):
            break  # punctuation ends the name
    named = [run for run in runs if run]
    return claim_entities(" ".join(named[-1])) if named else set()


def speakers_in(quote: str) -> set[str]:
    """The names a sentence gives as talking in it: "Dmitry Peskov noted", "US President Donald
    Trump has said", '..." said President of Russia Vladimir Putin', 'described as "very useful"
    by Putin aide Yuri Ushakov', "according to press secretary Dmitry Peskov". Empty when it names
    no speaker (a pronoun, or nobody)."""
    found: set[str] = set()
    for verb in _SPEECH_VERB.finditer(quote):
        before = quote[: verb.start()]
        if run := _NAME_RUN_BEFORE.search(before):
            found |= claim_entities(run.group(1))
        if _INVERTED.search(before):
            found |= _name_after(quote[verb.end() :])
        if passive := _PASSIVE_BY.match(quote, verb.end()):
            found |= _name_after(quote[passive.end() :])
    for according in _ACCORDING_TO.finditer(quote):
        found |= _name_after(quote[according.end() :])
    return found


def speaker(claim: str) -> set[str]:
    """The names of whoever a claim says spoke ("Chancellor Friedrich Merz stated ..." -> Friedrich, Merz)."""
    match = _SPEAKER.match(MARKER.sub(" ", claim))
    return claim_entities(match.group(1)) if match else set()


_QUOTED = re.compile(r"[“\"]([^“”\"]{3,}?)[”\"]")


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("’", "'")))


def misquoted(claim: str, quotes: Sequence[str]) -> str | None:
    """The first passage the claim puts in quotation marks that no cited sentence has word for word
    ("Putin said Russia and Ukraine 'are very close to a deal'", citing Putin saying something else)."""
    cited_words = f" {' '.join(_plain(q) for q in quotes)} "
    for match in _QUOTED.finditer(claim):
        words = _plain(match.group(1))
        if words and f" {words} " not in cited_words:
            return match.group(1).strip()
    return None


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
    """Supported when every number, date and named entity is in the cited text, most content words
    are in it or in the question, words in quotation marks are the cited sentences' own, a named
    speaker is the one talking in them, negation agrees, and the meaning is close.

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
        if unquoted := misquoted(bare, quotes):
            # Words in quotation marks are given as the source's own: the cited sentences must have them.
            return Verdict(False, similarity, f"the cited text does not have the words it quotes: “{unquoted}”")
        if who := speaker(bare):
            # "Putin stated X" must cite a sentence where Putin says X, not X said by someone else
            # next to a sentence that names Putin. The question's words vouch for nothing here: what
            # the speaker said must be in the sentences where they speak.
            voiced = [f"{s.meta} {spoken}" for s in sources if (spoken := _voiced(s, bare, who)) is not None]
            unsaid = novel_words(bare, " ".join(voiced))
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
