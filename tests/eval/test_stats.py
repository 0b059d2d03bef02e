import json
import math
from pathlib import Path
from typing import Any

import pytest

from eval.run import format_table
from eval.stats import compare, format_comparison, intervals, sign_test, wilson


def row(id_: str, answerable: bool, answered: bool, correct: bool = False, **more: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "question": f"question {id_}?",
        "answerable": answerable,
        "answered": answered,
        "correct": correct,
        "abstained_right": answered == answerable,
        "contested": more.get("contested", False),
        "gave_fake": more.get("gave_fake", False),
    }


def test_wilson_matches_the_published_worked_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 gives 0.2553 to 0.3662.
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # 0 of 10 and 10 of 10 stay inside 0..1 and are not zero-width, unlike p +- z*se.
    assert wilson(0, 10)[0] == pytest.approx(0.0) and 0.25 < wilson(0, 10)[1] < 0.35
    assert wilson(10, 10)[1] == pytest.approx(1.0) and 0.65 < wilson(10, 10)[0] < 0.75
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_sign_test_is_the_exact_binomial_tail_both_ways() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 5) == 1.0
    assert sign_test(10, 3) == pytest.approx(2 * (1 + 13 + 78 + 286) / 2**13)  # 0.092
    assert sign_test(3, 10) == sign_test(10, 3)
    assert sign_test(8, 0) == pytest.approx(2 / 2**8)


def test_intervals_count_each_rate_over_its_own_questions() -> None:
    rows = [row("a", True, True, True), row("b", True, True, False), row("c", True, False), row("d", False, False)]
    found = intervals(rows)
    assert found["answer_accuracy"] == list(wilson(1, 3))
    assert found["wrong_answer_rate"] == list(wilson(1, 3))
    assert found["rejection_rate"] == list(wilson(1, 1))
    assert found["abstention_accuracy"] == list(wilson(3, 4))
    assert "conflict_fake_only" not in found  # no contested question


def test_compare_pairs_questions_by_id_and_counts_both_directions() -> None:
    before = [row("a", True, True, True), row("b", True, False), row("c", False, True), row("x", True, True, True)]
    after = [row("b", True, True, True), row("a", True, False), row("c", False, False), row("new", True, True, True)]
    changes, moved = compare(before, after)
    accuracy = next(c for c in changes if c.metric == "answer_accuracy")
    assert (accuracy.before, accuracy.after, accuracy.gained, accuracy.lost) == (0.5, 0.5, 1, 1)
    assert accuracy.p_value == 1.0
    assert [(r["id"], was, now) for r, was, now in moved] == [
        ("b", "refused", "right"),
        ("a", "right", "refused"),
        ("c", "answered", "refused"),
    ]


def test_a_question_whose_sources_disagree_moves_when_it_gives_the_other_claim_too() -> None:
    before = [row("c1", True, True, True, contested=True), row("c2", True, True, True, contested=True, gave_fake=True)]
    after = [
        row("c1", True, True, True, contested=True, gave_fake=True),
        row("c2", True, True, False, contested=True, gave_fake=True),
    ]
    changes, moved = compare(before, after)
    both = next(c for c in changes if c.metric == "conflict_both_or_refusal")
    assert (both.gained, both.lost) == (1, 1)
    assert [(r["id"], was, now) for r, was, now in moved] == [("c1", "true only", "both"), ("c2", "both", "fake only")]


def test_a_diff_of_the_test_split_lists_no_question() -> None:
    before = {"suites": {"test": {"systems": {"ours": {"questions": [row("t1", True, False)]}}}}}
    after = {"suites": {"test": {"systems": {"ours": {"questions": [row("t1", True, True, True)]}}}}}
    shown = format_comparison(before, after)
    assert "answer_accuracy" in shown and "+1 -0" in shown
    assert "t1" not in shown and "question t1" not in shown
    dev = format_comparison({"suites": {"dev": before["suites"]["test"]}}, {"suites": {"dev": after["suites"]["test"]}})
    assert "t1" in dev and "refused -> right" in dev
    assert format_comparison(before, {"suites": {}}) == "The two reports share no suite."


def test_the_table_shows_a_rate_with_its_interval_and_a_time_without() -> None:
    table = format_table(
        {"ours": {"answer_accuracy": 2 / 3, "latency_p50_s": 1.5}},
        {"ours": {"answer_accuracy": [0.21, 0.94]}},
    )
    assert "66.7% (21%-94%)" in table
    assert "1.50" in table


def test_diff_of_files_that_are_not_reports_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag.interfaces.cli import main

    report = tmp_path / "report.json"
    report.write_text(json.dumps({"suites": {"dev": {"systems": {"ours": {"questions": [row("q1", True, False)]}}}}}))
    assert main(["eval", "--diff", str(report), str(report)]) == 0
    assert "dev: 0 questions changed outcome" in capsys.readouterr().out
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    for other, message in [
        ("missing.json", "Cannot read"),
        ("list.json", "not an eval report"),
        ("broken.json", "not JSON"),
    ]:
        assert main(["eval", "--diff", str(report), str(tmp_path / other)]) != 0
        assert message in capsys.readouterr().err
