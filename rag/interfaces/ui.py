"""The chat web UI: streamed, cited answers, an article viewer and a corpus panel, plus an `ask` JSON endpoint."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # must be set before gradio is imported

import gradio as gr

from rag.core.citations import Answer
from rag.core.config import DEMO_CORPUS
from rag.core.errors import RagError
from rag.evidence.passages import Reading
from rag.interfaces import corpus
from rag.interfaces.views import (
    CITE_PREFIX,
    answer_markdown,
    article_html,
    inert,
    parse_cite_link,
    render_answer,
    render_reading,
)
from rag.models.weights import LOCAL_MODELS
from rag.pipeline import MAX_K, Pipeline, check_date, check_k
from rag.session import Session

__all__ = ["SEARCHING", "ask_json", "build_app", "inert", "render_answer", "respond", "serve", "status"]

log = logging.getLogger(__name__)

Message = dict[str, Any]

# Example questions about the demo articles, offered only when the corpus holds them.
EXAMPLES = [
    "How many troops would Ukraine's army be limited to?",
    "How much of Ukraine's territory does Russia control?",
    "What tariffs did Trump announce on India?",
    "Who won the 2024 Super Bowl?",
]
SEARCHING = "_Searching the articles…_"
VIEWER_EMPTY = "<p class='article-head'>Click a [n] marker or a source to read the cited sentence in its article.</p>"
ARTICLE_COLUMNS = ["File", "Title", "Outlet", "Date", "Chunks"]
READ_ONLY_NOTE = (
    "_This server is read-only: articles cannot be added or deleted here. Run `rag ingest` on the "
    "server, or start `rag serve` with logins (`--auth-file` or `RAG_SERVE_AUTH`) to allow it._"
)

# Global styles and the one piece of page script: a click on a citation link asks the viewer to open it.
HEAD = """<style>
#chatbot a[href^="#cite/"] { text-decoration: none; }
#chatbot p > a[href^="#cite/"] { display: inline-block; padding: 0 .35em; margin: 0 .1em; border-radius: .6em;
  background: var(--color-accent-soft); font-size: .85em; font-weight: 600; }
</style>"""
VIEWER_CSS = """
.article-head { margin-bottom: .75em; border-bottom: 1px solid var(--border-color-primary); padding-bottom: .5em; }
.article-title { font-size: 1.15em; font-weight: 600; margin: 0 2em .25em 0; }
.article-meta { font-size: .9em; opacity: .8; }
.viewer-close { float: right; font-size: 1.3em; line-height: 1; padding: 0 .3em; cursor: pointer;
  background: none; border: none; }
.article-text { white-space: pre-wrap; line-height: 1.5; }
mark.cited { background: #ffe066; color: #000; padding: 0 .1em; }
"""
VIEWER_JS = f"""
window.ragOpenCitation = (link) => trigger('click', {{cite: link}});
if (!window.ragCiteListener) {{
  window.ragCiteListener = true;
  document.addEventListener('click', (event) => {{
    const a = event.target.closest && event.target.closest('a[href^="{CITE_PREFIX}"]');
    if (!a) return;
    event.preventDefault();
    event.stopPropagation();
    window.ragOpenCitation(a.getAttribute('href'));
  }}, true);
}}
element.addEventListener('click', (event) => {{
  if (event.target.closest && event.target.closest('[data-close]')) trigger('click', {{cite: ''}});
}});
watch('value', () => {{
  const mark = element.querySelector('mark.cited');
  if (mark) mark.scrollIntoView({{block: 'center'}});
}});
"""
COPY_JS = "(text) => { if (text) navigator.clipboard.writeText(text); }"
# Runs before `delete`, which gets its return value as inputs: an empty name when the user cancels.
CONFIRM_DELETE_JS = """(source, model) => [
  source && confirm(`Delete ${source} from the corpus folder and the index?`) ? source : '', model
]"""


def holds_demo(pipeline: Pipeline) -> bool:
    """True when the corpus folder holds the demo articles (the example questions are about them)."""
    corpus = pipeline.settings.corpus_dir
    return all((corpus / p.name).is_file() for p in DEMO_CORPUS.iterdir() if p.suffix == ".txt")


def status(pipeline: Pipeline) -> str:
    """Describe the index and the model in one Markdown line."""
    try:
        with pipeline.index.guard():
            articles, chunks = len(pipeline.index.manifest()), pipeline.index.chunk_count()
        return f"**{articles}** articles indexed · **{chunks}** chunks · model `{inert(pipeline.llm.name)}`"
    except RagError as exc:
        return f"⚠️ {inert(str(exc))}"


def respond(
    session: Session,
    question: str,
    history: list[Message] | None,
    k: float | None = None,
    since: str | None = None,
    until: str | None = None,
    show_removed: bool = False,
) -> Iterator[list[Message]]:
    """Append the question to the chat and yield it as the answer streams, ending with the verified answer."""
    history = list(history or [])
    if question.strip():
        history.append({"role": "user", "content": inert(question)})

    def reply(content: str) -> list[Message]:
        return [*history, {"role": "assistant", "content": content}]

    yield reply(SEARCHING)
    try:
        draft, passages = "", ""
        options = {"since": check_date(since, "since"), "until": check_date(until, "until")}
        for event in session.ask_stream(question, k=check_k(k), passages=True, **options):
            if isinstance(event, Answer):
                yield reply(render_answer(event, show_removed))
            elif isinstance(event, Reading):
                passages = render_reading(event)
                yield reply(passages)
            else:
                draft += event
                yield reply("\n\n".join(filter(None, [inert(draft), passages])))
    except RagError as exc:
        yield reply(f"⚠️ {inert(str(exc))}")
    except Exception:
        # Never show a traceback in the chat; the server log keeps it.
        log.exception("answering %r failed", question)
        yield reply("⚠️ Something went wrong while answering; the server log has the details.")


def ask_json(
    pipeline: Pipeline, question: str, k: int | None = None, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    """Answer a question and return the Answer as a JSON-ready dict, raising gr.Error for user errors."""
    try:
        options = {"since": check_date(since, "since"), "until": check_date(until, "until")}
        return pipeline.ask(question, k=k, **options).model_dump()
    except RagError as exc:
        raise gr.Error(str(exc)) from None


def open_citation(pipeline: Pipeline, link: str) -> str:
    """Render the article a citation link points at, its sentence highlighted; no link closes the viewer."""
    if not link:
        return VIEWER_EMPTY
    try:
        source, start, end = parse_cite_link(link)
    except RagError as exc:
        return f"<p>{inert(str(exc))}</p>"
    return article_html(pipeline.index.article_text(source), source, start, end)


def article_rows(pipeline: Pipeline) -> list[list[Any]]:
    return [[r.source, r.title, r.outlet, r.date, r.chunks] for r in corpus.list_articles(pipeline)]


def upload_files(pipeline: Pipeline, paths: list[str], progress: Callable[..., Any] | None = None) -> str:
    """Add each uploaded file to the corpus; return one line per file saying what happened."""
    lines = []
    for i, path in enumerate(paths or []):
        name = Path(path).name
        if progress:
            progress(i / len(paths), desc=f"Indexing {name}")
        try:
            with open(path, "rb") as handle:
                data = handle.read(corpus.MAX_UPLOAD_BYTES + 1)  # enough to tell that it is too big
            lines.append(inert(corpus.add_article(pipeline, name, data)))
        except (RagError, OSError) as exc:
            lines.append(f"**Not added:** {inert(str(exc))}")
    return "\n\n".join(lines) or "No file was uploaded."


def delete_file(pipeline: Pipeline, source: str | None) -> str:
    if not source:
        return "Nothing deleted."
    try:
        return inert(corpus.delete_article(pipeline, source))
    except RagError as exc:
        return f"**Not deleted:** {inert(str(exc))}"
    except OSError as exc:  # the file could not be moved aside: nothing was changed
        return f"**Not deleted:** {inert(source)}: {inert(exc.strerror or str(exc))}."


def local_alternatives(pipeline: Pipeline) -> dict[str, Pipeline]:
    """Pipelines for the other bundled models whose GGUF is here, sharing the embedder."""
    if pipeline.settings.llm_url:
        return {}
    models = {}
    for name, spec in LOCAL_MODELS.items():
        if name != pipeline.settings.llm and (pipeline.settings.model_dir / spec.filename).exists():
            settings = pipeline.settings.model_copy(update={"llm": name})
            models[name] = Pipeline(settings, embedder=pipeline.embedder)
    return models


def build_app(
    pipeline: Pipeline, alternatives: Mapping[str, Pipeline] | None = None, *, writable: bool = True
) -> gr.Blocks:
    """Build the UI and the `ask` API endpoint; `alternatives` are pipelines for other models to offer.

    Without `writable` the app has no upload or delete at all: no component and no event a request
    could name, so read-only holds for the API as much as for the page.
    """
    pipelines = {pipeline.llm.name: pipeline, **(alternatives or {})}

    def chosen(model: str | None) -> Pipeline:
        return pipelines.get(model or "", pipeline)

    def answer(
        question: str,
        history: list[Message],
        k: float,
        since: str,
        until: str,
        model: str,
        session: Session | None,
        show_removed: bool = False,
    ) -> Iterator[tuple[list[Message], Session, str]]:
        """Stream the reply to the question taken from the textbox or an example."""
        session = session or Session(pipeline)
        session.pipeline = chosen(model)
        turns, copy = len(session.turns), ""
        for shown in respond(session, question, history, k, since, until, show_removed):
            if len(session.turns) > turns:  # the verified answer has arrived
                copy = answer_markdown(session.turns[-1].answer)
            yield shown, session, copy

    def start_over(session: Session | None) -> tuple[list[Message], str, Session | None, str, str]:
        if session:
            session.reset()
        return [], "", session, "", VIEWER_EMPTY

    def ask(question: str, k: int | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Answer a question from the articles; returns the Answer (text, citations, ...) as JSON."""
        return ask_json(pipeline, question, k, since, until)

    def take(question: str) -> tuple[str, str]:
        """Clear the textbox and keep its question for the answering step."""
        return "", question

    def pick(evt: gr.SelectData) -> str:
        """Take the clicked example's question."""
        return str(evt.value.get("text") or "")

    def show_citation(evt: gr.EventData) -> str:
        return open_citation(pipeline, str(getattr(evt, "cite", "")))

    def show_article(source: str | None) -> str:
        if not source:
            return VIEWER_EMPTY
        return article_html(pipeline.index.article_text(source), source)

    def corpus_view(message: str, model: str | None = None) -> tuple[str, Any, Any, str]:
        sources = [r.source for r in corpus.list_articles(pipeline)]
        return message, article_rows(pipeline), gr.update(choices=sources, value=None), status(chosen(model))

    # Gradio finds its progress tracker by this default value.
    def upload(paths: list[str] | None, model: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return (*corpus_view(upload_files(pipeline, paths or [], progress), model), None)

    def delete(source: str | None, model: str) -> tuple[str, Any, Any, str]:
        return corpus_view(delete_file(pipeline, source), model)

    # Uploaded files are copied into the corpus folder; Gradio's own copies go after an hour.
    with gr.Blocks(title="Ask the news", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown("## Ask the news\nAnswers come only from the indexed articles, with the sentences they rest on.")
        status_line = gr.Markdown(elem_id="status")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tab("Chat"):
                    chatbot = gr.Chatbot(
                        label="Answers",
                        elem_id="chatbot",
                        height=520,
                        examples=[{"text": q} for q in EXAMPLES] if holds_demo(pipeline) else None,
                        sanitize_html=True,
                        allow_tags=False,
                        # Dollar amounts in news would otherwise be typeset as maths.
                        latex_delimiters=[],
                        feedback_options=None,
                        buttons=["copy", "copy_all"],
                    )
                    with gr.Row():
                        box = gr.Textbox(
                            placeholder="Ask a question about the articles…",
                            show_label=False,
                            elem_id="question",
                            scale=8,
                            max_length=2000,
                            autofocus=True,
                        )
                        send = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
                    with gr.Row():
                        clear = gr.Button("Start over", elem_id="new-chat", size="sm")
                        copy = gr.Button("Copy answer with references", elem_id="copy-answer", size="sm")
                    with gr.Accordion("Options", open=False):
                        top_k = min(max(pipeline.settings.retrieval.top_k, 1), MAX_K)
                        k = gr.Slider(1, MAX_K, value=top_k, step=1, label="Passages to retrieve (k)", elem_id="k")
                        with gr.Row():
                            since = gr.Textbox(
                                label="Since (YYYY-MM-DD)", placeholder="blank = no limit", elem_id="since"
                            )
                            until = gr.Textbox(
                                label="Until (YYYY-MM-DD)", placeholder="blank = no limit", elem_id="until"
                            )
                        model = gr.Dropdown(
                            list(pipelines),
                            value=pipeline.llm.name,
                            label="Model",
                            elem_id="model",
                            visible=len(pipelines) > 1,
                        )
                        removed = gr.Checkbox(
                            False, label="Show draft sentences that verification removed", elem_id="show-removed"
                        )
                with gr.Tab("Articles", elem_id="articles-tab"):
                    table = gr.Dataframe(
                        headers=ARTICLE_COLUMNS,
                        interactive=False,
                        elem_id="articles",
                        wrap=True,
                        column_widths=["24%", "40%", "14%", "13%", "9%"],
                    )
                    if writable:
                        files = gr.File(
                            label="Add articles (.txt, .md, .html)",
                            file_count="multiple",
                            file_types=list(corpus.UPLOAD_SUFFIXES),
                            elem_id="upload",
                        )
                    else:
                        gr.Markdown(READ_ONLY_NOTE, elem_id="read-only")
                    corpus_message = gr.Markdown(elem_id="corpus-message")
                    with gr.Row():
                        choice = gr.Dropdown([], label="Article", elem_id="article-choice", scale=4)
                        read = gr.Button("Open", elem_id="open-article", scale=1)
                        if writable:
                            remove = gr.Button("Delete", variant="stop", elem_id="delete-article", scale=1)
            with gr.Column(scale=2):
                viewer = gr.HTML(
                    VIEWER_EMPTY,
                    elem_id="source-viewer",
                    css_template=VIEWER_CSS,
                    js_on_load=VIEWER_JS,
                    head=HEAD,
                    max_height=640,
                    padding=True,
                )
        asked = gr.State("")
        session = gr.State(None)
        copy_text = gr.Textbox(visible="hidden", elem_id="answer-markdown")

        private: dict[str, Any] = {"api_visibility": "private"}
        inputs = [asked, chatbot, k, since, until, model, session, removed]
        outputs = [chatbot, session, copy_text]
        common: dict[str, Any] = {"concurrency_id": "answer", **private}
        events = [
            trigger(take, box, [box, asked], queue=False, **private).then(answer, inputs, outputs, **common)
            for trigger in (box.submit, send.click)
        ]
        events.append(
            chatbot.example_select(pick, None, asked, queue=False, **private).then(answer, inputs, outputs, **common)
        )
        restart = (start_over, session, [chatbot, box, session, copy_text, viewer])
        clear.click(*restart, cancels=events, **private)
        chatbot.clear(*restart, cancels=events, **private)
        copy.click(None, copy_text, None, js=COPY_JS, **private)
        viewer.click(show_citation, None, viewer, queue=False, **private)
        read.click(show_article, choice, viewer, queue=False, **private)
        corpus_outputs = [corpus_message, table, choice, status_line]
        if writable:
            files.upload(upload, [files, model], [*corpus_outputs, files], concurrency_id="corpus", **private)
            remove.click(
                delete, [choice, model], corpus_outputs, js=CONFIRM_DELETE_JS, concurrency_id="corpus", **private
            )
        model.change(lambda m: status(chosen(m)), model, status_line, queue=False, **private)
        app.load(lambda m: corpus_view("", m), model, corpus_outputs, **private)
        gr.api(ask, api_name="ask", concurrency_id="answer")
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    auth_file: Path | None = None,
    read_only: bool = False,
) -> None:
    """Index the corpus if needed, then serve the chat UI until interrupted.

    Off loopback the server is read-only unless logins are configured (`auth_file` or
    RAG_SERVE_AUTH); with logins, every page and API call needs one (see rag/interfaces/access.py).
    """
    from starlette.middleware import Middleware

    from rag import get_pipeline
    from rag.interfaces.access import Access, RequestGuard, read_logins

    pipeline = get_pipeline()
    settings = pipeline.settings
    access = Access.decide(
        host,
        read_logins(auth_file, settings.serve_auth.get_secret_value() if settings.serve_auth else None),
        read_only=read_only,
        hostnames=(settings.serve_hostnames or "").split(","),
    )
    pipeline.preload()  # the models load while the index is checked and the page is served
    pipeline.ensure_index()
    app = build_app(pipeline, local_alternatives(pipeline), writable=access.writable)
    # One answer at a time: the local model runs one generation at a time anyway; others wait in line.
    app.queue(default_concurrency_limit=1, max_size=64)
    log.warning("rag serve on %s:%s: %s", host, port, access.describe())
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=False,
        max_file_size=corpus.MAX_UPLOAD_BYTES,
        auth=access.logins,
        auth_message="Log in to ask the news." if access.logins else None,
        app_kwargs={"middleware": [Middleware(RequestGuard, hostnames=access.hostnames)]},  # type: ignore[arg-type]
    )
