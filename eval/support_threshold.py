"""Set the pipeline's support threshold on the dev half of the hand-labelled pairs; report the test half.

    python -m eval.support_threshold

The pipeline's checker (`rag.verify.support`) is scored on every pair once; the threshold that agrees
best with the dev labels is printed with its figures on both halves. Only the dev figures may
choose it: the test half is reported, never tuned on.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from eval.judge import JudgePair, load_pairs
from rag.core.config import Settings
from rag.models.llm import make_llm
from rag.verify.support import SupportChecker


def scores(checker: SupportChecker, pairs: Sequence[JudgePair]) -> list[tuple[JudgePair, float]]:
    """The checker's P(yes) per pair; 0 where numbers or the parse refuse before the model is asked."""
    return [(pair, checker.check(pair.claim, pair.evidence).p_yes) for pair in pairs]


def agreement(scored: Sequence[tuple[JudgePair, float]], threshold: float) -> tuple[float, float, float]:
    """Agreement with the labels, recall on supported pairs, recall on unsupported pairs."""
    right = [(p.supported, (s >= threshold) == p.supported) for p, s in scored]
    sup = [ok for label, ok in right if label]
    uns = [ok for label, ok in right if not label]
    return sum(ok for _, ok in right) / len(right), sum(sup) / max(len(sup), 1), sum(uns) / max(len(uns), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    checker = SupportChecker(make_llm(Settings()), threshold=0.0)
    dev, test = scores(checker, load_pairs(split="dev")), scores(checker, load_pairs(split="test"))
    grid = [t / 100 for t in range(5, 100, 5)]
    best = max(grid, key=lambda t: (agreement(dev, t)[0], -abs(t - 0.5)))
    for t in grid:
        a, s, u = agreement(dev, t)
        print(f"threshold {t:.2f}: dev agreement {a:.1%}, recall supported {s:.1%}, unsupported {u:.1%}")
    for name, scored in (("dev", dev), ("test", test)):
        a, s, u = agreement(scored, best)
        print(
            f"chosen {best:.2f} on {name} ({len(scored)} pairs): agreement {a:.1%}, supported {s:.1%}, unsupported {u:.1%}"
        )


if __name__ == "__main__":
    main()
