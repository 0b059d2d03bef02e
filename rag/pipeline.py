"""The pipeline: ingest, retrieve, gather evidence, generate, verify. Models load once, lazily."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path

from rag.answer.compose import (
    answer_grammar,
    answer_system,
    build_messages,
    finish,
    read_in_full,
    retrieval_only,
    stream_start,
)
from rag.core.citations import Answer
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.evidence.passages import Evidence, Reading, build_passages
from rag.ingest.run import IngestReport, ingest, upgrade
from rag.models.embedding import Embedder, SentenceTransformerEmbedder
from rag.models.llm import LLM, LLMUnavailable, Message, make_llm
from rag.retrieve.hybrid import Retriever
from rag.store.index import Index, ingest_lock
from rag.verify.support import SupportChecker

log = logging.getLogger(__name__)

_default: Pipeline | None = None
_default_lock = threading.Lock()

MAX_QUESTION_CHARS = 2000
MAX_K = 20  # the UI's slider range, enforced here so that the API cannot ask for more


class Pipeline:
    """Everything needed to answer questions over one index; safe to share between threads."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._llm = llm
        self._init_lock = threading.Lock()
        self._ensured = False
        self._preloaded = False

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or SentenceTransformerEmbedder(
            self.settings.embed_model, self.settings.ingest.embed_batch_size
        )

    @cached_property
    def llm(self) -> LLM:
        return self._llm or make_llm(self.settings)

    @cached_property
    def checker(self) -> SupportChecker:
        return SupportChecker(self.llm, self.settings.answer.min_support)

    @cached_property
    def index(self) -> Index:
        return Index(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index, self.embedder, self.settings)

    def preload(self) -> None:
        """Start loading the models in the background, once, and return at once.

        The encoder's imports, the model's weights and the fixed parts of the answer and check
        prompts take seconds in a new process. Started with the first question (or when `rag
        serve` starts), the model's part runs beside the index, the saved BM25 and the retrieval;
        it slows them by less than it saves (`bench/answer.py`, "fresh process"). A load that
        fails here fails again, with its message, where the model is first used.
        """
        with self._init_lock:
            if self._preloaded:
                return
            self._preloaded = True
        loads: list[tuple[object, tuple[object, ...]]] = [(getattr(self.embedder, "warm", None), ())]
        with contextlib.suppress(RagError):  # an unknown model: said where it is used; retrieval needs none
            loads.append((getattr(self.llm, "warm", None), (answer_system(), self.checker.systems())))
        # Not daemons: a process that ends before a load does waits for it, rather than free the
        # model under llama.cpp while it still computes.
        for load, args in loads:
            if callable(load):
                threading.Thread(target=_quietly, args=(load, *args), name="rag-preload").start()

    def ingest(self, paths: Sequence[Path] | None = None, *, progress: bool = True) -> IngestReport:
        """Index new and changed files under `paths` (default: the corpus folder), drop removed ones."""
        # The ingest lock first: a second ingest is refused before it opens (and waits for) the store.
        with ingest_lock(self.settings), self.index.guard():
            report = ingest(
                list(paths or [self.settings.corpus_dir]), self.index, self.embedder, self.settings, progress=progress
            )
        # BM25 for the new content, saved beside the index: the next process to start loads it.
        with self.index.guard():
            self.retriever.refresh()
        return report

    def ensure_index(self) -> None:
        """Build the default index on first use, when nothing has been indexed yet; bring an index
        written by an older version up to date."""
        with self._init_lock, self.index.guard():
            if not self._ensured:
                if not self.index.file_count():  # a count: a large index's manifest takes up to a second to read
                    self.ingest(progress=False)
                else:
                    upgrade(self.index, self.settings)
            self._ensured = True

    def evidence(
        self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None
    ) -> list[Evidence]:
        """Retrieve chunks and lay out the best of them as passages of numbered sentences."""
        question = check_question(question)
        since, until = check_date(since, "since"), check_date(until, "until")
        k = check_k(k)
        self.ensure_index()
        vector = self.embedder.embed([question])[0]
        with self.index.guard(), self.index.reading():
            named = self.retriever.named_sources(question)
            chunks = self.retriever.retrieve(question, vector, k or self.settings.retrieval.top_k, since, until, named)
        settings = self.settings
        return build_passages(
            chunks,
            settings.evidence.passage_chunks,
            settings.evidence.max_sentences,
            settings.evidence.passage_window,
            lambda texts: self.embedder.embed(texts) @ vector,
        )

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
        passages: bool = False,
        draft: str | None = None,
    ) -> Iterator[str | Reading | Answer]:
        """Yield the draft's text pieces as they are generated, then the verified Answer.

        With `passages`, first yield a `Reading` of the passages the model reads, as soon as they
        are retrieved: a reader can look at the sources while the model reads and drafts. With
        `draft`, that reply is checked instead of one the model writes: a draft stored in an eval
        report, replayed through changed checks (`rag eval --replay`).
        """
        started = time.perf_counter()
        question = check_question(question)  # the cleaned text, not control characters, reaches the prompt
        self.preload()
        evidence = self.evidence(question, k=k, since=since, until=until)
        if passages and evidence:
            yield Reading(tuple(evidence))
        model = self.llm.name
        try:
            if draft is None and evidence:
                draft = yield from self._generate(build_messages(question, evidence), len(evidence))
            draft = draft or ""
            answer = finish(question, draft, evidence, self.checker, self.embedder, model, self.settings.answer)
            answer.draft = draft
        except LLMUnavailable as exc:
            # Retrieval still works: show the evidence itself rather than fail the question.
            answer = retrieval_only(question, evidence, str(exc), self.embedder, self.settings.answer)
            answer.model = model
        answer.seconds = round(time.perf_counter() - started, 3)
        yield answer

    def _generate(self, messages: list[Message], sentences: int) -> Generator[str, None, str]:
        """Stream the reply's answer (its answer line, or all of a reply written without the format)
        to the caller as it is generated; return the reply, which ends once it holds every sentence
        the checks read (`read_in_full`)."""
        rules = self.settings.answer
        grammar = answer_grammar(sentences, rules.max_claims) if rules.constrained else None
        reply, answer_at, streamed = "", -1, 0
        pieces = self.llm.stream(messages, rules.max_tokens, grammar)
        try:
            for piece in pieces:
                reply += piece
                if answer_at < 0:
                    answer_at = stream_start(reply)
                if answer_at >= 0:
                    answer = reply[answer_at:].lstrip()
                    if len(answer) > streamed:
                        yield answer[streamed:]
                        streamed = len(answer)
                if read_in_full(reply, rules.max_claims):
                    break
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # the model stops generating, and releases its lock
        return reply

    def ask(self, question: str, **options: str | int | None) -> Answer:
        """Answer a question with citations, or abstain."""
        for event in self.ask_stream(question, **options):  # type: ignore[arg-type]
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")


def _quietly(load: Callable[..., object], *args: object) -> None:
    try:
        load(*args)
    except Exception:  # the foreground use raises it again, with its message
        log.debug("preloading %r failed", load, exc_info=True)


def check_date(value: str | None, name: str) -> str | None:
    """Accept YYYY-MM-DD (or nothing) for a date filter."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise RagError(f"The {name} date {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-03-16.") from None


def check_k(k: object) -> int | None:
    """Accept a whole number of passages from 1 to MAX_K (or nothing, for the setting)."""
    if k is None or k == "":
        return None
    try:
        value = float(k)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(k, bool) or not value.is_integer() or not 1 <= value <= MAX_K:
        raise RagError(f"k must be a whole number from 1 to {MAX_K}; got {k!r}.")
    return int(value)


def check_question(question: str) -> str:
    """Reject questions that cannot be asked, with a message that says why."""
    if not isinstance(question, str):
        raise RagError("The question must be text.")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question).strip()
    if not cleaned:
        raise RagError("The question is empty; type a question about the articles.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise RagError(f"The question is {len(cleaned)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return cleaned


def default_pipeline() -> Pipeline:
    """Return the process-wide pipeline built from `RAG_*` settings, creating it on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Pipeline(Settings())
        return _default
