"""Can the articles answer this at all? Cheap checks made before and after the model drafts.

Evidence scores say whether anything on the topic was found; they cannot tell "what did Xi
Jinping say about the plan?" from a question the articles do answer, because the plan is all
over the evidence. The checks here look at what the question is about instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from rag.embedding import Embedder
from rag.retrieval import WORD
from rag.verification import CALENDAR_WORDS, MARKER, claim_entities, claim_numbers, negated

# Capitalised words that are not names of anything an article must mention.
_NOT_NAMES = CALENDAR_WORDS | frozenset("western eastern northern southern".split())


def unknown_names(question: str, vocabulary: Collection[str]) -> list[str]:
    """Names the question uses that no indexed article contains, allowing for misspellings.

    Months and weekdays are left out: "in March" constrains a date, it does not name a subject;
    so are compass adjectives ("the Western military alliance").
    """
    return sorted(w for w in _names(question) if not _known(w.lower(), vocabulary))


def _names(question: str) -> set[str]:
    opener = _OPENER.match(question)
    asked = question[opener.end() :] if opener else question
    words = {part for name in claim_entities(asked) for part in WORD.findall(name) if len(part) > 1}
    return {w for w in words if w.lower() not in _NOT_NAMES}


def ignored_names(question: str, answer: str, evidence: str, spread: Mapping[str, int], articles: int) -> list[str]:
    """Distinctive names the question asks about that the evidence has and the answer leaves out.

    "Why did Trump impose a 50% tariff on China?" answered with India's tariff, well cited, is
    an answer about something else: China is in the evidence, yet neither the answer nor what
    it cites mentions it. Only names found in fewer than half the articles count; "Trump" or
    "Ukraine" are everywhere, and an answer may well leave them implicit. `answer` is the
    answer with everything its citations show (quotes, outlets, authors).
    """
    said, shown = _words(answer), _words(evidence)
    distinctive = (w for w in _names(question) if 0 < spread.get(w.lower(), 0) < articles / 2)
    return sorted(w for w in distinctive if _mentioned(w, shown) and not _mentioned(w, said))


def _words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def _mentioned(name: str, words: set[str]) -> bool:
    """The name or a word sharing its first five letters ("Crimea", "Crimean"), or a misspelling."""
    name = name.lower()
    return any(w[:5] == name[:5] for w in words) if len(name) >= 5 else _known(name, words)


# Questions answered yes or no: "Did Moscow reject the ceasefire?" may be answered "Moscow agreed in theory".
_YES_NO = re.compile(r"\s*(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should)\b", re.IGNORECASE)


def assumed_denial(question: str, evidence: Sequence[str]) -> bool:
    """True when the question takes a refusal for granted and no evidence sentence refuses anything.

    "Why did Russia flatly reject the 30-day ceasefire?", asked of articles that call Putin's
    response ambiguous, has no answer: whatever the model writes about the ceasefire answers a
    question that was not asked. Yes-or-no questions are left alone, since "no" answers them.
    """
    if not negated(question) or _YES_NO.match(question):
        return False
    return not any(negated(text) for text in evidence)


# "What did the Ukrainian delegation say at the talks?": who the question says spoke or acted there.
_ASKED_ACTOR = re.compile(
    r"\s*(?:what|how|why|when)\s+(?:did|does|do|has|have|had)\s+(?:the\s+)?(.{2,60}?)\s+"
    r"(?:say|said|tell|told|propose|proposed|demand|demanded|offer|offered|ask|asked|argue|argued|"
    r"do|does|bring|brought|present|presented|put forward|contribute|contributed)\b",
    re.IGNORECASE,
)
# "talks – which Ukraine was not present at –", "Ukraine did not attend", "talks without Ukraine".
_ABSENT = re.compile(
    r"\b([A-Z][\w'’-]+)\s+(?:was|were|is|are)\s+not\s+(?:present|there|invited|represented|at\s+the\s+table)\b"
    r"|\b([A-Z][\w'’-]+)\s+(?:did|does|do)\s*(?:not|n['’]t)\s+(?:attend|take\s+part|participate|join)\b"
    r"|\bwithout\s+([A-Z][\w'’-]+)",
)
_GATHERINGS = frozenset("talks talk meeting meetings summit negotiations session conference call".split())


def absent_actor(question: str, evidence: Sequence[str]) -> str | None:
    """The evidence sentence saying that whoever the question asks about was not at the talks it
    asks about, if one does.

    "What did the Ukrainian delegation say at the Witkoff-Putin talks?", asked of articles saying
    the talks were ones "which Ukraine was not present at", takes for granted that Ukraine spoke
    there. The gathering must be named the same way in both ("talks", "meeting", "summit").
    """
    match = _ASKED_ACTOR.match(question)
    if not match:
        return None
    actors = {w.lower()[:5] for w in WORD.findall(match.group(1)) if w[:1].isupper()}
    gatherings = _GATHERINGS & _words(question[match.end() :])
    for text in evidence:
        for absent in _ABSENT.finditer(text):
            name = next(group for group in absent.groups() if group)
            if name.lower()[:5] in actors and gatherings & _words(text):
                return text
    return None


# A question's first word is capitalised without being a name: "Besides land, ...", "Regarding NATO, ...".
_OPENER = re.compile(
    r"\s*(?:besides|regarding|concerning|considering|given|apart|aside|except|excluding|including|beyond|"
    r"following|according|despite|overall|specifically|exactly|roughly|approximately|briefly|please|so|now|then|"
    r"and|but)\b",
    re.IGNORECASE,
)


def _known(word: str, vocabulary: Collection[str]) -> bool:
    if word in vocabulary:
        return True
    # "Zelenksy", "Witkof", "Zaporizhia": a reader's spelling of a name the articles do use.
    tolerance = 2 if len(word) >= 6 else 1 if len(word) >= 4 else 0
    return tolerance > 0 and any(
        abs(len(known) - len(word)) <= tolerance and known[0] == word[0] and _distance(word, known) <= tolerance
        for known in vocabulary
    )


def _distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions counted as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


# "..., and in which city did ..." joins two questions; "Kremlin officials in November and after
# the April visit" is one question about two times, and stays whole.
_SECOND_QUESTION = re.compile(
    r",?\s+and\s+(?=(?:what|which|how|where|when|who|whom|whose|why|in|on|at|did|does|do|is|are|was|were|has|have)\s)",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(r"(?:what|which|how|where|when|who|whom|whose|why|did|does|do|is|are|was|were|has|have)\b")
# A part this close in meaning to some answer sentence or cited quote counts as answered.
PART_COVERED_SIMILARITY = 0.45


def question_parts(question: str) -> list[str]:
    """Split a question that asks two things ("Where ..., and in which city ...?") into its parts."""
    parts = [p.strip(" ,?") for p in _SECOND_QUESTION.split(question)]
    parts = [p + "?" for p in parts if len(WORD.findall(p)) >= 5]  # "do the figures agree?" follows on
    if len(parts) < 2 or not all(
        _QUESTION_START.match(p.lower()) or p.lower().startswith(("in ", "on ", "at ")) for p in parts
    ):
        return [question]
    return parts


def uncovered_parts(parts: Sequence[str], said: Sequence[str], embedder: Embedder) -> list[str]:
    """The parts of a multi-part question that nothing in the answer (sentences and quotes) addresses."""
    if len(parts) < 2 or not said:
        return []
    vectors = embedder.embed([*parts, *said])
    asked, answered = vectors[: len(parts)], vectors[len(parts) :]
    closeness = (asked @ answered.T).max(axis=1)
    return [part for part, c in zip(parts, closeness, strict=True) if c < PART_COVERED_SIMILARITY]


# What kind of answer a question asks for, read from how it opens. "How many soldiers ...?" wants a
# count of soldiers: an answer about the share of land lost, however well cited, does not answer it.
_HOW_MANY = re.compile(
    r"\s*how (?:many|much) (?!of\b)((?:[\w'’-]+ ){0,5}?)"
    r"(?:have|has|had|do|does|did|is|are|was|were|will|would|can|could|should)\b",
    re.IGNORECASE,
)
_HOW_LONG = re.compile(r"\s*how long\b", re.IGNORECASE)
_WHAT_DATE = re.compile(r"\s*(?:on |in )?(?:what|which) (?:date|day|year|month)\b", re.IGNORECASE)
_DURATION = re.compile(r"\b(?:second|minute|hour|day|week|month|year|decade)s?\b", re.IGNORECASE)
_DATE_WORD = re.compile(
    r"\b(?:\d{4}|\d{1,2}(?:st|nd|rd|th)?|yesterday|today|tomorrow|" + "|".join(sorted(CALENDAR_WORDS)) + r")\b",
    re.IGNORECASE,
)
_FUNCTION_WORDS = frozenset("the a an of in on at to for from by with and or per".split())


def unanswered_kind(question: str, answer: str) -> str | None:
    """Say what the question asks ("how many soldiers") when the answer does not give it, else None.

    Only a question's opening is read, and only three kinds are checked: counts and amounts
    ("how many soldiers"), durations ("how long") and dates ("on what date").
    """
    answer = MARKER.sub(" ", answer)
    if match := _HOW_MANY.match(question):
        units = [w for w in match.group(1).split() if w.islower() and w not in _FUNCTION_WORDS]
        said = {w[:5] for w in re.findall(r"\w+", answer.lower())}
        named = claim_numbers(answer) and any(u.lower()[:5] in said for u in units)
        # The answer may name the unit differently ("troops" asked, "personnel" written): then any
        # count will do, but a share ("11%") or a year ("since 2022") is not a count.
        if units and not named and not _counts(answer):
            return " ".join(match.group(0).split()[:-1])
    elif _HOW_LONG.match(question):
        if not _DURATION.search(answer):
            return "how long"
    elif _WHAT_DATE.match(question) and not _DATE_WORD.search(answer):
        return "what date"
    return None


_SHARE_OR_YEAR = re.compile(r"\s*(?:%|per ?cent\b|percent\b)|(?<!\d)(?:19|20)\d\d(?!\d)", re.IGNORECASE)
# "a 30-day ceasefire", "within 50 days": a length of time, not a count of soldiers or barrels.
_SPAN_OF = re.compile(r"[\s-](?:second|minute|hour|day|week|month|year|decade)s?\b", re.IGNORECASE)


def _counts(text: str) -> bool:
    """True when the text has a number that is not a percentage, a year or the length of something."""
    for match in re.finditer(r"\d[\d,.\u202f\u00a0 ]*\d|\d", text):
        after = text[match.end() : match.end() + 9]
        if _SHARE_OR_YEAR.match(after) or _SPAN_OF.match(after) or re.fullmatch(r"(?:19|20)\d\d", match.group(0)):
            continue
        return True
    return False


# "What is the latest on ...?", "the most recent talks", "Where do the talks stand now?"
_LATEST = re.compile(r"\b(?:latest|newest|most\s+recent(?:ly)?|currently|right\s+now|as\s+of\s+now|now)\b", re.I)


def asks_latest(question: str) -> bool:
    """True for a question about the latest state of things, which the newest reports answer."""
    return _LATEST.search(question) is not None
