import itertools
import math

import pytest

from eval.metrics import (
    citation_support,
    citations_verbatim,
    first_relevant_rank,
    hit_rate,
    missing_facts,
    mrr,
    normalise,
    percentile,
)
from eval.run import check_thresholds, load_questions, spread
from rag.citations import Citation
from rag.embedding import FakeEmbedder
from rag.errors import RagError
from rag.verification import HeuristicVerifier


def test_fact_variants_match_after_normalising() -> None:
    assert normalise("Zaporizhzhia’s  “frozen”\u202fline") == 'zaporizhzhia\'s "frozen" line'
    facts = [["600,000", "600 000"], ["NATO"]]
    assert missing_facts("Ukraine would cut its army to 600 000 and renounce NATO [1].", facts) == []
    assert missing_facts("Ukraine would renounce membership.", facts) == ["600,000", "NATO"]


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


def test_citation_support_recall_and_precision() -> None:
    verifier = HeuristicVerifier(FakeEmbedder())
    troops = Citation(n=1, source="a", quote="The plan caps the army at 600,000 troops.", start=0, end=1)
    unrelated = Citation(n=2, source="b", quote="Merz spoke in Berlin about red lines.", start=0, end=1)
    text = "The plan caps the army at 600,000 troops [1][2]. The plan caps the army at 900,000 troops [1]."
    support = citation_support(text, [troops, unrelated], verifier)
    assert (support.sentences, support.supported) == (2, 1)
    assert (support.citations, support.contributing) == (3, 1)


def test_support_lets_the_question_frame_words_but_never_vouch_for_a_name_or_date() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    quote = Citation(n=1, source="a", quote="Trump said he will speak with Putin.", start=0, end=1)
    text = "Trump will hold a phone conversation with Putin [1]."
    framed = citation_support(text, [quote], verifier, "Will Trump hold a phone conversation with Putin?")
    strict = citation_support(text, [quote], verifier)
    assert (framed.supported, strict.supported) == (1, 0)
    dated = citation_support(
        "Trump will speak with Putin on Tuesday [1].", [quote], verifier, "Will he call on Tuesday?"
    )
    assert dated.supported == 0


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
