"""What the web UI shows, as inert text: answers with citation chips, source cards and the article viewer.

Everything that comes from an article, a question or the model is escaped here, so no document or
answer can inject HTML, scripts, links or Markdown formatting into the page. The only markup is ours.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, unquote

from rag.articles.documents import Article, parse_article
from rag.core.citations import MARKER, Answer, Citation
from rag.core.errors import RagError
from rag.evidence.passages import Evidence, Reading

# Markdown syntax that could turn article or model text into links, images, emphasis, tables or maths.
_MARKDOWN = re.compile(r"([\\`*_\[\]{}#|~$])")
# What GFM turns into links by itself: a scheme's colon, "www.", and the @ of an address.
_AUTOLINK = re.compile(r"(?i)\b(?:https?|ftp|mailto):|\bwww\.|\w@(?=\w)")
# Citation links in the chat: the page's script turns a click on one into "open this sentence".
CITE_PREFIX = "#cite/"
_CITE = re.compile(r"#cite/(\d+)/(\d+)/([^/\s]+)")


def inert(text: str) -> str:
    """Escape HTML and Markdown syntax so the text displays literally, bare web addresses included:
    Markdown would otherwise turn an article's "https://…" into a live link in the chat."""
    escaped = _AUTOLINK.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], _MARKDOWN.sub(r"\\\1", text))
    return html.escape(escaped, quote=False)


def cite_link(c: Citation | Evidence) -> str:
    """The link target that opens the sentence in the article viewer."""
    return f"{CITE_PREFIX}{c.start}/{c.end}/{quote(c.source, safe='')}"


def parse_cite_link(link: str) -> tuple[str, int, int]:
    """Read (source, start, end) back from a citation link; the browser sends it, so it is checked."""
    m = _CITE.fullmatch(link.strip())
    if not m:
        raise RagError("That link does not point at a cited sentence.")
    return unquote(m.group(3)), int(m.group(1)), int(m.group(2))


NO_DATE = "no date in the article"


def source_label(c: Citation) -> str:
    return " · ".join(filter(None, [c.title, c.outlet, c.date or NO_DATE, c.source]))


def render_source(c: Citation, also: bool = True) -> str:
    """Render one citation as a source card: a link to the article, then its quoted sentence."""
    lines = [f"[\\[{c.n}\\] {inert(source_label(c))}]({cite_link(c)})  ", f"> “{inert(' '.join(c.quote.split()))}”"]
    if also and c.also_reported_by:
        lines.append(f"\n_Also reported by: {inert(', '.join(c.also_reported_by))}_")
    return "\n".join(lines)


def render_text(answer: Answer) -> str:
    """Render the answer's text with each `[n]` as a chip linking to its sentence."""
    by_n = {c.n: c for c in answer.citations}
    parts, last = [], 0
    for m in MARKER.finditer(answer.text):
        parts.append(inert(answer.text[last : m.start()]))
        cited = by_n.get(int(m.group(1)))
        parts.append(f"[\\[{cited.n}\\]]({cite_link(cited)})" if cited else inert(m.group(0)))
        last = m.end()
    parts.append(inert(answer.text[last:]))
    return "".join(parts)


# What an answer shows, in this order, in every interface; each renders the parts in its medium.
LABELS = {
    "answered_as": "Answered as",
    "reason": "Why",
    "not_covered": "The articles found do not cover",
    "retrieval_only": "Retrieval only: these are the most relevant sentences; no summary was generated.",
    "sources": "Sources",
    "closest": "Closest passages found (they do not answer the question)",
    "removed": "Removed by verification",
}


def outline(answer: Answer, show_removed: bool = False) -> list[str]:
    """The parts of an answer to show, in order: "notice", "answered_as", "text", "reason",
    "not_covered", "retrieval_only", "sources" or "closest", and with `show_removed` "removed"."""
    shown = {
        "notice": bool(answer.notice),
        "answered_as": bool(answer.answered_as),
        "text": True,
        "reason": bool(answer.reason),
        "not_covered": bool(answer.not_covered),
        "retrieval_only": answer.retrieval_only and answer.answered,
        "sources": bool(answer.citations),
        "closest": not answer.citations and bool(answer.evidence),
        "removed": show_removed and bool(answer.removed),
    }
    return [part for part, show in shown.items() if show]


def render_answer(answer: Answer, show_removed: bool = False) -> str:
    """Render a final Answer as Markdown: the verified text with chips, then its source cards.

    With `show_removed`, the draft sentences verification took out follow, each with its reason.
    """
    parts = []
    for part in outline(answer, show_removed):
        label = LABELS.get(part, "")
        if part == "notice":
            parts.append(f"⚠️ _{inert(answer.notice or '')}_")
        elif part == "answered_as":
            parts.append(f"_{label}: {inert(answer.answered_as or '')}_")
        elif part == "text":
            parts.append(render_text(answer))
        elif part == "reason":
            parts.append(f"_{label}: {inert(answer.reason)}_")
        elif part == "not_covered":
            parts.append(f"_{label}: " + inert(" / ".join(answer.not_covered)) + "_")
        elif part == "retrieval_only":
            parts.append(f"_{label}_")
        elif part == "sources":
            parts.append(f"**{label}**")
            parts.extend(render_source(c) for c in answer.citations)
        elif part == "closest":
            parts.append(f"**{label}:**")
            parts.extend(render_source(c, also=False) for c in answer.evidence)
        elif part == "removed":
            parts.append(f"**{label}:**")
            parts.extend(f"- ~~{inert(r.sentence)}~~ ({inert(r.reason)})" for r in answer.removed)
    parts.append(f"_{inert(answer.model or 'model')} · {answer.seconds:.1f} s_")
    return "\n\n".join(parts)


READING = "Reading these passages while the model drafts; the verified answer replaces them"
PREVIEW_CHARS = 300


def passage_preview(sentences: list[Evidence]) -> tuple[str, str]:
    """A passage as (label, text): who published it, and its sentences, cut to `PREVIEW_CHARS`."""
    first = sentences[0]
    label = " · ".join(filter(None, [first.title, first.outlet, first.date or NO_DATE, first.source]))
    # The label carries the headline, so a headline sentence is not repeated under it.
    body = [e.text for e in sentences if " ".join(e.text.split()) != first.title] or [first.text]
    text = " ".join(" ".join(body).split())
    return label, text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"


def render_reading(reading: Reading) -> str:
    """Render the passages the model reads as linked cards, shown until the verified answer comes."""
    parts = [f"_{READING}:_"]
    for sentences in reading.passages():
        label, text = passage_preview(sentences)
        parts.append(f"[{inert(label)}]({cite_link(sentences[0])})  \n> {inert(text)}")
    return "\n\n".join(parts)


def answer_markdown(answer: Answer) -> str:
    """Write the answer as plain Markdown with a numbered reference list, for pasting elsewhere."""
    lines = [answer.text]
    if answer.citations:
        lines += ["", "References:", ""]
        for c in answer.citations:
            where = ", ".join(filter(None, [c.title, c.outlet, c.date]))
            quoted = " ".join(c.quote.split())
            lines.append(
                f"{c.n}. {where + '. ' if where else ''}`{c.source}`, characters {c.start}–{c.end}: “{quoted}”"
            )
    return "\n".join(lines)


def article_heading(article: Article | None, source: str) -> str:
    """The viewer's heading: headline, then outlet, author, date and file, and a close button."""
    title = (article.title if article else None) or source
    details = [
        article.outlet if article else None,
        f"by {article.author}" if article and article.author else None,
        (article.date if article else None) or NO_DATE,
        source,
    ]
    return (
        '<div class="article-head"><button class="viewer-close" data-close title="Close the article" '
        'aria-label="Close the article">×</button>'
        f'<h3 class="article-title">{html.escape(title)}</h3>'
        f'<div class="article-meta">{html.escape(" · ".join(filter(None, details)))}</div></div>'
    )


def article_html(text: str | None, source: str, start: int | None = None, end: int | None = None) -> str:
    """Render an article's readable text as escaped HTML, with text[start:end] marked.

    Offsets index the file's decoded text; for an HTML file only its visible segments are shown,
    so the highlight is placed within them rather than in the markup.
    """
    if text is None:
        return f"<p>{html.escape(source)} is not in the index (it may have been deleted).</p>"
    article: Article | None
    try:
        article = parse_article(source, text.encode("utf-8"))
        segments = list(article.segments)
    except RagError:
        article, segments = None, [(0, len(text))]
    span = (start, end) if start is not None and end is not None and 0 <= start < end <= len(text) else None
    body = []
    for s, e in segments:
        if span and s < span[1] and span[0] < e:
            lo, hi = max(s, span[0]), min(e, span[1])
            marked = f'<mark class="cited">{html.escape(text[lo:hi])}</mark>'
            body.append(html.escape(text[s:lo]) + marked + html.escape(text[hi:e]))
        else:
            body.append(html.escape(text[s:e]))
    return article_heading(article, source) + f'<div class="article-text">{chr(10).join(body)}</div>'
