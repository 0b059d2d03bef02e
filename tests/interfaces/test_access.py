"""Access control of `rag serve`: who may log in, what a read-only app offers, and the Host/Origin guard."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag.core.errors import RagError
from rag.interfaces.access import Access, RequestGuard, is_loopback, parse_logins, read_logins
from rag.interfaces.ui import build_app
from rag.pipeline import Pipeline


@pytest.mark.parametrize(
    ("host", "logins", "read_only", "writable"),
    [
        ("127.0.0.1", None, False, True),
        ("localhost", None, False, True),
        ("::1", None, False, True),
        ("127.0.0.1", None, True, False),
        ("0.0.0.0", None, False, False),
        ("192.168.1.20", None, False, False),
        ("0.0.0.0", [("editor", "s3cret")], False, True),
        ("0.0.0.0", [("editor", "s3cret")], True, False),
    ],
)
def test_writes_need_loopback_or_a_login(
    host: str, logins: list[tuple[str, str]] | None, read_only: bool, writable: bool
) -> None:
    assert Access.decide(host, logins, read_only=read_only).writable is writable


def test_loopback_is_recognised() -> None:
    assert is_loopback("127.0.0.5") and is_loopback("[::1]") and is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")


def test_logins_are_read_from_a_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "logins"
    path.write_text("# editors\neditor:pa:ss word\n\nviewer:x\n", encoding="utf-8")
    assert read_logins(path, "ignored:when-a-file-is-given") == [("editor", "pa:ss word"), ("viewer", "x")]
    assert read_logins(None, "a:1,b:2") == [("a", "1"), ("b", "2")]
    assert read_logins(None, None) is None


@pytest.mark.parametrize("text", ["editor", "editor:", ":secret", "# only a comment\n"])
def test_a_login_without_a_password_is_refused(text: str) -> None:
    with pytest.raises(RagError, match="RAG_SERVE_AUTH"):
        parse_logins(text, "RAG_SERVE_AUTH")


def test_a_missing_logins_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="Cannot read the logins file"):
        read_logins(tmp_path / "nope", None)


async def _echo(scope: dict, receive: object, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def guarded(host: str, hostnames: tuple[str, ...] = ()) -> httpx.AsyncClient:
    guard = RequestGuard(_echo, Access.decide(host, None, hostnames=hostnames).hostnames)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://127.0.0.1:7860")


def status(client: httpx.AsyncClient, method: str, headers: dict[str, str]) -> int:
    async def go() -> int:
        async with client:
            return (await client.request(method, "/gradio_api/queue/join", headers=headers)).status_code

    # its own thread: a browser test's sync Playwright leaves an event loop running on this one
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(asyncio.run, go()).result()


def test_the_guard_refuses_other_host_names_on_loopback() -> None:
    # a DNS-rebinding page reaches 127.0.0.1 under its own name
    assert status(guarded("127.0.0.1"), "GET", {"host": "attacker.example:7860"}) == 403
    assert status(guarded("127.0.0.1"), "GET", {"host": "localhost:7860"}) == 200
    assert status(guarded("0.0.0.0", ("news.internal",)), "GET", {"host": "news.internal"}) == 200
    assert status(guarded("0.0.0.0", ("news.internal",)), "GET", {"host": "other.internal"}) == 403
    assert status(guarded("0.0.0.0"), "GET", {"host": "anything.internal"}) == 200  # no names given: any


def test_the_guard_refuses_writes_from_other_sites() -> None:
    page = {"host": "127.0.0.1:7860"}
    assert status(guarded("127.0.0.1"), "POST", {**page, "origin": "https://attacker.example"}) == 403
    assert status(guarded("127.0.0.1"), "POST", {**page, "origin": "http://127.0.0.1:7860"}) == 200
    assert status(guarded("127.0.0.1"), "POST", page) == 200  # no Origin: not a browser page; logins decide
    assert status(guarded("127.0.0.1"), "GET", {**page, "origin": "https://attacker.example"}) == 200


def components(app: object) -> set[str]:
    return {c.get("props", {}).get("elem_id") for c in app.config["components"]}  # type: ignore[attr-defined]


def test_a_read_only_app_has_no_upload_or_delete_to_call(fake_pipeline: Pipeline) -> None:
    writable, read_only = build_app(fake_pipeline), build_app(fake_pipeline, writable=False)
    assert {"upload", "delete-article"} <= components(writable)
    assert not {"upload", "delete-article"} & components(read_only)
    assert "read-only" in components(read_only)
    functions = {d.get("api_name") for d in read_only.config["dependencies"]}
    assert not {"upload", "delete"} & functions
    assert len(read_only.config["dependencies"]) == len(writable.config["dependencies"]) - 2


def test_gradios_copies_of_uploads_are_deleted_after_an_hour(fake_pipeline: Pipeline) -> None:
    # Uploads are copied into the corpus folder; Gradio's cache of them is swept every 10 minutes.
    assert build_app(fake_pipeline).delete_cache == (600, 3600)
