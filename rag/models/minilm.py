"""all-MiniLM-L6-v2 in numpy: the bundled weights, read without torch, for the few texts of a question.

Importing sentence-transformers brings torch, transformers and scikit-learn: about six seconds on
two cores, which was most of a new process's wait for its first passages. A question needs the
encoder for a few short texts at a time (the question, the sentences of the retrieved chunks, the
draft's claims). This is all-MiniLM-L6-v2's forward pass for them: BERT's embeddings, six encoder
layers, the mean of the last layer's token vectors at unit length, as sentence-transformers computes
it from the same `model.safetensors` and `tokenizer.json` (truncated at its `max_seq_length`), to
about 1e-7 (`tests/integration/test_encoder.py`). One text at a time, and the vectors of texts
already seen kept, it takes about half of sentence-transformers' time over an answer's calls
(`bench/answer.py`); large batches, as ingest sends them, go to sentence-transformers, which is
faster there.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.core.errors import RagError

# Texts whose vectors are kept (1.5 KB each).
CACHED = 4096

# The weights a linear layer multiplies by, kept transposed so that `x @ w` needs no copy.
_LINEAR = ("query.weight", "key.weight", "value.weight", "dense.weight")


class MiniLM:
    """A BERT encoder with mean pooling, read from a sentence-transformers model folder."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        limit = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(limit)
        self._tokenizer.no_padding()
        self._layers = config["num_hidden_layers"]
        self._heads = config["num_attention_heads"]
        self._eps = config["layer_norm_eps"]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if (
            config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
            or not pooling.get("pooling_mode_mean_tokens")
        ):
            raise RagError(f"{folder} is not a BERT encoder this reads (gelu, absolute positions, mean pooling).")
        self._vector = functools.lru_cache(maxsize=CACHED)(self._vector_of)
        self._w = {
            name.removeprefix("bert."): np.ascontiguousarray(
                weight.T if name.endswith(_LINEAR) else weight, dtype=np.float32
            )
            for name, weight in load_file(str(folder / "model.safetensors")).items()
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors of `texts`, one row each.

        Each text is encoded by itself: no padding to compute, and a text's vector never depends
        on the texts beside it, so the last `CACHED` texts' vectors are kept and reused (an answer's
        passages are mostly sentences earlier answers read)."""
        vectors = np.zeros((len(texts), self._w["embeddings.LayerNorm.weight"].shape[0]), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self._vector(text)
        return vectors

    def _vector_of(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)
        pooled = self._encode(np.array(encoding.ids), np.array(encoding.type_ids)).mean(axis=0)
        return np.asarray(pooled / max(float(np.linalg.norm(pooled)), 1e-12), dtype=np.float32)

    def _encode(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """The last layer's vectors of one text's tokens."""
        w = self._w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        for layer in range(self._layers):
            x = self._layer(x, f"encoder.layer.{layer}.")
        return x

    def _layer(self, x: np.ndarray, name: str) -> np.ndarray:
        length, heads = x.shape[0], self._heads
        size = x.shape[1] // heads

        def by_head(t: np.ndarray) -> np.ndarray:
            return t.reshape(length, heads, size).transpose(1, 0, 2)

        q, k, v = (by_head(self._linear(x, f"{name}attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(size))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(length, heads * size)
        x = self._norm(self._linear(attended, f"{name}attention.output.dense") + x, f"{name}attention.output.LayerNorm")
        inner = _gelu(self._linear(x, f"{name}intermediate.dense"))
        return self._norm(self._linear(inner, f"{name}output.dense") + x, f"{name}output.LayerNorm")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return np.asarray(x @ self._w[f"{name}.weight"] + self._w[f"{name}.bias"])

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return np.asarray(
            (x - mean) / np.sqrt(variance + self._eps) * self._w[f"{name}.weight"] + self._w[f"{name}.bias"]
        )


def _gelu(x: np.ndarray) -> Any:
    """BERT's GELU, with the error function (not the tanh approximation)."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))
