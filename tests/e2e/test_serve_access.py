"""Access control on a real `rag serve` listening on all interfaces: logins, read-only mode, the Origin guard.

Upload and delete are Gradio events, and `/gradio_api/queue/join` runs any event by its index,
so these tests call the delete event there directly, as an attacker would, not through the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import rag_serve

pytestmark = pytest.mark.e2e

ARTICLE = "003_8988beed483b4692.txt"
LOGIN = ("editor", "correct horse battery")


@pytest.fixture(scope="module")
def with_logins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("serve-logins")
    logins = root / "logins"
    logins.write_text(f"{LOGIN[0]}:{LOGIN[1]}\n", encoding="utf-8")
    with rag_serve(root, "--host", "0.0.0.0", "--auth-file", str(logins), name="serve-logins") as url:
        yield url, root / "corpus"


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("serve-open")
    with rag_serve(root, "--host", "0.0.0.0", name="serve-open") as url:
        yield url, root / "corpus"


def log_in(client: httpx.Client) -> None:
    response = client.post("login", data={"username": LOGIN[0], "password": LOGIN[1]})
    assert response.status_code == 200, response.text


def delete_event(config: dict) -> tuple[int, int]:
    """The fn_index and trigger id of the Delete button's click event."""
    (button,) = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "delete-article"]
    for index, dependency in enumerate(config["dependencies"]):
        if [button, "click"] in dependency["targets"]:
            return index, button
    raise AssertionError("no click event on the Delete button")


def join(client: httpx.Client, fn_index: int, trigger: int, data: list, session: str) -> httpx.Response:
    body = {"data": data, "fn_index": fn_index, "trigger_id": trigger, "session_hash": session, "event_data": None}
    return client.post("gradio_api/queue/join", json=body)


def wait_for_completion(client: httpx.Client, session: str) -> dict:
    with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}, timeout=120) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return message
    raise AssertionError("the event never completed")


def test_without_a_login_nothing_is_served_and_delete_is_refused(with_logins: tuple[str, Path]) -> None:
    url, corpus = with_logins
    with httpx.Client(base_url=url, timeout=30) as anonymous, httpx.Client(base_url=url, timeout=30) as editor:
        assert anonymous.get("config").status_code == 401
        log_in(editor)
        fn_index, trigger = delete_event(editor.get("config").json())

        refused = join(anonymous, fn_index, trigger, [ARTICLE, None], "anonymous-session")
        assert refused.status_code == 401
        assert (corpus / ARTICLE).exists()

        # The same call with a login goes through: the refusal above was the login check, not a bad call.
        # (The page's load event first, as a browser would: it fills the article list the delete picks from.)
        config = editor.get("config").json()
        (load,) = [i for i, d in enumerate(config["dependencies"]) if any(t[1] == "load" for t in d["targets"])]
        assert join(editor, load, None, [None], "editor-session").status_code == 200
        wait_for_completion(editor, "editor-session")
        accepted = join(editor, fn_index, trigger, [ARTICLE, None], "editor-session")
        assert accepted.status_code == 200, accepted.text
        assert wait_for_completion(editor, "editor-session")["success"] is True
        assert not (corpus / ARTICLE).exists()


def test_a_cross_site_request_is_refused_even_with_a_login(with_logins: tuple[str, Path]) -> None:
    url, _ = with_logins
    with httpx.Client(base_url=url, timeout=30) as editor:
        log_in(editor)
        fn_index, trigger = delete_event(editor.get("config").json())
        body = {"data": ["001_8a2a514bf6660ac7.txt", None], "fn_index": fn_index, "trigger_id": trigger}
        response = editor.post("gradio_api/queue/join", json=body, headers={"Origin": "https://attacker.example"})
        assert response.status_code == 403 and "not accepted" in response.text


def test_off_loopback_without_logins_the_server_is_read_only(read_only: tuple[str, Path]) -> None:
    url, corpus = read_only
    with httpx.Client(base_url=url, timeout=30) as anyone:
        config = anyone.get("config").json()
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert "read-only" in ids and not {"upload", "delete-article"} & ids
        before = sorted(p.name for p in corpus.iterdir())
        # every event the app has, called with an article name: none of them deletes anything
        for fn_index, dependency in enumerate(config["dependencies"]):
            trigger = dependency["targets"][0][0] if dependency["targets"] else None
            join(anyone, fn_index, trigger, [ARTICLE, None], f"probe-{fn_index}")
        assert sorted(p.name for p in corpus.iterdir()) == before
        # and asking still works
        answer = httpx.post(f"{url}gradio_api/call/ask", json={"data": ["Where were the talks held?"]}, timeout=30)
        assert answer.status_code == 200
