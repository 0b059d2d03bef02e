"""The chat web UI: streamed, verified, cited answers in a Gradio app, plus an `ask` JSON endpoint."""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # must be set before gradio is imported

import gradio as gr

from rag.citations import Answer, Citation
from rag.errors import RagError
from rag.pipeline import Pipeline, check_date

log = logging.getLogger(__name__)

Message = dict[str, Any]

EXAMPLES = [
    "What land terms were proposed?",
    "How much of Ukraine's territory does Russia control?",
    "What tariffs did Trump announce on India?",
    "Who won the 2024 Super Bowl?",
]
SEARCHING = "_Searching the articles…_"
# Markdown syntax that could turn article or model text into links, images, emphasis, tables or maths.
_MARKDOWN = re.compile(r"([\\`*_\[\]{}#|~$])")


def inert(text: str) -> str:
    """Escape HTML and Markdown syntax so the text displays literally."""
    return html.escape(_MARKDOWN.sub(r"\\\1", text), quote=False)


def render_source(c: Citation, also: bool = True) -> str:
    """Render one citation as a Markdown source line and its quoted sentence."""
    head = " · ".join(filter(None, [c.title, c.outlet, c.date or "date unknown", c.source]))
    lines = [f"\\[{c.n}\\] {inert(head)}  ", f"> “{inert(' '.join(c.quote.split()))}”"]
    if also and c.also_reported_by:
        lines.append(f"\n_Also reported by: {inert(', '.join(c.also_reported_by))}_")
    return "\n".join(lines)


def render_answer(answer: Answer) -> str:
    """Render a final Answer as Markdown: the verified text, then its numbered sources."""
    parts = [inert(answer.text)]
    if answer.notice:
        parts.insert(0, f"⚠️ _{inert(answer.notice)}_")
    if answer.citations:
        parts.append("**Sources**")
        parts.extend(render_source(c) for c in answer.citations)
    elif answer.evidence:
        parts.append("**Closest passages found (they do not answer the question):**")
        parts.extend(render_source(c, also=False) for c in answer.evidence)
    parts.append(f"_{inert(answer.model or 'model')} · {answer.seconds:.1f} s_")
    return "\n\n".join(parts)


def status(pipeline: Pipeline) -> str:
    """Describe the index and the model in one Markdown line."""
    try:
        with pipeline.index.guard():
            articles, chunks = len(pipeline.index.manifest()), pipeline.index.chunk_count()
        return f"**{articles}** articles indexed · **{chunks}** chunks · model `{inert(pipeline.llm.name)}`"
    except RagError as exc:
        return f"⚠️ {inert(str(exc))}"


def respond(
    pipeline: Pipeline,
    question: str,
    history: list[Message] | None,
    k: float | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Iterator[list[Message]]:
    """Append the question to the chat and yield it as the answer streams, ending with the verified answer."""
    history = list(history or [])
    if question.strip():
        history.append({"role": "user", "content": inert(question)})

    def reply(content: str) -> list[Message]:
        return [*history, {"role": "assistant", "content": content}]

    yield reply(SEARCHING)
    try:
        draft = ""
        options = {"since": check_date(since, "since"), "until": check_date(until, "until")}
        for event in pipeline.ask_stream(question, k=int(k) if k else None, **options):
            if isinstance(event, Answer):
                yield reply(render_answer(event))
            else:
                draft += event
                yield reply(inert(draft))
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
        return pipeline.ask(question, k=int(k) if k else None, **options).model_dump()
    except RagError as exc:
        raise gr.Error(str(exc)) from None


def build_app(pipeline: Pipeline) -> gr.Blocks:
    """Build the chat UI and the `ask` API endpoint for one pipeline."""

    def answer(question: str, history: list[Message], k: float, since: str, until: str) -> Iterator[list[Message]]:
        """Stream the reply to the question taken from the textbox or an example."""
        yield from respond(pipeline, question, history, k, since, until)

    def ask(question: str, k: int | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Answer a question from the articles; returns the Answer (text, citations, ...) as JSON."""
        return ask_json(pipeline, question, k, since, until)

    def take(question: str) -> tuple[str, str]:
        """Clear the textbox and keep its question for the answering step."""
        return "", question

    def pick(evt: gr.SelectData) -> str:
        """Take the clicked example's question."""
        return str(evt.value.get("text") or "")

    with gr.Blocks(title="Ask the news", analytics_enabled=False) as app:
        gr.Markdown("## Ask the news\nAnswers come only from the indexed articles, with the sentences they rest on.")
        status_line = gr.Markdown(elem_id="status")
        chatbot = gr.Chatbot(
            label="Answers",
            elem_id="chatbot",
            height=520,
            examples=[{"text": q} for q in EXAMPLES],
            sanitize_html=True,
            allow_tags=False,
            # Dollar amounts in news would otherwise be typeset as maths.
            latex_delimiters=[],
            feedback_options=None,
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
            clear = gr.Button("New chat", elem_id="new-chat", scale=1)
        with gr.Accordion("Options", open=False):
            top_k = min(max(pipeline.settings.top_k, 1), 20)
            k = gr.Slider(1, 20, value=top_k, step=1, label="Chunks to retrieve (k)")
            with gr.Row():
                since = gr.Textbox(label="Since (YYYY-MM-DD)", placeholder="blank = no limit", elem_id="since")
                until = gr.Textbox(label="Until (YYYY-MM-DD)", placeholder="blank = no limit", elem_id="until")
        asked = gr.State("")

        inputs = [asked, chatbot, k, since, until]
        common: dict[str, Any] = {"concurrency_id": "answer", "api_visibility": "private"}
        events = [
            trigger(take, box, [box, asked], queue=False, api_visibility="private").then(
                answer, inputs, chatbot, **common
            )
            for trigger in (box.submit, send.click)
        ]
        events.append(
            chatbot.example_select(pick, None, asked, queue=False, api_visibility="private").then(
                answer, inputs, chatbot, **common
            )
        )
        clear.click(lambda: ([], ""), None, [chatbot, box], cancels=events, queue=False, api_visibility="private")
        app.load(lambda: status(pipeline), None, status_line, api_visibility="private")
        gr.api(ask, api_name="ask", concurrency_id="answer")
    return app


def serve(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Index the corpus if needed, then serve the chat UI until interrupted."""
    from rag import get_pipeline

    pipeline = get_pipeline()
    pipeline.ensure_index()
    app = build_app(pipeline)
    # One answer at a time: the local model runs one generation at a time anyway; others wait in line.
    app.queue(default_concurrency_limit=1, max_size=64)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, show_error=False)
