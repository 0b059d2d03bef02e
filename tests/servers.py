"""Start real servers for the integration tests: `chroma run` and llama-cpp-python's OpenAI-compatible server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


@contextmanager
def running(cmd: list[str], ready_url: str, log: Path, timeout: float, api_key: str | None = None) -> Iterator[None]:
    """Run a server process until the block ends; wait until `ready_url` answers 200."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
                if httpx.get(ready_url, headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd)} was not ready after {timeout:.0f} s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, storing under `folder`; yields its URL."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    cmd = [str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, f"{url}/api/v2/heartbeat", folder / "chroma.log", timeout=60):
        yield url


@contextmanager
def llama_server(model: Path, folder: Path, threads: int, api_key: str) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server for one GGUF, started as `rag.models.llama_server`
    (which loads the model as the embedded backend does); yields its /v1 base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "rag.models.llama_server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(threads), "--seed", "0", "--api_key", api_key,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    with running(cmd, f"{url}/models", folder / "llama-server.log", timeout=180, api_key=api_key):
        yield url


def chroma_url_from_env() -> str | None:
    """The Chroma server CI started for the tests (RAG_TEST_CHROMA_URL), if any."""
    return os.environ.get("RAG_TEST_CHROMA_URL") or None
