"""The ingest lock across machines sharing a Chroma server (real `chroma run`; no models needed)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from rag.core.config import Settings
from rag.core.errors import IndexBusy
from rag.store.index import _http_client, ingest_lock
from tests.conftest import ingest_elsewhere

pytestmark = pytest.mark.integration


def host(tmp_path: Path, name: str, chroma_url: str, database: str) -> Settings:
    """Settings as one machine has them: its own local index folder (so its own lock file), the shared server."""
    return Settings(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / name, chroma_url=chroma_url, chroma_database=database
    )


def test_ingests_on_two_machines_exclude_each_other(chroma_url: str, tmp_path: Path) -> None:
    database = f"lock-{uuid.uuid4().hex[:8]}"
    first, second = host(tmp_path, "host-a", chroma_url, database), host(tmp_path, "host-b", chroma_url, database)
    with ingest_elsewhere(first), pytest.raises(IndexBusy, match="on the Chroma server"), ingest_lock(second):
        pass
    with ingest_lock(second):  # the first has finished: the lock is free again
        pass


def test_a_lock_left_by_a_killed_ingest_is_taken_over_once_stale(chroma_url: str, tmp_path: Path) -> None:
    database = f"lock-{uuid.uuid4().hex[:8]}"
    settings = host(tmp_path, "host-a", chroma_url, database)
    locks = _http_client(chroma_url, database).get_or_create_collection(
        f"{settings.collection_name}-locks", embedding_function=None
    )
    locks.add(ids=["ingest"], embeddings=[[1.0]], metadatas=[{"owner": "gone pid 1", "renewed": time.time()}])
    with pytest.raises(IndexBusy, match="gone pid 1"), ingest_lock(settings):
        pass
    locks.update(ids=["ingest"], metadatas=[{"owner": "gone pid 1", "renewed": time.time() - 3600}])
    with ingest_lock(settings):
        pass
    assert not locks.get(ids=["ingest"])["ids"]


def test_app_processes_on_two_machines_rank_alike_after_an_ingest(chroma_url: str, tmp_path: Path) -> None:
    """Each machine keeps BM25 in its own folder; both follow the server's content, not their own history."""
    from rag.models.embedding import FakeEmbedder
    from rag.models.llm import FakeLLM
    from rag.pipeline import Pipeline
    from tests.conftest import SEEDS

    database = f"bm25-{uuid.uuid4().hex[:8]}"
    (tmp_path / "corpus").mkdir()
    for name in sorted(p.name for p in SEEDS.iterdir())[:2]:
        (tmp_path / "corpus" / name).write_bytes((SEEDS / name).read_bytes())
    a, b = (
        Pipeline(host(tmp_path, name, chroma_url, database), embedder=FakeEmbedder(), llm=FakeLLM())
        for name in ("host-a", "host-b")
    )
    a.ingest(progress=False)
    question = "Zyxbridge quokkas talks"
    assert a.retriever.search_lexical(question, 5) == b.retriever.search_lexical(question, 5)
    (tmp_path / "corpus" / "new.txt").write_text("Zyxbridge quokkas held talks on Monday.\n", encoding="utf-8")
    a.ingest(progress=False)  # machine a writes; machine b has seen the old content
    hits = b.retriever.search_lexical(question, 5)
    assert hits and hits[0][0].startswith("new.txt::")
    assert hits == a.retriever.search_lexical(question, 5)
    assert a.retriever.lexical.key == b.retriever.lexical.key  # type: ignore[union-attr]
