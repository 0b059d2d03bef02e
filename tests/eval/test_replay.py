"""`rag eval --replay`: a report's stored drafts checked again, with real Chroma and the fakes."""

from dataclasses import asdict

import pytest

from eval.run import PipelineSystem, Question, evaluate, run_suites, seed_suite, stored_drafts
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline

QUESTION = "What did the initial US plan propose about Ukraine's armed forces?"
ASKED = Question(id="q1", question=QUESTION, answerable=True, sources=[], facts=[["600,000"]], kind="number")


def cited_draft(pipeline: Pipeline) -> str:
    n = next(i for i, e in enumerate(pipeline.evidence(QUESTION), 1) if "600,000" in e.text)
    return (
        f"Sentences: [{n}]\nAnswer: The initial US plan proposed that Ukraine reduce its armed forces to 600,000 [{n}]."
    )


def test_a_replay_checks_the_stored_draft_again_without_drafting(settings: Settings) -> None:
    drafting = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    drafting.llm.replies.append(cited_draft(drafting))  # type: ignore[attr-defined]
    (ran,) = evaluate(PipelineSystem(drafting), [ASKED], {}, None, k=10, progress=False)
    assert ran.correct
    report = {"suites": {"dev": {"systems": {"ours": {"questions": [asdict(ran)]}}}}}

    silent = FakeLLM()  # it would draft nothing at all
    replaying = Pipeline(settings, embedder=FakeEmbedder(), llm=silent)
    system = PipelineSystem(replaying, drafts=stored_drafts(report, "dev"))
    (replayed,) = evaluate(system, [ASKED], {}, None, k=10, progress=False)
    assert silent.prompts == [] and silent.checks  # no draft asked for; the checks ran
    assert (replayed.text, replayed.draft, replayed.passages) == (ran.text, ran.draft, ran.passages)

    stricter = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM(judge=lambda _: 0.0))
    (refused,) = evaluate(PipelineSystem(stricter, drafts=stored_drafts(report, "dev")), [ASKED], {}, None, 10, False)
    assert not refused.answered and refused.draft == ran.draft  # the changed check judged the same draft


def test_a_replay_of_a_report_without_the_suite_or_the_question_says_so(settings: Settings) -> None:
    report = {"suites": {"dev": {"systems": {"ours": {"questions": [{"question": "Another?", "draft": ""}]}}}}}
    with pytest.raises(RagError, match="suite 'test'"):
        stored_drafts(report, "test")
    older = {"suites": {"dev": {"systems": {"ours": {"questions": [{"question": "Another?"}]}}}}}
    with pytest.raises(RagError, match="keeps no drafts"):
        stored_drafts(older, "dev")
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    with pytest.raises(RagError, match="no draft for"):
        evaluate(PipelineSystem(pipeline, drafts=stored_drafts(report, "dev")), [ASKED], {}, None, 10, False)
    with pytest.raises(RagError, match="--compare-baseline"):
        run_suites([seed_suite("dev")], compare_baseline=True, replay=report)
