"""The grader's own check: the fact matcher that scores every answer, against answers read by hand.

    python -m eval.grading

`answer_accuracy`, the conflict rates and the baseline's refusals are decided by string rules
(`eval.metrics.missing_facts`, `eval.baseline.says_no_answer`). `eval/grade_labels.jsonl` holds real
answers of both systems (`dev` and `test` questions, RGB), each labelled by a reader who saw the
question, the expected answer and the system's answer, never the matcher's verdict. This module
scores the matcher against those labels. Rows of the `test` split are reported in aggregate only:
their answers are held out from tuning like the questions they answer.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.baseline import says_no_answer
from eval.metrics import missing_facts

GRADE_LABELS = Path(__file__).with_name("grade_labels.jsonl")

# What a reader may say about an answer, by task. A `fact` answer that is partial (some of the parts
# the question asks for) or mixed (the expected answer beside a conflicting one) is not right.
LABELS = {
    "fact": ("right", "partial", "mixed", "wrong"),
    "conflict": ("both", "true", "fake", "neither", "refused"),
    "refusal": ("answered", "refused"),
}


@dataclass(frozen=True)
class GradedAnswer:
    """One real answer as a reader labelled it, with what the matcher needs to grade it again."""

    id: str
    split: str  # the question's split: dev, test or rgb
    suite: str
    system: str  # ours or baseline
    task: str  # fact, conflict or refusal
    question: str
    answer: str
    answered: bool  # as the system said (ours) or as the eval read the text (baseline)
    label: str
    facts: list[list[str]] = field(default_factory=list)
    fake: list[list[str]] = field(default_factory=list)
    why: str = ""


def load_graded(path: Path = GRADE_LABELS) -> list[GradedAnswer]:
    with open(path, encoding="utf-8") as handle:
        rows = [GradedAnswer(**json.loads(line)) for line in handle if line.strip()]
    for row in rows:
        if row.label not in LABELS.get(row.task, ()):
            raise ValueError(f"{path}: {row.id} has label {row.label!r}, not one of {LABELS.get(row.task)}")
    return rows


def answered(row: GradedAnswer) -> bool:
    """Whether the eval counts the answer as an answer: the baseline's by its text, ours by its flag."""
    return row.answered if row.system == "ours" else bool(row.answer.strip()) and not says_no_answer(row.answer)


def matcher_verdict(row: GradedAnswer) -> str:
    """What the eval's rules make of the answer, in the labels' terms."""
    if row.task == "refusal":
        return "answered" if answered(row) else "refused"
    if not answered(row):
        return "refused" if row.task == "conflict" else "wrong"
    has_true = not missing_facts(row.answer, row.facts)
    if row.task == "fact":
        return "right" if has_true else "wrong"
    has_fake = not missing_facts(row.answer, row.fake)
    return {(True, True): "both", (True, False): "true", (False, True): "fake"}.get((has_true, has_fake), "neither")


def reader_verdict(row: GradedAnswer) -> str:
    """The label in the matcher's terms: a fact answer is right or it is not."""
    return row.label if row.task != "fact" or row.label == "right" else "wrong"


def measure_grader(
    rows: Sequence[GradedAnswer], verdict: Callable[[GradedAnswer], str] = matcher_verdict
) -> dict[str, Any]:
    """Agreement of `verdict` with the readers, per group of split and task, and every disagreement
    outside `test` (a held-out row is counted, never shown)."""
    groups: dict[str, list[tuple[GradedAnswer, str]]] = {}
    for row in rows:
        groups.setdefault(f"{row.split}/{row.task}", []).append((row, verdict(row)))
    figures: dict[str, Any] = {"rows": len(rows)}
    agree = [v == reader_verdict(r) for pairs in groups.values() for r, v in pairs]
    figures["grader_agreement"] = _share(agree)
    facts = [(r, v) for pairs in groups.values() for r, v in pairs if r.task == "fact"]
    figures["grader_precision_right"] = _share([reader_verdict(r) == "right" for r, v in facts if v == "right"])
    figures["grader_recall_right"] = _share([v == "right" for r, v in facts if reader_verdict(r) == "right"])
    figures["groups"] = {
        name: {
            "rows": len(pairs),
            "agreement": _share([v == reader_verdict(r) for r, v in pairs]),
            **_rates(pairs),
        }
        for name, pairs in sorted(groups.items())
    }
    figures["disagreements"] = [
        {"id": r.id, "matcher": v, "reader": r.label, "why": r.why, "answer": r.answer}
        for pairs in groups.values()
        for r, v in pairs
        if v != reader_verdict(r) and r.split != "test"
    ]
    figures["test_disagreements"] = sum(
        v != reader_verdict(r) for pairs in groups.values() for r, v in pairs if r.split == "test"
    )
    return figures


def _rates(pairs: Sequence[tuple[GradedAnswer, str]]) -> dict[str, Any]:
    """Per system, how many answers each side gives each verdict."""
    systems = sorted({r.system for r, _ in pairs})
    return {
        system: {
            "answers": sum(r.system == system for r, _ in pairs),
            "matcher": dict(sorted(Counter(v for r, v in pairs if r.system == system).items())),
            "reader": dict(sorted(Counter(reader_verdict(r) for r, _ in pairs if r.system == system).items())),
        }
        for system in systems
    }


def _share(flags: Iterable[bool]) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else math.nan


def format_grading(figures: dict[str, Any]) -> str:
    lines = [
        f"matcher against hand labels, {figures['rows']} answers: agreement {figures['grader_agreement']:.1%}; "
        f"of the answers it calls right, right by hand {figures['grader_precision_right']:.1%}; "
        f"of those right by hand, called right {figures['grader_recall_right']:.1%}"
    ]
    for name, group in figures["groups"].items():
        lines.append(f"  {name}: {group['rows']} answers, agreement {group['agreement']:.1%}")
        for system, c in group.items():
            if isinstance(c, dict):
                lines.append(f"    {system:8} matcher {_counts(c['matcher'])}; by hand {_counts(c['reader'])}")
    for d in figures["disagreements"]:
        lines.append(f"  {d['id']}: matcher {d['matcher']}, reader {d['reader']} ({d['why']})")
    if figures["test_disagreements"]:
        lines.append(f"  and {figures['test_disagreements']} held-out (test) answers, not shown")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{verdict} {n}" for verdict, n in counts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=GRADE_LABELS, help="labelled answers (JSON lines)")
    print(format_grading(measure_grader(load_graded(parser.parse_args().labels))))


if __name__ == "__main__":
    main()
