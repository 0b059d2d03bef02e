"""Run the question set through one or more systems and score them."""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from eval.metrics import (
    citation_support,
    citations_verbatim,
    first_relevant_rank,
    hit_rate,
    missing_facts,
    mrr,
    percentile,
)
from rag.citations import Answer
from rag.verification import Verifier

EVAL_DIR = Path(__file__).resolve().parent
QUESTIONS = EVAL_DIR / "questions.jsonl"
THRESHOLDS = EVAL_DIR / "thresholds.json"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    sources: list[str]
    facts: list[list[str]]
    kind: str
    notes: str = ""


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    with open(path, encoding="utf-8") as handle:
        return [Question(**json.loads(line)) for line in handle if line.strip()]


class System(Protocol):
    """Something that answers questions; the eval treats ours and the baseline alike."""

    name: str

    def answer(self, question: str) -> Iterator[str | Answer]: ...

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
    abstained_right: bool
    citations_verbatim: bool
    sentences: int
    supported: int
    citations: int
    contributing: int
    rank: int | None
    seconds: float
    first_token_seconds: float | None
    sources: list[str] = field(default_factory=list)
    # Support counted without the question's words framing the claim: the cited text alone must carry it.
    supported_strictly: int = 0
    contributing_strictly: int = 0


def evaluate(
    system: System,
    questions: Sequence[Question],
    texts: dict[str, str],
    verifier: Verifier,
    k: int,
    progress: bool = True,
) -> list[Outcome]:
    outcomes = []
    for q in tqdm(questions, desc=f"Eval {system.name}", unit="q", disable=not progress):
        ranked = system.ranked_sources(q.question, k)
        started = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        for event in system.answer(q.question):
            if isinstance(event, Answer):
                answer = event
            elif first is None:
                first = time.perf_counter() - started
        seconds = time.perf_counter() - started
        assert answer is not None
        missing = missing_facts(answer.text, q.facts) if answer.answered else [g[0] for g in q.facts]
        support = citation_support(answer.text, answer.citations, verifier, q.question) if answer.answered else None
        strict = citation_support(answer.text, answer.citations, verifier) if answer.answered else None
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
                abstained_right=answer.answered == q.answerable,
                citations_verbatim=citations_verbatim(answer.citations, texts),
                sentences=support.sentences if support else 0,
                supported=support.supported if support else 0,
                citations=support.citations if support else 0,
                contributing=support.contributing if support else 0,
                rank=first_relevant_rank(ranked, q.sources) if q.answerable else None,
                seconds=round(seconds, 3),
                first_token_seconds=None if first is None else round(first, 3),
                sources=[c.source for c in answer.citations],
                supported_strictly=strict.supported if strict else 0,
                contributing_strictly=strict.contributing if strict else 0,
            )
        )
    return outcomes


def summarize(outcomes: Sequence[Outcome], k: int) -> dict[str, float]:
    """Every metric by name; fractions in 0..1, times in seconds."""
    answerable = [o for o in outcomes if o.answerable]
    ranks = [o.rank for o in answerable]
    sentences = sum(o.sentences for o in outcomes)
    citations = sum(o.citations for o in outcomes)
    latencies = [o.seconds for o in outcomes]
    firsts = [o.first_token_seconds for o in outcomes if o.first_token_seconds is not None]
    return {
        f"retrieval_hit_rate@{k}": hit_rate(ranks, k),
        f"retrieval_mrr@{k}": mrr(ranks, k),
        "answer_accuracy": _frac(sum(o.correct for o in answerable), len(answerable)),
        "citation_integrity": _frac(sum(o.citations_verbatim for o in outcomes), len(outcomes)),
        "citation_support_recall": _frac(sum(o.supported for o in outcomes), sentences),
        "citation_support_precision": _frac(sum(o.contributing for o in outcomes), citations),
        "citation_support_recall_strict": _frac(sum(o.supported_strictly for o in outcomes), sentences),
        "citation_support_precision_strict": _frac(sum(o.contributing_strictly for o in outcomes), citations),
        "abstention_accuracy": _frac(sum(o.abstained_right for o in outcomes), len(outcomes)),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "first_token_p50_s": percentile(firsts, 50),
    }


def _frac(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


def check_thresholds(metrics: dict[str, float], thresholds: dict[str, dict[str, float]]) -> list[str]:
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


def load_thresholds(path: Path = THRESHOLDS) -> dict[str, dict[str, float]]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, dict[str, float]] = json.load(handle)
    return data


def format_table(columns: dict[str, dict[str, float]]) -> str:
    """Render metrics of one or more systems side by side."""
    names = list(next(iter(columns.values())))
    width = max(len(n) for n in names) + 2
    header = "metric".ljust(width) + "".join(f"{system:>14}" for system in columns)
    rows = [header, "-" * len(header)]
    for name in names:
        cells = []
        for metrics in columns.values():
            value = metrics.get(name, math.nan)
            cells.append(f"{value:>14.2f}" if name.endswith("_s") else f"{value:>14.1%}")
        rows.append(name.ljust(width) + "".join(cells))
    return "\n".join(rows)


def report(systems: dict[str, tuple[dict[str, float], list[Outcome]]], settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.machine()}, {_cpu_count()} cores, Python {platform.python_version()}",
        "settings": settings,
        "systems": {
            name: {"metrics": metrics, "questions": [asdict(o) for o in outcomes]}
            for name, (metrics, outcomes) in systems.items()
        },
    }


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


class PipelineSystem:
    """Our pipeline, seen through the System protocol."""

    def __init__(self, pipeline: Any, name: str = "ours") -> None:
        self.pipeline = pipeline
        self.name = name

    def answer(self, question: str) -> Iterator[str | Answer]:
        return self.pipeline.ask_stream(question)  # type: ignore[no-any-return]

    def ranked_sources(self, question: str, k: int) -> list[str]:
        vector = self.pipeline.embedder.embed([question])[0]
        retriever = self.pipeline.retriever
        named = retriever.named_sources(question)  # as the pipeline does: "according to UNN" reads UNN
        return [c.source for c in retriever.retrieve(question, vector, k, sources=named)]


def corpus_texts(corpus_dir: Path) -> dict[str, str]:
    """Decoded text of every article, keyed like citations, for checking quotes at offsets."""
    from rag.documents import iter_article_paths, read_article

    folder = corpus_dir.resolve()
    return {p.relative_to(folder).as_posix(): read_article(p).text for p in iter_article_paths(folder)}


def spread(questions: Sequence[Question], limit: int | None) -> list[Question]:
    """`limit` questions taken at even steps through the set, so that every kind is represented."""
    if limit is None or limit >= len(questions):
        return list(questions)
    step = len(questions) / max(limit, 1)
    return [questions[int(i * step)] for i in range(max(limit, 0))]


def run_eval(
    *,
    k: int = 10,
    out: Path | None = None,
    chart: Path | None = None,
    compare_baseline: bool = False,
    questions_path: Path = QUESTIONS,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """Score our pipeline (and optionally the stock baseline) and check the thresholds."""
    from rag import get_pipeline
    from rag.verification import HeuristicVerifier

    if compare_baseline:
        from eval.baseline import check_installed

        check_installed()
    pipeline = get_pipeline()
    pipeline.ensure_index()
    questions = spread(load_questions(questions_path), limit)
    texts = corpus_texts(pipeline.settings.corpus_dir)
    verifier = HeuristicVerifier(pipeline.embedder)
    systems: list[System] = [PipelineSystem(pipeline)]
    if compare_baseline:
        from eval.baseline import BaselineSystem

        systems.append(BaselineSystem(pipeline.settings))
    results = {}
    for system in systems:
        outcomes = evaluate(system, questions, texts, verifier, k, progress)
        results[system.name] = (summarize(outcomes, k), outcomes)
    settings = pipeline.settings.model_dump(mode="json", exclude={"llm_api_key"})
    data = report(results, settings)
    if out:
        out.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if chart:
        from eval.chart import render_chart

        render_chart(data, chart)
    failures = check_thresholds(results["ours"][0], load_thresholds())
    return data, failures
