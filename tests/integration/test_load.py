"""Load: 20 concurrent users ask one real `rag serve` through the Gradio API, with the real models.

The server answers one question at a time (the local model is one llama.cpp context), so the
others wait in Gradio's queue: every request must come back, none dropped, each answer identical
to the same question asked alone (greedy decoding, KV cache cut back to the system prompt per
question). Throughput and p95 latency are printed and written to artifacts/load.json; timings
are not asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from rag.core.config import PROJECT_DIR
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration

USERS = 20
# Two questions the model answers and two it refuses (every question goes through the model and
# its checks, about 5-15 s each on two cores).
ANSWERED = ["How much of Ukraine's territory does Russia control?", "What tariffs did Trump announce on India?"]
REFUSED = ["What is the best recipe for banana bread?", "Which team won the 2019 Stanley Cup final?"]
ASKED = [ANSWERED[i % 2] for i in range(USERS // 2)] + [REFUSED[i % 2] for i in range(USERS - USERS // 2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `rag serve` on loopback over a temp copy of the seeds and a temp index."""
    root = tmp_path_factory.mktemp("load")
    shutil.copytree(SEEDS, root / "corpus")
    port = free_port()
    env = {
        **os.environ,
        "RAG_CORPUS_DIR": str(root / "corpus"),
        "RAG_INDEX_DIR": str(root / "index"),
        "PYTHONPATH": str(PROJECT_DIR),
    }
    log = open(root / "serve.log", "w")  # noqa: SIM115 -- closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.interfaces.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, (root / "serve.log").read_text()
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "rag serve did not start in 10 minutes"
            time.sleep(1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def ask(url: str, question: str) -> tuple[dict[str, Any], float]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    result = client.predict(question, api_name="/ask")
    return result, time.perf_counter() - started


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "seconds"}


def test_twenty_concurrent_users_get_the_answers_they_would_get_alone(server: str) -> None:
    alone_raw = {q: ask(server, q)[0] for q in [*ANSWERED, *REFUSED]}
    alone = {q: comparable(a) for q, a in alone_raw.items()}
    assert all(alone[q]["answered"] is False for q in REFUSED)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        results = list(pool.map(lambda q: ask(server, q), ASKED))
    wall = time.perf_counter() - started

    assert len(results) == USERS  # pool.map re-raises any failed request, so none errored
    for question, (answer, _) in zip(ASKED, results, strict=True):
        assert comparable(answer) == alone[question], question

    latencies = sorted(seconds for _, seconds in results)
    figures = {
        "users": USERS,
        "model_answers": sum(q in ANSWERED for q in ASKED),
        "wall_seconds": round(wall, 2),
        "throughput_per_minute": round(USERS / wall * 60, 2),
        "latency_p50_seconds": round(statistics.median(latencies), 2),
        "latency_p95_seconds": round(latencies[int(0.95 * (len(latencies) - 1) + 0.5)], 2),
        "latency_max_seconds": round(latencies[-1], 2),
        "alone_seconds": {q: a["seconds"] for q, a in alone_raw.items()},
    }
    out = PROJECT_DIR / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("\nload:", json.dumps(figures))
