"""Bad input, through the Python API and the CLI: a clear message, and nothing already indexed changes.

Real embedded Chroma with the FakeEmbedder and FakeLLM. The UI-upload column of the matrix is
`tests/interfaces/test_ui.py::test_upload_bad_inputs`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import rag.pipeline
from rag.articles import documents
from rag.core.errors import RagError
from rag.interfaces import corpus as corpus_panel
from rag.interfaces.cli import main
from rag.interfaces.doctor import check_index
from rag.models.llm import FakeLLM
from rag.models.prompts import NO_ANSWER
from rag.pipeline import MAX_QUESTION_CHARS, Pipeline
from tests.conftest import index_snapshot


@dataclass(frozen=True)
class BadFile:
    """A file put into the corpus, and either the refusal it must get or a check of how it was indexed."""

    name: str
    make: Callable[[Path], None]
    refusal: str | None = None
    indexed: Callable[[str], bool] | None = None  # given the file's chunk texts joined


def write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def huge(path: Path) -> None:
    with open(path, "wb") as out:
        line = b"The ministry published another routine statement about the talks today.\n"
        for _ in range(50 * 2**20 // len(line) + 1):
            out.write(line)


def symlink_out(path: Path) -> None:
    secret = path.parent.parent / "outside-secret.txt"
    secret.write_text("Private notes that must not be indexed.", encoding="utf-8")
    os.symlink(secret, path)


HTML_PAGE = (
    "<html><head><title>Talks resume</title><style>body { color: red }</style>"
    "<script>var tracker = 'steal the cookies';</script></head>"
    "<body><noscript>Enable scripts</noscript><p>Envoys met in Geneva on Monday. They agreed to meet again.</p>"
    "<script>document.write('injected text')</script></body></html>"
)
RUN_ON = " ".join(f"word{i}" for i in range(5000))  # 5,000 words, no sentence break, one line

FILES = [
    BadFile("empty.txt", write(b""), refusal="no text to index"),
    BadFile("blank.md", write(b" \n\t\n"), refusal="no text to index"),
    BadFile("photo.txt", write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4), refusal="binary"),
    BadFile("huge.txt", huge, refusal="over the 20 MB limit"),
    BadFile("odd16.txt", write(b"\xff\xfeA\x00B\x00C\x00D"), refusal="not valid UTF-16"),  # odd byte count
    BadFile("surrogate.txt", write(b"\xff\xfeA\x00\x00\xd8B\x00"), refusal="not valid UTF-16"),  # lone surrogate
    BadFile("link.txt", symlink_out, refusal="symlink pointing outside the corpus"),
    BadFile(
        "latin1.txt",
        write("Le café de Kyïv a rouvert. Les négociations reprennent à Genève.".encode("latin-1")),
        indexed=lambda text: "Le café de Kyïv a rouvert." in text and "négociations" in text,
    ),
    BadFile(
        "utf16.txt",
        write("Переговори відновилися в Женеві. Talks resumed — “quoted”.".encode("utf-16")),
        indexed=lambda text: "Переговори відновилися в Женеві." in text and "“quoted”" in text,
    ),
    BadFile(
        "runon.txt",
        write(RUN_ON.encode()),
        # Cut into pieces a prompt can hold, every word kept, in order.
        indexed=lambda text: "word0 " in text and "word4999" in text and "word2500" in text,
    ),
    BadFile(
        "page.html",
        write(HTML_PAGE.encode()),
        indexed=lambda text: (
            "Envoys met in Geneva on Monday." in text
            and not re.search("tracker|cookies|color|injected|Enable scripts", text)
        ),
    ),
]


@pytest.fixture
def indexed(fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The seeds indexed, and the CLI wired to the same pipeline."""
    fake_pipeline.ingest(progress=False)
    monkeypatch.setattr(rag.pipeline, "_default", fake_pipeline)
    return fake_pipeline


def chunk_text(pipeline: Pipeline, source: str) -> str:
    got = pipeline.index.all_chunks()
    return " ".join(d for d, m in zip(got["documents"], got["metadatas"], strict=True) if m["source"] == source)


def assert_seeds_untouched(pipeline: Pipeline, before: tuple[dict, dict]) -> None:
    manifest, chunks = index_snapshot(pipeline)
    seeds = set(before[0])
    assert {s: v for s, v in manifest.items() if s in seeds} == before[0]
    assert {i: v for i, v in chunks.items() if i.split("::")[0] in seeds} == before[1]


@pytest.mark.parametrize("case", FILES, ids=[f.name for f in FILES])
@pytest.mark.parametrize("via", ["api", "cli"])
def test_bad_file(indexed: Pipeline, corpus: Path, case: BadFile, via: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = index_snapshot(indexed)
    path = corpus / case.name
    case.make(path)
    if via == "api":
        report = indexed.ingest(progress=False)
        failed = report.failed.get(case.name, "")
        assert not (report.changed or report.removed)
    else:
        code = main(["ingest", "--quiet", str(path)])
        out = capsys.readouterr()
        failed = out.out if case.refusal else ""
        assert code == (1 if case.refusal else 0) and "Traceback" not in out.err
    if case.refusal:
        assert case.refusal in failed
        assert index_snapshot(indexed) == before
    else:
        assert not failed and case.indexed is not None
        assert case.indexed(chunk_text(indexed, case.name))
        assert_seeds_untouched(indexed, before)


def test_run_on_text_is_cut_into_quotable_pieces(indexed: Pipeline, corpus: Path) -> None:
    (corpus / "runon.txt").write_text(RUN_ON, encoding="utf-8")
    indexed.ingest(progress=False)
    got = indexed.index.all_chunks()
    chunks = [m for m in got["metadatas"] if m["source"] == "runon.txt"]
    assert len(chunks) >= 50
    for meta in chunks:
        for start, end in json.loads(meta["sentences"]):
            assert len(RUN_ON[start:end].split()) <= 100


@pytest.mark.parametrize("via", ["api", "cli"])
@pytest.mark.parametrize("where", ["elsewhere/x.txt", "corpus/../x.txt", "elsewhere"])
def test_ingest_path_outside_the_corpus_is_refused(
    indexed: Pipeline, tmp_path: Path, via: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A same-named file from elsewhere must never replace an indexed article."""
    before = index_snapshot(indexed)
    for folder in (tmp_path / "elsewhere", tmp_path):  # never above tmp_path: other tests look there
        folder.mkdir(exist_ok=True)
        (folder / "x.txt").write_text("Planted text. It claims to be news.", encoding="utf-8")
        (folder / "001_8a2a514bf6660ac7.txt").write_text("A forged copy of a seed.", encoding="utf-8")
    target = tmp_path / where
    if via == "api":
        with pytest.raises(RagError, match="outside the corpus folder"):
            indexed.ingest([target], progress=False)
    else:
        assert main(["ingest", "--quiet", str(target)]) == 2
        err = capsys.readouterr().err
        assert "outside the corpus folder" in err and "Traceback" not in err
    assert index_snapshot(indexed) == before


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01\x1b\x7f", "empty"),
        ("x" * 10_000, f"keep it under {MAX_QUESTION_CHARS}"),
    ],
    ids=["empty", "whitespace", "only-control-characters", "10000-characters"],
)
@pytest.mark.parametrize("via", ["api", "cli"])
def test_bad_question_gets_a_clear_error(
    indexed: Pipeline, question: str, message: str, via: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = index_snapshot(indexed)
    if via == "api":
        with pytest.raises(RagError, match=message):
            indexed.ask(question)
    else:
        assert main(["ask", question]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert index_snapshot(indexed) == before


QUESTION = "What did the initial US plan propose about Ukraine's armed forces and NATO?"
NOISY = "What did the\x00 initial US plan\x1b[31m propose 🇺🇦 about Ukraine's\u202e armed forces and NATO? 🤔"


@pytest.mark.parametrize("via", ["api", "cli"])
def test_control_characters_and_emoji_are_cleaned_before_the_prompt(
    indexed: Pipeline, fake_llm: FakeLLM, via: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = index_snapshot(indexed)
    fake_llm.replies.append(NO_ANSWER)
    fake_llm.judge = lambda _: 0.0  # no passage answers: the refusal stands
    if via == "api":
        answer = indexed.ask(NOISY)
        assert answer.text == NO_ANSWER and not answer.answered
    else:
        assert main(["ask", "--json", NOISY]) == 0
        assert NO_ANSWER in capsys.readouterr().out
    prompt = "\n".join(m["content"] for m in fake_llm.prompts[0])
    assert "🇺🇦" in prompt and "🤔" in prompt
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", prompt)
    assert index_snapshot(indexed) == before


@pytest.fixture
def parser_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected into the HTML reader: any page holding the marker makes it raise IndexError."""
    real = documents._html_segments

    def broken(text: str, *args: object, **kwargs: object) -> object:
        if "BREAKS THE READER" in text:
            raise IndexError("list index out of range")
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(documents, "_html_segments", broken)


def test_an_unexpected_error_in_one_file_skips_that_file_only(
    indexed: Pipeline, corpus: Path, parser_fault: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = index_snapshot(indexed)
    (corpus / "broken.html").write_text("<p>BREAKS THE READER</p>", encoding="utf-8")
    (corpus / "fine.html").write_text("<p>Envoys met again on Tuesday.</p>", encoding="utf-8")

    code = main(["ingest", "--quiet", str(corpus)])
    out = capsys.readouterr()

    assert code == 0 and "Traceback" not in out.err
    assert "broken.html: cannot be read as an article (IndexError: list index out of range)" in out.out
    assert "Envoys met again on Tuesday." in chunk_text(indexed, "fine.html")
    assert "broken.html" not in indexed.index.manifest()
    assert_seeds_untouched(indexed, before)
    # rag doctor judges the file as ingest does: skipped, not "new, run rag ingest"
    checks = check_index(indexed.settings)
    assert not [c for c in checks if c.problem]
    assert any("1 files cannot be indexed" in c.summary for c in checks)
    # an upload of it is refused with the same reason, and leaves nothing behind
    with pytest.raises(RagError, match="IndexError"):
        corpus_panel.add_article(indexed, "again.html", b"<p>BREAKS THE READER</p>")
    assert not (corpus / "again.html").exists()


def test_doctor_does_not_report_a_symlink_ingest_refuses_as_new(indexed: Pipeline, corpus: Path) -> None:
    symlink_out(corpus / "link.txt")
    indexed.ingest(progress=False)
    checks = check_index(indexed.settings)
    assert not [c for c in checks if c.problem], [c.render() for c in checks]
    assert any("1 files cannot be indexed" in c.summary for c in checks)


def test_escape_sequences_in_file_names_are_not_sent_to_the_terminal(
    indexed: Pipeline, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "evil\x1b]0;owned\x07\x1b[31m.txt").write_bytes(b"")
    assert main(["ingest", "--quiet", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\u001b]0;owned\\u0007\\u001b[31m.txt: the file has no text to index" in out


@pytest.mark.parametrize("k", [0, -1, 21, 10**6, 2.5, float("inf"), "many", True])
def test_k_outside_the_slider_range_is_refused(indexed: Pipeline, k: object) -> None:
    with pytest.raises(RagError, match="k must be a whole number from 1 to 20"):
        indexed.ask("Where were the talks held?", k=k)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [1, 20, 5.0, "7"])
def test_k_inside_the_range_is_taken(indexed: Pipeline, k: object) -> None:
    assert indexed.evidence("Where were the talks held?", k=k)  # type: ignore[arg-type]


def test_cli_refuses_a_k_outside_the_range(indexed: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "-k", "1000", "Where were the talks held?"]) == 2
    assert "k must be a whole number from 1 to 20" in capsys.readouterr().err
