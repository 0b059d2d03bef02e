"""The chat UI's handlers, on a tiny corpus with a fake embedder and a fake LLM: no server, no models."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

from rag.core.citations import Answer, Citation, Removed
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.interfaces import corpus
from rag.interfaces.ui import (
    SEARCHING,
    VIEWER_EMPTY,
    ask_json,
    build_app,
    delete_file,
    inert,
    local_alternatives,
    open_citation,
    render_answer,
    respond,
    status,
    upload_files,
)
from rag.interfaces.views import READING, answer_markdown, article_html, parse_cite_link
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.models.prompts import NO_ANSWER
from rag.models.weights import LOCAL_MODELS
from rag.pipeline import Pipeline
from rag.session import Session
from tests.conftest import ingest_elsewhere

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
    pipeline = make_pipeline(f"Sentences: [1]\nAnswer: {CLAIM}")
    snapshots = list(respond(Session(pipeline), QUESTION, [], 10, "", ""))

    assert contents(snapshots[0]) == [inert(QUESTION), SEARCHING]
    passages = snapshots[1][-1]["content"]
    assert passages.startswith(f"_{READING}:_"), "the passages show before the model's first token"
    assert "Geneva talks end with a land offer · no date in the article · geneva.txt](#cite/" in passages
    assert "> Negotiators in Geneva proposed a land swap" in passages
    streamed = [h[-1]["content"] for h in snapshots[2:-1]]
    assert all(s.endswith("\n\n" + passages) for s in streamed), "the passages stay under the draft"
    drafts = [s[: -len(passages)].rstrip() for s in streamed]
    assert len(drafts) >= 3, "the draft should arrive piece by piece"
    assert drafts[0] == "Negotiators"
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(drafts))

    final = snapshots[-1]
    assert [m["role"] for m in final] == ["user", "assistant"]
    text = final[-1]["content"]
    chip = "[\\[1\\]](#cite/35/114/geneva.txt)"
    assert text.startswith(f"Negotiators in Geneva proposed a land swap along the northern border {chip}.")
    assert "**Sources**" in text
    assert "\\[1\\] Geneva talks end with a land offer · no date in the article · geneva.txt" in text
    assert "> “Negotiators in Geneva proposed a land swap along the northern border on Monday.”" in text


def test_respond_keeps_earlier_turns(make_pipeline: MakePipeline) -> None:
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    final = list(respond(Session(make_pipeline(CLAIM)), QUESTION, earlier))[-1]
    assert final[:2] == earlier
    assert len(final) == 4


def test_an_empty_question_shows_the_error_message_in_the_chat(make_pipeline: MakePipeline) -> None:
    snapshots = list(respond(Session(make_pipeline()), "   ", []))
    final = snapshots[-1]
    assert len(final) == 1 and final[0]["role"] == "assistant"
    assert "The question is empty" in final[0]["content"]
    assert "Traceback" not in final[0]["content"]


def test_a_malformed_date_is_a_message_not_a_crash(make_pipeline: MakePipeline) -> None:
    final = list(respond(Session(make_pipeline(CLAIM)), QUESTION, [], 10, "2025/03/01", ""))[-1]
    assert "YYYY-MM-DD" in final[-1]["content"]


def test_script_in_an_article_is_escaped_in_the_rendered_sources(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline("The mayor of Springfield opened a bakery downtown [1].")
    question = "What did the mayor of Springfield open <img src=x onerror=alert(1)>?"
    final = list(respond(Session(pipeline), question, []))[-1]
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
    links = re.findall(r"\]\(([^)]*)\)", text.replace("\\](", ""))
    assert links and all(link.startswith("#cite/") for link in links), "the only links are our citation links"
    assert "\\$5" in text
    assert "no date in the article" in text


def test_an_abstention_shows_the_refusal_and_the_closest_passages(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline("I cannot tell.")
    final = list(respond(Session(pipeline), "Who won the 2024 Super Bowl in Geneva?", []))[-1]
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


def test_chips_and_source_cards_link_to_the_cited_offsets(make_pipeline: MakePipeline) -> None:
    final = list(respond(Session(make_pipeline(CLAIM)), QUESTION, []))[-1][-1]["content"]
    link = re.search(r"\[\\\[1\\\]\]\((#cite/[^)]+)\)", final)
    assert link, final
    source, start, end = parse_cite_link(link.group(1))
    assert source == "geneva.txt"
    assert (
        ARTICLES["geneva.txt"][start:end]
        == "Negotiators in Geneva proposed a land swap along the northern border on Monday."
    )
    assert (
        f"[\\[1\\] Geneva talks end with a land offer · no date in the article · geneva.txt]({link.group(1)})" in final
    )


@pytest.mark.parametrize("link", ["#cite/1/2", "javascript:alert(1)", "#cite/a/2/x.txt", ""])
def test_a_malformed_citation_link_is_refused(link: str) -> None:
    with pytest.raises(RagError, match="does not point at a cited sentence"):
        parse_cite_link(link)


def test_the_viewer_marks_the_cited_sentence_and_escapes_the_article(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    text = ARTICLES["bakery.txt"]
    start = text.index("The mayor")
    end = text.index("\n", start)
    shown = open_citation(pipeline, f"#cite/{start}/{end}/bakery.txt")
    assert '<mark class="cited">The mayor of Springfield opened a bakery called &lt;script&gt;' in shown
    assert "<script>" not in shown
    assert shown.count("<mark") == 1


def test_the_viewer_shows_only_the_visible_text_of_an_html_article() -> None:
    page = "<html><head><title>T</title><script>evil()</script></head><body><p>Hello <b>there</b>.</p></body></html>"
    start = page.index("Hello")
    shown = article_html(page, "page.html", start, start + 5)
    assert "evil" not in shown
    assert '<mark class="cited">Hello</mark>' in shown
    assert "<b>" not in shown


def test_the_viewer_ignores_offsets_outside_the_article() -> None:
    shown = article_html("Short text.", "a.txt", 5, 500)
    assert "<mark" not in shown and "Short text." in shown


def test_the_viewer_heading_names_the_article() -> None:
    text = "Ferry service resumes\nBy Jane Doe, Reuters. Published 2025-03-16.\nThe ferry resumed service on Sunday.\n"
    shown = article_html(text, "ferry.txt")
    assert '<h3 class="article-title">Ferry service resumes</h3>' in shown
    assert "Reuters · by Jane Doe · 2025-03-16 · ferry.txt" in shown
    assert "data-close" in shown
    undated = article_html("The ferry resumed service on Sunday.", "note.txt")
    assert '<h3 class="article-title">note.txt</h3>' in undated and "no date in the article · note.txt" in undated


def test_closing_the_viewer_empties_it(make_pipeline: MakePipeline) -> None:
    assert open_citation(make_pipeline(), "") == VIEWER_EMPTY


def test_the_articles_table_never_shows_a_blank_title(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    corpus.add_article(pipeline, "note.txt", b"The ferry between Tallinn and Helsinki resumed service on Sunday.\n")
    rows = {row.source: row for row in corpus.list_articles(pipeline)}
    assert rows["note.txt"].title == "The ferry between Tallinn and Helsinki resumed service on Sunday."
    assert rows["note.txt"].date == "no date in the article"
    assert all(row.title for row in rows.values())


def test_copy_gives_markdown_with_a_numbered_reference_list() -> None:
    citation = Citation(n=1, source="a.txt", quote="It  rained.", start=3, end=14, title="Rain", outlet="CNN")
    answer = Answer(question="q", text="It rained [1].", answered=True, citations=[citation])
    assert answer_markdown(answer) == (
        "It rained [1].\n\nReferences:\n\n1. Rain, CNN. `a.txt`, characters 3–14: “It rained.”"
    )


def test_a_session_keeps_the_turns_until_start_over(make_pipeline: MakePipeline) -> None:
    session = Session(make_pipeline(CLAIM, CLAIM))
    list(respond(session, QUESTION, []))
    list(respond(session, "And where was that?", []))
    assert [t.question for t in session.turns] == [QUESTION, "And where was that?"]
    session.reset()
    assert session.turns == []


# Upload and delete: the corpus panel's logic, on the fake pipeline.

UTF16 = "Harbour cranes in Odesa were repaired by Tuesday.\nShips can load grain again."
NO_BREAKS = " ".join(["grain shipments continue along the coast without any pause"] * 150)
HTML = (
    "<html><head><title>Ports reopen</title><style>p {color: red}</style>"
    "<script>document.title = 'owned'; alert(1)</script></head>"
    "<body><p>The port of Izmail reopened on Friday after repairs.</p></body></html>"
)
GOOD = b"Ferry service resumes\nThe ferry between Tallinn and Helsinki resumed service on Sunday.\n"


ACCEPTED, REFUSED = True, False


UPLOADS = [
    ("empty.txt", b"", REFUSED, "no text to index"),
    ("blank.md", b"  \n\n \t\n", REFUSED, "no text to index"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, REFUSED, "binary"),
    (
        "latin1.txt",
        "Café owners in Zürich raised prices.\nThe mayor objected.".encode("latin-1"),
        ACCEPTED,
        "Zürich",
    ),
    ("utf16.txt", UTF16.encode("utf-16"), ACCEPTED, "Odesa"),
    ("no-breaks.txt", NO_BREAKS.encode(), ACCEPTED, "grain shipments"),
    ("ports.html", HTML.encode(), ACCEPTED, "Izmail"),
    ("../../x.txt", GOOD, ACCEPTED, "Tallinn"),
    ("..\\..\\evil.md", GOOD, ACCEPTED, "Tallinn"),
    ("report.pdf", GOOD, REFUSED, "not accepted"),
    ("script.sh", GOOD, REFUSED, "not accepted"),
    ("noextension", GOOD, REFUSED, "needs a name"),
    (".txt", GOOD, REFUSED, "needs a name"),
    ("huge.txt", b"A sentence about ports. " * 300_000, REFUSED, "upload limit"),
    ("geneva.txt", GOOD, REFUSED, "already indexed"),
]


@pytest.mark.parametrize(("name", "data", "outcome", "expect"), UPLOADS, ids=[case[0] for case in UPLOADS])
def test_upload_bad_inputs(make_pipeline: MakePipeline, name: str, data: bytes, outcome: bool, expect: str) -> None:
    """Bad uploads get a plain message, odd but readable ones are indexed, and nothing indexed before changes."""
    pipeline = make_pipeline()
    pipeline.ensure_index()
    folder = pipeline.settings.corpus_dir
    before = pipeline.index.manifest()
    files_before = {p.name: p.read_bytes() for p in folder.iterdir()}

    accepted, message = upload_one(pipeline, name, data)

    assert accepted is outcome, message
    after = pipeline.index.manifest()
    assert {s: after[s] for s in before} == before, "an indexed article changed"
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in files_before} == files_before
    assert not list(folder.parent.glob("x.txt")) and not list(folder.parent.parent.glob("x.txt"))
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary upload file was left behind"
    new = set(after) - set(before)
    if accepted:
        (source,) = new
        assert source == re.split(r"[\\/]", name)[-1], "saved under its plain file name, inside the corpus folder"
        assert (folder / source).read_bytes() == data
        assert after[source].chunks >= 1
        assert expect in (pipeline.index.article_text(source) or "")
        chunks = pipeline.index.all_chunks()
        indexed = " ".join(
            d for d, m in zip(chunks["documents"], chunks["metadatas"], strict=True) if m["source"] == source
        )
        assert expect in indexed
        assert "alert" not in indexed and "color: red" not in indexed
    else:
        assert expect in message
        assert not new
        assert {p.name for p in folder.iterdir()} == set(files_before)


def upload_one(pipeline: Pipeline, name: str, data: bytes) -> tuple[bool, str]:
    """Add one file as the upload handler does, under the given (possibly hostile) name."""
    try:
        return True, corpus.add_article(pipeline, name, data)
    except RagError as exc:
        return False, str(exc)


def test_the_upload_handler_reports_each_file(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    (tmp_path / "up").mkdir()
    good, bad = tmp_path / "up" / "ferry.txt", tmp_path / "up" / "empty.txt"
    good.write_bytes(GOOD)
    bad.write_bytes(b"")
    message = upload_files(pipeline, [str(good), str(bad)])
    assert message.splitlines()[0].startswith("Added ferry.txt (1 chunk).")
    assert "**Not added:** empty.txt: the file has no text to index." in message
    assert "ferry.txt" in pipeline.index.manifest()


def test_an_uploaded_article_can_be_asked_about_and_deleted(make_pipeline: MakePipeline) -> None:
    claim = "The ferry between Tallinn and Helsinki resumed service on Sunday [1]."
    pipeline = make_pipeline(claim)
    pipeline.ensure_index()
    corpus.add_article(pipeline, "ferry.txt", GOOD)
    answer = pipeline.ask("When did the ferry between Tallinn and Helsinki resume service?")
    assert answer.answered and answer.citations[0].source == "ferry.txt"

    assert corpus.delete_article(pipeline, "ferry.txt") == "Deleted ferry.txt."
    assert "ferry.txt" not in pipeline.index.manifest()
    assert not (pipeline.settings.corpus_dir / "ferry.txt").exists()
    assert all(m["source"] != "ferry.txt" for m in pipeline.index.all_chunks()["metadatas"])
    # The folder and the index agree: a later sync does not bring it back.
    assert "ferry.txt" not in pipeline.ingest(progress=False).added
    with pytest.raises(RagError, match="not in the index"):
        corpus.delete_article(pipeline, "ferry.txt")


def test_file_names_in_other_scripts_keep_their_letters(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    assert corpus.add_article(pipeline, "Київ.txt", GOOD) == "Added Київ.txt (1 chunk)."
    assert corpus.add_article(pipeline, "Харків.txt", GOOD) == "Added Харків.txt (1 chunk)."
    assert corpus.safe_name("東京 report.md") == "東京 report.md"
    assert corpus.safe_name("a\x1b[31mred.txt") == "a_31mred.txt"


def test_a_delete_the_index_refuses_keeps_the_file(
    make_pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    corpus.add_article(pipeline, "ferry.txt", GOOD)

    def refuse(source: str) -> None:
        raise RagError("Could not update the index (fault injected by the test).")

    monkeypatch.setattr(pipeline.index, "remove", refuse)
    assert delete_file(pipeline, "ferry.txt").startswith("**Not deleted:**")
    folder = pipeline.settings.corpus_dir
    assert (folder / "ferry.txt").read_bytes() == GOOD
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert "ferry.txt" in pipeline.index.manifest()


def test_an_upload_that_fills_the_disk_leaves_no_temporary_file(
    make_pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    real_write = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:
        real_write(self, data[: len(data) // 2])  # part of it lands, as on a real full disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(RagError, match="No space left on device"):
        corpus.add_article(pipeline, "ferry.txt", GOOD)
    monkeypatch.undo()
    folder = pipeline.settings.corpus_dir
    assert not [p for p in folder.iterdir() if p.name.startswith(".") or p.name == "ferry.txt"]
    assert "ferry.txt" not in pipeline.index.manifest()


def model_props(app: gr.Blocks) -> dict:
    (component,) = [c for c in app.config["components"] if c.get("props", {}).get("elem_id") == "model"]
    return component["props"]


def test_a_model_choice_is_offered_only_when_there_are_several(make_pipeline: MakePipeline) -> None:
    assert model_props(build_app(make_pipeline()))["visible"] is False
    small = make_pipeline()
    small.llm.name = "fake-small"
    props = model_props(build_app(make_pipeline(), {"fake-small": small}))
    assert props["visible"] is True
    assert [choice[0] for choice in props["choices"]] == ["fake", "fake-small"]


def test_only_models_whose_weights_are_here_are_offered(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", model_dir=tmp_path / "models", llm="qwen2.5-coder-1.5b")
    pipeline = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    assert local_alternatives(pipeline) == {}
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / LOCAL_MODELS["qwen2.5-coder-0.5b"].filename).write_bytes(b"")
    (name,) = local_alternatives(pipeline)
    assert name == "qwen2.5-coder-0.5b"
    assert local_alternatives(pipeline)[name].embedder is pipeline.embedder


def test_an_upload_never_replaces_a_file_already_in_the_corpus_folder(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    stray = pipeline.settings.corpus_dir / "notes.txt"
    stray.write_bytes(b"kept as it is")  # in the folder, not indexed yet
    with pytest.raises(RagError, match="already exists in the corpus folder"):
        corpus.add_article(pipeline, "notes.txt", GOOD)
    assert stray.read_bytes() == b"kept as it is"


def test_an_upload_during_another_ingest_is_refused_and_leaves_no_file(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.ensure_index()
    with ingest_elsewhere(pipeline.settings), pytest.raises(RagError, match="Another `rag ingest`"):
        corpus.add_article(pipeline, "ferry.txt", GOOD)
    assert not (pipeline.settings.corpus_dir / "ferry.txt").exists()
    assert "ferry.txt" not in pipeline.index.manifest()


def test_removed_sentences_and_the_reason_show_on_request() -> None:
    answer = Answer(
        question="q",
        text=NO_ANSWER,
        answered=False,
        reason="No sentence of the draft answer was supported by its citations.",
        removed=[Removed(sentence="The <b>Chiefs</b> won.", reason="not in the cited text: Chiefs")],
    )
    assert "Why: No sentence" in render_answer(answer) and "Chiefs" not in render_answer(answer)
    shown = render_answer(answer, show_removed=True)
    assert "Removed by verification" in shown and "&lt;b&gt;Chiefs&lt;/b&gt;" in shown


def test_web_addresses_are_escaped_so_markdown_does_not_link_them() -> None:
    shown = inert("See https://budget.example/2025, www.example.org or mail desk@example.org; 3.5% at 10:30.")
    assert shown == "See https\\://budget.example/2025, www\\.example.org or mail desk\\@example.org; 3.5% at 10:30."


def test_example_questions_are_offered_only_over_the_demo_articles(
    fake_pipeline: Pipeline, make_pipeline: MakePipeline
) -> None:
    def examples(app: gr.Blocks) -> object:
        (chat,) = [c for c in app.config["components"] if c.get("props", {}).get("elem_id") == "chatbot"]
        return chat["props"].get("examples")

    assert examples(build_app(fake_pipeline))  # a copy of the demo articles
    assert not examples(build_app(make_pipeline()))  # articles of another story


def test_the_chat_and_the_command_line_show_the_same_parts_in_the_same_order() -> None:
    from rag.interfaces.cli import format_answer
    from rag.interfaces.views import LABELS

    citation = Citation(n=1, source="a.txt", quote="Ann won.", start=0, end=8, title=None, outlet=None, date=None)
    answer = Answer(
        question="And who won?",
        answered_as="Who won the race?",
        text="Ann won [1].",
        answered=True,
        citations=[citation],
        not_covered=["the time"],
        removed=[Removed(sentence="Bo won.", reason="not stated")],
    )
    labels = [LABELS[p] for p in ("answered_as", "not_covered", "sources", "removed")]
    for shown in (render_answer(answer, show_removed=True), format_answer(answer, show_removed=True)):
        at = [shown.lower().find(label.lower()) for label in labels]
        assert -1 not in at and at == sorted(at), shown
        assert shown.find("Ann won") < at[1]
