"""How far a figure can be trusted: intervals for rates, and a paired test for two runs of one suite.

Eighty questions measure little. On 63 answerable questions, 66.7% right has a 95% interval of
about 54% to 77%, and a small change to the answer prompt moved the outcome of 11 to 19 of the 80
`dev` questions, both ways. A difference between two runs is read from the questions that changed
outcome, in pairs, with the exact sign test (McNemar's test for small counts): ten questions won
and three lost is still p = 0.09.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval

Row = Mapping[str, Any]  # one question's outcome, as a report stores it


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound at 0%, 100% and small n, unlike p ± z·se."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(gained: int, lost: int) -> float:
    """The exact two-sided p-value that a change which won `gained` questions and lost `lost` is
    chance: under no effect each changed question goes either way with probability one half."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


# Each rate of `eval.run.summarize` that counts questions: which questions it counts over, and
# which of those it counts as hits. `intervals` and `compare` read both from a report's rows.
RATES: dict[str, tuple[Callable[[Row], bool], Callable[[Row], bool]]] = {
    "answer_accuracy": (lambda r: r["answerable"], lambda r: r["correct"]),
    "wrong_answer_rate": (lambda r: r["answerable"], lambda r: r["answered"] and not r["correct"]),
    "rejection_rate": (lambda r: not r["answerable"], lambda r: not r["answered"]),
    "abstention_accuracy": (lambda r: True, lambda r: r["abstained_right"]),
    "conflict_both_or_refusal": (
        lambda r: r["answerable"] and r["contested"],
        lambda r: (r["correct"] and r["gave_fake"]) or not r["answered"],
    ),
    "conflict_fake_only": (
        lambda r: r["answerable"] and r["contested"],
        lambda r: r["gave_fake"] and not r["correct"],
    ),
    "conflict_true_only": (
        lambda r: r["answerable"] and r["contested"],
        lambda r: r["correct"] and not r["gave_fake"],
    ),
    # Where answers are lost: before the model reads (no passage has every key fact), or in the reading.
    "facts_in_passages": (lambda r: r["answerable"] and r.get("read") is not None, lambda r: r["read"]),
    "accuracy_given_facts": (lambda r: r["answerable"] and bool(r.get("read")), lambda r: r["correct"]),
}


def counts(rows: Sequence[Row]) -> dict[str, tuple[int, int]]:
    """Hits and questions counted, for every rate the rows have questions for, in `RATES` order."""
    found = {}
    for name, (counted, hit) in RATES.items():
        over = [r for r in rows if counted(r)]
        if over:
            found[name] = (sum(bool(hit(r)) for r in over), len(over))
    return found


def intervals(rows: Sequence[Row]) -> dict[str, list[float]]:
    """The 95% interval of every rate the rows have questions for."""
    return {name: list(wilson(hits, n)) for name, (hits, n) in counts(rows).items()}


def outcome(row: Row) -> str:
    """A question's outcome in a word or two: right, wrong or refused (an unanswerable one: answered
    or refused; one whose sources disagree: both, true only, fake only, wrong or refused)."""
    if not row["answered"]:
        return "refused"
    if not row["answerable"]:
        return "answered"
    if row.get("contested"):
        if row.get("gave_fake"):
            return "both" if row["correct"] else "fake only"
        return "true only" if row["correct"] else "wrong"
    return "right" if row["correct"] else "wrong"


@dataclass(frozen=True)
class Change:
    """One rate across two runs of the same questions."""

    metric: str
    before: float
    after: float
    gained: int  # questions that became hits
    lost: int  # questions that stopped being hits
    p_value: float


def compare(before: Sequence[Row], after: Sequence[Row]) -> tuple[list[Change], list[tuple[Row, str, str]]]:
    """Every rate of two runs over the questions both asked, with the paired sign test, and each
    question whose outcome changed (its row in `after`, the outcome before, the outcome after)."""
    old = {r["id"]: r for r in before}
    pairs = [(old[r["id"]], r) for r in after if r["id"] in old]
    changes = []
    for name, (counted, hit) in RATES.items():
        over = [(a, b) for a, b in pairs if counted(a) and counted(b)]
        if not over:
            continue
        was = [bool(hit(a)) for a, _ in over]
        now = [bool(hit(b)) for _, b in over]
        gained = sum(n and not w for w, n in zip(was, now, strict=True))
        lost = sum(w and not n for w, n in zip(was, now, strict=True))
        changes.append(Change(name, sum(was) / len(over), sum(now) / len(over), gained, lost, sign_test(gained, lost)))
    moved = [(b, outcome(a), outcome(b)) for a, b in pairs if outcome(a) != outcome(b)]
    return changes, moved


def format_comparison(before: Mapping[str, Any], after: Mapping[str, Any], system: str = "ours") -> str:
    """Two reports' shared suites, rate by rate, with the sign test, and the questions that moved."""
    blocks = []
    for name, suite in after["suites"].items():
        if name not in before["suites"] or system not in suite["systems"]:
            continue
        old_rows = before["suites"][name]["systems"].get(system, {}).get("questions", [])
        changes, moved = compare(old_rows, suite["systems"][system]["questions"])
        lines = [f"{name}: {len(moved)} questions changed outcome (+/-: questions that began/stopped counting)"]
        for c in changes:
            lines.append(
                f"  {c.metric:26} {c.before:6.1%} -> {c.after:6.1%}   "
                f"+{c.gained} -{c.lost}   sign test p = {c.p_value:.2f}"
            )
        if name == "test":  # the split is only reported: which of its questions moved is not shown
            lines.append("  (test questions are not listed one by one)")
            moved = []
        for row, was, now in moved:
            lines.append(f"  {row['id']:>10}  {was:>9} -> {now:<9}  {row['question'][:70]}")
        blocks.append("\n".join(lines))
    if not blocks:
        return "The two reports share no suite."
    return "\n\n".join(blocks)
