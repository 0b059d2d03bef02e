"""The whole pipeline with the real embedding model, real Chroma and the real local LLM.

The store tests run twice: on the embedded store, and on a real `chroma run` server (its own
database per run, so nothing collides with other tests using the same server). The answers run
on the embedded store; the server is shown to give their questions the same passages, and from
the same passages the answer is the same (greedy decoding; see tests/integration/test_load.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer.compose import answer_grammar, answer_system, build_messages
from rag.core.citations import Answer, marker_numbers
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.models.embedding import SentenceTransformerEmbedder
from rag.models.llm import LlamaCppLLM, chatml_tokens, second_context, yes_probability
from rag.models.prompts import NO_ANSWER
from rag.models.weights import ensure_gguf
from rag.pipeline import Pipeline
from rag.verify.support import support_messages
from tests.conftest import SEEDS, ingest_elsewhere

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["embedded", "chroma-server"])
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings (as RAG_* variables) that pick the store: embedded, or a database of its own on the server."""
    if request.param == "embedded":
        return {}
    url = request.getfixturevalue("chroma_url")
    return {"RAG_CHROMA_URL": url, "RAG_CHROMA_DATABASE": f"test-{uuid.uuid4().hex[:12]}"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, store: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("real")
    shutil.copytree(SEEDS, root / "corpus")
    return root


@pytest.fixture(scope="module")
def pipeline(
    workdir: Path, store: dict[str, str], embedder: SentenceTransformerEmbedder, local_llm: LlamaCppLLM
) -> Iterator[Pipeline]:
    settings = Settings(
        corpus_dir=workdir / "corpus",
        index_dir=workdir / "index",
        chroma_url=store.get("RAG_CHROMA_URL"),
        chroma_database=store.get("RAG_CHROMA_DATABASE", "default_database"),
    )
    yield Pipeline(settings, embedder=embedder, llm=local_llm)


# The questions the answer tests ask.
ASKED = [
    "What land terms were proposed?",
    "How much of Ukraine's territory does Russia control?",
    "Who won the 2024 Super Bowl?",
    "To how many personnel would Ukraine cut its armed forces under the initial US plan?",
]


@pytest.fixture(scope="module")
def answering(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder, local_llm: LlamaCppLLM
) -> Pipeline:
    """A pipeline on the embedded store over its own copy of the seeds, for the answer tests."""
    root = tmp_path_factory.mktemp("answers")
    shutil.copytree(SEEDS, root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    return Pipeline(settings, embedder=embedder, llm=local_llm)


def test_store_is_the_one_asked_for(pipeline: Pipeline, store: dict[str, str], workdir: Path) -> None:
    from urllib.parse import urlparse

    import chromadb

    pipeline.ensure_index()
    assert len(pipeline.index.manifest()) == 5 and pipeline.index.chunk_count() > 0
    if store:
        url = urlparse(store["RAG_CHROMA_URL"])
        client = chromadb.HttpClient(
            host=url.hostname or "", port=url.port or 8000, database=store["RAG_CHROMA_DATABASE"]
        )
        assert client.get_collection(pipeline.settings.collection_name).count() == pipeline.index.chunk_count()
        assert not (workdir / "index" / "chroma.sqlite3").exists()
    else:
        assert (workdir / "index" / "chroma.sqlite3").exists()


def assert_verbatim(answer: Answer, corpus: Path) -> None:
    for c in answer.citations:
        text = (corpus / c.source).read_bytes().decode("utf-8")
        assert text[c.start : c.end] == c.quote


@pytest.mark.xfail(
    strict=True,
    reason="known miss: the plan article's chunk is among the four read, but its window (the sentence closest to "
    "'land terms' and one either side) stops before the sentences that name Crimea, Donetsk, Luhansk, Kherson "
    "and Zaporizhzhia; the model answers from the sentences that say 'land'; see docs/evaluation.md",
)
def test_land_terms_are_named_and_cited(answering: Pipeline) -> None:
    answer = answering.ask(ASKED[0])
    assert answer.answered, answer.model_dump_json(indent=1)
    for place in ("Crimea", "Donetsk", "Luhansk", "Kherson", "Zaporizhzhia"):
        assert place in answer.text
    assert "frozen" in answer.text.lower()
    assert "002_bf4c599bf41a5fdc.txt" in {c.source for c in answer.citations}
    assert_verbatim(answer, answering.settings.corpus_dir)


def test_disagreeing_territory_figures_are_both_given(answering: Pipeline) -> None:
    """The two reports word the figure differently ('about 11% of its land', 'almost 20% of Ukrainian
    territory'): the model gives one, and the other is quoted as another figure of the same kind."""
    answer = answering.ask(ASKED[1])
    assert answer.answered, answer.model_dump_json(indent=1)
    assert "11%" in answer.text and "20%" in answer.text
    assert {"001_8a2a514bf6660ac7.txt", "003_8988beed483b4692.txt"} <= {c.source for c in answer.citations}
    assert_verbatim(answer, answering.settings.corpus_dir)


def test_super_bowl_is_not_answered(answering: Pipeline) -> None:
    answer = answering.ask(ASKED[2])
    assert (answer.answered, answer.text, answer.citations) == (False, NO_ANSWER, [])


def test_numbers_come_with_verbatim_citations(answering: Pipeline) -> None:
    answer = answering.ask(ASKED[3])
    assert answer.answered and "600,000" in answer.text
    assert_verbatim(answer, answering.settings.corpus_dir)


def test_the_claim_checks_share_the_answering_model_and_keep_their_prompts(
    answering: Pipeline, local_llm: LlamaCppLLM
) -> None:
    """The checks' contexts run on the answering model's weights, loaded once, and score exactly
    what a model loaded on its own would; a check of another kind leaves a check's fixed prompt
    computed in its own context."""
    messages = [{"role": "system", "content": "Answer Yes or No."}, {"role": "user", "content": "Is Paris in France?"}]
    other = [{"role": "system", "content": "Reply with one word."}, {"role": "user", "content": "Is ice cold?"}]
    first = local_llm.p_yes(messages)
    local_llm.p_yes(other)
    scorer, llama = local_llm._scorers.get(messages[0]["content"]), local_llm._llama
    assert scorer._model is llama._model and scorer._ctx is not llama._ctx
    head = chatml_tokens(scorer, messages[:1], reply=False)
    assert scorer.input_ids[: len(head)].tolist() == head
    assert local_llm.p_yes(messages) == first
    context = answering.settings.llm_check_context
    shared = second_context(llama, context)
    alone = LlamaCppLLM(local_llm.name, answering.settings)._open(context)
    assert yes_probability(shared, chatml_tokens(shared, messages)) == yes_probability(
        alone, chatml_tokens(alone, messages)
    )


def test_a_draft_and_a_verdict_do_not_depend_on_what_was_asked_before_or_on_a_preload(
    answering: Pipeline, local_llm: LlamaCppLLM
) -> None:
    """llama.cpp's floats depend on how a prompt is split into batches, not only on its tokens. A
    fresh model, the same model after other prompts, and the long-running one give the same
    P(yes), bit for bit, and the same draft."""
    evidence = answering.evidence(ASKED[3])
    draft = build_messages(ASKED[3], evidence)
    check = support_messages("Ukraine would cut its armed forces to 600,000.", [e.text for e in evidence[:3]])
    other_draft = build_messages(ASKED[1], answering.evidence(ASKED[1]))
    other_check = support_messages("Russia controls a fifth of Ukraine.", [e.text for e in evidence[3:6]])

    fresh = LlamaCppLLM(local_llm.name, answering.settings)
    first = (fresh.p_yes(check), "".join(fresh.stream(draft, 60)))
    fresh.p_yes(other_check)
    "".join(fresh.stream(other_draft, 60))
    again = (fresh.p_yes(check), "".join(fresh.stream(draft, 60)))
    warm = (local_llm.p_yes(check), "".join(local_llm.stream(draft, 60)))
    assert first == again == warm
    preloaded = LlamaCppLLM(local_llm.name, answering.settings)
    preloaded.warm(answer_system(), answering.checker.systems())  # as a new process does while it retrieves
    assert (preloaded.p_yes(check), "".join(preloaded.stream(draft, 60))) == first


def test_a_new_process_restores_its_saved_system_prompts_to_the_same_floats(
    answering: Pipeline, local_llm: LlamaCppLLM, tmp_path: Path
) -> None:
    """A computed system prompt is kept on disk; a new model restores it instead of computing it,
    and its draft and P(yes) are the same to the bit as with every head computed. A damaged file
    is computed again and replaced; where nothing can be saved, heads are computed as before."""
    models = tmp_path / "models"
    models.mkdir()
    weights = ensure_gguf(local_llm.name, answering.settings.model_dir)
    (models / weights.name).symlink_to(weights)
    evidence = answering.evidence(ASKED[3])
    draft = build_messages(ASKED[3], evidence)
    check = support_messages("Ukraine would cut its armed forces to 600,000.", [e.text for e in evidence[:3]])

    def new_model(**update: object) -> tuple[float, str]:
        llm = LlamaCppLLM(local_llm.name, answering.settings.model_copy(update={"model_dir": models, **update}))
        return llm.p_yes(check), "".join(llm.stream(draft, 60))

    computed = new_model(llm_saved_heads=False)
    assert not (models / "heads").exists()
    assert new_model() == computed
    saved = sorted((models / "heads").glob("*.kv"))
    assert len(saved) == 2  # the answer's system prompt and the check's
    written = [(path.stat().st_ino, path.stat().st_size) for path in saved]
    used = [path.stat().st_mtime_ns for path in saved]
    assert new_model() == computed
    assert [(path.stat().st_ino, path.stat().st_size) for path in saved] == written  # read, not written again
    assert all(path.stat().st_mtime_ns > before for path, before in zip(saved, used, strict=True))  # marked as used
    saved[0].write_bytes(saved[0].read_bytes()[:-1000])  # cut short
    damaged = bytearray(saved[1].read_bytes())
    damaged[-1000:] = bytes(1000)  # the same length, other bytes
    saved[1].write_bytes(damaged)
    assert new_model() == computed
    assert sorted((models / "heads").glob("*")) == saved  # replaced, no temporary file left
    assert [path.stat().st_size for path in saved] == [size for _, size in written]
    shutil.rmtree(models / "heads")
    (models / "heads").write_text("not a folder")  # nothing can be saved: only the saving is lost
    assert new_model() == computed


REPLY = re.compile(r"Sentences: (none|(\[\d+\])+\nAnswer: [^\n\[\]]+(\[\d+\])+\.?( [^\n\[\]]+(\[\d+\])+\.?){0,2})")


def test_the_draft_is_written_in_the_reply_format_citing_only_passage_sentences(
    answering: Pipeline, local_llm: LlamaCppLLM
) -> None:
    evidence = answering.evidence(ASKED[3])
    messages = build_messages(ASKED[3], evidence)
    reply = "".join(local_llm.stream(messages, 160, answer_grammar(len(evidence), 3)))
    assert REPLY.fullmatch(reply), reply
    assert all(1 <= n <= len(evidence) for n in marker_numbers(reply)), reply
    forced = "".join(local_llm.stream(messages, 160, 'root ::= "Sentences: none"'))
    assert forced == "Sentences: none"  # the grammar reaches the sampler, whatever the model would say


def test_either_store_gives_the_answer_questions_the_same_passages(pipeline: Pipeline, answering: Pipeline) -> None:
    for question in ASKED:
        found = pipeline.evidence(question)
        assert found and found == answering.evidence(question), question


def test_real_embedder_reingests_only_what_changed(pipeline: Pipeline, workdir: Path) -> None:
    pipeline.ensure_index()
    assert pipeline.ingest(progress=False).chunks_embedded == 0
    path = workdir / "corpus" / "004_e2343d4eb54106e2.txt"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\nIndia said it would answer the tariffs next month.\n")
        report = pipeline.ingest(progress=False)
        assert report.changed == ["004_e2343d4eb54106e2.txt"] and len(report.unchanged) == 4
        assert 0 < report.chunks_embedded <= pipeline.index.manifest()["004_e2343d4eb54106e2.txt"].chunks
    finally:
        path.write_bytes(original)
        pipeline.ingest(progress=False)


def test_date_filter_keeps_only_dated_articles_in_range(pipeline: Pipeline) -> None:
    evidence = pipeline.evidence("What did the Kremlin say about the talks?", since="2025-01-01", until="2025-12-31")
    assert evidence and all(e.date and "2025-01-01" <= e.date <= "2025-12-31" for e in evidence)
    assert pipeline.evidence("What did the Kremlin say about the talks?", until="1999-01-01") == []


def test_chunks_the_manifest_does_not_vouch_for_are_removed(pipeline: Pipeline) -> None:
    pipeline.ensure_index()
    before = pipeline.index.chunk_count()
    vector = pipeline.embedder.embed(["a stray chunk"])[0].tolist()
    stray = {"source": "ghost.txt", "sha256": "0", "chunk": 0, "sentences": "[]", "date_ord": 0}
    pipeline.index.chunks.add(ids=["ghost.txt::0::0"], embeddings=[vector], documents=["x"], metadatas=[stray])  # type: ignore[list-item]
    assert pipeline.ingest(progress=False).chunks_embedded == 0
    assert pipeline.index.chunk_count() == before


def test_concurrent_ingest_is_refused(pipeline: Pipeline) -> None:
    with ingest_elsewhere(pipeline.settings), pytest.raises(RagError, match="Another `rag ingest`"):
        pipeline.ingest(progress=False)


def run_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAG_CORPUS_DIR": str(workdir / "corpus"), "RAG_INDEX_DIR": str(workdir / "cli-index")}
    if "RAG_CHROMA_DATABASE" in env:
        env["RAG_CHROMA_DATABASE"] += "-cli"
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_cli_ingest_twice_then_ask_json(workdir: Path, store: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in store.items():
        monkeypatch.setenv(name, value)
    first = run_cli(workdir, "ingest")
    assert first.returncode == 0, first.stderr
    assert "5 added" in first.stdout
    second = run_cli(workdir, "ingest")
    assert "0 chunks embedded" in second.stdout and "5 unchanged" in second.stdout
    if store:
        return  # the server gives the same passages (above); the model's part is asked once, below
    asked = run_cli(workdir, "ask", "--json", "Who won the 2024 Super Bowl?")
    assert asked.returncode == 0, asked.stderr
    assert "Loading weights" not in first.stderr + asked.stderr  # the encoder loads without a progress bar
    data = json.loads(asked.stdout)
    assert data["answered"] is False and data["text"] == NO_ANSWER
