"""The numpy encoder against sentence-transformers, on the same bundled weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.core.config import Settings
from rag.models.embedding import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

TEXTS = [
    "What did the mayor of Qorvia say about the bridge?",
    "",
    "Zyxbridge",
    "The council approved a budget of 4.2 million euros on 3 March 2025, its first in six years.",
    "Київ і Харків — міста України.",
    "市议会批准了预算。",
    "Quotes “curly” and 'straight', an em dash — and an emoji 😀.",
    "  spaces   and\nnew lines\tand tabs  ",
    " ".join(["The committee met again."] * 80),  # past the encoder's 256 tokens: truncated alike
]


def test_the_numpy_encoder_gives_sentence_transformers_vectors() -> None:
    """Each text's vector from the numpy forward pass is sentence-transformers' to float precision,
    alone or beside others, and a batch of any size ranks texts for a question the same way."""
    settings = Settings()
    small = SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size)
    torch = SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size, numpy_up_to=0)
    ours, theirs = small.embed(TEXTS), torch.embed(TEXTS)
    assert small._model is None, "a few texts loaded sentence-transformers"
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    alone = np.concatenate([small.embed([text]) for text in TEXTS])
    assert np.array_equal(alone, ours), "a text's vector depends on the texts beside it"
    question = small.embed([TEXTS[0]])[0]
    assert list(np.argsort(-(ours @ question))) == list(np.argsort(-(theirs @ question)))


def test_a_batch_larger_than_the_numpy_limit_goes_to_sentence_transformers() -> None:
    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embed_model, settings.ingest.embed_batch_size, numpy_up_to=2)
    embedder.embed(TEXTS[:2])
    assert embedder._model is None
    vectors = embedder.embed(TEXTS[:3])
    assert embedder._model is not None
    assert np.abs(vectors[:2] - embedder.embed(TEXTS[:2])).max() < 1e-5


QUESTION_IN_A_NEW_PROCESS = """
import json, sys
from pathlib import Path
from rag.core.config import Settings
from rag.pipeline import Pipeline
pipeline = Pipeline(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])))
if sys.argv[3] == "ingest":
    pipeline.ingest(progress=False)
else:
    evidence = pipeline.evidence("What did Trump say about Crimea?")
    heavy = sorted(m for m in ("sentence_transformers", "transformers", "sklearn") if m in sys.modules)
    print(json.dumps({"passages": len(evidence), "imported": heavy}))
"""


def test_a_new_process_finds_its_passages_without_importing_sentence_transformers(tmp_path: Path) -> None:
    """The question path of a new process encodes in numpy: sentence-transformers, transformers and
    scikit-learn (about six seconds of imports on two cores) are left for ingest."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for seed in sorted(SEEDS.glob("*.txt")):
        (corpus / seed.name).write_bytes(seed.read_bytes())

    def run(step: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", QUESTION_IN_A_NEW_PROCESS, str(corpus), str(index), step],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    run("ingest")
    found = json.loads(run("ask").strip().splitlines()[-1])
    assert found["passages"] > 0
    assert found["imported"] == []
