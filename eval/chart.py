"""Draw an eval report as a PNG: fraction metrics as percentages, latencies in seconds, systems side by side."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

BAR_HEIGHT = 0.8  # share of a metric's row taken by its group of bars
DPI = 120


def render_chart(report: Mapping[str, Any], path: Path) -> None:
    """Save a grouped horizontal bar chart of every system's metrics to `path` as a PNG."""
    # The Agg canvas is attached to this figure alone, so the caller's pyplot backend is left as it is.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    systems: Mapping[str, Mapping[str, Any]] = {
        name: data.get("metrics", {}) for name, data in report.get("systems", {}).items()
    }
    names = _metric_names(systems.values())
    fractions = [n for n in names if not n.endswith("_s")]
    latencies = [n for n in names if n.endswith("_s")]

    rows = [len(fractions) or 1] + ([len(latencies)] if latencies else [])
    per_row = 0.28 * max(1, len(systems)) + 0.2
    fig = Figure(figsize=(9, 1.6 + per_row * sum(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 1, squeeze=False, gridspec_kw={"height_ratios": rows})[:, 0]

    top = axes[0]
    _grouped_bars(top, systems, fractions, lambda v: f"{v:.1%}", limit=1.0)
    top.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    top.set_title("Quality (fraction of questions, sentences or citations)", fontsize=10, loc="left")
    if systems:
        fig.legend(*top.get_legend_handles_labels(), loc="outside upper right", ncols=len(systems), fontsize=8)
    if latencies:
        bottom = axes[1]
        _grouped_bars(bottom, systems, latencies, lambda v: f"{v:.1f} s", limit=None)
        bottom.set_xlabel("seconds")
        bottom.set_title("Latency", fontsize=10, loc="left")

    created = report.get("created", "unknown time")
    machine = report.get("machine", "unknown machine")
    fig.suptitle(f"Evaluation {created}\n{machine}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)


def _metric_names(metrics: Iterable[Mapping[str, Any]]) -> list[str]:
    """List every metric name once, in the order the systems report them."""
    names: dict[str, None] = {}
    for m in metrics:
        names.update(dict.fromkeys(m))
    return list(names)


def _value(metrics: Mapping[str, Any], name: str) -> float:
    value = metrics.get(name)
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _grouped_bars(
    ax: Any,
    systems: Mapping[str, Mapping[str, Any]],
    names: Sequence[str],
    label: Callable[[float], str],
    limit: float | None,
) -> None:
    """Draw one bar per system for each metric, label each bar, and write "n/a" where a value is missing."""
    count = max(1, len(systems))
    height = BAR_HEIGHT / count
    values = [_value(m, n) for m in systems.values() for n in names]
    finite = [v for v in values if math.isfinite(v)]
    right = limit if limit is not None else max([*finite, 0.0]) or 1.0
    pad = right * 0.01
    for i, (system, metrics) in enumerate(systems.items()):
        offsets = [row - BAR_HEIGHT / 2 + height * (i + 0.5) for row in range(len(names))]
        heights = [_value(metrics, n) for n in names]
        drawn = [v if math.isfinite(v) else 0.0 for v in heights]
        bars = ax.barh(offsets, drawn, height=height * 0.9, label=system, color=f"C{i}")
        for bar, value in zip(bars, heights, strict=True):
            y = bar.get_y() + bar.get_height() / 2
            if math.isfinite(value):
                ax.text(bar.get_width() + pad, y, label(value), va="center", fontsize=7)
            else:
                bar.set_visible(False)
                ax.text(pad, y, "n/a", va="center", fontsize=7, color="0.4", style="italic")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5 if names else 0.5, -0.5)  # first metric on top
    # Head-room on the right keeps the value labels inside the axes.
    ax.set_xlim(0, right * 1.18)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    if not names:
        ax.text(0.5, 0.5, "no metrics", transform=ax.transAxes, ha="center", va="center", color="0.4")
