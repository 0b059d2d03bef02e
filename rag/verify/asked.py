"""What kind of thing a question asks for, and whether an answer gives one.

"When did the bridge reopen?" asks for a time; "The bridge reopened [1]." can be true, cited and
checked, and still not answer it. The parse reads the question's wh-word, and only when it belongs
to the main clause ("Did she say when it reopens?" asks yes or no). Only the wh-words that fix a
kind are read: when, how many, how much, how long. "Who", "what", "which" and "how" alone can ask
for anything, and so can "where": a town, a venue, a broadcaster or a web address, and the
recogniser tags a little-known town as a person. spaCy's entity recogniser then says whether the
answer names a thing of the kind; for "how long", a date or time that is a length ("three hours",
"a week"), not a point in time ("last week", "March 2031"); for "how many", such a length too
("50 days", which the recogniser tags a date). Where the parse errs, it errs towards
answering: a question it misparses asks for no kind, unless the parse found no verb at its head,
where a wh-word before any verb asks ("To how many days did …").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.verify.roles import parsed, parser


@dataclass(frozen=True)
class Kind:
    """A kind of answer: how a refusal names it, the entity labels that give one, whether a figure
    outside any name gives one too ("600,000" that the recogniser left untagged), and whether a
    length of time does ("50 days" is a number of days, though the recogniser tags it a date)."""

    name: str
    labels: frozenset[str]
    figures: bool = False
    lengths: bool = False  # a date or time gives one only as a length of time
    durations: bool = False  # a date or time that is a length of time gives one too


TIME = Kind("a date or time", frozenset({"DATE", "TIME"}))
AMOUNT = Kind("a number", frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}), figures=True, durations=True)
LENGTH = Kind("a length of time", frozenset({"DATE", "TIME", "QUANTITY", "CARDINAL"}), figures=True, lengths=True)


def asked_kinds(question: str) -> list[Kind]:
    """The kinds of thing the question asks for; empty when any answer could do, which includes a
    question that also asks who, what, which or where ("Who won, and when?" is answered in part by
    a name)."""
    doc = parsed(question)
    kinds: list[Kind] = []
    for token in doc:
        if token.tag_ not in _WH or not _asks(token):
            continue
        after = doc[token.i + 1].lower_ if token.i + 1 < len(doc) else ""
        kind = TIME if token.lower_ == "when" else None
        if token.lower_ == "how":
            kind = {"many": AMOUNT, "much": AMOUNT, "long": LENGTH}.get(after)
        if kind is None:
            return []
        if kind not in kinds:
            kinds.append(kind)
    return kinds


_WH = frozenset({"WRB", "WP", "WDT", "WP$"})  # Penn tags of wh-words


def _asks(wh: Any) -> bool:
    """Whether a wh-word asks the question itself: it belongs to the main clause. Where the parse
    found no verb to head the sentence ("To how many days did …" can come out headed by "To"), a
    wh-word asks when no verb comes before it."""
    root = wh.sent.root
    if _clause(wh).i == root.i:
        return True
    return root.pos_ not in ("VERB", "AUX") and not any(t.pos_ in ("VERB", "AUX") for t in wh.doc[wh.sent.start : wh.i])


def _clause(token: Any) -> Any:
    """The verb whose clause a word belongs to: its nearest verb above it (an auxiliary stands for
    the verb it helps), or the sentence's root."""
    head = token.head
    while head.head.i != head.i and (head.pos_ not in ("VERB", "AUX") or head.dep_ in ("aux", "auxpass")):
        head = head.head
    return head


def gives(text: str, kinds: Sequence[Kind]) -> bool:
    """Whether the text names a thing of one of the kinds (always, when none is asked for)."""
    if not kinds:
        return True
    nlp = parser()
    doc = nlp.get_pipe("ner")(nlp(text))  # a parse of its own: `parsed` documents are shared, read only
    for kind in kinds:
        if any(entity.label_ in kind.labels and (not kind.lengths or _is_length(entity)) for entity in doc.ents):
            return True
        if kind.figures and any(t.like_num and not t.ent_type_ for t in doc):
            return True
        if kind.durations and any(entity.label_ in ("DATE", "TIME") and _is_length(entity) for entity in doc.ents):
            return True
    return False


def _is_length(entity: Any) -> bool:
    """Whether an entity names a length of time, read from its nouns: counted ("three hours",
    "30-day"), one of something ("a week"), or a plural that is not definite ("for weeks"); or a
    point that opens a span ("since 2031" says how long, as far as now). A date or time of any other
    shape names a point ("last week", "Tuesday", "March 2031"), and so does a definite plural that is
    not counted ("in the coming weeks" says when, not for how long). Every noun of the entity is
    read, not only its head: the parser can head "last for hours" with "last", taken for an
    adjective. The kind's other labels, a quantity or a bare count, count as they are."""
    if entity.label_ not in ("DATE", "TIME"):
        return True
    head = entity.root
    if head.dep_ == "pobj" and head.head.lower_ == "since":
        return True
    return any(token.pos_ == "NOUN" and _measures(token) for token in entity)


def _measures(noun: Any) -> bool:
    """A noun that counts its units: with a number, with an indefinite article, or plural without a
    definite one (spaCy's morphology of its determiner)."""
    if any(child.dep_ == "nummod" for child in noun.children):
        return True
    definite = [child.morph.get("Definite") for child in noun.children if child.dep_ == "det"]
    if noun.tag_ == "NNS":
        return not any("Def" in d for d in definite)
    return any("Ind" in d for d in definite)


def kinds_named(kinds: Sequence[Kind]) -> str:
    return " or ".join(kind.name for kind in kinds)
