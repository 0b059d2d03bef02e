"""The eval chart renders a report of two systems, missing values included, as a PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from eval.chart import render_chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _report() -> dict[str, Any]:
    ours = {
        "retrieval_hit_rate@10": 1.0,
        "retrieval_mrr@10": 0.875,
        "answer_accuracy": 0.8,
        "citation_integrity": 1.0,
        "citation_support_recall": 0.9,
        "citation_support_precision": 0.95,
        "abstention_accuracy": 1.0,
        "latency_p50_s": 12.4,
        "latency_p95_s": 21.0,
        "first_token_p50_s": 4.2,
    }
    baseline = {
        **ours,
        "answer_accuracy": 0.5,
        "citation_integrity": 0.0,
        "citation_support_recall": math.nan,
        "abstention_accuracy": 0.4,
        "latency_p50_s": 25.1,
        "latency_p95_s": 30.3,
        "first_token_p50_s": math.nan,
    }
    return {
        "created": "2025-01-01T12:00:00",
        "machine": "x86_64, 2 cores, Python 3.11.9",
        "settings": {},
        "systems": {"ours": {"metrics": ours, "questions": []}, "baseline": {"metrics": baseline, "questions": []}},
    }


def test_render_chart_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    render_chart(_report(), path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


def test_render_chart_with_one_system_and_no_latencies(tmp_path: Path) -> None:
    report = _report()
    metrics = report["systems"]["ours"]["metrics"]
    report["systems"] = {"ours": {"metrics": {k: v for k, v in metrics.items() if not k.endswith("_s")}}}
    path = tmp_path / "nested" / "one.png"
    render_chart(report, path)
    assert path.read_bytes().startswith(PNG_MAGIC)
