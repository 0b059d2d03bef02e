"""The chat UI's handlers, on a tiny corpus with a fake embedder and a fake LLM: no server, no models."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

from rag.citations import Answer, Citation
from rag.config import Settings
from rag.embedding import FakeEmbedder
from rag.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.prompts import NO_ANSWER
from rag.ui import SEARCHING, ask_json, build_app, inert, render_answer, respond, status

ARTICLES = {
    "geneva.txt": (
        "Geneva talks end with a land offer\n"
        "Negotiators in Geneva proposed a land swap along the northern border on Monday.\n"
        "The offer would hand the eastern ports to Kyiv within a year.\n"
    ),
    "bakery.txt": (
        "Springfield bakery <script>alert(1)</script> opens\n"
        "The mayor of Springfield opened a bakery called <script>alert(1)</script> downtown on Tuesday.\n"
        "Bread prices in the town fell after the opening.\n"
    ),
    "weather.txt": "Storm warning for the coast\nHeavy rain and strong winds are expected on the coast this weekend.\n",
}
CLAIM = "Negotiators in Geneva proposed a land swap along the northern border [1]."
QUESTION = "What land swap did negotiators in Geneva propose?"

MakePipeline = Callable[..., Pipeline]


@pytest.fixture
def make_pipeline(tmp_path: Path) -> MakePipeline:
    """Build a pipeline over the tiny corpus whose fake LLM replays the given replies."""
    corpus = tmp_path / "ui-corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")

    def make(*replies: str) -> Pipeline:
        settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus)
        return Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM(replies))

    return make


def contents(history: list[dict]) -> list[str]:
    return [str(m["content"]) for m in history]


def test_respond_streams_the_draft_then_replaces_it_with_the_verified_answer(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(f"Relevant: [1]\nAnswer: {CLAIM}")
    snapshots = list(respond(pipeline, QUESTION, [], 10, "", ""))

    assert contents(snapshots[0]) == [inert(QUESTION), SEARCHING]
    streamed = [h[-1]["content"] for h in snapshots[1:-1]]
    assert len(streamed) >= 3, "the draft should arrive piece by piece"
    assert streamed[0] == "Negotiators"
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(streamed))

    final = snapshots[-1]
    assert [m["role"] for m in final] == ["user", "assistant"]
    text = final[-1]["content"]
    assert text.startswith(inert("Negotiators in Geneva proposed a land swap along the northern border [1]."))
    assert "**Sources**" in text
    assert "\\[1\\] Geneva talks end with a land offer · date unknown · geneva.txt" in text
    assert "> “Negotiators in Geneva proposed a land swap along the northern border on Monday.”" in text


def test_respond_keeps_earlier_turns(make_pipeline: MakePipeline) -> None:
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    final = list(respond(make_pipeline(CLAIM), QUESTION, earlier))[-1]
    assert final[:2] == earlier
    assert len(final) == 4


def test_an_empty_question_shows_the_error_message_in_the_chat(make_pipeline: MakePipeline) -> None:
    snapshots = list(respond(make_pipeline(), "   ", []))
    final = snapshots[-1]
    assert len(final) == 1 and final[0]["role"] == "assistant"
    assert "The question is empty" in final[0]["content"]
    assert "Traceback" not in final[0]["content"]


def test_a_malformed_date_is_a_message_not_a_crash(make_pipeline: MakePipeline) -> None:
    final = list(respond(make_pipeline(CLAIM), QUESTION, [], 10, "2025/03/01", ""))[-1]
    assert "YYYY-MM-DD" in final[-1]["content"]


def test_script_in_an_article_is_escaped_in_the_rendered_sources(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline("The mayor of Springfield opened a bakery downtown [1].")
    question = "What did the mayor of Springfield open <img src=x onerror=alert(1)>?"
    final = list(respond(pipeline, question, []))[-1]
    asked, answered = final[0]["content"], final[-1]["content"]

    assert "<img" not in asked and "&lt;img src=x onerror=alert(1)&gt;" in asked
    # Cited or only shown as the closest passage: either way the bakery sentence is listed.
    assert "bakery.txt" in answered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answered
    assert "<script>" not in answered


def test_render_answer_escapes_html_and_markdown_everywhere() -> None:
    evil = "<script>alert(1)</script> [link](javascript:alert(1)) ![x](http://e.test/t.png) $5"
    citation = Citation(
        n=1, source="a<b>.txt", quote=evil, start=0, end=len(evil), title=evil, outlet="<i>O</i>", date=None
    )
    answer = Answer(question="q", text=f"Claim {evil} [1].", answered=True, citations=[citation], model="<m>")
    text = render_answer(answer)
    assert "<" not in text.replace("&lt;", "")
    assert "](" not in text.replace("\\](", "")
    assert "\\$5" in text
    assert "date unknown" in text


def test_an_abstention_shows_the_refusal_and_the_closest_passages(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline("I cannot tell.")
    final = list(respond(pipeline, "Who won the 2024 Super Bowl in Geneva?", []))[-1]
    text = final[-1]["content"]
    assert text.startswith(inert(NO_ANSWER))
    assert "**Sources**" not in text
    if "Closest passages" in text:
        assert "(they do not answer the question)" in text


def test_ask_json_returns_the_answer_as_a_dict(make_pipeline: MakePipeline) -> None:
    result = ask_json(make_pipeline(CLAIM), QUESTION)
    assert {"question", "text", "answered", "citations", "evidence", "removed", "model", "seconds"} <= result.keys()
    assert result["answered"] is True
    assert result["citations"][0]["source"] == "geneva.txt"
    assert result["text"] == "Negotiators in Geneva proposed a land swap along the northern border [1]."


def test_ask_json_turns_user_errors_into_gradio_errors(make_pipeline: MakePipeline) -> None:
    with pytest.raises(gr.Error, match="question is empty"):
        ask_json(make_pipeline(), "")


def test_the_app_exposes_only_the_ask_endpoint_and_a_status_line(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    app = build_app(pipeline)
    assert isinstance(app, gr.Blocks)
    endpoints = app.get_api_info()["named_endpoints"]
    assert list(endpoints) == ["/ask"]
    assert [p["parameter_name"] for p in endpoints["/ask"]["parameters"]] == ["question", "k", "since", "until"]
    assert status(pipeline) == "**3** articles indexed · **3** chunks · model `fake`"
