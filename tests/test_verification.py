import pytest

from rag.embedding import FakeEmbedder
from rag.verification import (
    HeuristicVerifier,
    cited,
    claim_entities,
    claim_numbers,
    missing_terms,
    negated,
    novel_words,
    speakers_in,
    without_asked_dates,
)


def test_numbers_are_normalised_across_spellings() -> None:
    assert claim_numbers("600,000 troops [2]") == {"600000"}
    assert claim_numbers("600 000 troops") == {"600000"}
    assert claim_numbers("a four-hour meeting") == {"4"}
    assert "2" not in claim_numbers("as cited [2]")


def test_entities_skip_sentence_starters_and_titles() -> None:
    assert claim_entities("According to CNN, President Trump met Putin in Moscow.") == {
        "CNN",
        "Trump",
        "Putin",
        "Moscow",
    }


def test_names_and_numbers_must_be_in_the_cited_text_whatever_the_question_says() -> None:
    quote = "The Kremlin described the talks as constructive."
    claim = "The Kremlin called the Geneva talks with Witkoff constructive."
    assert missing_terms(claim, quote) == ["Geneva", "Witkoff"]
    assert missing_terms(claim, quote, question="How did the Kremlin describe Witkoff's Geneva talks?") == [
        "Geneva",
        "Witkoff",
    ]
    assert missing_terms("The talks lasted 3 hours.", "The talks lasted hours.", question="Did they last 3 hours?") == [
        "3"
    ]


def test_a_name_the_question_uses_may_be_another_name_of_the_same_country_in_the_cited_text() -> None:
    quote = "Reports suggest Ukraine would be expected to give up land under a US peace proposal."
    claim = "The American blueprint asked Kyiv to give up land."
    assert missing_terms(claim, quote) == ["American", "Kyiv"]
    assert missing_terms(claim, quote, question="What did the American blueprint ask Kyiv to give up?") == []
    # "US" is an abbreviation in capitals, not the pronoun "us".
    us = missing_terms("The American plan was discussed.", "It is not being discussed with us.", "The American plan?")
    assert us == ["American"]
    # A city is not its country: "talks in Moscow" needs Moscow, unless the reader said Moscow.
    assert missing_terms("Talks were held in Moscow.", "Talks were held in Russia.") == ["Moscow"]


def test_a_compound_name_is_found_by_its_parts() -> None:
    quote = "On 23 November, the US and Ukrainian delegations discussed the draft agreement."
    assert missing_terms("The US-Ukraine talks took place on 23 November.", quote) == []
    assert missing_terms("The US-Russia talks took place on 23 November.", quote) == ["US-Russia"]
    assert novel_words("Trump spent the weekend at Mar-a-Lago.", "after his weekend at Mar-a-Lago, Trump spent") == []


@pytest.mark.parametrize(
    ("claim", "question", "trimmed"),
    [
        (
            "The ceasefire Ukraine agreed to in March 2025 was 30 days.",
            "How long was the ceasefire Ukraine agreed to in March 2025?",
            "The ceasefire Ukraine agreed to was 30 days.",
        ),
        (
            "The November US plan set a ceiling.",
            "What ceiling did the November US plan set?",
            "The US plan set a ceiling.",
        ),
        (
            "In March 2025, Ukraine agreed, on Tuesday, to a ceasefire.",
            "What in March 2025 on Tuesday?",
            "Ukraine agreed to a ceasefire.",
        ),
        (
            "Witkoff met Putin in Moscow in April [2].",
            "Where did Witkoff meet Putin in April?",
            "Witkoff met Putin in Moscow.",
        ),
        # The model's own date is left for verification to judge; so is a question with no date.
        ("Putin spoke on 21 November.", "When did Putin speak in November?", "Putin spoke on 21 November."),
        ("Putin spoke on Friday.", "When did Putin speak?", "Putin spoke on Friday."),
    ],
)
def test_only_the_dates_the_question_gave_are_dropped(claim: str, question: str, trimmed: str) -> None:
    assert without_asked_dates(claim, question) == trimmed


def test_negation_words_that_deny() -> None:
    assert negated("Zelensky rejects this idea.")
    assert negated("Why Zelensky can’t and won’t give up Crimea")
    assert not negated("talks, which Ukraine was not present at, were constructive")


def test_verifier_rejects_a_wrong_number_and_accepts_the_right_one() -> None:
    verifier = HeuristicVerifier(FakeEmbedder())
    source = [cited("The plan would cap Ukraine's armed forces at 600,000 personnel.", "Pravda.Ru", None, None)]
    assert verifier.verify("The plan caps Ukraine's armed forces at 600,000 personnel [1].", source).supported
    verdict = verifier.verify("The plan caps Ukraine's armed forces at 800,000 personnel [1].", source)
    assert not verdict.supported and "800000" in verdict.reason


def test_publication_date_supports_only_claims_about_publication() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    source = [cited("Trump said talks went well.", "CNN", "2025-03-16", None)]
    assert verifier.verify("CNN published the report on March 16, 2025.", source).supported
    assert not verifier.verify("The treaty was signed on March 16, 2025.", source).supported


def test_verifier_flags_contradiction_by_negation() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    source = [cited("Zelensky rejects the idea of giving up Crimea.", None, None, None)]
    verdict = verifier.verify("Zelensky accepts the idea of giving up Crimea.", source)
    assert not verdict.supported and "opposite" in verdict.reason


def test_verifier_rejects_a_claim_made_mostly_of_words_the_source_lacks() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    source = [cited("Putin accepts the philosophy of President Trump, Witkoff said.", None, None, None)]
    verdict = verifier.verify("Putin said it will pay for road repairs.", source)
    assert not verdict.supported and "road" in verdict.reason
    assert verifier.verify("Witkoff said Putin accepts Trump's philosophy.", source).supported


def test_a_pronoun_is_resolved_by_the_sentence_before_it() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    before = "Red lines must be respected, stated Chancellor of Germany Friedrich Merz."
    quote = "He added that Ukraine's interests are Europe's interests."
    claim = "Friedrich Merz said Ukraine's interests are Europe's interests."
    assert verifier.verify(claim, [cited(quote, None, None, None, context=before)]).supported
    assert not verifier.verify(claim, [cited(quote, None, None, None)]).supported
    # Context vouches only for a quote that needs it: one naming its own subject stands alone.
    named = cited("Zelensky added that Ukraine's interests are Europe's interests.", None, None, None, context=before)
    assert not verifier.verify(claim, [named]).supported


def test_a_pronoun_after_a_conjunction_is_resolved_too() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    before = "Putin said that Moscow agreed with the proposal in theory."
    quote = "But he also set out tough conditions and demanded concessions from Kyiv."
    claim = "Putin set out tough conditions and demanded concessions from Kyiv."
    assert verifier.verify(claim, [cited(quote, None, None, None, context=before)]).supported
    assert not verifier.verify(claim, [cited(quote, None, None, None)]).supported


def test_a_claim_putting_words_in_a_named_speakers_mouth_is_not_supported() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    chancellor = cited(
        "After the US-Ukraine talks in Geneva, the chancellor stated that he did not expect a quick breakthrough.",
        None,
        None,
        None,
    )
    putin = cited("The text is not being discussed with us in detail, said Putin on 21 November.", None, None, None)
    claim = "Putin stated that he did not expect a quick breakthrough after the talks in Geneva."
    question = "What did Putin say during the US-Ukraine talks in Geneva?"
    assert not verifier.verify(claim, [chancellor], question).supported
    # Nor does a second citation that names Putin saying something else.
    verdict = verifier.verify(claim, [chancellor, putin], question)
    assert not verdict.supported and "Putin say it" in verdict.reason
    named = cited(
        "Putin stated that he did not expect a quick breakthrough after the talks in Geneva.", None, None, None
    )
    assert verifier.verify(claim, [named], question).supported


def test_a_sentence_that_names_someone_taking_part_does_not_have_them_talking() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    trump = cited(
        "US President Donald Trump has said Russia and Ukraine “are very close to a deal”, hours after his envoy "
        "Steve Witkoff and Russian President Vladimir Putin held talks in Moscow.",
        None,
        None,
        None,
    )
    verdict = verifier.verify("Putin said Russia and Ukraine are very close to a deal.", [trump])
    assert not verdict.supported and "Putin say it" in verdict.reason
    assert verifier.verify("Trump said Russia and Ukraine are very close to a deal.", [trump]).supported
    # Of two speakers in one sentence, each says only their own clause.
    both = cited(
        "Trump said it had been a “good day” of negotiations, while the Kremlin described the talks as “constructive”.",
        None,
        None,
        None,
    )
    assert verifier.verify("The Kremlin described the talks as constructive.", [both]).supported
    verdict = verifier.verify("The Kremlin said it had been a good day of negotiations.", [both])
    assert not verdict.supported and "Kremlin say it" in verdict.reason
    # Nor does a headline that names him: the Kremlin's words stay the Kremlin's.
    kremlin = cited("The Kremlin described the talks as constructive.", None, None, "Putin and Witkoff meet")
    assert not verifier.verify("Putin described the talks as constructive.", [kremlin]).supported


@pytest.mark.parametrize(
    ("sentence", "speakers"),
    [
        ("Dmitry Peskov noted that discussing the document via media is inappropriate.", {"Dmitry", "Peskov"}),
        ("US President Donald Trump has said Russia and Ukraine are close to a deal.", {"US", "Donald", "Trump"}),
        (
            '"It could serve as a basis," said President of Russia Vladimir Putin on 21 November.',
            {"Russia", "Vladimir", "Putin"},
        ),
        ("The three-hour talks were described as “very useful” by Putin aide Yuri Ushakov.", {"Yuri", "Ushakov"}),
        (
            "Moscow remains open to them, according to press secretary Dmitry Peskov as reported by RBC.",
            {"Dmitry", "Peskov"},
        ),
        (
            "Trump said it had been a good day, while the Kremlin described the talks as constructive.",
            {"Trump", "Kremlin"},
        ),
        ("“Overall, the situation is starting to move,” he said.", set()),
        ("Trump – who spoke to reporters in Rome – has said he would support Russia keeping Crimea.", set()),
    ],
)
def test_speakers_are_the_names_the_sentence_has_talking(sentence: str, speakers: set[str]) -> None:
    assert speakers_in(sentence) == speakers


def test_words_in_quotation_marks_must_be_the_cited_sentences_own() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    source = [cited("The Kremlin described the talks as “constructive”.", None, None, None)]
    assert verifier.verify("The Kremlin called the talks “constructive”.", source).supported
    verdict = verifier.verify("The Kremlin called the talks “productive”.", source)
    assert not verdict.supported and "productive" in verdict.reason


def test_a_speaker_given_only_as_he_is_named_by_the_sentences_before() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    quote = "“I'll be speaking to President Putin on Tuesday,” he told reporters on board Air Force One."
    claim = "Trump said he would be speaking to Putin on Tuesday."
    before = "Trump’s comments come after he announced a ceasefire."
    question = "When will Trump speak to Putin?"
    assert verifier.verify(claim, [cited(quote, None, None, None, context=before)], question).supported
    # Without the sentence that says who "he" is, the cited text does not name Trump; with one
    # naming someone else, he is not the one talking.
    assert not verifier.verify(claim, [cited(quote, None, None, None)], question).supported
    other = "Witkoff spoke to reporters afterwards."
    assert not verifier.verify(claim, [cited(quote, None, None, None, context=other)], question).supported


def test_the_sentence_before_says_who_not_what() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    before = "Putin’s response so far to the ceasefire proposal has been ambiguous."
    quote = cited("He said that Moscow agreed with the proposal in theory.", None, None, None, context=before)
    assert verifier.verify("Putin said that Moscow agreed with the proposal in theory.", [quote]).supported
    verdict = verifier.verify("Putin's response to the ceasefire proposal has been ambiguous.", [quote])
    assert not verdict.supported  # the reader clicking the citation would not find it there


def test_a_refusal_the_question_takes_for_granted_must_be_in_the_cited_text() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    question = "Why did Russia flatly reject the US-proposed 30-day ceasefire?"
    agreed = cited("Moscow agreed with the US-proposed 30-day ceasefire in theory.", None, None, None)
    verdict = verifier.verify("Russia flatly rejected the US-proposed 30-day ceasefire.", [agreed], question)
    assert not verdict.supported and "does not deny" in verdict.reason
    refused = cited("Russia flatly rejected the US-proposed 30-day ceasefire on Monday.", None, None, None)
    assert verifier.verify("Russia flatly rejected the US-proposed 30-day ceasefire.", [refused], question).supported
