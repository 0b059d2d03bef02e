"""Duplicate marking on a growing corpus: one new file against every pair compared, in the same run.

    .venv/bin/python -m bench.duplicates [--sizes 1000,2000]

The corpus is generated short reports, each with names and figures of its own (as news snippets
have). For each size the whole corpus is ingested (FakeEmbedder: storage and comparison are under
test, not the encoder), then one file is added. Printed: that one-file ingest, the duplicate
marking it ran (only the articles stating the same facts as the new one), the marking when
nothing changed, and the reference: comparing every pair of articles by similarity, as marking
did before it was keyed by facts.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.common import machine
from rag.articles.duplicates import find_duplicates
from rag.core.config import Settings
from rag.ingest.run import _mark_duplicates
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline


def run(sizes: list[int]) -> None:
    rng = random.Random(1)
    words = [f"word{i}" for i in range(3000)]
    names = [f"Name{i}" for i in range(400)]
    print(f"# Duplicate marking ({machine()})")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for size in sizes:
            for i in range(len(list(corpus.iterdir())), size):
                body = " ".join(rng.sample(words, 60))
                (corpus / f"a{i:05d}.txt").write_text(
                    f"Report {i}\n{body}. {rng.choice(names)} said {i} units moved on day {i % 28}.\n", encoding="utf-8"
                )
            settings = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index")
            pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
            pipeline.ingest(progress=False)
            new = f"new{size}.txt"
            (corpus / new).write_text("Report new\nName1 said 5 units moved on day 3.\n", encoding="utf-8")
            started = time.perf_counter()
            pipeline.ingest(progress=False)
            one_file = time.perf_counter() - started
            started = time.perf_counter()
            _mark_duplicates(pipeline.index, {new})
            touched = time.perf_counter() - started
            started = time.perf_counter()
            _mark_duplicates(pipeline.index, set())
            untouched = time.perf_counter() - started
            started = time.perf_counter()
            manifest = pipeline.index.manifest()
            find_duplicates(
                pipeline.index.chunk_vectors(),
                {s: r.date for s, r in manifest.items()},
                settings.ingest.duplicate_similarity,
            )
            every_pair = time.perf_counter() - started
            print(
                f"{size + 1} articles: one-file ingest {one_file:.2f} s; marking for the new file {touched:.3f} s; "
                f"nothing changed {untouched:.3f} s; reference, every pair compared {every_pair:.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000", help="corpus sizes, comma-separated")
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
