import datetime
import itertools
import math

import pytest

from eval.judge import FakeJudge
from eval.metrics import (
    citations_verbatim,
    first_relevant_rank,
    hit_rate,
    judge_support,
    may_state,
    missing_facts,
    mrr,
    normalise,
    percentile,
)
from eval.run import check_thresholds, load_questions, spread
from rag.core.citations import Citation
from rag.core.errors import RagError


def test_fact_variants_match_after_normalising() -> None:
    assert normalise("Zaporizhzhia’s  “frozen”\u202fline") == 'zaporizhzhia\'s "frozen" line'
    facts = [["600,000", "600 000"], ["NATO"]]
    assert missing_facts("Ukraine would cut its army to 600 000 and renounce NATO [1].", facts) == []
    assert missing_facts("Ukraine would renounce membership.", facts) == ["600,000", "NATO"]


def test_a_fact_may_be_stated_in_another_spelling_order_or_date_format() -> None:
    assert may_state("Starring Doe Jane as the captain.", [["Jane Doe"]])  # another order
    assert may_state("A film by Cristopher Okafor.", [["Christopher Okafor"]])  # a letter off
    assert may_state("It sold for 2.5 billion dollars.", [["$2.5 billion"]])
    assert may_state("Platform: PC ; Release: 3/14/2021 ; Genre: puzzle", [["March 14 2021"]])
    assert may_state("The show returns on Sunday, March 14 [2].", [["March 14 2021"]])  # no year written
    assert may_state("It opens on 14th March.", [["Mar 14, 2021", "March 14 2021"]])
    assert not may_state("The show returned on March 14, 2019.", [["March 14 2021"]])  # another year
    assert not may_state("The show returns on March 15.", [["March 14 2021"]])
    assert not may_state("Jane Smith won.", [["Jane Doe"]])
    assert not may_state("It sold for 2.5 million dollars.", [["$2.5 billion"]])
    assert not may_state("Jane Doe won in March.", [["Jane Doe"], ["March 14 2021"]])  # every group
    assert may_state("It opened on March 14, 2019.", [["14 March"]])  # the fact names no year
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).strftime("%B %d, %Y")
    assert not may_state(f"It was signed on {yesterday}.", [["24 hours"]])  # a duration, not the date a day ago


def test_an_answer_gives_a_date_fact_in_any_way_of_writing_that_day() -> None:
    assert missing_facts("The phone went on sale on March 14th [1].", [["March 14, 2021"]]) == []
    assert missing_facts("It went on sale on 14/3/2021.", [["March 14, 2021"]]) == []
    assert missing_facts("It went on sale on March 14, 2019.", [["March 14, 2021"]]) == ["March 14, 2021"]
    assert missing_facts("It went on sale on March 13.", [["March 14, 2021"]]) == ["March 14, 2021"]
    # A search also finds "on March 14" inside "on March 14, 2019 [3]": the day still has its year.
    assert missing_facts("It went on sale on March 14, 2019 [3].", [["March 14, 2021"]]) == ["March 14, 2021"]
    assert missing_facts("March 14, 2031 ... It went on sale 10 years ago today.", [["March 14, 2021"]]) == []
    assert missing_facts("Talks lasted 24 hours.", [["24 hours"]]) == []
    assert missing_facts("Talks lasted a day.", [["24 hours"]]) == ["24 hours"]


def test_retrieval_ranks() -> None:
    ranks = [
        first_relevant_rank(["b", "a"], ["a"]),
        first_relevant_rank(["a"], ["a"]),
        first_relevant_rank(["c"], ["a"]),
    ]
    assert ranks == [2, 1, None]
    assert hit_rate(ranks, 1) == 1 / 3 and hit_rate(ranks, 2) == 2 / 3
    assert mrr(ranks, 5) == (0.5 + 1.0) / 3


def test_citations_verbatim() -> None:
    text = "Alpha beta. Gamma delta."
    good = Citation(n=1, source="a.txt", quote="Gamma delta.", start=12, end=24)
    shifted = good.model_copy(update={"start": 11, "end": 23})
    assert citations_verbatim([good], {"a.txt": text})
    assert not citations_verbatim([shifted], {"a.txt": text})
    assert not citations_verbatim([good], {})


def test_judge_support_recall_and_precision() -> None:
    troops = Citation(n=1, source="a", quote="The plan caps the army at 600,000 troops.", start=0, end=1)
    unrelated = Citation(n=2, source="b", quote="The mayor spoke in the square about roads.", start=0, end=1)
    text = "The plan caps the army at 600,000 troops [1][2]. The plan caps the army at 900,000 troops [1]."
    support = judge_support(text, [troops, unrelated], FakeJudge())
    assert (support.sentences, support.supported) == (2, 1)
    assert (support.citations, support.contributing) == (3, 1)  # [2] adds nothing to the first sentence
    assert [c.p_supported for c in support.claims] == [1.0, 0.0]
    assert support.claims[0].evidence == [troops.quote, unrelated.quote]


def test_judge_support_counts_an_uncited_sentence_as_unsupported_and_reads_the_context() -> None:
    quote = Citation(n=1, source="a", quote="He won the race.", start=0, end=1, context="Ann Lee ran on Sunday.")
    support = judge_support("Ann Lee won the race [1]. She trained for years.", [quote], FakeJudge())
    assert (support.sentences, support.supported) == (2, 1)
    assert support.claims[0].evidence == ["Ann Lee ran on Sunday. He won the race."]
    assert support.claims[1].cited == [] and support.claims[1].p_supported == 0.0


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert math.isnan(percentile([], 50))


def test_thresholds_report_every_miss() -> None:
    thresholds = {"min": {"answer_accuracy": 0.85, "abstention_accuracy": 0.9}, "max": {"latency_p50_s": 10}}
    metrics = {"answer_accuracy": 0.9, "abstention_accuracy": 0.5, "latency_p50_s": 12.0}
    failures = check_thresholds(metrics, thresholds)
    assert len(failures) == 2 and "abstention_accuracy" in failures[0] and "latency_p50_s" in failures[1]
    assert check_thresholds({}, {"min": {"answer_accuracy": 0.5}})  # a missing metric fails too


def test_a_limited_run_spreads_over_every_kind_of_question() -> None:
    questions = load_questions()
    picked = spread(questions, 20)
    assert len(picked) == 20 and len({q.id for q in picked}) == 20
    where = [questions.index(q) for q in picked]
    assert where[0] == 0 and max(b - a for a, b in itertools.pairwise(where)) <= math.ceil(len(questions) / 20)
    assert spread(questions, None) == questions and spread(questions, 500) == questions


def test_compare_baseline_without_its_packages_fails_at_once_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from eval import baseline

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as if the extra were not installed
    with pytest.raises(RagError, match=r"pip install -e '\.\[baseline\]'"):
        baseline.check_installed()


class FakeRefusingSystem:
    """A fake system: streams a draft, then refuses with the sentence its check removed."""

    name = "fake"

    def answer(self, question: str):  # type: ignore[no-untyped-def]
        from rag.core.citations import Answer, Removed

        yield "Bo Reed won "
        yield "[1]."
        removed = [Removed(sentence="Bo Reed won.", reason="the cited text does not state it (P(yes) 0.20)")]
        yield Answer(
            question=question,
            text="The articles do not answer this question.",
            answered=False,
            removed=removed,
            reason="No sentence of the draft answer was stated by the sentences it cites.",
        )

    def ranked_sources(self, question: str, k: int) -> list[str]:
        return []


def test_an_outcome_keeps_the_streamed_draft_what_the_checks_removed_and_why_it_refused() -> None:
    from eval.run import Question, evaluate

    q = Question(id="x1", question="Who won?", answerable=True, sources=[], facts=[["Ann"]], kind="single_fact")
    (outcome,) = evaluate(FakeRefusingSystem(), [q], {}, None, k=10, progress=False)
    assert outcome.draft == "Bo Reed won [1]."
    assert outcome.removed == [{"sentence": "Bo Reed won.", "reason": "the cited text does not state it (P(yes) 0.20)"}]
    assert not outcome.answered and outcome.first_token_seconds is not None
    assert outcome.reason == "No sentence of the draft answer was stated by the sentences it cites."


class FakeReadingSystem:
    """A fake system that shows the one passage sentence it read, then gives a set answer."""

    name = "fake"

    def __init__(self, replies: dict[str, tuple[str, str]]) -> None:
        self.replies = replies  # question -> (the sentence it reads, its answer)

    def answer(self, question: str):  # type: ignore[no-untyped-def]
        from rag.core.citations import Answer
        from rag.evidence.passages import Evidence, Reading

        sentence, text = self.replies[question]
        yield Reading((Evidence("a.txt", 0, len(sentence), sentence, None, None, None, 1.0),))
        yield Answer(question=question, text=text, answered=True)

    def ranked_sources(self, question: str, k: int) -> list[str]:
        return []


def test_the_eval_tells_facts_that_never_reached_the_model_from_facts_it_misread() -> None:
    from eval.run import Question, evaluate, summarize

    def asked(id_: str, facts: list[list[str]], answerable: bool = True) -> Question:
        return Question(id=id_, question=id_, answerable=answerable, sources=[], facts=facts, kind="single_fact")

    questions = [
        asked("read, right", [["Ann Quill"]]),
        asked("read, misread", [["Ann Quill"], ["4 hours"]]),
        asked("never read", [["Bo Reed"]]),
        asked("nothing to find", [], answerable=False),
    ]
    system = FakeReadingSystem(
        {
            "read, right": ("Ann Quill won.", "Ann Quill won [1]."),
            "read, misread": ("Ann Quill won in 4 hours.", "Ann Quill won [1]."),
            "never read": ("Ann Quill won.", "Ann Quill won [1]."),
            "nothing to find": ("Ann Quill won.", "Ann Quill won [1]."),
        }
    )
    outcomes = evaluate(system, questions, {}, None, k=10, progress=False)
    assert [o.read for o in outcomes] == [True, True, False, None]
    assert outcomes[1].passages == [{"passage": 0, "source": "a.txt", "start": 0, "text": "Ann Quill won in 4 hours."}]
    metrics = summarize(outcomes, k=10, judged=False)
    assert metrics["facts_in_passages"] == 2 / 3  # of the answerable questions
    assert metrics["accuracy_given_facts"] == 1 / 2  # of those two, one answer is right
    assert metrics["answer_accuracy"] == 1 / 3


class FakeCitingSystem:
    """A fake system that answers every question with one set answer and its citations."""

    name = "fake"

    def __init__(self, text: str, citations: list[Citation]) -> None:
        self.text, self.citations = text, citations

    def answer(self, question: str):  # type: ignore[no-untyped-def]
        from rag.core.citations import Answer

        yield Answer(question=question, text=self.text, answered=True, citations=self.citations)

    def ranked_sources(self, question: str, k: int) -> list[str]:
        return []


def report_of(outcomes, judged: bool) -> dict:  # type: ignore[no-untyped-def]
    """The report `rag eval --out` writes for one suite, as read back from its JSON."""
    import json
    from dataclasses import asdict

    from eval.run import summarize

    rows = [asdict(o) for o in outcomes]
    result = {"metrics": summarize(outcomes, 10, judged=judged), "questions": rows}
    data = {"judge": {"name": "fake-judge"} if judged else None, "suites": {"s": {"systems": {"fake": result}}}}
    return json.loads(json.dumps(data))


def test_a_report_written_without_the_judge_is_judged_later_as_a_judged_run_would_be() -> None:
    from eval.run import Question, evaluate, rejudge

    troops = Citation(
        n=1, source="a", quote="He caps the army at 600,000 troops.", start=0, end=1, context="Ann Lee spoke."
    )
    other = Citation(n=2, source="b", quote="The mayor spoke in the square about roads.", start=0, end=1)
    system = FakeCitingSystem(
        "Ann Lee caps the army at 600,000 troops [1][2]. The mayor caps it at 900,000 [2].", [troops, other]
    )
    questions = [
        Question(id="q", question="What cap?", answerable=True, sources=[], facts=[["600,000"]], kind="number")
    ]
    judged = evaluate(system, questions, {}, FakeJudge(), k=10, progress=False)
    unjudged = evaluate(system, questions, {}, None, k=10, progress=False)
    expected = report_of(judged, judged=True)["suites"]["s"]["systems"]["fake"]
    later = rejudge(report_of(unjudged, judged=False), FakeJudge())["suites"]["s"]["systems"]["fake"]
    assert later["metrics"]["judge_support_recall"] == expected["metrics"]["judge_support_recall"] == 0.5
    assert later["metrics"]["judge_support_precision"] == expected["metrics"]["judge_support_precision"]
    assert later["questions"][0]["claims"] == expected["questions"][0]["claims"]
    assert later["questions"][0]["claims"][0]["evidence"] == [
        "Ann Lee spoke. He caps the army at 600,000 troops.",
        other.quote,
    ]


def test_a_report_without_cited_texts_or_judge_says_it_cannot_be_judged() -> None:
    from eval.run import Question, evaluate, rejudge

    system = FakeCitingSystem("Ann Lee won [1].", [Citation(n=1, source="a", quote="Ann Lee won.", start=0, end=1)])
    questions = [
        Question(id="q", question="Who won?", answerable=True, sources=[], facts=[["Ann Lee"]], kind="single_fact")
    ]
    report = report_of(evaluate(system, questions, {}, None, k=10, progress=False), judged=False)
    del report["suites"]["s"]["systems"]["fake"]["questions"][0]["cited"]  # as an older version wrote it
    with pytest.raises(RagError, match="--no-judge"):
        rejudge(report, FakeJudge())
