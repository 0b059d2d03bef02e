"""The support judge against the held-out hand labels: agreement, and recall on unsupported pairs on its own."""

from __future__ import annotations

import pytest

from eval.judge import default_judge, load_pairs, measure_judge
from eval.run import check_thresholds, load_thresholds
from rag.core.config import Settings

pytestmark = pytest.mark.integration


def test_the_judge_agrees_with_the_hand_labels() -> None:
    measured = measure_judge(default_judge(Settings()), load_pairs(split="test"))
    print({k: v for k, v in measured.items() if k != "misses"})
    for miss in measured["misses"]:
        print(miss)
    failures = check_thresholds(measured, load_thresholds()["judge"])
    assert not failures, "\n".join(failures)
