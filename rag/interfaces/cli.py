"""The `rag` command: a thin adapter over the Python API."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from rag.core.citations import Answer
from rag.core.errors import RagError
from rag.evidence.passages import Reading
from rag.interfaces.views import LABELS, NO_DATE, READING, outline, passage_preview

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

# Terminal control characters and bidi overrides, from file names or article text, are shown as
# escapes: a name like "\x1b]0;owned\x07.txt" must not retitle or recolour the user's terminal.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Escape what a terminal would act on instead of print (JSON-compatible `\\uXXXX` escapes)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _print(text: str, *, err: bool = False) -> None:
    print(terminal_safe(text), file=sys.stderr if err else sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.corpus_folder is not None:
        if not args.corpus_folder.is_dir():
            _print(f"error: {args.corpus_folder}: no such folder.", err=True)
            return 2
        os.environ["RAG_CORPUS_DIR"] = str(args.corpus_folder.resolve())
    try:
        return int(args.run(args) or 0)
    except RagError as exc:
        _print(f"error: {exc}", err=True)
        return 2
    except ValidationError as exc:  # the RAG_* variables
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            _print(f"error: {where}: {problem['msg']}", err=True)
        return 2
    except KeyboardInterrupt:
        _print("interrupted", err=True)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited answers over a folder of news articles.")
    parser.add_argument(
        "--corpus",
        dest="corpus_folder",  # `rag eval` has a --corpus of its own
        type=Path,
        metavar="DIR",
        help="folder of articles to work on (default: RAG_CORPUS_DIR, else the demo articles); "
        "each folder gets an index of its own",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="index new and changed articles, drop removed ones")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the corpus folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("ask", help="answer questions with citations, each on its own")
    p.add_argument(
        "questions",
        nargs="+",
        metavar="question",
        help="one or more questions, answered one by one with the models loaded once; - reads more from "
        "standard input, one a line",
    )
    p.add_argument("--json", action="store_true", help="print the Answer as JSON (one line each for several)")
    p.add_argument("-k", type=int, default=None, help="chunks to retrieve (1 to 20)")
    p.add_argument("--since", help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--show-removed", action="store_true", help="list draft sentences verification removed")
    p.set_defaults(run=_ask)

    p = sub.add_parser("chat", help="ask questions in a session, follow-ups included (/reset, /quit)")
    p.add_argument("--show-removed", action="store_true", help="list draft sentences verification removed")
    p.set_defaults(run=_chat)

    p = sub.add_parser("eval", help="score the pipeline on a question suite, optionally against the stock baseline")
    p.add_argument("--split", choices=["dev", "test", "all"], default="dev", help="seed questions to ask (default dev)")
    p.add_argument(
        "--written-since",
        metavar="YYYY-MM-DD",
        type=_iso_date,
        help="only seed questions written on or after this date (ones no choice made before it has seen)",
    )
    p.add_argument("--suite", choices=["seeds", "rgb"], default="seeds", help="seeds, or the RGB benchmark's corpora")
    p.add_argument("--rgb-items", type=Path, help="RGB items (JSON lines); default ../shared/benchmarks/rgb/")
    p.add_argument("--corpus", type=Path, help="your own folder of articles to evaluate on (with --questions)")
    p.add_argument("--questions", type=Path, help="question set (JSON lines); default eval/questions.jsonl")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    p.add_argument("--chart", type=Path, help="render the metrics as a PNG here")
    p.add_argument("--k", type=int, default=10, help="rank cut-off for retrieval metrics")
    p.add_argument("--compare-baseline", action="store_true", help="also score the stock llama-index pipeline")
    p.add_argument("--limit", type=int, help="only N questions per suite, spread evenly over it")
    p.add_argument("--no-judge", action="store_true", help="skip the LLM support judge (faster; no judge_ figures)")
    p.add_argument(
        "--measure-judge",
        action="store_true",
        help="also measure the judge on the held-out pairs of eval/judge_pairs.jsonl",
    )
    p.add_argument(
        "--rejudge",
        type=Path,
        metavar="REPORT",
        help="judge a saved report's answers (one written with --no-judge too); no system runs",
    )
    p.add_argument(
        "--replay",
        type=Path,
        metavar="REPORT",
        help="check the drafts a saved report of the same suites stored, instead of drafting: "
        "a change to the checks measured without generating",
    )
    p.add_argument(
        "--diff",
        type=Path,
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="compare two saved reports question by question (paired sign test); no system runs",
    )
    p.set_defaults(run=_eval)

    p = sub.add_parser("doctor", help="check the models, the index and the backends; say how to fix problems")
    p.add_argument("--quick", action="store_true", help="skip hashing the model file (about 1 GB)")
    p.set_defaults(run=_doctor)

    p = sub.add_parser("serve", help="open the chat web UI")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--auth-file",
        type=Path,
        help="file of user:password lines; every page and API call then needs a login (or set RAG_SERVE_AUTH)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="no uploads or deletes (the default off loopback unless logins are configured)",
    )
    p.set_defaults(run=_serve)
    return parser


def _iso_date(text: str) -> str:
    """A YYYY-MM-DD argument, checked and kept as written (question files store their dates so)."""
    import datetime

    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _ingest(args: argparse.Namespace) -> int:
    from rag import get_pipeline

    report = get_pipeline().ingest(args.paths or None, progress=not args.quiet)
    _print(report.summary())
    return 1 if report.failed and not (report.added or report.changed or report.unchanged) else 0


def _ask(args: argparse.Namespace) -> int:
    """Answer each question on its own (no follow-ups: that is `rag chat`). With several, a question
    that fails (empty, too long) is reported and the others are still answered; the exit status
    is then 2. With `--json`, several answers are JSON Lines, one line a question, in order, a
    failed one as {"question", "error"}."""
    from rag import get_pipeline

    questions = [line.strip() for q in args.questions for line in (sys.stdin if q == "-" else [q])]
    questions = [q for q in questions if q] if len(questions) > 1 else questions
    if not questions:
        raise RagError("No question given: standard input held none.")
    several = len(questions) > 1
    pipeline = get_pipeline()
    # On a terminal, show the passages at once: the model takes seconds to read and draft.
    show = not args.json and sys.stderr.isatty()
    failed = 0
    for i, question in enumerate(questions):
        if several and not args.json:
            _print(("\n" if i else "") + f"Q: {question}\n")
        try:
            answer = _answer(pipeline, question, args, show)
        except RagError as exc:
            if not several:
                raise
            failed += 1
            _print(f"error: {exc}", err=True)
            if args.json:
                _print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False))
            continue
        if answer.notice:
            _print(f"warning: {answer.notice}", err=True)
        if args.json:
            _print(answer.model_dump_json(indent=None if several else 2))
        else:
            _print(format_answer(answer, show_removed=args.show_removed))
    return 2 if failed else 0


def _answer(pipeline: Pipeline, question: str, args: argparse.Namespace, show: bool) -> Answer:
    answer: Answer | None = None
    stream = pipeline.ask_stream(question, k=args.k, since=args.since, until=args.until, passages=show)
    for event in stream:
        if isinstance(event, Answer):
            answer = event
        elif isinstance(event, Reading):
            _print(format_reading(event), err=True)
    assert answer is not None
    return answer


def _chat(args: argparse.Namespace) -> int:
    from rag.session import Session

    session = Session()
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            return 0
        if question in ("/quit", "/exit"):
            return 0
        if question == "/reset":
            session.reset()
            continue
        if not question:
            continue
        try:
            answer = session.ask(question)
        except RagError as exc:
            _print(f"error: {exc}", err=True)
            continue
        if answer.notice:
            _print(f"warning: {answer.notice}", err=True)
        _print(format_answer(answer, show_removed=args.show_removed) + "\n")


def format_answer(answer: Answer, *, show_removed: bool = False) -> str:
    """Render an answer and its numbered sources as plain text (the parts of `views.outline`
    but the notice, which the commands print on stderr)."""
    lines: list[str] = []
    for part in outline(answer, show_removed):
        label = LABELS.get(part, "")
        if part == "notice":
            continue  # a warning, printed on stderr
        if part == "answered_as":
            lines.append(f"({label.lower()}: {answer.answered_as})")
        elif part == "text":
            lines += [answer.text, ""]
        elif part == "reason":
            lines += [f"{label}: {answer.reason}", ""]
        elif part == "not_covered":
            lines += [f"{label}: " + " / ".join(answer.not_covered), ""]
        elif part == "retrieval_only":
            lines.append(f"({label})")
        elif part in ("sources", "closest"):
            lines.append(f"{label}:")
            for c in answer.citations if part == "sources" else answer.evidence:
                also = c.also_reported_by if part == "sources" else []
                lines.extend(_source_lines(c.n, c.source, c.title, c.outlet, c.date, c.quote, also))
        elif part == "removed":
            lines.append(f"{label}:")
            lines.extend(f"  - {r.sentence}  ({r.reason})" for r in answer.removed)
    return "\n".join(lines).rstrip()


def format_reading(reading: Reading) -> str:
    """The passages the model reads, as plain text for the terminal while it drafts."""
    lines = [f"{READING}:"]
    for sentences in reading.passages():
        label, text = passage_preview(sentences)
        lines += [f"  {label}", f'    "{text}"']
    return "\n".join(lines) + "\n"


def _source_lines(
    n: int, source: str, title: str | None, outlet: str | None, date: str | None, quote: str, also: list[str]
) -> list[str]:
    head = " · ".join(filter(None, [title, outlet, date or NO_DATE, source]))
    lines = [f"[{n}] {head}", f'    "{quote}"']
    if also:
        lines.append(f"    also reported by: {', '.join(also)}")
    return lines


def _eval(args: argparse.Namespace) -> int:
    try:
        from eval.cli import run_from_args
    except ImportError as exc:
        raise RagError(f"The eval needs the project checkout and its test extras: {exc}") from exc
    return run_from_args(args)


def _doctor(args: argparse.Namespace) -> int:
    from rag.core.config import Settings
    from rag.interfaces.doctor import run_checks

    checks = run_checks(Settings(), verify_hash=not args.quick)
    for check in checks:
        _print(check.render())
    problems = sum(c.problem for c in checks)
    print(f"{problems} problem{'s' if problems != 1 else ''} found." if problems else "All checks passed.")
    return 1 if problems else 0


def _serve(args: argparse.Namespace) -> int:
    from rag.interfaces.ui import serve

    serve(host=args.host, port=args.port, auth_file=args.auth_file, read_only=args.read_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
