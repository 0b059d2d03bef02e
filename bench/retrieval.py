"""Retrieval latency at 1k, 10k and 100k chunks, against a bare Chroma query of the same vector.

    .venv/bin/python -m bench.retrieval [--sizes 1000,10000,100000] [--chroma-url URL]

How the scaled corpus is made: the seed articles are chunked as ingest does, and each chunk and
each single sentence becomes a base item embedded with the real MiniLM. Scaled chunk i is base
item i mod n, with its vector plus deterministic Gaussian noise (seeded by i, sigma 0.05 per
dimension, renormalised), so neighbours are realistic but no two vectors are equal, and its
text with about a quarter of its words replaced by seeded pseudo-words of the same length (so
sentence offsets stay valid and BM25 sees a growing vocabulary, not identical documents).
Chunks are grouped ten to a synthetic file with a manifest entry, like a corpus of 10,000
ten-chunk articles at 100k. Topic words still repeat far more than in a real archive, which
makes BM25's posting lists long: a pessimistic case for the lexical retriever.

One collection grows from the smallest size to the largest; at each size, the eval questions are
embedded once, then timed through our Retriever.retrieve (dense through llama-index's
ChromaVectorStore, BM25, fusion, and the read of the sentences before each chunk) and through
`collection.query` with the same vector and the same number of results. The first query after a
size change builds BM25 (and saves it beside the index) and is reported apart. Then a fresh
process opens the index and asks one question, as `rag ask` or a new `rag serve` worker does:
through `Pipeline.evidence` (the index's format check, the question's embedding, the retrieval and
the passages), loading the saved BM25 instead of building it. The manifest entries are written as
ingest writes them (each with its facts digest, the index format stamped), so that process finds
an index as ingest leaves it, with nothing to upgrade.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from llama_index.core import QueryBundle
from tqdm import tqdm

from bench.common import machine, peak_rss_mb, percentile, questions, verdict
from rag.articles.chunking import chunk_article
from rag.articles.documents import iter_article_paths, read_article
from rag.core.config import PROJECT_DIR, Settings
from rag.evidence.passages import build_passages
from rag.models.embedding import SentenceTransformerEmbedder, model_folder
from rag.models.minilm import MiniLM
from rag.retrieve.hybrid import Retriever
from rag.store.index import INDEX_FORMAT, Index, date_ordinal

T = TypeVar("T")
SEEDS = PROJECT_DIR / "seeds"
SIGMA = 0.05
CHUNKS_PER_FILE = 10


def seed_items(settings: Settings) -> list[tuple[str, dict[str, object]]]:
    """Every seed chunk, and every seed sentence as a chunk of its own, with chunk-like metadata."""
    out = []
    for path in iter_article_paths(SEEDS):
        article = read_article(path, path.name)
        common: dict[str, object] = {
            "title": article.title or "",
            "outlet": article.outlet or "",
            "date_ord": date_ordinal(article.date),
        }
        if article.date:
            common["date"] = article.date
        for c in chunk_article(article, settings.chunking.max_words, settings.chunking.overlap_sentences):
            out.append((c.text, {**common, "start": c.start, "end": c.end, "sentences": json.dumps(c.sentences)}))
            for start, end in c.sentences:
                meta = {**common, "start": start, "end": end, "sentences": json.dumps([[start, end]])}
                out.append((article.text[start:end], meta))
    return list({text: (text, meta) for text, meta in out}.values())


def perturb(text: str, seed: int) -> str:
    """Replace about a quarter of the words by pseudo-words of the same length (offsets stay valid)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        return "".join(rng.choice(letters, len(word))) if rng.random() < 0.25 else word

    return re.sub(r"[A-Za-z]{3,}", swap, text)


def grow(index: Index, base: list[tuple[str, dict[str, object]]], vectors: np.ndarray, lo: int, hi: int) -> None:
    """Add scaled chunks lo..hi-1 and their synthetic files' manifest entries."""
    batch = 5000
    for start in tqdm(range(lo, hi, batch), desc=f"Writing chunks {lo}-{hi}", unit="batch", leave=False):
        ids, docs, metas, vecs = [], [], [], []
        for i in range(start, min(start + batch, hi)):
            text, meta = base[i % len(base)]
            noise = np.random.default_rng(i).standard_normal(vectors.shape[1], dtype=np.float32) * SIGMA
            v = vectors[i % len(base)] + noise
            source = f"synthetic/{i // CHUNKS_PER_FILE:06d}.txt"
            ids.append(f"{source}::bench::{i % CHUNKS_PER_FILE}")
            docs.append(perturb(text, i) if i >= len(base) else text)
            metas.append({**meta, "source": source, "sha256": "bench", "chunk": i % CHUNKS_PER_FILE})
            vecs.append((v / np.linalg.norm(v)).tolist())
        index.chunks.add(ids=ids, embeddings=vecs, documents=docs, metadatas=metas)  # type: ignore[arg-type]
        sources = sorted({str(m["source"]) for m in metas})
        index.files.upsert(
            ids=sources,
            embeddings=[[1.0]] * len(sources),
            documents=[""] * len(sources),
            # as ingest records them: a facts digest each (all different, so no file repeats another)
            metadatas=[{"sha256": "bench", "path": s, "chunks": CHUNKS_PER_FILE, "facts": s} for s in sources],
        )
    index.bump()  # as ingest does after writing
    index.set_format(INDEX_FORMAT)


# A new process's first question: load the encoder, then the passages as `rag ask` gets them
# (the index opened and checked, the saved BM25 loaded, retrieval, the passages laid out).
FRESH_PROCESS = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from rag.core.config import Settings
from rag.pipeline import Pipeline
index_dir, chroma_url, question = sys.argv[1:4]
settings = Settings(index_dir=Path(index_dir), corpus_dir=Path(index_dir) / "none", chroma_url=chroma_url or None)
pipeline = Pipeline(settings)
pipeline.embedder.embed([question])
loaded = time.perf_counter()
assert pipeline.evidence(question), "no passages"
first = time.perf_counter() - loaded
# VmHWM, not getrusage: Linux carries the parent's peak into a child's ru_maxrss across fork and exec
rss = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"start_s": loaded - started, "first_s": first, "rss_mb": rss}))
"""


def fresh_process(settings: Settings, question: str) -> dict[str, float]:
    """Time a new process's first question: imports and encoder, then index, BM25 and retrieval."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(settings.index_dir), settings.chroma_url or "", question],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def time_calls(fn: Callable[[T], object], items: Sequence[T], repeat: int) -> list[float]:
    """Call `fn` on each item, `repeat` passes; return each call's time in ms."""
    times = []
    for _ in range(repeat):
        for item in items:
            started = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - started) * 1000)
    return times


def server_rss_mb(pid: int | None) -> float | None:
    """The Chroma server's peak resident set size in MB (Linux /proc), when its pid is given."""
    if pid is None:
        return None
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def run(
    sizes: list[int], chroma_url: str | None = None, repeat: int = 2, server_pid: int | None = None
) -> dict[int, dict[str, float]]:
    print(f"# Retrieval ({machine()})")
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", corpus_dir=Path(tmp) / "none", chroma_url=chroma_url)
        embedder = SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size)
        base = seed_items(settings)
        vectors = embedder.embed([text for text, _ in base])
        qs = questions(limit=20)
        qvecs = embedder.embed(qs)
        pairs = list(zip(qs, qvecs, strict=True))
        print(
            f"scaled corpus: {len(base)} real seed chunks and sentences (MiniLM) + noise sigma {SIGMA}, "
            f"{CHUNKS_PER_FILE} chunks per synthetic file; {len(qs)} eval questions x {repeat}; "
            f"store: {chroma_url or 'embedded'}"
        )
        index = Index(settings)
        retriever = Retriever(index, embedder, settings)
        n = max(settings.retrieval.top_k, settings.retrieval.candidates_per_retriever)
        have = 0
        for size in sorted(sizes):
            grow(index, base, vectors, have, size)
            have = size
            started = time.perf_counter()
            retriever.retrieve(qs[0], qvecs[0], settings.retrieval.top_k)
            first = (time.perf_counter() - started) * 1000
            ours = time_calls(lambda p: retriever.retrieve(p[0], p[1], settings.retrieval.top_k), pairs, repeat)
            bare = time_calls(
                lambda p: index.chunks.query(query_embeddings=[p[1].tolist()], n_results=n), pairs, repeat
            )
            bundles = [QueryBundle(query_str=q, embedding=v.tolist()) for q, v in pairs]
            manifest = time_calls(lambda _: index.manifest(), pairs, 1)
            dense = time_calls(lambda b: retriever._dense(n, None).retrieve(b), bundles, 1)
            lexical = time_calls(lambda p: retriever.search_lexical(p[0], n), pairs, 1)
            evidence = time_calls(
                lambda p: build_passages(
                    retriever.retrieve(p[0], p[1], settings.retrieval.top_k),
                    settings.evidence.passage_chunks,
                    settings.evidence.max_sentences,
                ),
                pairs[:5],
                1,
            )
            fresh = fresh_process(settings, qs[0])
            row = {
                "fresh_s": fresh["start_s"] + fresh["first_s"],
                "fresh_index_s": fresh["first_s"],
                "ours_p50": percentile(ours, 50),
                "ours_p95": percentile(ours, 95),
                "bare_p50": percentile(bare, 50),
                "bare_p95": percentile(bare, 95),
                "first_ms": first,
                "evidence_p50": percentile(evidence, 50),
                "manifest_p50": percentile(manifest, 50),
                "dense_p50": percentile(dense, 50),
                "bm25_p50": percentile(lexical, 50),
                "rss_mb": peak_rss_mb(),
                "fresh_rss_mb": fresh["rss_mb"],
            }
            server = server_rss_mb(server_pid)
            results[size] = row
            print(
                f"{size:>7} chunks: ours p50 {row['ours_p50']:6.1f} ms p95 {row['ours_p95']:6.1f} ms | "
                f"bare Chroma p50 {row['bare_p50']:5.1f} ms p95 {row['bare_p95']:5.1f} ms | "
                f"ours/bare p50 {row['ours_p50'] / row['bare_p50']:4.1f}x | first query (BM25 build) "
                f"{first / 1000:.1f} s | retrieval + evidence selection p50 {row['evidence_p50']:.0f} ms\n"
                f"{'':>16}ours by part, p50: manifest read {row['manifest_p50']:.1f} ms, dense via llama-index "
                f"{row['dense_p50']:.1f} ms, BM25 {row['bm25_p50']:.1f} ms\n"
                f"{'':>16}fresh process, first question retrieved after {row['fresh_s']:.1f} s (imports and encoder "
                f"{fresh['start_s']:.1f} s, then index, saved BM25, retrieval and passages {fresh['first_s']:.1f} s; "
                f"{fresh['wall_s']:.1f} s with Python's start and exit) "
                f"vs building BM25 in this one {first / 1000:.1f} s\n"
                f"{'':>16}peak RSS: this process {row['rss_mb']:.0f} MB (the index, BM25, the encoder and the "
                f"bench's own vectors), the fresh process {row['fresh_rss_mb']:.0f} MB"
                + (f", the Chroma server {server:.0f} MB" if server is not None else ""),
                flush=True,
            )
        unseen = MiniLM(model_folder(embedder.name))  # the pipeline's encoder keeps the vectors of texts it has seen
        unseen.embed(["warm"])
        embed = time_calls(lambda q: unseen.embed([q]), list(qs), 1)
        print(f"question embedding (MiniLM in numpy, a question not seen before) p50 {percentile(embed, 50):.1f} ms")
    top = results[max(results)]
    target = 20 if max(results) <= 100_000 else 100  # the targets: 20 ms at 100k chunks, 100 ms at 1M on a server
    line = verdict(
        f"retrieval p50 at {max(results)} chunks", top["ours_p50"], target, higher_is_better=False, unit=" ms"
    )
    if top["ours_p50"] > target:
        parts = {"dense": top["dense_p50"], "BM25": top["bm25_p50"], "bare Chroma": top["bare_p50"]}
        line += " -- largest part: " + max(parts, key=lambda k: parts[k]) + f" ({max(parts.values()):.1f} ms)"
    print(line)
    print(
        verdict(
            f"first question of a fresh process at {max(results)} chunks",
            top["fresh_s"],
            10,
            higher_is_better=False,
            unit=" s",
        )
    )
    print(
        f"    (of which the corpus-independent imports and encoder load: {top['fresh_s'] - top['fresh_index_s']:.1f} s)"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated collection sizes")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the questions at each size")
    parser.add_argument("--chroma-url", help="measure against a Chroma server instead of the embedded store")
    parser.add_argument("--server-pid", type=int, help="the Chroma server's process id, to report its peak memory")
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")], args.chroma_url, args.repeat, args.server_pid)


if __name__ == "__main__":
    main()
