"""Crash safety: SIGKILL a real ingest process at random moments; the index stays consistent.

The child processes run the real `rag.ingest.run.ingest` on a real embedded Chroma, but embed with the
FakeEmbedder: the property under test is storage consistency, not the embedding, and the fake
keeps the 50-kill loop within its CI budget (4.5 minutes measured on 2 cores at load average 14;
less on a quiet machine). Children are forked from a fork server so that a kill costs no start-up.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tqdm import tqdm

from rag.articles.chunking import chunk_article
from rag.articles.documents import read_article
from rag.core.config import PROJECT_DIR, Settings
from rag.ingest.run import ingest
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.store.index import Index, release
from tests.conftest import SEEDS

KILLS = 50
FILES = 30


def ingest_child(corpus: str, index_dir: str, ready: Any) -> None:
    """Run the library's ingest exactly as `rag ingest` does, with the FakeEmbedder swapped in."""
    tqdm.set_lock(threading.RLock())  # not tqdm's default process-shared lock, which a kill would leak
    settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index_dir))
    index = Index(settings)
    ready.send(True)
    ingest([settings.corpus_dir], index, FakeEmbedder(), settings, progress=False)


def forkserver() -> Any:
    """Children forked from a server that has imported Chroma and rag once: a kill costs no start-up."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["chromadb", "rag.ingest.run", "rag.store.index", "rag.models.embedding", "tests.ingest.test_crash"]
    )
    return ctx


def start_child(ctx: Any, corpus: Path, index_dir: Path) -> Any:
    """Start an ingest child and return once it is about to ingest (index open)."""
    ready, tell = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=ingest_child, args=(str(corpus), str(index_dir), tell))
    proc.start()
    tell.close()
    while not ready.poll(0.05):
        assert proc.exitcode is None, f"ingest child died on start-up (exit code {proc.exitcode})"
    ready.close()
    return proc


def child_env() -> dict[str, str]:
    return {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(PROJECT_DIR)}


def run_to_completion(ctx: Any, corpus: Path, index_dir: Path) -> float:
    """Run one ingest child to the end; return how long its ingest took."""
    proc = start_child(ctx, corpus, index_dir)
    started = time.perf_counter()
    proc.join(300)
    elapsed = time.perf_counter() - started
    assert proc.exitcode == 0
    return elapsed


@dataclass
class Corpus:
    """A folder of generated articles whose every version is remembered by hash."""

    root: Path
    rng: random.Random
    sentences: list[str]
    versions: dict[str, set[str]] = field(default_factory=dict)
    serial: int = 0

    def write(self, name: str) -> None:
        self.serial += 1
        body = self.rng.sample(self.sentences, k=min(len(self.sentences), self.rng.randint(20, 60)))
        text = f"Report {name} revision {self.serial}\n\n" + " ".join(body) + "\n"
        (self.root / name).write_text(text, encoding="utf-8")
        self.versions.setdefault(name, set()).add(hashlib.sha256(text.encode()).hexdigest())

    def mutate(self) -> None:
        """Change, add and delete files so that an ingest has every kind of work to do."""
        names = sorted(p.name for p in self.root.iterdir())
        for name in self.rng.sample(names, k=max(1, len(names) // 5)):
            self.write(name)
        if len(names) > 20 and self.rng.random() < 0.5:
            (self.root / self.rng.choice(names)).unlink()
        self.write(f"new_{self.serial:04d}.txt")

    def current(self) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.root.iterdir()}


def open_index(corpus: Path, index_dir: Path) -> Index:
    """Open the index as a fresh reader would, with nothing cached from earlier opens."""
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    release(settings)
    return Index(settings)


def check_consistent(index: Index, corpus: Corpus) -> tuple[dict[str, str], int]:
    """Assert that every file in the manifest is wholly indexed; return the manifest and the orphan count.

    Orphans are chunks the manifest does not vouch for (written before a kill reached the manifest,
    or a replaced version not yet deleted): readers skip them and the next ingest deletes them.
    """
    manifest = index.manifest()
    got = index.chunks.get(include=["metadatas"])
    vouched: dict[str, set[str]] = {}
    orphans = 0
    for id_, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
        record = manifest.get(str(meta["source"]))
        if record and record.sha256 == meta["sha256"]:
            vouched.setdefault(record.source, set()).add(id_)
        else:
            orphans += 1
    for source, record in manifest.items():
        assert record.sha256 in corpus.versions.get(source, set()), f"{source}: manifest hash of no written version"
        expected = {f"{source}::{record.sha256[:16]}::{i}" for i in range(record.chunks)}
        assert record.chunks > 0 and vouched.get(source) == expected, f"{source} is half indexed"
    return {s: r.sha256 for s, r in manifest.items()}, orphans


def check_complete(index: Index, corpus: Corpus) -> None:
    """Assert the index holds exactly the corpus as it is now, with no orphan chunks."""
    manifest, orphans = check_consistent(index, corpus)
    assert manifest == corpus.current()
    assert orphans == 0
    chunking = Settings().chunking  # the ingest processes' own
    for source, record in index.manifest().items():
        article = read_article(corpus.root / source, source)
        expected = chunk_article(article, chunking.max_words, chunking.overlap_sentences)
        assert record.chunks == len(expected)


@pytest.mark.slow
def test_sigkill_during_ingest_never_leaves_a_half_indexed_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    sentences = [s.strip() + "." for p in sorted(SEEDS.iterdir()) for s in p.read_text().split(". ") if s.strip()]
    corpus = Corpus(tmp_path / "corpus", rng, sentences)
    corpus.root.mkdir()
    for i in range(FILES):
        corpus.write(f"article_{i:03d}.txt")
    index_dir = tmp_path / "index"
    ctx = forkserver()

    full = run_to_completion(ctx, corpus.root, index_dir)
    per_file = full / FILES
    manifest, _ = check_consistent(open_index(corpus.root, index_dir), corpus)

    kills, repairs, progress = 0, 0, []
    while kills < KILLS:
        corpus.mutate()
        todo = {s: h for s, h in corpus.current().items() if manifest.get(s) != h}
        proc = start_child(ctx, corpus.root, index_dir)
        # Spread kills over this run's expected writing time, and a little past it.
        time.sleep(rng.uniform(0.0, per_file * (len(todo) + 1) * 1.2))
        if proc.exitcode is None:
            proc.kill()
            kills += 1
        proc.join(60)
        index = open_index(corpus.root, index_dir)
        repairs += index.repaired  # Chroma left its vectors unreadable: emptied, to be rebuilt (rag/store/index.py)
        manifest, _ = check_consistent(index, corpus)
        progress.append(sum(manifest.get(s) == h for s, h in todo.items()) / len(todo))
        if kills % 25 == 0 and proc.exitcode != 0:
            run_to_completion(ctx, corpus.root, index_dir)  # the re-run completes the job
            check_complete(open_index(corpus.root, index_dir), corpus)
            manifest = corpus.current()

    run_to_completion(ctx, corpus.root, index_dir)
    check_complete(open_index(corpus.root, index_dir), corpus)
    phases = [sum(p == 0 for p in progress), sum(0 < p < 1 for p in progress), sum(p == 1 for p in progress)]
    print(f"\nfull ingest of {FILES} files {full:.2f} s; {kills} kills in {len(progress)} runs; files of each run's")
    print(f"work stored when it ended: none {phases[0]}, some {phases[1]}, all {phases[2]} (or the run finished)")
    print(f"unreadable Chroma vector segment emptied and rebuilt after {repairs} of the kills")
    assert phases[1] > 0, "no kill landed while files were being written"


def holds_flock(pid: int, path: Path) -> bool:
    """Tell from /proc/locks whether a process holds a flock on a file, without touching the lock."""
    if not path.exists():
        return False
    inode = path.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[4] == str(pid) and parts[5].endswith(f":{inode}"):
            return True
    return False


def test_second_ingest_process_is_refused_while_one_runs(tmp_path: Path) -> None:
    """Two real processes: an ingest is paused while it holds the lock, and `rag ingest` is started."""
    corpus = Corpus(tmp_path / "corpus", random.Random(3), [f"Sentence number {i} of the test." for i in range(400)])
    corpus.root.mkdir()
    for i in range(40):
        corpus.write(f"article_{i:03d}.txt")
    index_dir = tmp_path / "index"
    first = start_child(forkserver(), corpus.root, index_dir)
    try:
        while not holds_flock(first.pid, index_dir / ".ingest.lock"):
            assert first.exitcode is None, "the first ingest finished before it could be paused"
            time.sleep(0.001)
        os.kill(first.pid, signal.SIGSTOP)
        env = {**child_env(), "RAG_CORPUS_DIR": str(corpus.root), "RAG_INDEX_DIR": str(index_dir)}
        second = subprocess.run(
            [sys.executable, "-m", "rag.interfaces.cli", "ingest", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first.join(300)
    assert second.returncode == 2
    assert "Another `rag ingest` is writing this index" in second.stderr and "Traceback" not in second.stderr
    assert first.exitcode == 0
    check_complete(open_index(corpus.root, index_dir), corpus)


def test_readers_skip_chunks_the_manifest_does_not_vouch_for(fake_pipeline: Pipeline) -> None:
    """Between a kill and the next ingest, answers must not quote the half-written file."""
    fake_pipeline.ingest(progress=False)
    question = "What did the initial US plan propose about Ukraine's armed forces and NATO?"
    record = fake_pipeline.index.manifest()["002_bf4c599bf41a5fdc.txt"]
    for source, sha in (("ghost.txt", "0" * 64), (record.source, "1" * 64)):  # unknown file; replaced version
        fake_pipeline.index.chunks.upsert(
            ids=[f"{source}::{sha[:16]}::0"],
            embeddings=fake_pipeline.embedder.embed([question]).tolist(),
            documents=[question],
            metadatas=[{"source": source, "sha256": sha, "chunk": 0, "start": 0, "end": 1, "sentences": "[[0, 1]]"}],
        )
    chunks = fake_pipeline.retriever.retrieve(question, fake_pipeline.embedder.embed([question])[0], 10)
    assert chunks and all(c.metadata["sha256"] == fake_pipeline.index.manifest()[c.source].sha256 for c in chunks)


READERS = 2
WRITER_KILLS = 6
QUESTIONS = ["What did the ministry say about the talks?", "Where were the envoys?", "Who signed the agreement?"]


def reader_child(corpus: str, index_dir: str, stop: Any, results: Any) -> None:
    """Ask questions and read the manifest in a loop, as `rag serve` does, until told to stop.

    Reports how many reads it made and every evidence source the manifest did not list.
    """
    settings = Settings(corpus_dir=Path(corpus), index_dir=Path(index_dir))
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    pipeline._ensured = True  # a reader: never ingests on its own
    reads, strays = 0, []
    while not stop.is_set():
        with pipeline.index.reading():  # one read: evidence and the manifest it must agree with
            evidence = pipeline.evidence(QUESTIONS[reads % len(QUESTIONS)])
            manifest = pipeline.index.manifest()
        strays += [e.source for e in evidence if e.source not in manifest]
        reads += 1
        time.sleep(0.01)  # a question a few milliseconds after the last, still far more often than people ask
    results.put((reads, strays))


@pytest.mark.slow
def test_readers_during_ingests_and_kills_never_crash_or_see_half_files(tmp_path: Path) -> None:
    """Two reader processes ask questions without pause while ingests write the same embedded store
    and are killed mid-write; the readers must neither crash (Chroma segfaults on a store another
    process is writing) nor quote a file the manifest does not hold."""
    rng = random.Random(11)
    sentences = [s.strip() + "." for p in sorted(SEEDS.iterdir()) for s in p.read_text().split(". ") if s.strip()]
    corpus = Corpus(tmp_path / "corpus", rng, sentences)
    corpus.root.mkdir()
    for i in range(10):
        corpus.write(f"article_{i:03d}.txt")
    index_dir = tmp_path / "index"
    ctx = forkserver()
    run_to_completion(ctx, corpus.root, index_dir)
    for i in range(10, 200):
        corpus.write(f"article_{i:03d}.txt")

    stop, results = ctx.Event(), ctx.Queue()
    readers = [
        ctx.Process(target=reader_child, args=(str(corpus.root), str(index_dir), stop, results)) for _ in range(READERS)
    ]
    for reader in readers:
        reader.start()
    try:
        for _ in range(WRITER_KILLS):
            proc = start_child(ctx, corpus.root, index_dir)
            time.sleep(rng.uniform(0.5, 4.0))
            if proc.exitcode is None:
                proc.kill()
            proc.join(60)
            corpus.mutate()
            assert all(r.exitcode is None for r in readers), [r.exitcode for r in readers]
        run_to_completion(ctx, corpus.root, index_dir)
    finally:
        stop.set()
        for reader in readers:
            reader.join(180)
    assert [r.exitcode for r in readers] == [0] * READERS, "a reader crashed (-11 is a segfault inside Chroma)"
    counts = [results.get(timeout=10) for _ in readers]
    assert all(reads > 20 for reads, _ in counts), counts
    assert all(not strays for _, strays in counts), counts
    check_complete(open_index(corpus.root, index_dir), corpus)
    print(f"\nreads per reader while {WRITER_KILLS} ingests were killed and one completed: {[r for r, _ in counts]}")
