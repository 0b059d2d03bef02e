"""Ingest throughput against the bare encoder, and re-ingest of an unchanged corpus against a fresh one.

    .venv/bin/python -m bench.ingest [--copies 8] [--snippets 0] [--chroma-url http://127.0.0.1:8000]

The corpus is the five seed articles copied `--copies` times, each copy with one added closing
line so its hash (and so its chunks) differ, plus `--snippets` files of one generated sentence
each (the shape of a feed of news snippets, where the store's per-write cost shows most). The reference is the same MiniLM model, loaded
once and shared, encoding exactly the chunk texts ingest embeds, with the same batch size;
it runs before and after the ingest and the mean is used, so a busy neighbour affects both.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import machine, verdict, write_text_files
from rag.articles.chunking import chunk_article
from rag.articles.documents import iter_article_paths, read_article
from rag.core.config import PROJECT_DIR, Settings
from rag.models.embedding import SentenceTransformerEmbedder
from rag.pipeline import Pipeline

SEEDS = PROJECT_DIR / "seeds"


def make_corpus(folder: Path, copies: int) -> None:
    files = {}
    for i in range(copies):
        for path in sorted(SEEDS.iterdir()):
            text = path.read_bytes().decode("utf-8")
            files[f"c{i:03d}_{path.name}"] = f"{text.rstrip()}\n\nCopy {i} of this article for the benchmark.\n"
    write_text_files(folder, files)


SNIPPET_WORDS = "market official said talks city council water energy price report minister week company".split()


def make_snippets(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    files = {}
    for i in range(count):
        a, b, c = rng.choice(SNIPPET_WORDS, 3)
        files[f"snippet{i:05d}.txt"] = f"Snippet {i}\nThe {a} {b} {i} was {c} on day {i % 28 + 1}.\n"
    write_text_files(folder, files)


def chunk_texts(folder: Path, settings: Settings) -> list[str]:
    texts: list[str] = []
    for path in iter_article_paths(folder):
        article = read_article(path, path.name)
        texts.extend(
            c.text for c in chunk_article(article, settings.chunking.max_words, settings.chunking.overlap_sentences)
        )
    return texts


class TimedEmbedder:
    """Wrap an embedder and add up the time spent inside it."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started


def raw_encode(embedder: SentenceTransformerEmbedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - started


def run(copies: int, chroma_url: str | None = None, snippets: int = 0) -> dict[str, float]:
    print(f"# Ingest ({machine()})")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_corpus(root / "corpus", copies)
        make_snippets(root / "corpus", snippets)
        settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", chroma_url=chroma_url)
        embedder = SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size)
        embedder.embed(["warm up the model once"])
        texts = chunk_texts(root / "corpus", settings)
        print(f"corpus: {copies} copies of the 5 seeds and {snippets} one-sentence files, {len(texts)} chunks")

        raw_before = raw_encode(embedder, texts)
        timed = TimedEmbedder(embedder)
        pipeline = Pipeline(settings, embedder=timed)
        started = time.perf_counter()
        fresh = pipeline.ingest(progress=False)
        with_bm25 = time.perf_counter() - started  # the pipeline also builds and saves BM25 for the new content
        embedding = timed.seconds
        raw_after = raw_encode(embedder, texts)
        again = pipeline.ingest(progress=False)
        assert fresh.chunks_embedded == len(texts) and again.chunks_embedded == 0

    raw = (raw_before + raw_after) / 2
    raw_rate, ingest_rate = len(texts) / raw, fresh.chunks_embedded / fresh.seconds
    ratio, reingest = ingest_rate / raw_rate, again.seconds / fresh.seconds
    print(f"raw encoder:       {raw_rate:7.1f} chunks/s  ({raw_before:.2f} s before, {raw_after:.2f} s after ingest)")
    print(f"fresh ingest:      {ingest_rate:7.1f} chunks/s  ({fresh.seconds:.2f} s, store: {chroma_url or 'embedded'})")
    print(f"unchanged re-ingest: {again.seconds:.3f} s")
    print(f"BM25 built and saved after the fresh ingest: {with_bm25 - fresh.seconds:.2f} s more")
    other = fresh.seconds - embedding
    print(
        f"inside the fresh ingest: embedding {embedding:.2f} s ({embedding / raw:.2f}x the raw encoder), "
        f"everything else (read, chunk, store writes) {other:.2f} s ({other / fresh.seconds:.0%})"
    )
    line = verdict("ingest / raw encoder throughput", ratio, 0.8, higher_is_better=True)
    if ratio < 0.8:
        why = "the store writes" if other > embedding - raw else "the encoder itself ran slower inside ingest"
        line += f" -- mostly {why}; raw runs varied {abs(raw_before - raw_after) / raw:.0%} between them (shared CPU)"
    print(line)
    print(verdict("unchanged re-ingest / fresh ingest", reingest * 100, 2, higher_is_better=False, unit="%"))
    return {
        "chunks": len(texts),
        "raw_rate": raw_rate,
        "ingest_rate": ingest_rate,
        "ratio": ratio,
        "reingest": reingest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the seed corpus")
    parser.add_argument("--snippets", type=int, default=0, help="one-sentence files added to the corpus")
    parser.add_argument("--chroma-url", help="measure against a Chroma server instead of the embedded store")
    args = parser.parse_args()
    run(args.copies, args.chroma_url, args.snippets)


if __name__ == "__main__":
    main()
