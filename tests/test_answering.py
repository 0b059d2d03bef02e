"""From a model draft to cited sentences: which evidence sentence each claim ends up citing."""

import json
from dataclasses import replace

from rag.answering import abstain, add_overlooked, check_draft
from rag.citations import Answer
from rag.embedding import FakeEmbedder
from rag.evidence import Evidence, select_evidence
from rag.retrieval import RetrievedChunk
from rag.verification import HeuristicVerifier, cited

QUESTION = "How did the Kremlin characterize the April talks between Steve Witkoff and Vladimir Putin in Moscow?"
PRODUCTIVE = (
    "Trump’s special envoy Steve Witkoff told CNN on Sunday that the ongoing talks over Ukraine were productive, "
    "but didn’t say how the matter of territorial concessions would be resolved."
)
CONSTRUCTIVE = (
    "Trump said it had been a “good day” of negotiations, while the Kremlin described the talks – which Ukraine "
    "was not present at – as “constructive”."
)
FOURTH = (
    "On Friday, traffic was halted in Moscow as a convoy of cars carrying Witkoff arrived ahead of the high-level "
    "talks, the fourth such visit he has made to Russia since the start of the year."
)
PHILOSOPHY = "Putin “accepts the philosophy of President Trump” in wanting to see the war come to an end, Witkoff said."


def lexical_verifier() -> HeuristicVerifier:
    """The default checker without its similarity floor: fake vectors say nothing about meaning."""
    return HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)


def evidence(*texts: str) -> list[Evidence]:
    vectors = FakeEmbedder().embed(texts)
    return [
        Evidence(f"{i}.txt", 0, len(t), t, None, None, None, 1.0, v)
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]


def test_a_claim_citing_the_sentence_next_to_the_right_one_moves_to_the_one_that_says_it() -> None:
    # The question's words pass as framing, so "the talks ... were constructive [1]" can pass
    # against Witkoff's "productive"; the reader clicking [1] must land on the sentence that says it.
    found = evidence(PRODUCTIVE, CONSTRUCTIVE)
    verifier = lexical_verifier()
    claim = "The talks – which Ukraine was not present at – were “constructive”"
    assert verifier.verify(claim, [cited(PRODUCTIVE, None, None, None)], QUESTION).supported
    checked = check_draft(QUESTION, f"{claim} [1].", found, verifier)
    assert checked.kept == [(f"{claim}.", [1])]


def test_of_two_listed_sentences_the_one_kept_says_most_of_the_claim() -> None:
    question = "Which visit to Russia since the start of the year was Witkoff's April trip to Moscow?"
    found = evidence(FOURTH, PHILOSOPHY)
    claim = (
        "Witkoff's April trip to Moscow was the fourth such visit he has made to Russia since the start of the year."
    )
    checked = check_draft(question, claim, found, lexical_verifier(), relevant=[1, 2])
    assert checked.kept == [(claim, [0])]


def test_a_claim_its_own_citation_says_fully_keeps_it() -> None:
    found = evidence(CONSTRUCTIVE, PRODUCTIVE)
    claim = "Witkoff said the ongoing talks over Ukraine were productive"
    checked = check_draft(QUESTION, f"{claim} [2].", found, lexical_verifier())
    assert checked.kept == [(f"{claim}.", [1])]


def test_a_pronoun_sentence_after_a_pronoun_sentence_keeps_the_sentence_that_names_the_speaker() -> None:
    sentences = [
        "Putin’s response so far has been ambiguous.",
        "He said that Moscow agreed with the proposal in theory.",
        "But he also set out tough conditions.",
        "Meetings will continue this week.",
    ]
    text, spans, pos = " ".join(sentences), [], 0
    for s in sentences:
        spans.append([pos, pos + len(s)])
        pos += len(s) + 1
    chunk = RetrievedChunk("c0", text, {"source": "a.txt", "sentences": json.dumps(spans)}, 1.0, 0)
    embedder = FakeEmbedder()
    found = select_evidence("What conditions did Putin set?", embedder.embed(["conditions"])[0], [chunk], embedder, 4)
    context = {e.text: e.context for e in found}
    assert context[sentences[1]] == sentences[0]
    assert context[sentences[2]] == f"{sentences[0]} {sentences[1]}"
    assert context[sentences[3]] == f"{sentences[1]} {sentences[2]}"


WEEKS = (
    "He described his meeting last week with Putin as a “solution-based discussion,” and voiced confidence that "
    "a pause in fighting could arrive within weeks."
)


def test_the_best_sentence_the_model_listed_but_left_out_is_quoted() -> None:
    found = evidence(WEEKS, PRODUCTIVE)
    written = "Witkoff said the ongoing talks over Ukraine were productive"
    answer = Answer(
        question="How soon did Witkoff think a pause in fighting could come?",
        text=f"{written} [1].",
        answered=True,
        citations=[found[1].citation(1)],
    )
    draft = f"Relevant: [1][2]\nAnswer: {written} [2]."
    added = add_overlooked(answer, draft, found)
    assert added.text == f"{written} [1]. {WEEKS[:-1]} [2]."
    assert [c.quote for c in added.citations] == [PRODUCTIVE, WEEKS] and added.citations[1].n == 2
    # Not listed, already cited, or no answer at all: nothing is added.
    assert add_overlooked(answer, f"Relevant: [2]\nAnswer: {written} [2].", found) == answer
    cited_top = answer.model_copy(update={"citations": [found[0].citation(1)]})
    assert add_overlooked(cited_top, draft, found) == cited_top
    refused = abstain(answer.question, found)
    assert add_overlooked(refused, draft, found) == refused
    headline = [replace(found[0], title=WEEKS), found[1]]
    assert add_overlooked(answer, draft, headline) == answer
