"""The answer path with real Chroma and fakes for the embedder and the LLM."""

from collections.abc import Iterator

import pytest

from rag.citations import Answer, strip_markers
from rag.config import Settings
from rag.embedding import FakeEmbedder
from rag.errors import RagError
from rag.llm import FakeLLM, LLMUnavailable
from rag.pipeline import Pipeline
from rag.prompts import NO_ANSWER
from tests.conftest import SEEDS

QUESTION = "What did the initial US plan propose about Ukraine's armed forces, NATO, Crimea, Donetsk and Luhansk?"


def seed_text(source: str) -> str:
    return (SEEDS / source).read_bytes().decode("utf-8")


def test_cited_answer_quotes_are_verbatim(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{target}]. "
        "It also cited a marker that points at nothing [42]."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered
    assert "[1]" in answer.text and "[42]" not in answer.text
    assert [c.n for c in answer.citations] == [1]
    for c in answer.citations:
        assert seed_text(c.source)[c.start : c.end] == c.quote
    assert answer.citations[0].source == "002_bf4c599bf41a5fdc.txt"


def test_unsupported_sentence_is_removed_with_its_reason(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{target}]. "
        f"The plan also gave Ukraine 90 billion dollars from Brussels [{target}]."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered and "billion" not in answer.text
    assert len(answer.removed) == 1 and "90" in answer.removed[0].reason


def test_a_sentence_citing_the_wrong_evidence_is_recited_to_the_right_one(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    assert any("600,000" in e.text for e in evidence)
    wrong = next(i for i, e in enumerate(evidence, 1) if "600,000" not in e.text)
    fake_llm.replies.append(
        f"Relevant: [{wrong}]\nAnswer: The initial US plan proposed that Ukraine reduce its armed forces to "
        f"600,000 personnel [{wrong}]. Ukraine would renounce NATO membership."
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered and "600,000" in answer.text
    assert all("600,000" in c.quote for c in answer.citations if c.n == 1)
    assert "NATO" in answer.text  # written without a marker: cited to the sentence that says it
    for c in answer.citations:
        assert seed_text(c.source)[c.start : c.end] == c.quote


def test_an_answer_that_leaves_out_what_the_question_names_abstains(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    question = "Why did Trump impose a 50% tariff on China?"
    evidence = fake_pipeline.evidence(question)
    assert any("China" in e.text for e in evidence)
    india = next(i for i, e in enumerate(evidence, 1) if "India has already been announced" in e.text)
    fake_llm.replies.append(f"India has already been announced a 50% duty [{india}].")
    answer = fake_pipeline.ask(question)
    assert not answer.answered and answer.text == NO_ANSWER
    assert "China" in answer.reason
    assert [r.sentence for r in answer.removed] == ["India has already been announced a 50% duty."]


def test_model_refusal_gives_the_fixed_sentence(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.append(NO_ANSWER)
    answer = fake_pipeline.ask(QUESTION)
    assert (answer.text, answer.answered, answer.citations) == (NO_ANSWER, False, [])
    assert answer.evidence  # the closest passages, for the reader


def test_nothing_supported_means_abstaining(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.append("The Kansas City Chiefs won the Super Bowl [1].")
    answer = fake_pipeline.ask(QUESTION)
    assert not answer.answered and answer.text == NO_ANSWER and answer.citations == []
    assert answer.removed


def test_irrelevant_question_abstains_without_calling_the_llm(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    answer = fake_pipeline.ask("zzz qqq xxyy?")
    assert not answer.answered
    assert fake_llm.prompts == []


def test_stream_shows_only_the_answer_line_then_the_answer(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_llm.replies.append("Relevant: [1]\nAnswer: Some words of the answer [1].")
    events = list(fake_pipeline.ask_stream(QUESTION))
    pieces, final = events[:-1], events[-1]
    assert all(isinstance(e, str) for e in pieces) and len(pieces) > 2
    assert "".join(pieces) == "Some words of the answer [1]."  # type: ignore[arg-type]
    assert isinstance(final, Answer)


def test_relevant_none_is_a_refusal(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.insist_relevance = 2.0
    fake_llm.replies.append("Relevant: none")
    answer = fake_pipeline.ask(QUESTION)
    assert (answer.answered, answer.text) == (False, NO_ANSWER)


def test_date_filter_keeps_only_dated_articles_in_range(fake_pipeline: Pipeline) -> None:
    evidence = fake_pipeline.evidence(QUESTION, since="2025-03-01", until="2025-03-31")
    assert evidence and {e.source for e in evidence} == {"001_8a2a514bf6660ac7.txt"}
    assert fake_pipeline.evidence(QUESTION, since="2026-01-01") == []


def test_refusal_on_strong_evidence_is_questioned_once(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.insist_relevance = -1.0
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies.extend(
        [
            NO_ANSWER,
            f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{target}].",
        ]
    )
    answer = fake_pipeline.ask(QUESTION)
    assert answer.answered and "600,000" in answer.text
    second = fake_llm.prompts[1]
    assert second[: len(fake_llm.prompts[0])] == fake_llm.prompts[0]  # a continuation: the cache is reused
    assert second[-2] == {"role": "assistant", "content": NO_ANSWER}


def test_refusal_on_weak_evidence_stands(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.insist_relevance = 2.0
    fake_llm.replies.extend([NO_ANSWER, "never used"])
    assert not fake_pipeline.ask(QUESTION).answered
    assert len(fake_llm.prompts) == 1


def test_prompt_puts_the_fixed_instructions_first(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.insist_relevance = 2.0
    fake_llm.replies.extend([NO_ANSWER, NO_ANSWER])
    fake_pipeline.ask(QUESTION)
    fake_pipeline.ask("What did Merz say about red lines?")
    first, second = fake_llm.prompts
    assert first[0] == second[0] and first[0]["role"] == "system"
    assert QUESTION not in first[0]["content"] and QUESTION in first[1]["content"]


def test_malformed_date_filter_is_a_clear_error(fake_pipeline: Pipeline) -> None:
    with pytest.raises(RagError, match="YYYY-MM-DD"):
        fake_pipeline.evidence(QUESTION, since="2025/03/01")


def test_a_name_no_article_mentions_abstains_without_the_llm(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    answer = fake_pipeline.ask("What did Xi Jinping say about the US peace plan for Ukraine?")
    assert (answer.answered, answer.text) == (False, NO_ANSWER)
    assert "Xi" in answer.reason and fake_llm.prompts == []


def test_a_refusal_no_article_reports_abstains_without_the_llm(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    answer = fake_pipeline.ask("Why did Russia flatly reject the US-proposed 30-day ceasefire?")
    assert (answer.answered, answer.text) == (False, NO_ANSWER)
    assert "refusal" in answer.reason and fake_llm.prompts == []


def test_a_question_about_what_an_absent_party_said_abstains_without_the_llm(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    answer = fake_pipeline.ask("What did the Ukrainian delegation say at the Witkoff-Putin talks in Moscow?")
    assert (answer.answered, answer.text) == (False, NO_ANSWER)
    assert "which Ukraine was not present at" in answer.reason and fake_llm.prompts == []


def test_self_check_saying_no_turns_the_answer_into_a_refusal(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.self_check = True
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    draft = f"Relevant: [{target}]\nAnswer: The plan limits Ukraine's armed forces to 600,000 personnel [{target}]."
    fake_llm.replies += [draft, "No."]
    answer = fake_pipeline.ask(QUESTION)
    assert (answer.answered, answer.text) == (False, NO_ANSWER) and "check" in answer.reason
    check = fake_llm.prompts[-1]
    assert check[:2] == fake_llm.prompts[0] and check[2] == {"role": "assistant", "content": draft}


def test_self_check_saying_yes_keeps_the_answer(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    fake_pipeline.settings.self_check = True
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies += [f"Answer: The plan limits Ukraine's armed forces to 600,000 personnel [{target}].", "Yes"]
    assert fake_pipeline.ask(QUESTION).answered


def test_self_check_is_off_by_default(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    evidence = fake_pipeline.evidence(QUESTION)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies += [f"Answer: The plan limits Ukraine's armed forces to 600,000 personnel [{target}].", "No."]
    assert fake_pipeline.ask(QUESTION).answered and len(fake_llm.prompts) == 1


class FakeDownLLM:
    """A fake backend that is always down, as an unreachable server is."""

    name = "fake-down"

    def stream(self, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        raise LLMUnavailable("Cannot reach the LLM server at http://127.0.0.1:9/v1/chat/completions: refused")
        yield ""


def test_llm_down_gives_retrieval_only_answer(settings: Settings) -> None:
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeDownLLM())
    answer = pipeline.ask(QUESTION)
    assert answer.retrieval_only and answer.notice and "Cannot reach the LLM server" in answer.notice
    assert answer.answered and answer.citations
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert seed_text(c.source)[c.start : c.end] == c.quote
        assert c.quote in strip_markers(answer.text) and f"[{c.n}]" in answer.text
    assert "600,000" in answer.text


def test_llm_down_on_weak_evidence_abstains(settings: Settings) -> None:
    settings.insist_relevance = 2.0  # no evidence can be relevant enough to quote without a model
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeDownLLM())
    answer = pipeline.ask(QUESTION)
    assert (answer.answered, answer.text, answer.citations) == (False, NO_ANSWER, [])
    assert answer.retrieval_only and answer.notice and answer.evidence


def test_a_question_about_the_latest_puts_the_newest_dated_report_first(
    fake_pipeline: Pipeline, settings: Settings
) -> None:
    talks = "The Zyxbridge ceasefire talks between Quokkavia and Norland"
    reports = {
        "old.txt": ("2025-03-02", f"{talks} stalled over the border line."),
        "new.txt": ("2025-06-20", f"{talks} ended with a signed border accord."),
        "undated.txt": (None, f"{talks} were postponed by a week."),
    }
    for name, (date, sentence) in reports.items():
        dateline = f"date {date} By Ann Smith, Wire\n\n" if date else ""
        (settings.corpus_dir / name).write_text(f"{dateline}{sentence}\n", encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    asked = "the Zyxbridge ceasefire talks between Quokkavia and Norland"

    latest = [e.source for e in fake_pipeline.evidence(f"What is the latest on {asked}?") if e.source in reports]
    assert set(latest) == set(reports)
    assert [s for s in latest if reports[s][0]] == ["new.txt", "old.txt"]
