"""The fact matcher that scores answers, against answers read by hand (`eval/grade_labels.jsonl`; no model runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.grading import GradedAnswer, load_graded, matcher_verdict, measure_grader
from eval.run import check_thresholds, load_thresholds


def graded(**fields: object) -> GradedAnswer:
    row: dict[str, object] = {
        "id": "made/ours/1",
        "split": "dev",
        "suite": "made",
        "system": "ours",
        "task": "fact",
        "question": "Who won the cup in 2031?",
        "answer": "The Hawks won the 2031 cup [1].",
        "answered": True,
        "label": "right",
        "facts": [["Hawks"]],
    }
    return GradedAnswer(**(row | fields))  # type: ignore[arg-type]


def test_the_labels_cover_both_systems_every_task_and_every_split() -> None:
    rows = load_graded()
    assert len(rows) >= 200 and len({r.id for r in rows}) == len(rows)
    assert {r.system for r in rows} == {"ours", "baseline"}
    assert {(r.split, r.task) for r in rows} >= {("dev", "fact"), ("test", "fact"), ("rgb", "fact")}
    assert {r.task for r in rows} == {"fact", "conflict", "refusal"}
    assert {r.label for r in rows if r.task == "fact"} >= {"right", "wrong"}


def test_the_matcher_agrees_with_the_hand_labels() -> None:
    measured = measure_grader(load_graded())
    assert not check_thresholds(measured, load_thresholds()["grader"]), measured["disagreements"]


def lenient(row: GradedAnswer) -> str:
    """A matcher that calls every answer right, or both claims given, or an answer."""
    return {"fact": "right", "conflict": "both", "refusal": "answered"}[row.task]


def test_a_matcher_that_calls_every_answer_right_fails_the_grader_floors() -> None:
    measured = measure_grader(load_graded(), verdict=lenient)
    assert check_thresholds(measured, load_thresholds()["grader"])


def test_partial_and_mixed_answers_are_not_right_and_held_out_rows_are_only_counted() -> None:
    rows = [
        graded(label="partial", id="made/ours/partial"),
        graded(label="wrong", answer="The Lions won [1].", id="made/ours/wrong"),
        graded(label="partial", split="test", id="test/ours/held"),
    ]
    measured = measure_grader(rows)
    assert measured["grader_agreement"] == pytest.approx(1 / 3)
    assert [d["id"] for d in measured["disagreements"]] == ["made/ours/partial"]
    assert measured["test_disagreements"] == 1
    assert "Hawks" not in json.dumps({k: v for k, v in measured.items() if k != "disagreements"})


def test_the_baselines_refusal_is_read_from_its_text_and_ours_from_the_answer() -> None:
    refusal = {"task": "refusal", "label": "refused", "facts": [], "system": "baseline"}
    assert matcher_verdict(graded(**refusal, answer="The articles do not answer this question.")) == "refused"
    assert matcher_verdict(graded(**refusal, answer="The sources do not say.")) == "answered"
    refusal["system"] = "ours"
    assert matcher_verdict(graded(**refusal, answered=False, answer="Anything at all.")) == "refused"
    conflict = {"task": "conflict", "label": "both", "fake": [["Lions"]]}
    assert matcher_verdict(graded(**conflict, answer="The Hawks [1] or the Lions [2] won.")) == "both"
    assert matcher_verdict(graded(**conflict, answer="The Lions won [2].")) == "fake"


def test_a_label_outside_its_tasks_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    row = graded(label="maybe").__dict__
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="maybe"):
        load_graded(path)
