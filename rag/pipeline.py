"""The pipeline: ingest, retrieve, gather evidence, generate, verify. Models load once, lazily."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Sequence
from datetime import date
from functools import cached_property
from pathlib import Path

from rag.answerability import (
    absent_actor,
    asks_latest,
    assumed_denial,
    ignored_names,
    question_parts,
    uncovered_parts,
    unknown_names,
)
from rag.answering import (
    abstain,
    add_overlooked,
    answer_start,
    build_messages,
    check_prompt,
    check_says_no,
    finish,
    insist_prompt,
    is_refusal,
    retrieval_only,
)
from rag.chunking import split_sentences
from rag.citations import Answer, Removed, strip_markers
from rag.config import Settings
from rag.embedding import Embedder, SentenceTransformerEmbedder
from rag.errors import RagError
from rag.evidence import Evidence, newest_first, select_evidence
from rag.index import Index
from rag.ingest import IngestReport, ingest, upgrade
from rag.llm import LLM, LLMUnavailable, Message, make_llm
from rag.nli import make_verifier
from rag.retrieval import Retriever
from rag.verification import Verifier

MAX_QUESTION_CHARS = 2000


class Pipeline:
    """Everything needed to answer questions over one index; safe to share between threads."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._llm = llm
        self._verifier = verifier
        self._init_lock = threading.Lock()
        self._ensured = False

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or SentenceTransformerEmbedder(self.settings.embed_model, self.settings.embed_batch_size)

    @cached_property
    def llm(self) -> LLM:
        return self._llm or make_llm(self.settings)

    @cached_property
    def verifier(self) -> Verifier:
        if self._verifier is not None:
            return self._verifier
        return make_verifier(self.settings.verifier, self.embedder, self.settings.min_entailment)

    @cached_property
    def index(self) -> Index:
        return Index(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index, self.embedder, self.settings)

    def ingest(self, paths: Sequence[Path] | None = None, *, progress: bool = True) -> IngestReport:
        """Index new and changed files under `paths` (default: the corpus folder), drop removed ones."""
        with self.index.guard():
            return ingest(
                list(paths or [self.settings.corpus_dir]), self.index, self.embedder, self.settings, progress=progress
            )

    def ensure_index(self) -> None:
        """Build the default index on first use, when nothing has been indexed yet; bring an index
        written by an older version up to date."""
        with self._init_lock, self.index.guard():
            if not self._ensured:
                if not self.index.manifest():
                    self.ingest(progress=False)
                else:
                    upgrade(self.index, self.settings)
            self._ensured = True

    def evidence(
        self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None
    ) -> list[Evidence]:
        """Retrieve chunks and pick the sentences to show the model.

        A question that asks two things gets evidence for each part, taken in turn, so that
        one well-matched part cannot crowd the other out. A question about the latest state of
        things gets the dated articles' sentences newest first (`newest_first`).
        """
        question = check_question(question)
        since, until = check_date(since, "since"), check_date(until, "until")
        self.ensure_index()
        parts = question_parts(question)
        limit = self.settings.evidence_sentences
        found = []
        with self.index.guard():
            named = self.retriever.named_sources(question)
        for part, vector in zip(parts, self.embedder.embed(parts), strict=True):
            with self.index.guard():
                chunks = self.retriever.retrieve(part, vector, k or self.settings.top_k, since, until, named)
            found.append(select_evidence(part, vector, chunks, self.embedder, limit))
        evidence = _take_in_turn(found, limit)
        # "What is the latest on ...?": of the dated articles, the newest speaks first.
        return newest_first(evidence) if asks_latest(question) else evidence

    def ask_stream(
        self, question: str, *, k: int | None = None, since: str | None = None, until: str | None = None
    ) -> Iterator[str | Answer]:
        """Yield the draft's text pieces as they are generated, then the verified Answer."""
        started = time.perf_counter()
        question = check_question(question)  # the cleaned text, not control characters, reaches the prompt
        evidence = self.evidence(question, k=k, since=since, until=until)
        model = self.llm.name
        with self.index.guard():
            unknown = unknown_names(question, self.retriever.vocabulary())
        if unknown:
            answer = abstain(question, evidence, model, f"No indexed article mentions {' or '.join(unknown)}.")
        elif not evidence or max(e.score for e in evidence) < self.settings.min_relevance:
            answer = abstain(question, evidence, model, "Nothing in the articles is close enough to the question.")
        elif assumed_denial(question, [e.text for e in evidence]):
            reason = "The question takes a refusal for granted that no article found reports."
            answer = abstain(question, evidence, model, reason)
        elif absent := absent_actor(question, [e.text for e in evidence]):
            answer = abstain(question, evidence, model, f"The articles contradict the question's premise: {absent}")
        else:
            try:
                answer = yield from self._answer(question, evidence)
            except LLMUnavailable as exc:
                # Retrieval still works: show the evidence itself rather than fail the question.
                answer = retrieval_only(question, evidence, str(exc), self.settings.insist_relevance)
            answer.model = model
        answer.seconds = round(time.perf_counter() - started, 3)
        yield answer

    def _answer(self, question: str, evidence: list[Evidence]) -> Generator[str, None, Answer]:
        messages = build_messages(question, evidence)
        draft = yield from self._generate(messages)
        if is_refusal(draft) and max(e.score for e in evidence) >= self.settings.insist_relevance:
            # Small models refuse answerable questions; when the evidence is clearly on topic,
            # ask once more for what it does say, and let verification judge the result.
            messages += [{"role": "assistant", "content": draft}, {"role": "user", "content": insist_prompt()}]
            draft = yield from self._generate(messages)
        answer = finish(question, draft, evidence, self.verifier, self.llm.name)
        if answer.answered and (ignored := self._ignored_names(question, answer, evidence)):
            reason = f"The answer leaves out {' and '.join(ignored)}, which the question asks about."
            withheld = [*answer.removed, Removed(sentence=strip_markers(answer.text), reason=reason)]
            answer = abstain(question, evidence, self.llm.name, reason)
            answer.removed = withheld
        if answer.answered and self.settings.self_check and self._check_says_no(messages, draft):
            reason = "Asked to check its answer, the model found the evidence does not answer the question."
            answer = abstain(question, evidence, self.llm.name, reason)
        answer = add_overlooked(answer, draft, evidence)
        if answer.answered:
            text = strip_markers(answer.text)
            said = [text[a:b] for a, b in split_sentences(text)] + [c.quote for c in answer.citations]
            answer.not_covered = uncovered_parts(question_parts(question), said, self.embedder)
        return answer

    def _ignored_names(self, question: str, answer: Answer, evidence: Sequence[Evidence]) -> list[str]:
        with self.index.guard():
            spread, articles = self.retriever.spread()
        said = [answer.text] + [
            f"{c.quote} {c.context or ''} {c.outlet or ''} {c.author or ''}" for c in answer.citations
        ]
        shown = [f"{e.text} {e.label}" for e in evidence]
        return ignored_names(question, " ".join(said), " ".join(shown), spread, articles)

    def _check_says_no(self, messages: list[Message], draft: str) -> bool:
        """Ask the model whether the evidence answers the question as asked.

        The check continues the answering exchange, so llama.cpp reuses the whole prompt in its
        cache and only reads the short check question: about a second on two cores.
        """
        turn = [*messages, {"role": "assistant", "content": draft}, {"role": "user", "content": check_prompt()}]
        return check_says_no("".join(self.llm.stream(turn, 3)))

    def _generate(self, messages: list[Message]) -> Generator[str, None, str]:
        """Stream the reply's answer line to the caller; return the whole reply."""
        reply, answer_at, streamed = "", -1, 0
        for piece in self.llm.stream(messages, self.settings.max_tokens):
            reply += piece
            if answer_at < 0:
                answer_at = answer_start(reply)
            if answer_at >= 0:
                answer = reply[answer_at:].lstrip()
                if len(answer) > streamed:
                    yield answer[streamed:]
                    streamed = len(answer)
        return reply

    def ask(self, question: str, **options: str | int | None) -> Answer:
        """Answer a question with citations, or abstain."""
        for event in self.ask_stream(question, **options):  # type: ignore[arg-type]
            if isinstance(event, Answer):
                return event
        raise AssertionError("ask_stream ended without an answer")


def _take_in_turn(lists: list[list[Evidence]], limit: int) -> list[Evidence]:
    """Merge ranked evidence lists round-robin, each sentence once."""
    merged: dict[tuple[str, int], Evidence] = {}
    for rank in range(max(map(len, lists), default=0)):
        for items in lists:
            if rank < len(items) and len(merged) < limit:
                merged.setdefault((items[rank].source, items[rank].start), items[rank])
    return list(merged.values())


def check_date(value: str | None, name: str) -> str | None:
    """Accept YYYY-MM-DD (or nothing) for a date filter."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise RagError(f"The {name} date {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-03-16.") from None


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
