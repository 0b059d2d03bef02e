"""A real `rag serve` on loopback (real embedder and LLM, a temp index and corpus) and a headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.core.config import PROJECT_DIR

ARTIFACTS = PROJECT_DIR / "artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STARTUP_SECONDS = 300  # the first start indexes the seeds with the real embedder on a shared 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(url: str) -> bool:
    """True once the server answers at all (a login page's 401 included)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextmanager
def rag_serve(root: Path, *args: str, env: dict[str, str] | None = None, name: str = "server") -> Iterator[str]:
    """Run `rag serve ARGS` over a copy of the seeds under `root`; yield its loopback URL; stop it after."""
    corpus = root / "corpus"
    shutil.copytree(PROJECT_DIR / "seeds", corpus)
    port = _free_port()
    env = {
        **os.environ,
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_INDEX_DIR": str(root / "index"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env or {}),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.interfaces.cli", "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _up(url):
                if process.poll() is not None:
                    pytest.fail(f"rag serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"rag serve did not respond within {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `rag serve` on loopback over a temp copy of the seeds; yield its URL; stop it after the
    module's tests, so that its loaded model does not take memory and CPU from the tests after them
    (the eval gate times answers)."""
    with rag_serve(tmp_path_factory.mktemp("e2e"), "--host", "127.0.0.1") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium).")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: str) -> Iterator:  # type: ignore[no-untyped-def]
    """A fresh browser tab on the app, with alerts recorded instead of shown."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.accept()))  # type: ignore[attr-defined]
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=60_000)
    yield page
    context.close()
