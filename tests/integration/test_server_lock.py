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
