"""Run question suites through one or more systems and score them; the judge scores citation support."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from tqdm import tqdm

from eval.judge import SUPPORT_THRESHOLD, Judge
from eval.metrics import (
    citations_verbatim,
    evidence_text,
    first_relevant_rank,
    hit_rate,
    judge_cited,
    judge_support,
    missing_facts,
    mrr,
    percentile,
)
from eval.stats import counts, intervals
from rag.core.citations import Answer
from rag.core.errors import RagError
from rag.evidence.passages import Reading

EVAL_DIR = Path(__file__).resolve().parent
QUESTIONS = EVAL_DIR / "questions.jsonl"
THRESHOLDS = EVAL_DIR / "thresholds.json"

Split = Literal["dev", "test", "all"]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    sources: list[str]
    facts: list[list[str]]
    kind: str
    notes: str = ""
    # "dev" questions may steer rules, thresholds and prompts; "test" questions are only reported.
    split: str = "dev"
    written: str = ""  # the date the question was written, so anyone can see what existed when a rule was chosen
    fake: list[list[str]] = field(default_factory=list)  # a counterfactual claim some sources make instead


@dataclass(frozen=True)
class Suite:
    """A corpus folder and the questions asked of it."""

    name: str
    corpus_dir: Path
    questions: list[Question]


def load_questions(path: Path = QUESTIONS, split: Split = "all", written_since: str = "") -> list[Question]:
    """The file's questions of `split`; with `written_since` (YYYY-MM-DD), only those written on or after it."""
    with open(path, encoding="utf-8") as handle:
        questions = [Question(**json.loads(line)) for line in handle if line.strip()]
    return [q for q in questions if (split == "all" or q.split == split) and q.written >= written_since]


class System(Protocol):
    """Something that answers questions; the eval treats ours and the baseline alike."""

    name: str

    def answer(self, question: str) -> Iterator[str | Reading | Answer]:
        """The streamed draft's pieces and the Answer; a system that shows what it read first yields a Reading."""
        ...

    def ranked_sources(self, question: str, k: int) -> list[str]: ...


@dataclass
class Outcome:
    """How one system did on one question."""

    id: str
    kind: str
    question: str
    answerable: bool
    answered: bool
    text: str
    missing: list[str]
    correct: bool
    contested: bool  # some sources make a counterfactual claim instead of the true one
    gave_fake: bool
    abstained_right: bool
    citations_verbatim: bool
    sentences: int
    supported: int
    citations: int
    contributing: int
    rank: int | None
    ranked: bool
    seconds: float
    first_token_seconds: float | None
    sources: list[str] = field(default_factory=list)
    # Marker number -> the cited text the judge reads for it, so that a report can be judged later
    cited: dict[int, str] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    answer_check: float | None = None  # the system's own P(yes) that its cited sentences answer
    relevance: float | None = None  # the system's own P(yes) that its answer says what was asked
    draft: str = ""  # the model's whole reply where the system records it (ours), else what it streamed
    removed: list[dict[str, str]] = field(default_factory=list)  # draft sentences its own checks removed, and why
    reason: str = ""  # why the system refused, where it says
    # Whether every key fact is in the passages the system read (None: it shows none, or nothing to find)
    read: bool | None = None
    # The passage sentences the system read, where it shows them (ours): what a failure is read against
    passages: list[dict[str, Any]] = field(default_factory=list)


def evaluate(
    system: System,
    questions: Sequence[Question],
    texts: dict[str, str],
    judge: Judge | None,
    k: int,
    progress: bool = True,
) -> list[Outcome]:
    """Ask every question; score facts, refusals, quotes at their offsets and, given a judge, support."""
    outcomes = []
    for q in tqdm(questions, desc=f"Eval {system.name}", unit="q", disable=not progress):
        ranked = system.ranked_sources(q.question, k) if q.sources else []
        started = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        draft = ""
        read: bool | None = None
        passages: list[dict[str, Any]] = []
        for event in system.answer(q.question):
            if isinstance(event, Answer):
                answer = event
            elif isinstance(event, Reading):
                read = not missing_facts(" ".join(e.text for e in event.evidence), q.facts)
                passages = [
                    {"passage": e.passage, "source": e.source, "start": e.start, "text": e.text} for e in event.evidence
                ]
            elif isinstance(event, str):
                first = time.perf_counter() - started if first is None else first
                draft += event
        seconds = time.perf_counter() - started
        assert answer is not None
        missing = missing_facts(answer.text, q.facts) if answer.answered else [g[0] for g in q.facts]
        support = judge_support(answer.text, answer.citations, judge) if answer.answered and judge else None
        outcomes.append(
            Outcome(
                id=q.id,
                kind=q.kind,
                question=q.question,
                answerable=q.answerable,
                answered=answer.answered,
                text=answer.text,
                missing=missing,
                correct=q.answerable and answer.answered and not missing,
                contested=bool(q.fake),
                gave_fake=bool(q.fake) and answer.answered and not missing_facts(answer.text, q.fake),
                answer_check=answer.answer_check,
                relevance=answer.relevance,
                reason=answer.reason,
                abstained_right=answer.answered == q.answerable,
                citations_verbatim=citations_verbatim(answer.citations, texts),
                sentences=support.sentences if support else 0,
                supported=support.supported if support else 0,
                citations=support.citations if support else 0,
                contributing=support.contributing if support else 0,
                rank=first_relevant_rank(ranked, q.sources) if q.answerable and q.sources else None,
                ranked=q.answerable and bool(q.sources),
                seconds=round(seconds, 3),
                first_token_seconds=None if first is None else round(first, 3),
                sources=[c.source for c in answer.citations],
                cited={c.n: evidence_text(c) for c in answer.citations},
                claims=[asdict(c) for c in support.claims] if support else [],
                draft=answer.draft or draft,
                removed=[r.model_dump() for r in answer.removed],
                read=read if q.answerable else None,
                passages=passages,
            )
        )
    return outcomes


def summarize(outcomes: Sequence[Outcome], k: int, judged: bool = True) -> dict[str, float]:
    """Every metric by name; fractions in 0..1, times in seconds. Judge figures carry a `judge_` prefix."""
    answerable = [o for o in outcomes if o.answerable]
    latencies = [o.seconds for o in outcomes]
    firsts = [o.first_token_seconds for o in outcomes if o.first_token_seconds is not None]
    metrics: dict[str, float] = {}
    ranks = [o.rank for o in answerable if o.ranked]
    if ranks:
        metrics[f"retrieval_hit_rate@{k}"] = hit_rate(ranks, k)
        metrics[f"retrieval_mrr@{k}"] = mrr(ranks, k)
    # The rates that count questions, defined once in eval.stats (which also gives their intervals).
    metrics |= {name: hits / n for name, (hits, n) in counts([asdict(o) for o in outcomes]).items()}
    metrics.setdefault("abstention_accuracy", math.nan)  # no questions at all
    metrics["citation_integrity"] = _frac(sum(o.citations_verbatim for o in outcomes), len(outcomes))
    if judged:
        metrics["judge_support_recall"] = _frac(sum(o.supported for o in outcomes), sum(o.sentences for o in outcomes))
        metrics["judge_support_precision"] = _frac(
            sum(o.contributing for o in outcomes), sum(o.citations for o in outcomes)
        )
    metrics["latency_p50_s"] = percentile(latencies, 50)
    metrics["latency_p95_s"] = percentile(latencies, 95)
    metrics["first_token_p50_s"] = percentile(firsts, 50)
    return metrics


def _frac(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


def check_thresholds(metrics: dict[str, float], thresholds: dict[str, Any]) -> list[str]:
    """List every metric that misses its threshold ("min" bounds below, "max" bounds above)."""
    failures = []
    for name, bound in thresholds.get("min", {}).items():
        value = metrics.get(name, math.nan)
        if not value >= bound:
            failures.append(f"{name} = {value:.3f} is below its threshold {bound}")
    for name, bound in thresholds.get("max", {}).items():
        value = metrics.get(name, math.nan)
        if not value <= bound:
            failures.append(f"{name} = {value:.3f} is above its threshold {bound}")
    return failures


def load_thresholds(path: Path = THRESHOLDS) -> dict[str, dict[str, Any]]:
    """Floors by suite name; a suite without an entry is reported, never gated."""
    with open(path, encoding="utf-8") as handle:
        data: dict[str, dict[str, Any]] = json.load(handle)
    return data


def format_table(columns: dict[str, dict[str, float]], bounds: dict[str, dict[str, list[float]]] | None = None) -> str:
    """Render metrics of one or more systems side by side; a rate with its 95% interval in `bounds`
    (by system, then metric) is shown with it."""
    bounds = bounds or {}
    names = list(dict.fromkeys(n for metrics in columns.values() for n in metrics))
    width = max(len(n) for n in names) + 2
    cell = 24 if bounds else 14
    header = "metric".ljust(width) + "".join(f"{system:>{cell}}" for system in columns)
    rows = [header, "-" * len(header)]
    for name in names:
        cells = []
        for system, metrics in columns.items():
            value = metrics.get(name, math.nan)
            if name.endswith("_s"):
                cells.append(f"{value:>{cell}.2f}")
                continue
            low, high = bounds.get(system, {}).get(name, (math.nan, math.nan))
            shown = f"{value:.1%}" + (f" ({low:.0%}-{high:.0%})" if not math.isnan(low) else "")
            cells.append(f"{shown:>{cell}}")
        rows.append(name.ljust(width) + "".join(cells))
    return "\n".join(rows)


def format_report(data: dict[str, Any]) -> str:
    """Every suite of a report as its own side-by-side table."""
    blocks = []
    for name, suite in data["suites"].items():
        columns = {system: result["metrics"] for system, result in suite["systems"].items()}
        bounds = {system: result["intervals"] for system, result in suite["systems"].items() if "intervals" in result}
        table = format_table(columns, bounds)
        note = "; rates with their 95% interval" if bounds else ""
        blocks.append(f"{name} ({suite['questions']} questions{note})\n{table}")
    return "\n\n".join(blocks)


def chart_view(data: dict[str, Any]) -> dict[str, Any]:
    """The report as the chart draws it: one bar group per suite and metric, one bar per system."""
    single = len(data["suites"]) == 1
    systems: dict[str, dict[str, dict[str, float]]] = {}
    for suite_name, suite in data["suites"].items():
        for system, result in suite["systems"].items():
            metrics = systems.setdefault(system, {"metrics": {}})["metrics"]
            for metric, value in result["metrics"].items():
                metrics[metric if single else f"{suite_name}: {metric}"] = value
    return {"created": data["created"], "machine": data["machine"], "systems": systems}


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count() or 1} cores, Python {platform.python_version()}"


class PipelineSystem:
    """Our pipeline, seen through the System protocol; given `drafts` (question -> the model's
    reply, from a report), it checks those instead of drafting."""

    def __init__(self, pipeline: Any, name: str = "ours", drafts: Mapping[str, str] | None = None) -> None:
        self.pipeline = pipeline
        self.name = name
        self.drafts = drafts

    def answer(self, question: str) -> Iterator[str | Reading | Answer]:
        draft = None
        if self.drafts is not None:
            if question not in self.drafts:
                raise RagError(f"The replayed report has no draft for {question!r}: run rag eval with the same suite.")
            draft = self.drafts[question]
        return self.pipeline.ask_stream(question, passages=True, draft=draft)  # type: ignore[no-any-return]

    def ranked_sources(self, question: str, k: int) -> list[str]:
        vector = self.pipeline.embedder.embed([question])[0]
        retriever = self.pipeline.retriever
        named = retriever.named_sources(question)  # as the pipeline does: "according to UNN" reads UNN
        return [c.source for c in retriever.retrieve(question, vector, k, sources=named)]


def corpus_texts(corpus_dir: Path) -> dict[str, str]:
    """Decoded text of every article, keyed like citations, for checking quotes at offsets."""
    from rag.articles.documents import iter_article_paths, read_article

    folder = corpus_dir.resolve()
    return {p.relative_to(folder).as_posix(): read_article(p).text for p in iter_article_paths(folder)}


def spread(questions: Sequence[Question], limit: int | None) -> list[Question]:
    """`limit` questions taken at even steps through the set, so that every kind is represented."""
    if limit is None or limit >= len(questions):
        return list(questions)
    step = len(questions) / max(limit, 1)
    return [questions[int(i * step)] for i in range(max(limit, 0))]


def seed_suite(
    split: Split, questions_path: Path = QUESTIONS, corpus_dir: Path | None = None, written_since: str = ""
) -> Suite:
    """The question file's `split` over a corpus folder (default: the demo articles they were written on);
    `written_since` keeps the questions written on or after that date, which no earlier choice has seen."""
    from rag.core.config import DEMO_CORPUS

    return Suite(split, corpus_dir or DEMO_CORPUS, load_questions(questions_path, split, written_since))


def run_suites(
    suites: Sequence[Suite],
    *,
    k: int = 10,
    out: Path | None = None,
    chart: Path | None = None,
    compare_baseline: bool = False,
    limit: int | None = None,
    judge: Judge | None = None,
    progress: bool = True,
    replay: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Score our pipeline (and optionally the stock baseline) on each suite, each over its own index.

    A suite over the configured corpus uses the configured index; any other corpus is indexed in a
    temporary folder. The models load once and serve every suite. Returns the report and every
    miss of a floor in `eval/thresholds.json` (floors are kept by suite name).

    With `replay` (a report of the same suites), our pipeline checks the drafts that report stored
    instead of drafting: a change to the checks is measured in the time the checks take, on the
    very replies they judged before. (A change to retrieval or to the answer prompt changes what
    the model would have written, and needs a full run.) Latencies then count retrieval and the
    checks only.
    """
    from rag import get_pipeline
    from rag.pipeline import Pipeline

    if compare_baseline and replay is not None:
        raise RagError("--replay checks our stored drafts again; the stock pipeline has none: drop --compare-baseline.")
    if compare_baseline:
        from eval.baseline import BaselineSystem, check_installed

        check_installed()
    drafts = {suite.name: stored_drafts(replay, suite.name) for suite in suites} if replay is not None else {}
    base = get_pipeline()
    thresholds = load_thresholds()
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": _machine(),
        "settings": base.settings.model_dump(mode="json", exclude={"llm_api_key"}),
        "judge": {"name": judge.name, "threshold": SUPPORT_THRESHOLD} if judge else None,
        "suites": {},
    }
    failures = []
    baseline: Any = None
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as work:
        for suite in suites:
            if suite.corpus_dir.resolve() == base.settings.corpus_dir.resolve():
                pipeline, settings = base, base.settings
            else:
                settings = base.settings.model_copy(
                    update={"corpus_dir": suite.corpus_dir, "index_dir": Path(work) / suite.name / "index"}
                )
                pipeline = Pipeline(settings, embedder=base.embedder, llm=base.llm)
            pipeline.ensure_index()
            systems: list[System] = [PipelineSystem(pipeline, drafts=drafts.get(suite.name))]
            if compare_baseline:
                baseline = BaselineSystem(settings, shared_with=baseline)
                systems.append(baseline)
            questions = spread(suite.questions, limit)
            texts = corpus_texts(suite.corpus_dir)
            results: dict[str, dict[str, Any]] = {}
            for system in systems:
                outcomes = evaluate(system, questions, texts, judge, k, progress)
                rows = [asdict(o) for o in outcomes]
                results[system.name] = {
                    "metrics": summarize(outcomes, k, judged=judge is not None),
                    "intervals": intervals(rows),
                    "questions": rows,
                }
            report["suites"][suite.name] = {
                "corpus": str(suite.corpus_dir),
                "questions": len(questions),
                "systems": results,
            }
            if suite.name in thresholds:
                floors = thresholds[suite.name]
                failures += [f"{suite.name}: {f}" for f in check_thresholds(results["ours"]["metrics"], floors)]
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if chart:
        from eval.chart import render_chart

        render_chart(chart_view(report), chart)
    return report, failures


def stored_drafts(report: dict[str, Any], suite: str) -> dict[str, str]:
    """Our drafts in a report's `suite`, by question."""
    rows = report.get("suites", {}).get(suite, {}).get("systems", {}).get("ours", {}).get("questions")
    if rows is None:
        raise RagError(
            f"The replayed report has no answers of ours to suite {suite!r}: run rag eval with the same suite."
        )
    if any("draft" not in row for row in rows):
        raise RagError("The replayed report keeps no drafts (an older version wrote it): run rag eval again.")
    return {row["question"]: row["draft"] for row in rows}


def rejudge(data: dict[str, Any], judge: Judge, k: int = 10) -> dict[str, Any]:
    """Judge a report's answers again, with another judge or for the first time, from what it stored.

    The systems are not run again: each answer is judged on the texts its markers cite, as stored
    with it (`Outcome.cited`). Every suite's figures are recomputed, so a report written with
    `--no-judge` can be judged later, and any report brought to a changed judge, in minutes.
    """
    for suite in data["suites"].values():
        for result in suite["systems"].values():
            outcomes = [
                Outcome(**(row | _judged(row, judge, data.get("judge") is not None))) for row in result["questions"]
            ]
            result["questions"] = [asdict(o) for o in outcomes]
            result["metrics"] = summarize(outcomes, k, judged=True)
    data["judge"] = {"name": judge.name, "threshold": SUPPORT_THRESHOLD}
    return data


def _judged(row: dict[str, Any], judge: Judge, was_judged: bool) -> dict[str, Any]:
    """A stored outcome's judge fields, judged again by `judge`."""
    from eval.metrics import JudgedClaim, judge_claim

    if row["answered"] and row.get("cited") is not None:
        cited = {int(n): text for n, text in row["cited"].items()}  # JSON keys are strings
        support = judge_cited(row["text"], cited, judge, SUPPORT_THRESHOLD)
        return {
            "claims": [asdict(c) for c in support.claims],
            "sentences": support.sentences,
            "supported": support.supported,
            "citations": support.citations,
            "contributing": support.contributing,
        }
    if row["answered"] and not was_judged:
        raise RagError(
            "This report was written with --no-judge by a version that did not store the cited "
            "texts, so there is nothing to judge; run rag eval again."
        )
    # A refusal, or an answer of an older judged report: its claims keep the texts they were judged on
    claims = [JudgedClaim(**c) for c in row["claims"]]
    rejudged = [judge_claim(c.claim, c.cited, c.evidence, judge, SUPPORT_THRESHOLD) for c in claims]
    return {
        "claims": [asdict(c) for c in rejudged],
        "supported": sum(c.p_supported >= SUPPORT_THRESHOLD for c in rejudged),
        "contributing": sum(c.contributing for c in rejudged),
    }
