"""Settings: flat fields and nested groups, read from `RAG_*` variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.core.config import Settings


def test_groups_are_set_with_two_underscores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_ANSWER__MIN_SUPPORT", "0.7")
    monkeypatch.setenv("RAG_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("RAG_CORPUS_DIR", str(tmp_path))
    settings = Settings()
    assert (settings.answer.min_support, settings.retrieval.top_k, settings.corpus_dir) == (0.7, 7, tmp_path)
    assert settings.answer.min_answers == 0.3  # the rest of the group keeps its defaults


def test_an_out_of_range_value_in_a_group_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ANSWER__MIN_SUPPORT", "1.5")
    with pytest.raises(ValidationError, match="min_support"):
        Settings()


def test_a_variable_of_a_setting_that_moved_into_a_group_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "5")
    with pytest.raises(ValidationError, match="RAG_TOP_K is now RAG_RETRIEVAL__TOP_K"):
        Settings()


def test_every_field_is_described() -> None:
    def undescribed(model: type) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            group = field.annotation
            if isinstance(group, type) and hasattr(group, "model_fields"):
                missing += [f"{name}.{inner}" for inner in undescribed(group)]
            elif not field.description:
                missing.append(name)
        return missing

    assert undescribed(Settings) == []


def test_the_collection_follows_the_chunking_group(tmp_path: Path) -> None:
    base = Settings(index_dir=tmp_path)
    assert Settings(index_dir=tmp_path, chunking={"max_words": 80}).collection_name != base.collection_name
    assert Settings(index_dir=tmp_path, answer={"min_support": 0.9}).collection_name == base.collection_name
