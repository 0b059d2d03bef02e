"""The web UI in headless Chromium against a real `rag serve`: streaming, citations, refusal, upload, safety."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from rag.articles.documents import decode, parse_article
from rag.core.config import PROJECT_DIR
from rag.interfaces.views import READING
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

ANSWER_MS = 120_000
TROOPS = "How many troops would Ukraine's army be limited to?"
REFUSAL = "The articles do not answer this question."
SUPER_BOWL = "Who won the 2024 Super Bowl?"
BRIDGE = (
    "Kellerton closes the Zorblatt Bridge\n"
    "KELLERTON (Valley Courier) — The Zorblatt Bridge in Kellerton was closed on Monday after engineers found "
    "cracks in its main span.\n"
    "The city council said the repairs of the Zorblatt Bridge will cost 4.2 million euros.\n"
    "The bridge is expected to reopen in the spring.\n"
)
EVIL = (
    "Council <b>notes</b> <script>window.__pwned = 'script'</script>\n"
    "The council met on Monday <img src=x onerror=\"window.__pwned = 'img'\"> to discuss the budget.\n"
    "Members voted <script>alert('xss')</script> to keep the library open.\n"
)

BUDGET = (
    "Kellerton council publishes its draft budget\n"
    "The Kellerton council published its draft budget on https://budget.kellerton.example/2025 on Monday.\n"
    "Residents can send comments to budget@kellerton.example or visit www.kellerton.example until May.\n"
)

# Record every text the last bot message shows, so the test can tell a streamed answer from one that popped in.
WATCH_STREAM = """() => {
  window.__seen = [];
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chatbot .message.bot, #chatbot [data-testid="bot"]');
    if (bots.length) window.__seen.push(bots[bots.length - 1].innerText);
  }).observe(document.querySelector('#chatbot'), {subtree: true, childList: true, characterData: true});
}"""


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#question textarea", question)
    page.click("#ask")


def last_answer(page):  # type: ignore[no-untyped-def]
    return page.locator('#chatbot [data-testid="bot"]').last


def articles_indexed(page) -> int:  # type: ignore[no-untyped-def]
    status = page.locator("#status").filter(has_text="articles indexed")
    return int(status.inner_text().split()[0])


def upload(page, path: Path) -> str:  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    message = page.locator("#corpus-message")
    message.filter(has_text=path.name).wait_for(timeout=ANSWER_MS)
    return str(message.inner_text())


def test_an_answer_streams_with_chips_that_open_the_cited_sentence(page) -> None:  # type: ignore[no-untyped-def]
    page.evaluate(WATCH_STREAM)
    ask(page, TROOPS)
    answer = last_answer(page)
    answer.filter(has_text="Sources").wait_for(timeout=ANSWER_MS)
    final = answer.inner_text()
    assert "600,000" in final

    seen = [s.strip() for s in page.evaluate("window.__seen") if s.strip() and "Searching" not in s]
    shown = [i for i, s in enumerate(seen) if s.startswith(READING)]
    assert shown, f"the passages were not shown while the model drafted: {seen[:3]}"
    drafts = [s for s in seen[shown[0] :] if not s.startswith(READING) and "Sources" not in s]
    assert len(set(drafts)) >= 2, f"the answer did not arrive piece by piece after the passages: {drafts}"

    chips = page.locator('#chatbot a[href^="#cite/"]')
    assert chips.count() >= 2  # at least one chip in the text and one source card
    chips.first.click()
    mark = page.locator("#source-viewer mark.cited")
    mark.wait_for(timeout=30_000)
    assert "600,000" in mark.inner_text()
    assert mark.is_visible()
    viewer = page.locator("#source-viewer").bounding_box()
    box = mark.bounding_box()
    assert viewer and box and viewer["y"] <= box["y"] <= viewer["y"] + viewer["height"], "not scrolled into view"
    page.screenshot(path=str(ARTIFACTS / "answer.png"), full_page=True)

    page.click("#copy-answer")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "600,000" in copied and "\n\nReferences:\n\n1. " in copied and "[1]" in copied


def test_an_example_the_articles_do_not_answer_gets_the_refusal_and_start_over_clears(page) -> None:  # type: ignore[no-untyped-def]
    example = page.locator("#chatbot").get_by_text(SUPER_BOWL)
    example.click()
    answer = last_answer(page)
    answer.filter(has_text=REFUSAL).wait_for(timeout=ANSWER_MS)
    assert "Sources" not in answer.inner_text()
    page.screenshot(path=str(ARTIFACTS / "refusal.png"), full_page=True)

    page.click("#new-chat")
    # Start over is a queued server event: on a loaded machine it can take seconds to come back.
    example.wait_for(timeout=ANSWER_MS)  # the examples are back on the empty chat
    expect(page.locator('#chatbot [data-testid="bot"]')).to_have_count(0)


def test_an_uploaded_article_can_be_asked_about(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "kellerton-bridge.txt"
    path.write_text(BRIDGE, encoding="utf-8")
    before = articles_indexed(page)
    assert "Added kellerton-bridge.txt" in upload(page, path)
    assert "kellerton-bridge.txt" in page.locator("#articles").inner_text()
    assert articles_indexed(page) == before + 1

    page.get_by_role("tab", name="Chat").click()
    ask(page, "How much will the repairs of the Zorblatt Bridge cost?")
    answer = last_answer(page)
    answer.filter(has_text="Sources").wait_for(timeout=ANSWER_MS)
    assert "4.2 million" in answer.inner_text()
    assert page.locator('#chatbot a[href*="kellerton-bridge.txt"]').count() >= 1
    page.screenshot(path=str(ARTIFACTS / "upload-answer.png"), full_page=True)


def test_script_in_an_article_renders_as_text(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "council.txt"
    path.write_text(EVIL, encoding="utf-8")
    assert "Added council.txt" in upload(page, path)

    page.locator("#article-choice input").click()
    page.get_by_role("option", name="council.txt").click()
    page.click("#open-article")
    viewer = page.locator("#source-viewer")
    viewer.filter(has_text="window.__pwned = 'script'").wait_for(timeout=30_000)
    assert "<script>alert('xss')</script>" in viewer.inner_text()
    assert viewer.locator("script, img, b").count() == 0
    assert "Council <b>notes</b>" in page.locator("#articles").inner_text()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "script-as-text.png"), full_page=True)


def test_an_opened_article_has_a_heading_and_closes(page) -> None:  # type: ignore[no-untyped-def]
    source = "001_8a2a514bf6660ac7.txt"
    article = parse_article(source, (PROJECT_DIR / "seeds" / source).read_bytes())
    page.get_by_role("tab", name="Articles").click()
    page.locator("#article-choice input").click()
    page.get_by_role("option", name=source).click()
    page.click("#open-article")
    title = page.locator("#source-viewer .article-title")
    title.wait_for(timeout=30_000)
    assert title.inner_text() == (article.title or source)  # this one has no headline: its file name
    meta = page.locator("#source-viewer .article-meta").inner_text()
    assert source in meta and (article.date or "no date in the article") in meta
    assert not article.outlet or article.outlet in meta
    page.screenshot(path=str(ARTIFACTS / "article-heading.png"), full_page=True)

    page.click("#source-viewer [data-close]")
    page.locator("#source-viewer").filter(has_text="Click a [n] marker").wait_for(timeout=30_000)
    expect(page.locator("#source-viewer .article-title")).to_have_count(0)


def test_a_web_address_quoted_from_an_article_is_not_a_live_link(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "budget.txt"
    path.write_text(BUDGET, encoding="utf-8")
    assert "Added budget.txt" in upload(page, path)
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Where did the Kellerton council publish its draft budget?")
    answer = last_answer(page)
    answer.filter(has_text="Sources").wait_for(timeout=ANSWER_MS)
    assert "budget.kellerton.example" in answer.inner_text()
    assert page.locator('#chatbot a[href*="kellerton.example"]').count() == 0
    assert page.locator('#chatbot a[href^="mailto:"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "address-as-text.png"), full_page=True)


def test_gradio_client_gets_the_answer_with_citations(server: str) -> None:
    from gradio_client import Client

    result = Client(server, verbose=False).predict(TROOPS, api_name="/ask")
    assert result["answered"] is True
    assert "600,000" in result["text"]
    assert result["citations"]
    for c in result["citations"]:
        text = decode((PROJECT_DIR / "seeds" / c["source"]).read_bytes(), c["source"])
        assert text[c["start"] : c["end"]] == c["quote"]
