"""End-to-end answer latency, time to first token and peak memory: ours against the stock baseline.

    .venv/bin/python -m bench.answer [--questions 5] [--skip-baseline] [--sweep 4,6,8,10] [--fresh 2]

Each system runs in its own process (so each peak RSS is its own) on the same answerable eval
questions, with the default local GGUF (RAG_LLM). Ours is timed through `ask_stream` after one
unmeasured warm-up question (which loads the models and fills the system prompt's KV cache);
"passages shown" is when the passages the model reads reach the reader (`ask_stream(passages=True)`,
what the UI and a terminal's `rag ask` show while the model drafts); "first token" is the first
piece of the answer the user sees; "first model token" is the first token the LLM emits. The baseline
(eval/baseline.py, llama-index's CitationQueryEngine) does not stream, so its first token is its
whole answer; its models are loaded before timing but it gets no warm-up question.

"Fresh process" times what `rag ask` gives: a new Python process, from its start (imports
included) to the passages shown, the first answer token and the answer, over an index of the seeds
built beforehand. Its references, in the same run and alternated with it, are the same process
with every text encoded by sentence-transformers (no numpy encoder), with torch left visible to
spaCy (which then imports it at the first claim check), with the system prompts
computed instead of restored, and with the models loaded where each is first used instead of in
the background from the question's start (`Pipeline.preload`).

The sweep re-runs the same questions with settings.evidence.passage_chunks at each value and reports
prompt tokens and the first answer token (generation is stopped there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine, peak_rss_mb, percentile, questions, verdict
from rag.answer.compose import build_messages
from rag.core.citations import Answer
from rag.core.config import Settings
from rag.evidence.passages import Reading
from rag.models.embedding import SentenceTransformerEmbedder, model_folder
from rag.models.llm import LLM, Message, chatml_tokens, make_llm
from rag.models.minilm import MiniLM
from rag.pipeline import Pipeline

RESULT = "RESULT "


class TimedLLM:
    """Wrap an LLM and record when each call's first token arrives, and the time spent in checks."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.name = inner.name
        self.first: float | None = None
        self.checks = 0
        self.check_seconds = 0.0

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        started = time.perf_counter()
        for piece in self.inner.stream(messages, max_tokens, grammar):
            if self.first is None:
                self.first = time.perf_counter() - started
            yield piece

    def p_yes(self, messages: list[Message]) -> float:
        started = time.perf_counter()
        try:
            return self.inner.p_yes(messages)
        finally:
            self.checks += 1
            self.check_seconds += time.perf_counter() - started


class RecordingEmbedder:
    """Wrap the bundled encoder and keep the texts of every call the numpy encoder takes."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= self.inner.numpy_up_to:
            self.calls.append(list(texts))
        return self.inner.embed(texts)


def encoders(recorded: RecordingEmbedder, answers: int) -> dict[str, float]:
    """The answers' encoder calls replayed in order, through a new numpy encoder (which keeps the
    vectors of texts it has seen, as in a running process) and through sentence-transformers."""
    fresh, model = MiniLM(model_folder(recorded.name)), recorded.inner.model
    fresh.embed(["warm"]), model.encode(["warm"])  # imports and first calls are not what an answer pays
    seconds = {}
    for name, encode in (("numpy", fresh.embed), ("sentence-transformers", model.encode)):
        started = time.perf_counter()
        for texts in recorded.calls:
            encode(texts)
        seconds[name] = (time.perf_counter() - started) / answers
    print(
        f"  encoder, {len(recorded.calls) / answers:.1f} calls and "
        f"{sum(map(len, recorded.calls)) / answers:.0f} texts an answer, replayed: numpy "
        f"{seconds['numpy']:.2f} s an answer, sentence-transformers {seconds['sentence-transformers']:.2f} s "
        f"({seconds['numpy'] / seconds['sentence-transformers']:.2f}x)",
        flush=True,
    )
    return seconds


def time_ours(pipeline: Pipeline, llm: TimedLLM, question: str) -> dict[str, Any]:
    llm.first, llm.checks, llm.check_seconds = None, 0, 0.0
    started = time.perf_counter()
    first: float | None = None
    shown: float | None = None
    answer: Answer | None = None
    for event in pipeline.ask_stream(question, passages=True):
        if isinstance(event, Answer):
            answer = event
        elif isinstance(event, Reading):
            shown = time.perf_counter() - started
        elif first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert answer is not None
    return {
        "total": total,
        "first": first,
        "passages": shown,
        "first_model": llm.first,
        "answered": answer.answered,
        "checks": llm.checks,
        "check_seconds": llm.check_seconds,
    }


def sweep(pipeline: Pipeline, qs: list[str], sizes: list[int]) -> dict[int, dict[str, float]]:
    out = {}
    llama = getattr(pipeline.llm, "_llama", None) or getattr(getattr(pipeline.llm, "inner", None), "_llama", None)
    for n in sizes:
        pipeline.settings.evidence.passage_chunks = n
        tokens, firsts, answers = [], [], []
        for q in qs:
            messages = build_messages(q, pipeline.evidence(q))
            if llama is not None:
                tokens.append(len(chatml_tokens(llama, messages)))
            started, reply, first = time.perf_counter(), "", None
            stream = pipeline.llm.stream(messages, pipeline.settings.answer.max_tokens)
            for piece in stream:
                first = first or time.perf_counter() - started
                reply += piece
                if reply.strip():
                    break
            answers.append(time.perf_counter() - started)
            firsts.append(first or 0.0)
            stream.close()  # type: ignore[attr-defined]
        out[n] = {
            "prompt_tokens": sum(tokens) / len(tokens) if tokens else float("nan"),
            "first_model_p50": percentile(firsts, 50),
            "first_answer_p50": percentile(answers, 50),
        }
        print(
            f"passage_chunks={n:>2}: prompt ~{out[n]['prompt_tokens']:.0f} tokens, first model token p50 "
            f"{out[n]['first_model_p50']:.2f} s, first answer token p50 {out[n]['first_answer_p50']:.2f} s",
            flush=True,
        )
    return out


def child_ours(qs: list[str], sweep_sizes: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index")
        llm = TimedLLM(make_llm(settings))
        embedder = RecordingEmbedder(
            SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size)
        )
        pipeline = Pipeline(settings, llm=llm, embedder=embedder)
        started = time.perf_counter()
        pipeline.ensure_index()
        time_ours(pipeline, llm, qs[0])
        warmup = time.perf_counter() - started
        runs = []
        embedder.calls.clear()
        for q in qs:
            runs.append(time_ours(pipeline, llm, q))
            print(f"  ours {runs[-1]['total']:.1f} s (first token {runs[-1]['first']}): {q}", flush=True)
        rss = peak_rss_mb()
        encoders(embedder, len(qs))
        swept = sweep(pipeline, qs, sweep_sizes) if sweep_sizes else {}
    return {"warmup": warmup, "runs": runs, "rss_mb": rss, "sweep": swept, "model": settings.llm}


def child_baseline(qs: list[str]) -> dict[str, Any]:
    from eval.baseline import BaselineSystem

    with tempfile.TemporaryDirectory() as tmp:
        system = BaselineSystem(Settings(index_dir=Path(tmp) / "index"))
        started = time.perf_counter()
        system.engine  # noqa: B018  (builds the index and loads the LLM)
        warmup = time.perf_counter() - started
        runs = []
        for q in qs:
            t0 = time.perf_counter()
            answer = next(e for e in system.answer(q) if isinstance(e, Answer))
            total = time.perf_counter() - t0
            runs.append({"total": total, "first": total, "first_model": None, "answered": answer.answered})
            print(f"  baseline {total:.1f} s: {q}", flush=True)
    return {"warmup": warmup, "runs": runs, "rss_mb": peak_rss_mb(), "sweep": {}}


# A new process's first answer, timed from the interpreter's start. argv: index folder, question,
# and "preload", "reference" (each model loaded where it is first used), "torch" (preloaded, but
# every text encoded by sentence-transformers, as before the numpy encoder) or "spacy-torch"
# (preloaded, torch left visible to spaCy, which then imports it, as before it was hidden).
FRESH_PROCESS = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from rag.core.citations import Answer
from rag.core.config import Settings
from rag.evidence.passages import Reading
from rag.models.embedding import SentenceTransformerEmbedder
from rag.pipeline import Pipeline
index_dir, question, mode = sys.argv[1:4]

class WhereUsed(Pipeline):
    def preload(self) -> None:
        pass

settings = Settings(index_dir=Path(index_dir))
if mode == "reference":
    pipeline = WhereUsed(settings)
elif mode == "torch":
    batch = settings.ingest.embed_batch_size
    pipeline = Pipeline(settings, embedder=SentenceTransformerEmbedder(settings.embed_model, batch, numpy_up_to=0))
elif mode == "spacy-torch":
    from rag.verify import roles

    roles._HiddenFrom.find_spec = lambda self, name, path=None, target=None: None
    pipeline = Pipeline(settings)
else:
    pipeline = Pipeline(settings)
shown = first = None
for event in pipeline.ask_stream(question, passages=True):
    if isinstance(event, Reading):
        shown = time.perf_counter() - started
    elif isinstance(event, str) and first is None:
        first = time.perf_counter() - started
    elif isinstance(event, Answer):
        answer = event
print(json.dumps({"shown": shown, "first": first, "total": time.perf_counter() - started, "text": answer.text}))
"""


def fresh_processes(question: str, repeat: int) -> dict[str, dict[str, float]]:
    """Passages, first token and answer of new processes, alternated: models preloaded with the saved
    system prompts restored; the same with every text encoded by sentence-transformers; the same with
    torch imported by spaCy; preloaded with
    every prompt computed; and each model loaded where first used."""
    modes = {
        "preload": ("preload", {}),
        "torch": ("torch", {}),
        "spacy-torch": ("spacy-torch", {}),
        "computed": ("preload", {"RAG_LLM_SAVED_HEADS": "false"}),
        "reference": ("reference", {"RAG_LLM_SAVED_HEADS": "false"}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = str(Path(tmp) / "index")
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from rag.core.config import Settings; "
                "from rag.pipeline import Pipeline; Pipeline(Settings(index_dir=Path(sys.argv[1]))).ensure_index()",
                index_dir,
            ],
            check=True,
        )

        def process(mode: str) -> dict[str, Any]:
            how, env = modes[mode]
            done = subprocess.run(
                [sys.executable, "-c", FRESH_PROCESS, index_dir, question, how],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **env},
            )
            return dict(json.loads(done.stdout.strip().splitlines()[-1]))

        process("preload")  # untimed: saves the system prompts, if an earlier run has not
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for _ in range(repeat):
            for mode, got in runs.items():
                got.append(process(mode))
    texts = {run["text"] for got in runs.values() for run in got}
    rows = {
        mode: {
            "shown_p50": percentile([r["shown"] for r in got], 50),
            "first_p50": percentile([r["first"] or r["total"] for r in got], 50),
            "total_p50": percentile([r["total"] for r in got], 50),
        }
        for mode, got in runs.items()
    }
    print(f"fresh process, p50 of {repeat} each, alternated (passages shown, first token, answer):")
    for mode, row in rows.items():
        print(
            f"  {mode:>11}: {row['shown_p50']:5.1f} s {row['first_p50']:5.1f} s {row['total_p50']:5.1f} s  {FRESH_MODES[mode]}"
        )
    ours = rows["preload"]
    for mode in ("torch", "spacy-torch"):
        other = rows[mode]
        print(
            f"  shipped / {mode}: passages {ours['shown_p50'] / other['shown_p50']:.2f}x, first token "
            f"{ours['first_p50'] / other['first_p50']:.2f}x, answer {ours['total_p50'] / other['total_p50']:.2f}x",
            flush=True,
        )
    print("  " + ("the same answer in every process" if len(texts) == 1 else f"{len(texts)} different answers"))
    return rows


FRESH_MODES = {
    "preload": "shipped: models loaded in the background, saved system prompts restored, questions encoded in numpy",
    "torch": "the same, every text encoded by sentence-transformers",
    "spacy-torch": "shipped, but spaCy imports torch (thinc does, whenever it is installed)",
    "computed": "shipped, the system prompts computed instead of restored",
    "reference": "each model loaded where first used, the system prompts computed",
}


def spawn(system: str, n: int, sweep_sizes: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.answer", "--child", system, "--questions", str(n), "--sweep", sweep_sizes]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT) :])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or not result:
        raise SystemExit(f"the {system} benchmark process failed")
    return result


def summary(name: str, r: dict[str, Any]) -> dict[str, float]:
    totals = [x["total"] for x in r["runs"]]
    firsts = [x["first"] for x in r["runs"] if x["first"] is not None]
    models = [x["first_model"] for x in r["runs"] if x["first_model"] is not None]
    shown = [x["passages"] for x in r["runs"] if x.get("passages") is not None]
    row = {
        "passages_p50": percentile(shown, 50) if shown else float("nan"),
        "total_p50": percentile(totals, 50),
        "total_max": max(totals),
        "first_p50": percentile(firsts, 50) if firsts else float("nan"),
        "first_model_p50": percentile(models, 50) if models else float("nan"),
        "rss_mb": r["rss_mb"],
        "answered": sum(x["answered"] for x in r["runs"]),
    }
    if checked := [x for x in r["runs"] if "checks" in x]:  # ours: the model's yes/no calls after the draft
        row["checks_p50"] = percentile([x["check_seconds"] for x in checked], 50)
        row["check_calls"] = sum(x["checks"] for x in checked) / len(checked)
    print(
        f"{name:>8}: passages shown p50 {row['passages_p50']:4.2f} s | answer p50 {row['total_p50']:5.1f} s "
        f"(max {row['total_max']:.1f}) | first token p50 "
        f"{row['first_p50']:5.1f} s | first model token p50 {row['first_model_p50']:4.1f} s | peak RSS "
        f"{row['rss_mb']:6.0f} MB | answered {row['answered']}/{len(totals)} | load + warm-up {r['warmup']:.0f} s"
        + (f" | checks p50 {row['checks_p50']:.1f} s, {row['check_calls']:.1f} an answer" if checked else "")
    )
    return row


def run(n: int, with_baseline: bool, sweep_sizes: str, fresh_repeat: int = 2) -> dict[str, Any]:
    if with_baseline:
        from eval.baseline import check_installed

        check_installed()  # before minutes of our own runs, not after them
    print(f"# End to end ({machine()}); model {Settings().llm_url or Settings().llm}; {n} answerable eval questions")
    ours = spawn("ours", n, sweep_sizes)
    rows = {"ours": summary("ours", ours)}
    if with_baseline:
        rows["baseline"] = summary("baseline", spawn("baseline", n, ""))
        b, o = rows["baseline"], rows["ours"]
        print(
            f"ours / baseline: answer p50 {o['total_p50'] / b['total_p50']:.2f}x, first token p50 "
            f"{o['first_p50'] / b['first_p50']:.2f}x, peak RSS {o['rss_mb'] / b['rss_mb']:.2f}x"
        )
    o = rows["ours"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        verdict("first answer token p50", o["first_p50"], 1.5, higher_is_better=False, unit=" s")
        + (
            ""
            if o["first_p50"] <= 1.5
            else f" -- prefill of the whole prompt on {os.cpu_count()} cores comes first "
            f"(see the passage_chunks sweep); load average now {load}"
        )
    )
    print(
        verdict("full answer p50", o["total_p50"], 3, higher_is_better=False, unit=" s")
        + ("" if o["total_p50"] <= 3 else f" -- generation on {os.cpu_count()} shared cores; load average now {load}")
    )
    print(verdict("peak RSS while serving", o["rss_mb"] / 1024, 3, higher_is_better=False, unit=" GB"))
    fresh = fresh_processes(questions(answerable=True, limit=1)[0], fresh_repeat) if fresh_repeat else {}
    return {"rows": rows, "sweep": ours["sweep"], "fresh": fresh}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5, help="answerable eval questions to time")
    parser.add_argument("--skip-baseline", action="store_true", help="time ours only")
    parser.add_argument("--sweep", default="2,3,4", help="passage_chunks values ('' to skip)")
    parser.add_argument("--fresh", type=int, default=2, help="new processes timed each way (0 to skip)")
    parser.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    qs = questions(answerable=True, limit=args.questions)
    sizes = [int(s) for s in args.sweep.split(",") if s]
    if args.child == "ours":
        print(RESULT + json.dumps(child_ours(qs, sizes)), flush=True)
    elif args.child == "baseline":
        print(RESULT + json.dumps(child_baseline(qs)), flush=True)
    else:
        run(args.questions, not args.skip_baseline, args.sweep, args.fresh)


if __name__ == "__main__":
    main()
