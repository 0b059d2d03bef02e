"""A stronger claim checker behind the `Verifier` protocol: an NLI cross-encoder from a local folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.citations import strip_markers
from rag.embedding import Embedder
from rag.errors import RagError
from rag.verification import Cited, HeuristicVerifier, Verdict, needs_context

CROSS_ENCODER = "cross-encoder:"


class PairScorer(Protocol):
    """What the verifier needs of a cross-encoder: class probabilities for (premise, hypothesis) pairs."""

    def predict(self, inputs: list[tuple[str, str]], *, apply_softmax: bool) -> Any: ...


class CrossEncoderVerifier:
    """The heuristic's checks of names, numbers, dates, quotations, speakers and negation, with an
    NLI model's entailment probability in place of the MiniLM similarity floor.

    The premise is the cited sentences, each with the sentences that say who it is about; the
    hypothesis is the claim. The heuristic runs first, so the model is asked only about claims
    whose every name and number the cited text already holds.
    """

    def __init__(self, scorer: PairScorer, entail_index: int, embedder: Embedder, min_entailment: float = 0.5) -> None:
        self.scorer = scorer
        self.entail_index = entail_index
        self.min_entailment = min_entailment
        self.lexical = HeuristicVerifier(embedder, min_similarity=0.0)

    def verify(self, claim: str, sources: Sequence[Cited], question: str = "") -> Verdict:
        verdict = self.lexical.verify(claim, sources, question)
        if not verdict.supported:
            return verdict
        premise = " ".join(
            f"{s.context} {s.quote}" if s.context and needs_context(s.quote) else s.quote for s in sources
        )
        probabilities = np.asarray(self.scorer.predict([(premise, strip_markers(claim))], apply_softmax=True))
        entailment = float(probabilities[0][self.entail_index])
        if entailment < self.min_entailment:
            return Verdict(
                False, verdict.similarity, f"the cited text does not entail it (entailment {entailment:.2f})"
            )
        return Verdict(True, verdict.similarity)


def load_cross_encoder(path: Path, embedder: Embedder, min_entailment: float) -> CrossEncoderVerifier:
    """Load an NLI cross-encoder from a local folder; nothing is downloaded."""
    if not (path / "config.json").is_file():
        raise RagError(
            f"RAG_VERIFIER names {path}, which holds no model (no config.json there): point it at the folder "
            "of a sentence-transformers NLI cross-encoder, or unset it to use the default checker."
        )
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(path), device="cpu", local_files_only=True)
    labels = {int(i): str(name).lower() for i, name in (model.config.id2label or {}).items()}
    entail = [i for i, name in labels.items() if name.startswith("entail")]
    if len(entail) != 1:
        raise RagError(
            f"The cross-encoder at {path} has no single 'entailment' label (its labels: {sorted(labels.values())}); "
            "an NLI model is needed."
        )
    return CrossEncoderVerifier(model, entail[0], embedder, min_entailment)


def make_verifier(spec: str, embedder: Embedder, min_entailment: float) -> HeuristicVerifier | CrossEncoderVerifier:
    """The claim checker `RAG_VERIFIER` names."""
    if spec == "heuristic":
        return HeuristicVerifier(embedder)
    if spec.startswith(CROSS_ENCODER):
        return load_cross_encoder(Path(spec[len(CROSS_ENCODER) :]).expanduser(), embedder, min_entailment)
    raise RagError(f"RAG_VERIFIER={spec!r} is not a checker: use 'heuristic' or 'cross-encoder:/path/to/model'.")
