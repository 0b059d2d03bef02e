"""Answers as data: every `[n]` marker maps to a Citation whose quote is exact text at its offsets."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, Field

MARKER = re.compile(r"\[(\d+)\]")


class Citation(BaseModel):
    """One quoted sentence: `text[start:end] == quote` for the source file's decoded text."""

    n: int = Field(description="The marker number used in the answer text.")
    source: str = Field(description="Citation key: the file's name (path relative to the corpus folder).")
    quote: str
    start: int
    end: int
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    date: str | None = Field(None, description="Publication date YYYY-MM-DD, when the article states it.")
    also_reported_by: list[str] = Field(default_factory=list, description="Other sources saying the same.")
    context: str | None = Field(
        None,
        description="What says who or what the quote is about, when it does not: the sentence before one "
        "that opens with a pronoun or points back (“this idea”), or the end of a quotation the quote opens.",
    )


class Removed(BaseModel):
    """A draft sentence taken out by verification, and why."""

    sentence: str
    reason: str


class Answer(BaseModel):
    """A question's answer with its citations; `answered` is False when the articles do not answer it."""

    question: str
    text: str
    answered: bool
    citations: list[Citation] = Field(default_factory=list)
    evidence: list[Citation] = Field(
        default_factory=list, description="When abstaining: the closest sentences found, for the reader to judge."
    )
    removed: list[Removed] = Field(default_factory=list)
    not_covered: list[str] = Field(
        default_factory=list, description="Parts of a two-part question that the answer does not address."
    )
    reason: str = Field("", description="When abstaining: why the system declined to answer.")
    model: str = ""
    seconds: float = 0.0
    answered_as: str | None = Field(
        None, description="In a session: the standalone question a follow-up was rewritten into and answered as."
    )
    retrieval_only: bool = Field(
        False, description="True when no summary was generated (LLM backend down): the text lists evidence sentences."
    )
    notice: str | None = Field(None, description="Why the answer is degraded, e.g. the LLM backend is unreachable.")
    answer_check: float | None = Field(
        None,
        description="The model's P(yes) that the cited sentences give the answer to the question; on a refusal, "
        "that of the draft's checked claims, where asked.",
    )
    relevance: float | None = Field(
        None,
        description="The model's P(yes) that the answer's own words give what the question asks for; on a refusal, "
        "that of the draft's checked claims, where asked.",
    )
    draft: str = Field(
        "",
        description="The model's reply before any check ('Sentences:' line too), generated up to a word past the "
        "last sentence read; empty when none was asked.",
    )


_GROUP = re.compile(r"\[\s*(\d+(?:\s*(?:,|;|and|-|–)\s*\d+)+)\s*\]")
_LIST = re.compile(r"\[(\d+)\](?:\s*(?:,|and|, and)\s*\[\d+\])+")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])\s*((?:\[\d+\])+)")


_FOLD = str.maketrans("’‘“”–—\u202f\u00a0", "''\"\"--  ")


def normalise(text: str) -> str:
    """Lower-case, fold quotes, dashes and unusual spaces, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_FOLD)
    return re.sub(r"\s+", " ", text)


def normalise_markers(text: str) -> str:
    """Write `[1, 2]`, `[1-3]` as `[1][2]`, `[1][2][3]`, and move markers before the full stop."""

    def expand(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if re.search(r"[-–]", m.group(1)) and len(numbers) == 2 and 0 < numbers[1] - numbers[0] < 10:
            numbers = list(range(numbers[0], numbers[1] + 1))
        return "".join(f"[{n}]" for n in numbers)

    text = _GROUP.sub(expand, text)
    text = _LIST.sub(lambda m: "".join(re.findall(r"\[\d+\]", m.group(0))), text)
    return _MARKERS_AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), text)


def marker_numbers(text: str) -> list[int]:
    return [int(n) for n in MARKER.findall(text)]


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([.,;!?])", r"\1", re.sub(r"[ \t]{2,}", " ", MARKER.sub("", text))).strip()


def renumber(sentences: list[tuple[str, list[int]]]) -> tuple[str, list[int]]:
    """Join sentences, numbering their cited evidence 1..m by first appearance.

    Each item is (sentence text without markers, evidence indices it cites); returns the text
    and, for each new number, the evidence index it stands for.
    """
    order: list[int] = []
    parts = []
    for sentence, cited in sentences:
        for index in cited:
            if index not in order:
                order.append(index)
        parts.append(with_markers(sentence, [order.index(i) + 1 for i in dict.fromkeys(cited)]))
    return " ".join(parts), order


def with_markers(sentence: str, numbers: list[int]) -> str:
    """Put citation markers before a sentence's full stop ("... weeks [2]."), and after an ellipsis,
    which is not one: a snippet cut off with "..." keeps all three dots ("... from ... [4]")."""
    marks = "".join(f"[{n}]" for n in numbers)
    body = sentence.rstrip()
    if body.endswith(("..", "\u2026")):
        return f"{body} {marks}"
    if body.endswith((".", "!", "?")):
        return f"{body[:-1].rstrip()} {marks}{body[-1]}"
    return f"{body} {marks}"  # no stop, or a stop inside closing quotes: the markers follow
