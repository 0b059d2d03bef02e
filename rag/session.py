"""Chat sessions: a history of turns, so that follow-up questions can be asked in context."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.core.citations import Answer, strip_markers
from rag.core.config import Conversation
from rag.evidence.passages import Reading
from rag.models.llm import Message
from rag.models.prompts import NO_ANSWER, as_data, chat
from rag.pipeline import Pipeline, check_question, default_pipeline

# A follow-up leans on the conversation when it starts like a continuation, points back with a
# pronoun, or is too short to name its subject. Anything else goes to retrieval as typed.
_CONTINUES = re.compile(r"^\s*(and|but|also|so|then|what about|how about|why not|what else)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(
    r"\b(it|them|these|those|the same|else|too)\b|\b(that|this|there|then)\s*[?.!]*\s*$", re.IGNORECASE
)
# These may point at a name earlier in the question itself ("Ukraine ... its armed forces").
_PERSONAL = re.compile(r"\b(he|she|him|his|her|hers|its|they|their|theirs)\b", re.IGNORECASE)
_NAMES = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][\w'-]+|\d[\d,.%]*")
_WORDS = re.compile(r"[A-Za-z][\w'-]+")
_STOP = frozenset(
    "what which who whom whose when where why how did does do is are was were the a an and or of to in on at for "
    "with by from about say said says tell told has have had will would could should can may might".split()
)


@dataclass
class Turn:
    question: str  # as the user typed it
    standalone: str  # the question the pipeline answered
    answer: Answer


def needs_context(question: str) -> bool:
    """Cheaply tell whether a question leans on earlier turns (so only those cost an LLM call)."""
    if _CONTINUES.search(question) or _POINTS_BACK.search(question) or len(question.split()) <= 3:
        return True
    pronoun = _PERSONAL.search(question)
    return pronoun is not None and not _NAMES.search(question[: pronoun.start()])


def history_lines(turns: Sequence[Turn], rules: Conversation) -> str:
    """The last few turns as short Q/A lines for the rewrite prompt."""
    lines = []
    for turn in turns[-rules.history_turns :] if rules.history_turns else []:
        words = strip_markers(turn.answer.text).split() if turn.answer.answered else ["(not answered)"]
        cut = rules.answer_words
        short = " ".join(words[:cut]) + (" …" if len(words) > cut else "")
        lines += [f"Q: {as_data(turn.standalone)}", f"A: {as_data(short)}"]
    return "\n".join(lines)


def rewrite_messages(question: str, turns: Sequence[Turn], rules: Conversation) -> list[Message]:
    return chat(
        "rewrite_system.txt", "rewrite_user.txt", history=history_lines(turns, rules), question=as_data(question)
    )


def clean_rewrite(question: str, reply: str, max_chars: int) -> str | None:
    """The model's rewrite if it is usable: one non-empty question that keeps the follow-up's names and numbers."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = re.sub(r"^(standalone( question)?|question)\s*:\s*", "", lines[0], flags=re.IGNORECASE)
    text = text.strip().strip("\"'“”").strip()
    if not text or len(text) > max_chars or NO_ANSWER.rstrip(".").lower() in text.lower():
        return None
    if any(name.lower() not in text.lower() for name in _NAMES.findall(question)):
        return None
    return text


def with_context_terms(question: str, turns: Sequence[Turn]) -> str:
    """Fallback when the rewrite is unusable: the question plus the previous question's content words."""
    asked = {w.lower() for w in _WORDS.findall(question)}
    terms = []
    for word in _WORDS.findall(turns[-1].standalone if turns else ""):
        if word.lower() not in _STOP and word.lower() not in asked and word not in terms:
            terms.append(word)
    return f"{question} ({' '.join(terms)})" if terms else question


class Session:
    """One conversation over a pipeline. Not shared between users; the pipeline may be."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        if pipeline is None:
            pipeline = default_pipeline()
        self.pipeline = pipeline
        self.turns: list[Turn] = []
        self._lock = threading.Lock()

    def standalone(self, question: str) -> str:
        """The question to retrieve and answer with, given the turns so far."""
        question = check_question(question)
        with self._lock:
            turns = list(self.turns)
        if not turns or not needs_context(question):
            return question
        rules = self.pipeline.settings.conversation
        reply = "".join(self.pipeline.llm.stream(rewrite_messages(question, turns, rules), rules.rewrite_max_tokens))
        return clean_rewrite(question, reply, rules.rewrite_max_chars) or with_context_terms(question, turns)

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
        passages: bool = False,
    ) -> Iterator[str | Reading | Answer]:
        """Like `Pipeline.ask_stream`, and the answered turn joins the history.

        The final Answer keeps the question as typed; `answered_as` holds the rewrite, if any.
        """
        standalone = self.standalone(question)
        for event in self.pipeline.ask_stream(standalone, k=k, since=since, until=until, passages=passages):
            if isinstance(event, Answer):
                event.question = check_question(question)
                event.answered_as = standalone if standalone != event.question else None
                with self._lock:
                    self.turns.append(Turn(event.question, standalone, event))
            yield event

    def ask(self, question: str, **options: str | int | None) -> Answer:
        for event in self.ask_stream(question, **options):  # type: ignore[arg-type]
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")

    def reset(self) -> None:
        """Start over: forget every turn."""
        with self._lock:
            self.turns.clear()
