"""Real models loaded once per session, and a real Chroma server for the server-mode variants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.core.config import Settings
from rag.models.embedding import SentenceTransformerEmbedder
from rag.models.llm import LlamaCppLLM
from tests.servers import chroma_server, chroma_url_from_env


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    settings = Settings()
    return SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size)


@pytest.fixture(scope="session")
def local_llm() -> LlamaCppLLM:
    settings = Settings()
    return LlamaCppLLM(settings.llm, settings)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server CI started (RAG_TEST_CHROMA_URL), or one started here on a free loopback port."""
    url = chroma_url_from_env()
    if url:
        yield url
        return
    with chroma_server(tmp_path_factory.mktemp("chroma")) as started:
        yield started
