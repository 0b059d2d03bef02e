"""Sentence splitting and sentence-aware chunks that keep offsets into the source text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.articles.documents import Article

Span = tuple[int, int]

_ABBREVIATIONS = frozenset(
    (
        "mr mrs ms dr prof st jr sr gen gov sen rep lt col capt sgt maj adm pres vs etc inc co corp ltd jan "
        "feb mar apr jun jul aug sep sept oct nov dec no nos fig approx est dept univ u.s u.k u.n e.g i.e a.m "
        "p.m"
    ).split()
)
# Longer runs of words without a sentence break are cut, so one evidence "sentence" fits a prompt.
MAX_SENTENCE_WORDS = 100
# A sentence ends at . ! ? or … (plus closing quotes/brackets and citation markers) followed by whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?:\s*\[\d+\])*(?=\s)")
# A citation marker ("[3]") after a full stop still belongs to the sentence before it.
_NEXT_STARTS_SENTENCE = re.compile(r"\s+(?!\[\d+\])[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ]")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split text[start:end] into sentence spans, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        spans.extend(_split_line(text, line_start, start + line.end()))
    return spans


def _split_line(text: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    cursor = start
    for m in _END.finditer(text, start, end):
        if not _NEXT_STARTS_SENTENCE.match(text, m.end(), end) or _is_abbreviation(text, cursor, m.start()):
            continue
        spans.append((cursor, m.end()))
        cursor = m.end()
    spans.append((cursor, end))
    return [piece for s, e in spans if (trimmed := _trim(text, s, e)) for piece in _cap(text, *trimmed)]


def _cap(text: str, start: int, end: int) -> list[Span]:
    """Cut a run-on "sentence" (text without sentence breaks) into pieces a model can read and quote."""
    words = [m.span() for m in re.finditer(r"\S+", text[start:end])]
    if len(words) <= MAX_SENTENCE_WORDS:
        return [(start, end)]
    return [
        (start + words[i][0], start + words[min(i + MAX_SENTENCE_WORDS, len(words)) - 1][1])
        for i in range(0, len(words), MAX_SENTENCE_WORDS)
    ]


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"[\w.]+$", text[sentence_start:dot])
    if not word:
        return False
    token = word.group(0).lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences from one article."""

    source: str
    index: int
    sentences: tuple[Span, ...]
    text: str

    @property
    def start(self) -> int:
        return self.sentences[0][0]

    @property
    def end(self) -> int:
        return self.sentences[-1][1]


def article_sentences(article: Article) -> list[Span]:
    """Split every readable segment of an article into sentences."""
    return [span for s, e in article.segments for span in split_sentences(article.text, s, e)]


def chunk_article(article: Article, max_words: int, overlap_sentences: int = 1) -> list[Chunk]:
    """Group consecutive sentences into chunks of at most `max_words` words (a long sentence stands alone)."""
    sentences = article_sentences(article)
    words = [len(article.text[s:e].split()) for s, e in sentences]
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last, total = first, words[first]
        while last + 1 < len(sentences) and total + words[last + 1] <= max_words:
            last += 1
            total += words[last]
        group = tuple(sentences[first : last + 1])
        text = " ".join(article.text[s:e] for s, e in group)
        chunks.append(Chunk(article.source, len(chunks), group, text))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - overlap_sentences)
    return chunks
