"""Chat sessions: a history of turns, so that follow-up questions can be asked in context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from rag.citations import Answer
from rag.pipeline import Pipeline


@dataclass
class Turn:
    question: str  # as the user typed it
    standalone: str  # the question the pipeline answered
    answer: Answer


class Session:
    """One conversation over a pipeline. Not shared between users; the pipeline may be."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        if pipeline is None:
            from rag import get_pipeline

            pipeline = get_pipeline()
        self.pipeline = pipeline
        self.turns: list[Turn] = []
        self._lock = threading.Lock()

    def standalone(self, question: str) -> str:
        """The question to retrieve and answer with, given the turns so far."""
        return question

    def ask_stream(
        self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None
    ) -> Iterator[str | Answer]:
        """Like `Pipeline.ask_stream`, and the answered turn joins the history."""
        standalone = self.standalone(question)
        for event in self.pipeline.ask_stream(standalone, k=k, since=since, until=until):
            if isinstance(event, Answer):
                with self._lock:
                    self.turns.append(Turn(question, standalone, event))
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
