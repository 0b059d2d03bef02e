"""Follow-up questions in a session: rewritten with the (fake) LLM only when they lean on earlier turns."""

import pytest

from rag.models.llm import FakeLLM
from rag.models.prompts import NO_ANSWER
from rag.pipeline import Pipeline
from rag.session import Session, clean_rewrite, needs_context

FIRST = "To how many personnel would Ukraine cut its armed forces under the initial US plan?"
FOLLOW_UP = "and what did Zelensky say about that?"
REWRITE = "What did Zelensky say about cutting Ukraine's armed forces to 600,000 personnel?"


def first_turn(session: Session, fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    evidence = fake_pipeline.evidence(FIRST)
    target = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies.append(f"Ukraine would cut its forces to 600,000 [{target}].")
    assert session.ask(FIRST).answered
    fake_llm.prompts.clear()


@pytest.mark.parametrize(
    "question",
    [FOLLOW_UP, "What did he say next?", "And the tariffs?", "Why?", "What happened there?", "Did they agree?"],
)
def test_questions_that_lean_on_earlier_turns_are_spotted(question: str) -> None:
    assert needs_context(question)


@pytest.mark.parametrize(
    "question",
    [FIRST, "Who won the 2024 Super Bowl?", "Did Trump say that Putin agreed?", "What did Putin tell his aides?"],
)
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not needs_context(question)


def test_a_follow_up_is_rewritten_from_the_history_and_answered_as_such(
    fake_pipeline: Pipeline, fake_llm: FakeLLM
) -> None:
    session = Session(fake_pipeline)
    first_turn(session, fake_pipeline, fake_llm)
    fake_llm.replies.extend([f"Standalone: {REWRITE}", NO_ANSWER])
    answer = session.ask(FOLLOW_UP)
    rewrite_prompt, answer_prompt = fake_llm.prompts
    assert FIRST in rewrite_prompt[-1]["content"] and "600,000" in rewrite_prompt[-1]["content"]
    assert FOLLOW_UP in rewrite_prompt[-1]["content"]
    assert REWRITE in answer_prompt[-1]["content"] and FOLLOW_UP not in answer_prompt[-1]["content"]
    assert (answer.question, answer.answered_as) == (FOLLOW_UP, REWRITE)
    assert (session.turns[-1].question, session.turns[-1].standalone) == (FOLLOW_UP, REWRITE)


def test_a_standalone_question_costs_no_rewrite_call(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    session = Session(fake_pipeline)
    first_turn(session, fake_pipeline, fake_llm)
    fake_llm.replies.append(NO_ANSWER)
    answer = session.ask("What did Merz say about red lines?")
    assert len(fake_llm.prompts) == 1 and answer.answered_as is None


@pytest.mark.parametrize(
    "reply", ["", "   \n", "What did Zelensky say about that? " * 30, NO_ANSWER, "What did Putin say about the forces?"]
)
def test_a_bad_rewrite_falls_back_to_the_question_plus_context_terms(
    fake_pipeline: Pipeline, fake_llm: FakeLLM, reply: str
) -> None:
    session = Session(fake_pipeline)
    first_turn(session, fake_pipeline, fake_llm)
    fake_llm.replies.append(reply)
    standalone = session.standalone(FOLLOW_UP)
    assert standalone.startswith(FOLLOW_UP) and "Ukraine" in standalone and "personnel" in standalone


def test_the_rewrite_keeps_only_the_first_line_without_its_label() -> None:
    assert clean_rewrite(FOLLOW_UP, f'Standalone: "{REWRITE}"\nExplanation: ...', 300) == REWRITE


def test_reset_forgets_the_history(fake_pipeline: Pipeline, fake_llm: FakeLLM) -> None:
    session = Session(fake_pipeline)
    first_turn(session, fake_pipeline, fake_llm)
    session.reset()
    assert session.standalone(FOLLOW_UP) == FOLLOW_UP and fake_llm.prompts == []
