"""From a model draft to cited sentences: which evidence sentence each claim ends up citing."""

import json
from dataclasses import replace

import numpy as np
import pytest

from rag.answering import Checked, abstain, add_overlooked, check_draft, finish
from rag.citations import Answer
from rag.embedding import FakeEmbedder
from rag.evidence import Evidence, newest_first, select_evidence
from rag.retrieval import RetrievedChunk
from rag.verification import HeuristicVerifier, cited, points_back

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
    # The question's words pass as framing, so "Witkoff said the ongoing talks were productive [1]"
    # passes against a sentence that only names Witkoff; the reader clicking [1] must land on the
    # sentence that says it.
    question = "What did Witkoff say about the ongoing talks?"
    found = evidence(FOURTH, PRODUCTIVE)
    verifier = lexical_verifier()
    claim = "Witkoff said the ongoing talks were productive"
    assert verifier.verify(claim, [cited(FOURTH, None, None, None)], question).supported
    checked = check_draft(question, f"{claim} [1].", found, verifier)
    assert checked.kept == [(f"{claim}.", [1])]


def test_of_two_listed_sentences_the_one_kept_says_most_of_the_claim() -> None:
    question = "Which visit to Russia since the start of the year was Witkoff's trip to Moscow?"
    found = evidence(FOURTH, PHILOSOPHY)
    claim = "Witkoff's trip to Moscow was the fourth such visit he has made to Russia since the start of the year."
    checked = check_draft(question, claim, found, lexical_verifier(), relevant=[1, 2])
    assert checked.kept == [(claim, [0])]


def test_a_date_the_claim_repeats_from_the_question_and_its_citation_lacks_is_dropped_and_recorded() -> None:
    question = "Which visit to Russia since the start of the year was Witkoff's April trip to Moscow?"
    claim = (
        "Witkoff's April trip to Moscow was the fourth such visit he has made to Russia since the start of the year."
    )
    checked = check_draft(question, f"{claim} [1]", evidence(FOURTH, PHILOSOPHY), lexical_verifier())
    trimmed = claim.replace("April ", "")
    assert checked.kept == [(trimmed, [0])]
    assert [r.sentence for r in checked.removed] == [claim]
    assert "April" in checked.removed[0].reason and trimmed in checked.removed[0].reason
    # A date the model wrote itself is a claim of its own: the sentence is removed, not trimmed.
    invented = claim.replace("April", "June")
    checked = check_draft(question, f"{invented} [1]", evidence(FOURTH, PHILOSOPHY), lexical_verifier())
    assert checked.kept == [] and "June" in checked.removed[0].reason


def test_a_claim_its_own_citation_says_fully_keeps_it() -> None:
    found = evidence(CONSTRUCTIVE, PRODUCTIVE)
    claim = "Witkoff said the ongoing talks over Ukraine were productive"
    checked = check_draft(QUESTION, f"{claim} [2].", found, lexical_verifier())
    assert checked.kept == [(f"{claim}.", [1])]


def one_chunk(sentences: list[str]) -> tuple[np.ndarray, list[RetrievedChunk], FakeEmbedder]:
    """A query vector, one retrieved chunk holding the sentences, and the fake embedder."""
    text, spans, pos = " ".join(sentences), [], 0
    for s in sentences:
        spans.append([pos, pos + len(s)])
        pos += len(s) + 1
    chunk = RetrievedChunk("c0", text, {"source": "a.txt", "sentences": json.dumps(spans)}, 1.0, 0)
    embedder = FakeEmbedder()
    return embedder.embed(["conditions"])[0], [chunk], embedder


@pytest.mark.parametrize(
    ("sentence", "points"),
    [
        ("Zelensky rejects this idea.", True),
        ('Such a "peace plan" is unacceptable for Kyiv.', True),
        ("This could destabilize world markets.", True),
        ("Talks will resume this week.", False),
        ("It was the fourth such visit he has made to Russia.", False),
        ("Putin said that the plan could be a basis.", False),
    ],
)
def test_a_sentence_points_back_when_the_sentence_before_says_what_it_is_about(sentence: str, points: bool) -> None:
    assert points_back(sentence) is points


IDEA = [
    "Trump has said he would support Russia keeping the Crimean peninsula.",
    "Zelensky rejects this idea.",
    "Talks are expected next week.",
]


def test_an_answer_saying_this_idea_is_preceded_by_the_sentence_that_says_which_quoted_at_its_offsets() -> None:
    found = select_evidence("Which idea has Zelensky rejected?", *one_chunk(IDEA), 3)
    rejects = [e for e in found if e.text == IDEA[1]]  # the sentence before is not among the evidence
    answer = finish(
        "Which idea has Zelensky rejected?", "Answer: Zelensky rejects this idea [1].", rejects, lexical_verifier(), "m"
    )
    assert answer.answered
    assert answer.text == f"{IDEA[0][:-1]} [1]. Zelensky rejects this idea [2]."
    text = " ".join(IDEA)
    assert [text[c.start : c.end] for c in answer.citations] == [c.quote for c in answer.citations] == IDEA[:2]


def test_the_sentence_pointed_back_to_is_not_added_when_the_answer_already_cites_it() -> None:
    found = select_evidence("Which idea has Zelensky rejected?", *one_chunk(IDEA), 3)
    order = {e.text: n for n, e in enumerate(found, 1)}
    draft = (
        f"Answer: Trump said he would back Russia keeping the Crimean peninsula [{order[IDEA[0]]}]. "
        f"Zelensky rejects this idea [{order[IDEA[1]]}]."
    )
    answer = finish("Which idea has Zelensky rejected?", draft, found, lexical_verifier(), "m")
    assert (
        answer.text
        == "Trump said he would back Russia keeping the Crimean peninsula [1]. Zelensky rejects this idea [2]."
    )


def test_a_restating_answer_stays_only_with_the_sentence_that_gives_what_the_question_asks() -> None:
    sentences = [
        '"I believe it could serve as the basis for a final peaceful settlement.',
        'However, the text is not being discussed with us in detail," said Putin on 21 November.',
    ]
    question = "On what date did Putin say the plan could serve as the basis for a final peaceful settlement?"
    found = [e for e in select_evidence(question, *one_chunk(sentences), 2) if e.text == sentences[0]]
    draft = "Answer: Putin said the plan could serve as the basis for a final peaceful settlement [1]."
    answer = finish(question, draft, found, lexical_verifier(), "m")
    assert answer.answered and "21 November" in answer.text and answer.removed == []
    without_date = finish(question.replace("On what date did", "Why did"), draft, found, lexical_verifier(), "m")
    assert not without_date.answered  # it only restates the question, and nothing asked for is missing


def test_a_pronoun_sentence_after_a_pronoun_sentence_keeps_the_sentence_that_names_the_speaker() -> None:
    sentences = [
        "Putin’s response so far has been ambiguous.",
        "He said that Moscow agreed with the proposal in theory.",
        "But he also set out tough conditions.",
        "Meetings will continue this week.",
    ]
    found = select_evidence("What conditions did Putin set?", *one_chunk(sentences), 4)
    context = {e.text: e.context for e in found}
    assert context[sentences[1]] == sentences[0]
    assert context[sentences[2]] == f"{sentences[0]} {sentences[1]}"
    assert context[sentences[3]] is None  # it says who it is about


def contexts_and_check(
    sentences: list[str], question: str, quoted: int, claim: str
) -> tuple[dict[str, str | None], Checked]:
    """Each sentence's context as evidence selection gives it, and the claim checked against the
    `quoted` sentence alone."""
    found = select_evidence(question, *one_chunk(sentences), len(sentences))
    cites = [e for e in found if e.text == sentences[quoted]]
    return {e.text: e.context for e in found}, check_draft(question, f"{claim} [1].", cites, lexical_verifier())


def test_a_sentence_opening_a_quotation_is_given_the_sentence_that_closes_it_and_names_the_speaker() -> None:
    sentences = [
        '"I believe it could serve as the basis for a final peaceful settlement.',
        'However, the text is not being discussed with us in detail," said Putin on 21 November.',
        "Talks are expected next week.",
    ]
    claim = "Putin said the plan could serve as the basis for a final peaceful settlement"
    context, checked = contexts_and_check(sentences, "What did Putin say?", 0, claim)
    assert context == {sentences[0]: sentences[1], sentences[1]: None, sentences[2]: None}
    assert checked.kept == [(f"{claim}.", [0])]


def test_a_speaker_given_as_he_after_a_quotation_is_named_by_the_sentence_before_the_quotation() -> None:
    sentences = [
        "Trump’s comments come after he announced last week that Ukraine had accepted a ceasefire.",
        "“We’re doing pretty well, I think, with Russia.",
        "I’ll be speaking to President Putin on Tuesday,” he told reporters on board Air Force One.",
    ]
    claim = "Trump told reporters on board Air Force One"
    context, checked = contexts_and_check(sentences, "Where was Trump when he spoke to reporters?", 2, claim)
    assert context[sentences[2]] == f"{sentences[0]} {sentences[1]}"
    assert checked.kept == [(f"{claim}.", [0])]


def test_a_chunk_opening_with_he_is_resolved_by_the_sentences_of_the_chunk_before_it() -> None:
    lead = "Putin’s response so far has been ambiguous."
    sentences = ["He said that Moscow agreed in theory.", "But he also set out tough conditions."]
    query, (chunk,), embedder = one_chunk(sentences)
    shifted = len(lead) + 1
    spans = [[start + shifted, end + shifted] for start, end in chunk.sentences]
    chunk = replace(chunk, metadata={**chunk.metadata, "sentences": json.dumps(spans)}, lead_in=((0, len(lead), lead),))
    found = select_evidence("What conditions did Putin set?", query, [chunk], embedder, 3)
    context = {e.text: e.context for e in found}
    assert context == {sentences[0]: lead, sentences[1]: f"{lead} {sentences[0]}"}  # the lead-in is not evidence
    assert [(e.start, e.end) for e in found if e.text == sentences[1]] == [tuple(spans[1])]


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


def test_newest_first_reorders_only_the_dated_sentences() -> None:
    found = evidence("a", "b", "c", "d")
    dates = ["2025-03-16", None, "2025-11-23", "2025-04-01"]
    found = [replace(e, date=d) for e, d in zip(found, dates, strict=True)]
    assert [e.text for e in newest_first(found)] == ["c", "b", "d", "a"]
