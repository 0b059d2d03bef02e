"""RGB (Chen et al., AAAI 2024) as three eval suites: noise, reject and conflict corpora, one snippet a file.

- noise: every item's `positive` and `negative` snippets; each query expects its `answer`.
- reject: only `negative` snippets, without any that may give the answer in any spelling
  (`eval.metrics.may_state`); each query expects a refusal.
- conflict: `positive` and `positive_wrong` snippets; the sources disagree, so an answer should give
  the true and the fake claim, or refuse. The fake claim alone is the worst outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eval.metrics import may_state
from eval.run import Question, Suite

MODES = ("noise", "reject", "conflict")


def default_items_path() -> Path:
    """The RGB items shipped beside the project: `../shared/benchmarks/rgb/en_fact_dev.jsonl`."""
    return Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "rgb" / "en_fact_dev.jsonl"


def load_items(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def answer_groups(answer: str | Sequence[Any]) -> list[list[str]]:
    """RGB's `answer` as fact groups: a string is one group of one spelling; a list holds groups
    (a list of spellings) or single spellings."""
    if isinstance(answer, str):
        return [[answer]]
    return [[g] if isinstance(g, str) else [str(s) for s in g] for g in answer]


def build_suites(items: Sequence[dict[str, Any]], root: Path, modes: Iterable[str] = MODES) -> list[Suite]:
    """Write each mode's corpus under `root/<mode>/corpus` and return its suite."""
    suites = []
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown RGB mode {mode!r}; choose from {', '.join(MODES)}")
        corpus = root / mode / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        for text in dict.fromkeys(t for item in items for t in _snippets(item, mode)):
            _write_snippet(corpus, text)
        suites.append(Suite(f"rgb-{mode}", corpus, [_question(item, mode) for item in items]))
    return suites


def _snippets(item: dict[str, Any], mode: str) -> list[str]:
    if mode == "noise":
        return [*item["positive"], *item["negative"]]
    if mode == "conflict":
        return [*item["positive"], *item["positive_wrong"]]
    groups = answer_groups(item["answer"])
    return [t for t in item["negative"] if not may_state(t, groups)]  # keep only snippets without the answer


def _write_snippet(corpus: Path, text: str) -> None:
    # Named by content, so that a file name tells the pipeline nothing about the snippet's role.
    name = "rgb-" + hashlib.sha256(text.encode()).hexdigest()[:12] + ".txt"
    (corpus / name).write_text(text.strip() + "\n", encoding="utf-8")


def _question(item: dict[str, Any], mode: str) -> Question:
    answerable = mode != "reject"
    return Question(
        id=f"rgb-{mode}-{item['id']}",
        question=item["query"],
        answerable=answerable,
        sources=[],
        facts=answer_groups(item["answer"]) if answerable else [],
        kind=mode,
        fake=[[str(item["fakeanswer"])]] if mode == "conflict" else [],
        split="rgb",
    )
