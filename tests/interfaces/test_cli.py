"""The CLI as a thin adapter: driven here over a pipeline of fakes."""

import io
import json
import sys
from pathlib import Path

import pytest

import rag.pipeline
from rag.core.config import Settings
from rag.interfaces.cli import main
from rag.interfaces.views import READING
from rag.models.llm import FakeLLM
from rag.models.prompts import NO_ANSWER
from rag.pipeline import Pipeline


@pytest.fixture(autouse=True)
def use_fake_pipeline(fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.pipeline, "_default", fake_pipeline)


def test_ingest_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--quiet"]) == 0
    assert "5 added" in capsys.readouterr().out
    assert main(["ingest", "--quiet"]) == 0
    assert "0 chunks embedded" in capsys.readouterr().out


def test_ask_json_has_the_answer_fields(fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.replies.append(NO_ANSWER)
    assert main(["ask", "--json", "Who won the 2024 Super Bowl?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answered"] is False and data["text"] == NO_ANSWER and data["citations"] == []
    assert {"question", "text", "answered", "citations", "evidence", "removed"} <= set(data)


def test_ask_text_lists_numbered_sources(
    fake_pipeline: Pipeline, fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "What did the initial US plan propose about Ukraine's armed forces and NATO?"
    evidence = fake_pipeline.evidence(question)
    n = next(i for i, e in enumerate(evidence, 1) if "600,000" in e.text)
    fake_llm.replies.append(
        f"The initial US plan proposed that Ukraine reduce its armed forces to 600,000 personnel [{n}]."
    )
    assert main(["ask", question]) == 0
    out = capsys.readouterr().out
    assert "Sources:" in out and "[1] Trump Teases Major Progress" in out and "002_bf4c599bf41a5fdc.txt" in out


def test_ask_on_a_terminal_shows_the_passages_first_on_stderr(
    fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_llm.replies.extend([NO_ANSWER, NO_ANSWER])
    assert main(["ask", "Who won the 2024 Super Bowl?"]) == 0
    assert READING not in capsys.readouterr().err, "piped output gets no progress lines"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["ask", "Who won the 2024 Super Bowl?"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(READING) and ".txt" in captured.err
    assert READING not in captured.out and NO_ANSWER in captured.out


def test_several_questions_are_answered_in_order_and_one_that_fails_stops_none(
    fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_llm.replies.extend([NO_ANSWER] * 5)
    long = "Why? " * 1000  # past the question's length limit
    assert main(["ask", "--json", "Who won the 2024 Super Bowl?", long, "Who won the 2023 Super Bowl?"]) == 2
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["question"] for line in lines] == [
        "Who won the 2024 Super Bowl?",
        long.strip(),
        "Who won the 2023 Super Bowl?",
    ]
    assert lines[0]["text"] == NO_ANSWER and lines[2]["text"] == NO_ANSWER and "characters long" in lines[1]["error"]
    assert captured.err.startswith("error: The question is 4999 characters long")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Who won the 2022 Super Bowl?\n\nWho won the 2021 Super Bowl?\n"))
    assert main(["ask", "Who won the 2020 Super Bowl?", "-"]) == 0
    out = capsys.readouterr().out
    asked = [out.index(f"Q: Who won the {year} Super Bowl?") for year in (2020, 2022, 2021)]
    assert out.count(NO_ANSWER) == 3 and asked == sorted(asked)  # the blank line is skipped
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["ask", "-"]) == 2
    assert capsys.readouterr().err.startswith("error: No question given")


def test_user_errors_print_a_message_and_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "   "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The question is empty") and "Traceback" not in err
    assert main(["ingest", "--quiet", "/no/such/folder"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_chat_shows_what_a_follow_up_was_answered_as(
    fake_pipeline: Pipeline, fake_llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = iter(["What did Merz say about red lines?", "and what did Zelensky say?", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    fake_llm.replies.extend([NO_ANSWER, "What did Zelensky say about red lines?", NO_ANSWER])
    fake_llm.judge = lambda _: 0.0  # no passage answers: both refusals stand
    assert main(["chat"]) == 0
    out = capsys.readouterr().out
    assert out.count(NO_ANSWER) == 2 and "(answered as: What did Zelensky say about red lines?)" in out


def test_corpus_names_the_folder_every_command_works_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_CORPUS_DIR", str(tmp_path))  # recorded, so that teardown undoes what main sets
    monkeypatch.delenv("RAG_CORPUS_DIR")
    assert main(["--corpus", str(tmp_path / "missing"), "ingest"]) == 2
    assert "missing: no such folder." in capsys.readouterr().err
    seen: list[Path] = []
    monkeypatch.setattr("rag.interfaces.cli._ingest", lambda args: seen.append(Settings().corpus_dir) or 0)
    (tmp_path / "news").mkdir()
    assert main(["--corpus", str(tmp_path / "news"), "ingest"]) == 0
    assert seen == [(tmp_path / "news").resolve()]
    assert Settings().index_dir.name.startswith("news-")  # an index of its own


def test_invalid_settings_are_named_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rag.pipeline, "_default", None)  # built from the variables below
    monkeypatch.setenv("RAG_ANSWER__MIN_SUPPORT", "2")
    assert main(["ask", "Who won?"]) == 2
    assert "error: answer.min_support: Input should be less than or equal to 1" in capsys.readouterr().err
    monkeypatch.delenv("RAG_ANSWER__MIN_SUPPORT")
    monkeypatch.setenv("RAG_TOP_K", "5")
    assert main(["ask", "Who won?"]) == 2
    assert "RAG_TOP_K is now RAG_RETRIEVAL__TOP_K" in capsys.readouterr().err
