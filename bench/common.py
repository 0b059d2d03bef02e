"""Helpers shared by the benchmarks: timing, percentiles, memory, the machine, the question set."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.core.config import PROJECT_DIR

QUESTIONS = PROJECT_DIR / "eval" / "questions.jsonl"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}"
    )


def questions(*, answerable: bool | None = None, limit: int | None = None) -> list[str]:
    """Questions from the eval set, in file order."""
    with open(QUESTIONS, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    picked = [r["question"] for r in rows if answerable is None or r["answerable"] == answerable]
    return picked[:limit]


def verdict(name: str, value: float, target: float, *, higher_is_better: bool, unit: str = "") -> str:
    """Say whether a figure meets its target and, if not, by how much."""
    met = value >= target if higher_is_better else value <= target
    sign = "≥" if higher_is_better else "≤"
    if met:
        return f"  [met]    {name}: {value:.3g}{unit} (target {sign} {target:g}{unit})"
    factor = target / value if higher_is_better else value / target
    return f"  [MISSED] {name}: {value:.3g}{unit} (target {sign} {target:g}{unit}; off by {factor:.2f}x)"


def write_text_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
