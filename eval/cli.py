"""`rag eval`: pick the suites the arguments name, run them, print the tables, gate on the floors."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from eval.chart import render_chart
from eval.judge import Judge, default_judge, load_pairs, measure_judge
from eval.run import QUESTIONS, Suite, chart_view, format_report, load_questions, rejudge, run_suites, seed_suite
from eval.stats import format_comparison
from rag.core.errors import RagError


def run_from_args(args: argparse.Namespace) -> int:
    from rag import get_pipeline

    if args.diff:
        before, after = (read_report(path) for path in args.diff)
        print(format_comparison(before, after))
        return 0
    judge = None if args.no_judge else default_judge(get_pipeline().settings)
    if args.rejudge:
        if judge is None:
            raise RagError("--rejudge needs the judge: drop --no-judge.")
        data = rejudge(json.loads(args.rejudge.read_text(encoding="utf-8")), judge, args.k)
        failures: list[str] = []
    else:
        data, failures = _run(args, judge)
        if args.replay:
            data["replayed"] = str(args.replay)  # its latencies are retrieval and the checks only
    if args.measure_judge and judge is not None:
        data["judge"] |= measure_judge(judge, load_pairs(split="test"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if args.chart:
        render_chart(chart_view(data), args.chart)
    print(format_report(data))
    if args.measure_judge and judge is not None:
        j = data["judge"]
        print(
            f"\njudge on {j['pairs']} hand-labelled pairs: agreement {j['judge_agreement']:.1%}, "
            f"recall on supported {j['judge_recall_supported']:.1%}, on unsupported {j['judge_recall_unsupported']:.1%}"
        )
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


def read_report(path: Path) -> dict[str, Any]:
    """A report `rag eval --out` wrote, or a RagError that says why `path` is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RagError(f"Cannot read the report {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise RagError(f"{path} is not JSON ({exc}); pass reports that rag eval --out wrote.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("suites"), dict):
        raise RagError(f"{path} is not an eval report: it has no suites. Pass reports that rag eval --out wrote.")
    return data


def _run(args: argparse.Namespace, judge: Judge | None) -> tuple[dict[str, Any], list[str]]:
    with tempfile.TemporaryDirectory(prefix="rag-suites-") as work:
        return run_suites(
            _suites(args, Path(work)),
            k=args.k,
            compare_baseline=args.compare_baseline,
            limit=args.limit,
            judge=judge,
            replay=read_report(args.replay) if args.replay else None,
        )


def _suites(args: argparse.Namespace, work: Path) -> list[Suite]:
    if args.corpus:
        if not args.questions:
            raise RagError("--corpus needs --questions FILE: the questions to ask of that folder.")
        if not args.corpus.is_dir():
            raise RagError(f"--corpus {args.corpus} is not a folder of articles.")
        return [Suite(args.questions.stem, args.corpus, load_questions(args.questions))]
    if args.suite == "rgb":
        from eval.suites.rgb import build_suites, default_items_path, load_items

        items_path = args.rgb_items or default_items_path()
        if not items_path.is_file():
            raise RagError(f"No RGB items at {items_path}: pass --rgb-items PATH.")
        return build_suites(load_items(items_path), work / "rgb")
    return [seed_suite(args.split, args.questions or QUESTIONS, written_since=args.written_since or "")]
