"""The answer path with real Chroma and fakes for the embedder and the LLM (its yes/no: `fake_word_judge`)."""

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rag.answer.compose import answer_grammar, answer_system
from rag.core.citations import Answer, strip_markers
from rag.core.config import Answering, Settings
from rag.core.errors import RagError
from rag.evidence.passages import Reading
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM, LLMUnavailable, fake_word_judge
from rag.models.prompts import NO_ANSWER
from rag.pipeline import Pipeline
from tests.conftest import SEEDS

QUESTION = "What did the initial US plan propose about Ukraine's armed forces, NATO, Crimea, Donetsk and Luhansk?"


def seed_text(source: str) -> str:
    return (SEEDS / source).read_bytes().decode("utf-8")


def numbered(pipeline: Pipeline, question: str, words: str) -> int:
    """The number the prompt gives the first evidence sentence containing `words`."""
    return next(i for i, e in enumerate(pipeline.evidence(question), 1) if words in e.text)


def test_evidence_is_whole_passages_of_numbered_sentences(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    assert 1 < len(evidence) <= fake_pipeline.settings.evidence.max_sentences
    passages = [e.passage for e in evidence]
    assert passages == sorted(passages)  # one passage after another, never interleaved
    for p in set(passages):
        run = [e for e in evidence if e.passage == p]
        assert len({e.source for e in run}) == 1
        assert [e.start for e in run] == sorted(e.start for e in run)  # the article's own order
        for e in run:
            assert seed_text(e.source)[e.start : e.end] == e.text
    fake_llm.replies.append(NO_ANSWER)
    fake_pipeline.ask(QUESTION)
    prompt = fake_llm.prompts[0][1]["content"]
    assert f"[1] {evidence[0].text}" in prompt and "Passage from" in prompt


def test_cited_answer_quotes_are_verbatim(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    target = numbered(fake_pipeline, QUESTION, "600,000")
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{target}]. "
        "It also cited a marker that points at nothing [42]."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered
    assert "[1]" in answer.text and "[42]" not in answer.text
    assert answer.citations[0].n == 1 and "600,000" in answer.citations[0].quote
    for c in answer.citations:
        assert seed_text(c.source)[c.start : c.end] == c.quote
    assert answer.citations[0].source == "002_bf4c599bf41a5fdc.txt"


def test_a_number_the_cited_text_lacks_removes_the_sentence_with_its_reason(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    target = numbered(fake_pipeline, QUESTION, "600,000")
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{target}]. "
        f"The plan also gave Ukraine 90 billion dollars from Brussels [{target}]."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered and "billion" not in answer.text
    assert len(answer.removed) == 1 and "90" in answer.removed[0].reason


def test_a_sentence_citing_the_wrong_evidence_is_recited_to_the_one_that_states_it(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    wrong = next(i for i, e in enumerate(evidence, 1) if "600,000" not in e.text)
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{wrong}]."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered and "600,000" in answer.citations[0].quote


def test_the_model_is_asked_about_each_claim_with_only_its_cited_sentences(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    target = numbered(fake_pipeline, QUESTION, "600,000")
    claim = "Under the initial US plan, Ukraine would reduce its armed forces to 600,000 personnel"
    fake_llm.replies.append(f"{claim} [{target}].")
    fake_pipeline.ask(QUESTION)
    check = fake_llm.checks[0][-1]["content"]
    assert f"Statement: {claim}." in check
    assert check.count("\n[") == 1 and "[2]" not in check  # one cited sentence, numbered alone
    assert "(Pravda.Ru, by Anton Kulikov, no date given)" in check  # with who published it


def test_sentences_none_is_a_refusal(settings: Settings) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM(["Sentences: none"], judge=lambda _: 0.0))
    answer = pipeline.ask(QUESTION)
    assert (answer.text, answer.answered) == (NO_ANSWER, False)


def test_model_refusal_gives_the_fixed_sentence_when_no_close_sentence_answers(
    fake_pipeline: Pipeline, settings: Settings
) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM([NO_ANSWER], judge=lambda _: 0.0))
    answer = pipeline.ask(QUESTION)
    assert (answer.text, answer.answered, answer.citations) == (NO_ANSWER, False, [])
    assert answer.evidence and answer.reason  # the closest passages, and why


def test_a_refusal_over_a_sentence_that_answers_quotes_that_sentence(settings: Settings) -> None:
    llm = FakeLLM([NO_ANSWER], judge=lambda m: 1.0 if "Question:" in m[-1]["content"] else 0.0)
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=llm)
    answer = pipeline.ask(QUESTION)
    assert answer.answered and len(answer.citations) == 1
    assert strip_markers(answer.text) == answer.citations[0].quote


def test_nothing_supported_means_abstaining(settings: Settings) -> None:
    statements_only = FakeLLM(
        ["Chiefs won the Super Bowl [1]."],
        judge=lambda m: fake_word_judge(m) if "Statement:" in m[-1]["content"] else 0.0,
    )
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=statements_only)
    answer = pipeline.ask(QUESTION)
    assert not answer.answered and answer.text == NO_ANSWER and answer.citations == []
    assert answer.removed and answer.removed[0].sentence == "Chiefs won the Super Bowl."


def test_no_matching_article_abstains_without_calling_the_llm(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    answer = fake_pipeline.ask(QUESTION, since="2030-01-01")
    assert not answer.answered and answer.reason
    assert fake_llm.prompts == []


def test_stream_shows_only_the_answer_line_then_the_answer(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.append("Sentences: [1]\nAnswer: Some words of the answer [1].")
    events = list(fake_pipeline.ask_stream(QUESTION))
    pieces, final = events[:-1], events[-1]
    assert all(isinstance(e, str) for e in pieces) and len(pieces) > 2
    assert "".join(pieces) == "Some words of the answer [1]."  # type: ignore[arg-type]
    assert isinstance(final, Answer)


def test_stream_can_show_the_passages_before_the_draft(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.extend(["Sentences: [1]\nAnswer: Some words [1].", "Sentences: [1]\nAnswer: Some words [1]."])
    events = list(fake_pipeline.ask_stream(QUESTION, passages=True))
    assert isinstance(events[0], Reading) and list(events[0].evidence) == fake_pipeline.evidence(QUESTION)
    assert [p[0].passage for p in events[0].passages()] == list(range(len(events[0].passages())))
    assert not any(isinstance(e, Reading) for e in fake_pipeline.ask_stream(QUESTION)), "only when asked for"
    assert not any(
        isinstance(e, Reading) for e in fake_pipeline.ask_stream(QUESTION, since="2030-01-01", passages=True)
    )


def test_a_reply_without_the_format_streams_whole_and_every_answer_keeps_the_whole_reply(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    target = numbered(fake_pipeline, QUESTION, "600,000")
    plain = f"The plan capped Ukraine's armed forces at 600,000 personnel [{target}]."
    for reply, shown in [
        (f"  {plain}", plain),
        (f"Sentences: [{target}]\nAnswer: {plain}", plain),
        (f"Sentences: [{target}]\n{plain}", plain),
        ("Sentences: none", ""),
        ("Sentences: none\nNothing here.", ""),
        (f"Passage from Wire, no date given: [{target}]\nPassage from Post: [1]", ""),  # a copied heading
        (f"Passage from Wire, no date given:\n[{target}] {plain}\nSentences: [{target}]\nAnswer: {plain}", plain),
        (f"Passage from the plan {plain[9:]}", f"Passage from the plan {plain[9:]}"),  # only the same words
    ]:
        fake_llm.replies.append(reply)
        events = list(fake_pipeline.ask_stream(QUESTION))
        assert "".join(e for e in events if isinstance(e, str)) == shown, reply
        assert isinstance(events[-1], Answer) and events[-1].draft == reply


def test_the_draft_is_generated_under_the_reply_grammar_of_its_passages(settings: Settings) -> None:
    for constrained in (True, False):
        llm = FakeLLM(["Sentences: [1]\nAnswer: Some words [1]."])
        pipeline = Pipeline(
            settings.model_copy(update={"answer": Answering(constrained=constrained)}), embedder=FakeEmbedder(), llm=llm
        )
        pipeline.ask(QUESTION)
        grammar = answer_grammar(len(pipeline.evidence(QUESTION)), Answering().max_claims) if constrained else None
        assert llm.grammars == [grammar]


def test_date_filter_keeps_only_dated_articles_in_range(fake_pipeline: Pipeline) -> None:
    evidence = fake_pipeline.evidence(QUESTION, since="2025-03-01", until="2025-03-31")
    assert evidence and {e.source for e in evidence} == {"001_8a2a514bf6660ac7.txt"}
    assert fake_pipeline.evidence(QUESTION, since="2026-01-01") == []


def test_prompt_puts_the_fixed_instructions_first(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.extend([NO_ANSWER, NO_ANSWER])
    fake_pipeline.ask(QUESTION)
    fake_pipeline.ask("What did Merz say about red lines?")
    first, second = fake_llm.prompts
    assert first[0] == second[0] and first[0]["role"] == "system"
    assert QUESTION not in first[0]["content"] and QUESTION in first[1]["content"]


def test_malformed_date_filter_is_a_clear_error(fake_pipeline: Pipeline) -> None:
    with pytest.raises(RagError, match="YYYY-MM-DD"):
        fake_pipeline.evidence(QUESTION, since="2025/03/01")


def test_sources_that_tell_one_report_with_a_different_detail_are_both_given(settings: Settings) -> None:
    for name, winner in (("a.txt", "Quokka Rovers"), ("b.txt", "Norland United")):
        (settings.corpus_dir / name).write_text(
            f"The 2031 Zyxbridge Cup final was won by {winner} after extra time in the rain.\n", encoding="utf-8"
        )
    llm = FakeLLM()
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=llm)
    pipeline.ingest(progress=False)
    question = "Who won the 2031 Zyxbridge Cup final?"
    rovers = numbered(pipeline, question, "Quokka Rovers")
    llm.replies.append(f"The 2031 Zyxbridge Cup final was won by Quokka Rovers [{rovers}].")
    answer = pipeline.ask(question)
    assert answer.answered
    assert {c.source for c in answer.citations} == {"a.txt", "b.txt"}
    assert "Norland United" in answer.text


class FakeDownLLM:
    """A fake backend that is always down, as an unreachable server is."""

    name = "fake-down"

    def stream(self, messages: list[dict[str, str]], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        raise LLMUnavailable("Cannot reach the LLM server at http://127.0.0.1:9/v1/chat/completions: refused")
        yield ""

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        raise LLMUnavailable("down")


def test_llm_down_gives_retrieval_only_answer(settings: Settings) -> None:
    settings.answer.quote_similarity = 0.0  # fake vectors: any sentence sharing words is close enough
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeDownLLM())
    answer = pipeline.ask(QUESTION)
    assert answer.retrieval_only and answer.notice and "Cannot reach the LLM server" in answer.notice
    assert answer.answered and answer.citations
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert seed_text(c.source)[c.start : c.end] == c.quote
        assert c.quote in strip_markers(answer.text) and f"[{c.n}]" in answer.text


def test_llm_down_on_distant_evidence_abstains(settings: Settings) -> None:
    settings.answer.quote_similarity = 1.0  # no sentence can be close enough to quote without a model
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeDownLLM())
    answer = pipeline.ask(QUESTION)
    assert (answer.answered, answer.text, answer.citations) == (False, NO_ANSWER, [])
    assert answer.retrieval_only and answer.notice and answer.evidence


class FakeSlowEmbedder(FakeEmbedder):
    """A fake encoder whose `warm` lasts until `loaded` is set, and records the thread it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.warmed: list[str] = []
        self.loaded = threading.Event()

    def warm(self) -> None:
        self.loaded.wait()
        self.warmed.append(threading.current_thread().name)


class FakeWarmLLM(FakeLLM):
    """A fake LLM whose `warm` records the system prompt it was given, or fails."""

    def __init__(self, *replies: str, fail: bool = False) -> None:
        super().__init__(replies, judge=fake_word_judge)
        self.fail = fail
        self.warmed: list[str] = []

    def warm(self, system: str | None = None, checks: Sequence[str] = ()) -> None:
        if self.fail:
            raise RagError("the weights cannot be read")
        self.warmed += [system or "", *checks]


def test_a_first_question_loads_the_models_in_the_background_once(settings: Settings) -> None:
    embedder, llm = FakeSlowEmbedder(), FakeWarmLLM()
    pipeline = Pipeline(settings, embedder=embedder, llm=llm)
    pipeline.preload()
    assert embedder.warmed == []  # it returned while the encoder was still loading
    embedder.loaded.set()
    pipeline.ask(QUESTION)
    pipeline.ask(QUESTION)
    pipeline.preload()
    join_preloads()
    assert embedder.warmed == ["rag-preload"]
    # the fixed parts of the answer and check prompts, computed before the first draft and checks
    assert llm.warmed == [answer_system(), *pipeline.checker.systems()]


def test_a_question_starts_the_loads_and_a_failed_load_costs_it_nothing(settings: Settings) -> None:
    embedder = FakeSlowEmbedder()
    embedder.loaded.set()
    pipeline = Pipeline(settings, embedder=embedder, llm=FakeWarmLLM(fail=True))
    assert isinstance(pipeline.ask(QUESTION), Answer)  # the failed load raised nothing here
    join_preloads()
    assert embedder.warmed == ["rag-preload"]  # a first question starts the loads by itself


def join_preloads() -> None:
    for thread in threading.enumerate():
        if thread.name == "rag-preload":
            thread.join()


def test_the_python_api_ingests_and_answers_through_the_process_pipeline(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag
    import rag.pipeline

    monkeypatch.setattr(rag.pipeline, "_default", fake_pipeline)
    first = rag.ingest()
    assert len(first.added) == len(list(corpus.iterdir()))
    (corpus / "new.txt").write_text("Zyxbridge quokkas met on Monday.\n", encoding="utf-8")
    assert rag.ingest([corpus / "new.txt"]).added == ["new.txt"]
    assert isinstance(rag.ask("Where did the quokkas meet?"), rag.Answer)


def test_a_new_pipeline_on_a_built_index_neither_ingests_nor_reads_the_manifest_to_start(
    fake_pipeline: Pipeline, settings: Settings, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty index is built at first use; a built one is found by a count, not by reading every
    article's record (up to a second at 100k chunks, in every new process)."""
    fake_pipeline.ensure_index()
    assert fake_pipeline.index.file_count() == len(fake_pipeline.index.manifest()) == 5
    again = Pipeline(settings, embedder=FakeEmbedder(), llm=fake_llm)

    def unexpected(*_: object, **__: object) -> None:
        raise AssertionError("started by reading the manifest, or by ingesting")

    monkeypatch.setattr(again.index, "manifest", unexpected)
    monkeypatch.setattr(again, "ingest", unexpected)
    again.ensure_index()


class CountingFakeLLM(FakeLLM):
    """A fake model that counts the reply pieces the pipeline took from it."""

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(replies)
        self.taken = 0

    def stream(self, messages: list[dict[str, str]], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        for piece in super().stream(messages, max_tokens, grammar):
            self.taken += 1
            yield piece


def test_generation_stops_once_the_sentences_read_are_written(settings: Settings) -> None:
    """Only the first `max_claims` draft sentences are checked: the model stops when the next one
    begins, and the answer is the one the whole reply gives."""
    probe = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    target = numbered(probe, QUESTION, "600,000")
    claims = [f"The plan capped Ukraine's armed forces at 600,000 personnel [{target}]."] * 3
    extra = ["Another sentence the checks never read [1].", "And one more after it [2]."]
    full = f"Sentences: [{target}]\nAnswer: " + " ".join(claims + extra)
    answers = {}
    for name, reply in (("full", full), ("three", f"Sentences: [{target}]\nAnswer: " + " ".join(claims))):
        llm = CountingFakeLLM([reply])
        answers[name] = (Pipeline(settings, embedder=FakeEmbedder(), llm=llm).ask(QUESTION), llm)
    answer, llm = answers["full"]
    assert answer.answered and llm.taken < len(full.split(" ")), "the reply was read to its end"
    assert answer.draft.startswith(full[: full.index(extra[0])]) and extra[1] not in answer.draft
    assert (answer.text, answer.citations) == (answers["three"][0].text, answers["three"][0].citations)
