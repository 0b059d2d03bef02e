"""Duplicate articles at ingest, with real Chroma and the fake embedder."""

from pathlib import Path

import numpy as np
import pytest

from rag.articles.duplicates import facts_key, find_duplicates, swaps_a_fact
from rag.core.config import Settings
from rag.ingest.run import _mark_duplicates, upgrade
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM
from rag.pipeline import Pipeline
from rag.store.index import INDEX_FORMAT
from tests.conftest import ingest_elsewhere

ORIGINAL = "003_8988beed483b4692.txt"
REPRINT = "005_reprint.txt"
QUESTION = "How did the Kremlin describe the talks that Witkoff and Putin held in Moscow?"


def write_reprint(corpus: Path) -> None:
    """A lightly edited reprint of 003: a new headline and one sentence reworded."""
    text = (corpus / ORIGINAL).read_text(encoding="utf-8")
    text = text.replace("are very close to a deal", "are very near a deal", 1)
    (corpus / REPRINT).write_text("Reprinted: peace talks edge closer\n" + text, encoding="utf-8")


# Two reports of one final that differ only in the winner, the name opening the text.
FINAL = (
    "{} beat the Kestrel Rovers 2-1 in the Zyxbridge cup final on Sunday. The captain lifted the trophy in front "
    "of 40,000 fans, and the coach praised a young side that had never reached a final before. The city will "
    "hold a parade on Tuesday.\n"
)


def write_finals(corpus: Path) -> None:
    (corpus / "final-a.txt").write_text(FINAL.format("Qorvia"), encoding="utf-8")
    (corpus / "final-b.txt").write_text(FINAL.format("Zyxland"), encoding="utf-8")


def duplicates(pipeline: Pipeline) -> dict[str, str]:
    return {s: r.duplicate_of for s, r in pipeline.index.manifest().items() if r.duplicate_of}


def test_canonical_is_the_dated_then_earliest_article() -> None:
    story = np.eye(4, dtype=np.float32)[:2]
    other = np.eye(4, dtype=np.float32)[2:]
    vectors = {"b.txt": story, "a.txt": story, "c.txt": story, "d.txt": other}
    dates = {"a.txt": None, "b.txt": "2025-03-16", "c.txt": "2025-03-01", "d.txt": None}
    assert find_duplicates(vectors, dates, 0.75) == {"a.txt": "c.txt", "b.txt": "c.txt"}


def test_a_reprint_is_marked_and_the_original_is_not(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_reprint(corpus)
    report = fake_pipeline.ingest(progress=False)
    assert report.duplicates.get(REPRINT) == ORIGINAL
    assert duplicates(fake_pipeline).get(REPRINT) == ORIGINAL and ORIGINAL not in duplicates(fake_pipeline)


def test_evidence_cites_the_original_once_and_credits_the_reprint(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    evidence = fake_pipeline.evidence(QUESTION)
    assert evidence and REPRINT not in {e.source for e in evidence}
    credited = [e for e in evidence if REPRINT in e.also_reported_by]
    assert credited and all(e.source == ORIGINAL for e in credited)


def test_the_reprint_becomes_canonical_when_the_original_goes(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    original = (corpus / ORIGINAL).read_text(encoding="utf-8")
    (corpus / ORIGINAL).unlink()
    report = fake_pipeline.ingest(progress=False)
    assert report.removed == [ORIGINAL] and REPRINT not in duplicates(fake_pipeline)
    assert REPRINT in {e.source for e in fake_pipeline.evidence(QUESTION)}
    (corpus / ORIGINAL).write_text(original, encoding="utf-8")
    fake_pipeline.ingest(progress=False)
    assert duplicates(fake_pipeline).get(REPRINT) == ORIGINAL


def test_the_reprint_becomes_canonical_when_the_original_changes(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    replacement = "Local council approves new cycle lanes. The budget covers twelve kilometres of paint and kerbs.\n"
    (corpus / ORIGINAL).write_text(replacement, encoding="utf-8")
    report = fake_pipeline.ingest(progress=False)
    assert report.changed == [ORIGINAL] and not duplicates(fake_pipeline).get(REPRINT)


def test_an_index_from_before_duplicate_marking_is_brought_up_to_date_on_opening(
    fake_pipeline: Pipeline, corpus: Path, settings: Settings
) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    assert fake_pipeline.index.format() == INDEX_FORMAT
    # What a format-1 index looks like: no file says it repeats another, and no stamp.
    fake_pipeline.index.set_duplicates({})
    fake_pipeline.index.state.delete(ids=["format"])
    assert fake_pipeline.index.format() == 1 and not duplicates(fake_pipeline)
    reopened = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    reopened.ensure_index()
    assert duplicates(reopened) == {REPRINT: ORIGINAL} and reopened.index.format() == INDEX_FORMAT
    assert REPRINT not in {e.source for e in reopened.evidence(QUESTION)}


def test_opening_an_index_another_ingest_is_writing_waits_for_that_ingest(
    fake_pipeline: Pipeline, corpus: Path, settings: Settings
) -> None:
    fake_pipeline.ingest(progress=False)
    fake_pipeline.index.state.delete(ids=["format"])  # as it reads mid-way through a first ingest
    with ingest_elsewhere(settings):
        assert upgrade(fake_pipeline.index, settings) is False  # no "Another `rag ingest`" error
    assert fake_pipeline.index.format() == 1
    assert upgrade(fake_pipeline.index, settings) is True and fake_pipeline.index.format() == INDEX_FORMAT


def test_only_articles_stating_the_same_facts_as_a_new_one_are_compared(
    fake_pipeline: Pipeline, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    asked: list[list[str]] = []
    real = index.chunk_vectors
    monkeypatch.setattr(
        index, "chunk_vectors", lambda sources=None: asked.append(sorted(sources or [])) or real(sources)
    )

    report = fake_pipeline.ingest(progress=False)  # nothing changed: nothing compared
    assert not (report.added or report.changed) and asked == [[]]
    assert report.duplicates == {REPRINT: ORIGINAL}

    (corpus / "ferry.txt").write_text("The Tallinn ferry resumed service on Sunday.\n", encoding="utf-8")
    report = fake_pipeline.ingest(progress=False)  # a new article with facts of its own: only it
    assert asked[-1] == ["ferry.txt"] and report.duplicates == {REPRINT: ORIGINAL}

    (corpus / "ferry-copy.txt").write_text("The Tallinn ferry resumed service on Sunday.\n", encoding="utf-8")
    report = fake_pipeline.ingest(progress=False)  # its copy: the two of them
    assert asked[-1] == ["ferry-copy.txt", "ferry.txt"]
    assert report.duplicates == {REPRINT: ORIGINAL, "ferry.txt": "ferry-copy.txt"}


def test_records_written_before_facts_were_kept_get_them(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_reprint(corpus)
    fake_pipeline.ingest(progress=False)
    files = fake_pipeline.index.files
    got = files.get(include=["metadatas"])
    files.update(ids=got["ids"], metadatas=[{**m, "facts": ""} for m in got["metadatas"]])
    assert not any(r.facts for r in fake_pipeline.index.manifest().values())

    assert _mark_duplicates(fake_pipeline.index) == {REPRINT: ORIGINAL}
    assert all(r.facts for r in fake_pipeline.index.manifest().values())


@pytest.mark.parametrize(
    ("a", "b", "swapped"),
    [
        ("Qorvia won the final.", "Zyxland won the final.", True),  # a name opening the sentence
        (
            "Held on May 8, 2031. Doors open at 8 and close at 18.",
            "Held on Nov 18, 2031. Doors open at 8 and close at 18.",
            True,
        ),
        ("The bridge cost $4 million.", "The bridge cost $5 million.", True),
        (
            "THE HARBOUR FESTIVAL returns. The Harbour Festival opens on Friday.",
            "The Harbour Festival returns. The Harbour Festival opens on Friday.",
            False,
        ),
        ("Reprinted: ferry news\nThe ferry to Velm resumed on Sunday.", "The ferry to Velm resumed on Sunday.", False),
        (
            "The ferry to Velm resumed on Sunday after a long pause.",
            "The ferry to Velm restarted on Sunday after a pause.",
            False,
        ),
        # "The" and "A" are no names: the texts write them in lower case too
        (
            "The ferry resumed after a pause, and the crew was ready.",
            "A ferry resumed after a pause, and the crew was ready.",
            False,
        ),
    ],
)
def test_a_report_that_swaps_a_name_or_figure_is_told_from_a_reprint(a: str, b: str, swapped: bool) -> None:
    assert swaps_a_fact(a, b) is swapped
    assert swaps_a_fact(b, a) is swapped


def test_reports_that_swap_a_name_are_both_kept(fake_pipeline: Pipeline, corpus: Path) -> None:
    write_finals(corpus)
    fake_pipeline.ingest(progress=False)
    index = fake_pipeline.index
    # by meaning and by the set of facts alone, the two are one report: the name opens the text
    vectors = index.chunk_vectors(["final-a.txt", "final-b.txt"])
    key = facts_key([FINAL.format("Qorvia")])
    assert key == facts_key([FINAL.format("Zyxland")])
    assert find_duplicates(vectors, {}, 0.75, {"final-a.txt": key, "final-b.txt": key}) == {
        "final-b.txt": "final-a.txt"
    }
    assert not duplicates(fake_pipeline)
    sources = {e.source for e in fake_pipeline.evidence("Who won the Zyxbridge cup final against the Kestrel Rovers?")}
    assert {"final-a.txt", "final-b.txt"} <= sources


def test_marks_of_an_index_from_before_swapped_facts_counted_are_decided_again(
    fake_pipeline: Pipeline, corpus: Path, settings: Settings
) -> None:
    write_finals(corpus)
    fake_pipeline.ingest(progress=False)
    # What a format-2 index could hold: the two finals marked as one report.
    fake_pipeline.index.set_duplicates({"final-b.txt": "final-a.txt"})
    fake_pipeline.index.set_format(2)
    reopened = Pipeline(settings, embedder=FakeEmbedder(), llm=FakeLLM())
    reopened.ensure_index()
    assert not duplicates(reopened) and reopened.index.format() == INDEX_FORMAT
