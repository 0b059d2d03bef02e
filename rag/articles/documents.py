"""Articles: reading files, decoding them, and finding their metadata."""

from __future__ import annotations

import hashlib
import html
import re
import time
from dataclasses import dataclass
from pathlib import Path

from rag.core.errors import RagError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
MAX_FILE_BYTES = 20 * 1024 * 1024
LEAD_CHARS = 90


@dataclass(frozen=True)
class Article:
    """One source file. Every offset elsewhere indexes into `text`."""

    source: str
    text: str
    sha256: str
    segments: tuple[tuple[int, int], ...]
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    date: str | None = None

    @property
    def lead(self) -> str | None:
        """The first line of visible text, shortened: what a list shows when there is no headline."""
        for start, end in self.segments:
            for line in self.text[start:end].splitlines():
                if line.strip():
                    words = " ".join(line.split())
                    return words if len(words) <= LEAD_CHARS else words[: LEAD_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return None


def decode(data: bytes, name: str) -> str:
    """Decode bytes as UTF-8 or UTF-16 (with BOM), falling back to Windows-1252/Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:  # an odd byte count or a lone surrogate
            raise RagError(f"{name}: starts like UTF-16 text but is not valid UTF-16 ({exc.reason}).") from exc
    if b"\x00" in data:
        raise RagError(f"{name}: looks like a binary file (NUL bytes); only text articles can be indexed.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="strict") if _is_cp1252(data) else data.decode("latin-1")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > max(8, len(text) // 100):
        raise RagError(f"{name}: looks like a binary file (control characters); only text articles can be indexed.")
    return text


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def read_article(path: Path, source: str | None = None) -> Article:
    """Read one article file, or raise RagError saying why it cannot be indexed."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise RagError(f"{path.name}: unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise RagError(f"{path.name}: {size / 2**20:.0f} MB is over the {MAX_FILE_BYTES // 2**20} MB limit.")
    return parse_article(source or path.name, path.read_bytes())


def parse_article(source: str, data: bytes) -> Article:
    """Build an Article from a file name and its bytes, or raise RagError saying why it cannot be indexed.

    Whatever goes wrong inside one file becomes that file's RagError, so a caller that skips the
    file on RagError never lets one odd file stop the others.
    """
    try:
        return _parse(source, data)
    except RagError:
        raise
    except Exception as exc:
        raise RagError(f"{source}: cannot be read as an article ({type(exc).__name__}: {exc}).") from exc


def _parse(source: str, data: bytes) -> Article:
    text = decode(data, source)
    is_html = source.lower().endswith((".html", ".htm"))
    try:
        segments, meta = _html_segments(text) if is_html else (((0, len(text)),), {})
    except RagError as exc:
        raise RagError(f"{source}: {exc}") from exc
    if not any(text[s:e].strip() for s, e in segments):
        raise RagError(f"{source}: the file has no text to index.")
    header = "\n".join(text[s:e] for s, e in segments)[:600]
    return Article(
        source=source,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        segments=tuple(segments),
        title=meta.get("title") or _title(text, source),
        outlet=meta.get("outlet") or _outlet(text, header),
        author=meta.get("author") or _author(text, header),
        date=meta.get("date") or _date(header),
    )


_ISO_DATE = re.compile(r"(?<!\d)(20\d\d|19\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_LONG_DATE = re.compile(rf"\b({_MONTHS}) (\d{{1,2}}), (\d{{4}})\b")
_DATE_LINE = re.compile(r"^\s*(?:date|published|updated|posted)\b", re.IGNORECASE | re.MULTILINE)


def _date(header: str) -> str | None:
    """Take a publication date only from a dateline or byline, never from the story's events."""
    for line in header.splitlines()[:6]:
        if not (_DATE_LINE.match(line) or re.search(r"\bBy [A-Z]", line)):
            continue
        if m := _ISO_DATE.search(line):
            return m.group(0)
        if m := _LONG_DATE.search(line):
            month = _MONTHS.split("|").index(m.group(1)) + 1
            return f"{m.group(3)}-{month:02d}-{int(m.group(2)):02d}"
    return None


_OUTLET_NAME = r"[A-Z][\w&'-]*(?:\.[A-Z][\w-]*)?(?: [A-Z][\w&'-]*){0,3}"
_BYLINE = re.compile(rf"\bBy ([A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){{1,3}})(?:,\s*({_OUTLET_NAME}))?")
_AUTHOR_FOOTER = re.compile(r"Author\W?s name\s+([A-Z][^\n]{2,60})")


def _author(text: str, header: str) -> str | None:
    if m := _BYLINE.search(header):
        return m.group(1).strip()
    if m := _AUTHOR_FOOTER.search(text):
        return m.group(1).strip()
    return None


_OUTLET_PATTERNS = (
    re.compile(r"^\(([A-Z][\w.]{1,20})\)\s*[—–-]", re.MULTILINE),  # (CNN) — ...
    re.compile(r"^[A-Z][\w' -]{1,30} • ([A-Z][\w.]{1,20})\s*$", re.MULTILINE),  # Kyiv • UNN
    re.compile(r"\bSubscribe to ([A-Z][\w.]{1,30}) (?:Telegram|newsletter)"),
)


def _outlet(text: str, header: str) -> str | None:
    if (m := _BYLINE.search(header)) and m.group(2):
        return m.group(2).strip()
    for pattern in _OUTLET_PATTERNS:
        if m := pattern.search(text):
            return m.group(1)
    return None


def _title(text: str, source: str) -> str | None:
    """Take the first line as a headline when it reads like one (short, no final full stop)."""
    for line in text.splitlines()[:3]:
        line = line.strip().lstrip("#").strip()
        if not line or _DATE_LINE.match(line) or _BYLINE.search(line):
            continue
        if len(line) <= 160 and not line.endswith((".", '?"', ".”", ":")) and not line.startswith("("):
            return line
        return None
    return None


# One pass over the page, linear in its length whatever it holds. As in a browser, a tag runs to
# the next ">" and an unclosed one to the end of the file, so a run of unclosed "<a" is one match
# (the standard library's HTMLParser rescans from every unclosed tag: quadratic on such input).
# Offsets stay raw, so a citation points into the file as it is on disk.
_MARKUP = re.compile(
    r"<(?:!--.*?(?:-->|\Z)|[!?][^>]*(?:>|\Z)|(/?)([A-Za-z][A-Za-z0-9:-]*)([^>]*)(?:>|\Z))",
    re.DOTALL,
)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "title"})
_RAW_TEXT = frozenset({"script", "style"})  # their text may hold "<" and ends only at the end tag
_META = {"og:title": "title", "og:site_name": "outlet", "author": "author", "article:published_time": "date"}
HTML_SECONDS = 5.0


def _attributes(body: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in _ATTRIBUTE.findall(body):
        found.setdefault(name.lower(), html.unescape(value.strip("\"'")))
    return found


def _html_segments(text: str, budget: float = HTML_SECONDS) -> tuple[list[tuple[int, int]], dict[str, str]]:
    """Spans of visible text (raw offsets) and the metadata of an HTML page."""
    deadline = time.monotonic() + budget
    lowered = text.lower()
    spans: list[tuple[int, int]] = []
    meta: dict[str, str] = {}
    hidden: list[str] = []
    pos = 0

    def visible(start: int, end: int) -> None:
        if not hidden and text[start:end].strip():
            spans.append((start, end))  # entities stay inside the run: "Tom &amp; Jerry" is one span

    for n, match in enumerate(_MARKUP.finditer(text)):
        if match.start() < pos:  # inside a script or style body already skipped
            continue
        if n % 4096 == 0 and time.monotonic() > deadline:
            raise RagError(f"HTML too slow to read (over {budget:.0f} s); save the page as text and add that.")
        visible(pos, match.start())
        pos = match.end()
        closing, tag, body = match.group(1), (match.group(2) or "").lower(), match.group(3) or ""
        if not tag:
            continue
        if closing:
            if tag in hidden:
                del hidden[len(hidden) - 1 - hidden[::-1].index(tag) :]
            continue
        attrs = _attributes(body)
        if tag == "meta":
            key = _META.get((attrs.get("property") or attrs.get("name") or "").lower())
            if key and attrs.get("content", "").strip():
                meta.setdefault(key, attrs["content"].strip())
        elif tag == "time" and attrs.get("datetime"):
            meta.setdefault("date", attrs["datetime"])
        if tag in _RAW_TEXT or tag == "title":
            close = lowered.find(f"</{tag}", pos)
            close = len(text) if close < 0 else close
            if tag == "title" and text[pos:close].strip():
                meta.setdefault("title", " ".join(html.unescape(text[pos:close]).split()))
            pos = close
        elif tag in _HIDDEN and not body.rstrip().endswith("/"):
            hidden.append(tag)
    visible(pos, len(text))

    if "date" in meta:
        m = _ISO_DATE.search(meta["date"])
        meta["date"] = m.group(0) if m else ""
    return spans, meta


def iter_article_paths(root: Path) -> list[Path]:
    """List supported files under a folder (or the file itself), skipping hidden ones."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise RagError(f"{root}: no such file or folder.")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
