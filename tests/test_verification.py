from rag.embedding import FakeEmbedder
from rag.verification import HeuristicVerifier, cited, claim_entities, claim_numbers, missing_terms, negated


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


def test_missing_terms_allow_the_question_framing() -> None:
    quote = "The Kremlin described the talks as constructive."
    claim = "The Kremlin called the Moscow talks with Witkoff constructive."
    assert missing_terms(claim, quote) == ["Moscow", "Witkoff"]
    assert missing_terms(claim, quote, question="How did the Kremlin describe Witkoff's Moscow talks?") == []


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
    # The question names Putin, which would vouch for the name; it does not vouch for the speaker.
    verdict = verifier.verify(claim, [chancellor], question)
    assert not verdict.supported and "Putin say it" in verdict.reason
    # Nor does a second citation that names Putin saying something else.
    assert not verifier.verify(claim, [chancellor, putin], question).supported
    named = cited("Putin stated that he did not expect a quick breakthrough after the talks.", None, None, None)
    assert verifier.verify(claim, [named], question).supported


def test_a_speaker_given_only_as_he_may_be_the_one_named() -> None:
    verifier = HeuristicVerifier(FakeEmbedder(), min_similarity=0.0)
    quote = "“I'll be speaking to President Putin on Tuesday,” he told reporters on board Air Force One."
    claim = "Trump said he would be speaking to Putin on Tuesday."
    assert verifier.verify(claim, [cited(quote, None, None, None)], "When will Trump speak to Putin?").supported


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
