"""The numpy encoder on the bundled weights (its agreement with sentence-transformers is in
tests/integration/test_encoder.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.models.embedding import model_folder
from rag.models.minilm import MiniLM


@pytest.fixture(scope="module")
def encoder() -> MiniLM:
    return MiniLM(model_folder("all-MiniLM-L6-v2"))


def test_vectors_are_unit_length_and_close_for_texts_that_mean_the_same(encoder: MiniLM) -> None:
    vectors = encoder.embed(
        ["The council approved the budget.", "The budget was approved by the council.", "Zyxbridge won the cup."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_a_text_gets_one_vector_whatever_is_encoded_beside_it(encoder: MiniLM) -> None:
    text = "The mayor of Qorvia opened the bridge on Monday."
    alone = encoder.embed([text])[0]
    beside = encoder.embed(["A much longer sentence about something else entirely, with many more words.", text])[1]
    assert np.array_equal(alone, beside)


def test_a_caller_changing_its_vectors_does_not_change_the_kept_ones(encoder: MiniLM) -> None:
    text = "Qorvia's council met on Tuesday."
    first = encoder.embed([text])
    first[:] = 0.0
    assert np.allclose(np.linalg.norm(encoder.embed([text]), axis=1), 1.0, atol=1e-5)


def test_text_past_the_encoders_limit_is_cut_not_refused(encoder: MiniLM) -> None:
    """Like sentence-transformers, the encoder reads the first 256 tokens of a text."""
    opening = " ".join(f"word{i}" for i in range(400))
    long = encoder.embed([opening + " and then a very different ending about football"])[0]
    assert np.allclose(long, encoder.embed([opening])[0], atol=1e-6)


def test_nothing_to_encode_gives_no_rows_and_an_empty_text_a_vector(encoder: MiniLM) -> None:
    assert encoder.embed([]).shape == (0, 384)
    assert np.isclose(np.linalg.norm(encoder.embed([""])[0]), 1.0, atol=1e-5)
