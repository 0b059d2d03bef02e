"""OpenAICompatibleLLM against a real `python -m llama_cpp.server`, and against a closed port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.core.config import Settings
from rag.models.embedding import SentenceTransformerEmbedder
from rag.models.llm import LLMUnavailable, OpenAICompatibleLLM
from rag.models.weights import ensure_gguf
from rag.pipeline import Pipeline
from tests.conftest import SEEDS
from tests.servers import closed_port, llama_server

pytestmark = pytest.mark.integration

API_KEY = "test-key"
QUESTION = "To how many personnel would Ukraine cut its armed forces under the initial US plan?"


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default GGUF (the one every install has) served with an API key on a free loopback port."""
    settings = Settings()
    model = ensure_gguf(settings.llm, settings.model_dir)
    with llama_server(model, tmp_path_factory.mktemp("llama"), settings.llm_threads, API_KEY) as url:
        yield url


def served_settings(tmp_path: Path, llm_url: str, api_key: str | None = API_KEY) -> Settings:
    shutil.copytree(SEEDS, tmp_path / "corpus")
    return Settings(
        corpus_dir=tmp_path / "corpus",
        index_dir=tmp_path / "index",
        llm_url=llm_url,
        llm_model="qwen2.5-coder-1.5b",
        llm_api_key=api_key,
    )


def test_served_model_streams_a_chat_completion(llm_url: str) -> None:
    llm = OpenAICompatibleLLM(llm_url, "qwen2.5-coder-1.5b", API_KEY)
    pieces = list(llm.stream([{"role": "user", "content": "Reply with the single word: yes"}], max_tokens=8))
    assert len(pieces) >= 1 and "yes" in "".join(pieces).lower()


def test_wrong_api_key_is_a_clear_error(llm_url: str) -> None:
    llm = OpenAICompatibleLLM(llm_url, "qwen2.5-coder-1.5b", "wrong-key")
    with pytest.raises(LLMUnavailable, match="401"):
        list(llm.stream([{"role": "user", "content": "Hi"}], max_tokens=4))


def test_served_model_gives_a_cited_answer(llm_url: str, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    pipeline = Pipeline(served_settings(tmp_path, llm_url), embedder=embedder)
    answer = pipeline.ask(QUESTION)
    assert answer.answered and not answer.retrieval_only and answer.notice is None, answer.model_dump_json(indent=1)
    assert "600,000" in answer.text and answer.model == "qwen2.5-coder-1.5b"
    for c in answer.citations:
        assert f"[{c.n}]" in answer.text
        assert (tmp_path / "corpus" / c.source).read_bytes().decode("utf-8")[c.start : c.end] == c.quote


def test_llm_server_down_gives_retrieval_only_answer(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    down = f"http://127.0.0.1:{closed_port()}/v1"
    pipeline = Pipeline(served_settings(tmp_path, down, None), embedder=embedder)
    answer = pipeline.ask(QUESTION)
    assert answer.retrieval_only and answer.notice and f"Cannot reach the LLM server at {down}" in answer.notice
    assert answer.answered and "600,000" in answer.text
    for c in answer.citations:
        assert (tmp_path / "corpus" / c.source).read_bytes().decode("utf-8")[c.start : c.end] == c.quote
