"""From a model draft to cited sentences, with the fake model's yes/no (`fake_word_judge`)."""

import pytest

from rag.answer.compose import (
    answer_grammar,
    answer_part,
    build_messages,
    check_draft,
    figures,
    finish,
    read_in_full,
    variants,
)
from rag.articles.chunking import split_sentences
from rag.core.citations import Removed, normalise_markers
from rag.core.config import Answering
from rag.evidence.passages import Evidence
from rag.models.embedding import FakeEmbedder
from rag.models.llm import FakeLLM, Message
from rag.models.prompts import NO_ANSWER
from rag.verify.roles import adds_nothing, figure_conflict, leans_back, missing_names, names, same_name, unframed
from rag.verify.support import SupportChecker, restates

WON = "Ann Quill won the 2031 Zyxbridge marathon in a course record of 2 hours 9 minutes."
BEAT = "Bo Reed beat Ann Quill in a sprint finish to win the 2031 Zyxbridge marathon."
WEATHER = "Rain fell on the course for most of the morning."
UNCHECKED = Answering(min_answers=0)  # without the check that the cited sentences answer the question
CHECKED = Answering(min_answers=0.5)
RATIO = Answering().variant_ratio


def evidence(*texts: str, sources: tuple[str, ...] = ()) -> list[Evidence]:
    return [
        Evidence(sources[i] if sources else f"{i}.txt", 0, len(t), t, None, None, None, 1.0, passage=i)
        for i, t in enumerate(texts)
    ]


def checker(llm: FakeLLM | None = None) -> SupportChecker:
    return SupportChecker(llm or FakeLLM(), threshold=0.5)


def check(draft: str, found: list[Evidence], llm: FakeLLM | None = None):  # type: ignore[no-untyped-def]
    embedder = FakeEmbedder()
    vectors = embedder.embed([e.text for e in found])
    return check_draft("Who won the 2031 Zyxbridge marathon?", draft, found, checker(llm), vectors, embedder, UNCHECKED)


def test_a_claim_its_citation_states_is_kept_with_that_citation() -> None:
    checked = check("The 2031 Zyxbridge marathon was won by Ann Quill [1].", evidence(WON, WEATHER))
    assert checked.kept == [("The 2031 Zyxbridge marathon was won by Ann Quill.", [0])]
    assert checked.removed == []


def test_a_claim_that_copies_its_sentence_with_words_left_out_is_the_sentence_itself() -> None:
    """The left-out words are often what was asked; the sentence states itself, so the model is not asked."""
    posted = "The mayor said the 2031 Zyxbridge marathon would move to May, posting on the city website."
    llm = FakeLLM(judge=lambda _: 0.0)
    checked = check("The mayor said the Zyxbridge marathon would move to May [2].", evidence(WEATHER, posted), llm)
    assert checked.kept == [(posted, [1])] and llm.checks == []
    checked = check("The mayor said the marathon would move to June [2].", evidence(WEATHER, posted), llm)
    assert checked.kept == [] and llm.checks  # a word of its own: checked, and refused
    checked = check("The mayor said the marathon would move [1][2].", evidence(WEATHER, posted), llm)
    assert checked.kept == [(posted, [1])]  # cited with the one sentence it copies


def test_a_claim_another_kept_claim_already_says_is_given_once() -> None:
    """The copied sentence and the model's own copy of it cited elsewhere, or a clause and the
    sentence it comes from, are read once, the fuller in the place of the first."""
    quoted = "The mayor called the 2031 Zyxbridge marathon “a triumph for the city”."
    draft = (
        "The mayor called the marathon “a triumph” [1]. "
        'The mayor called the 2031 Zyxbridge marathon "a triumph for the city" [2].'
    )
    assert check(draft, evidence(quoted, WEATHER)).kept == [(quoted, [0])]
    checked = check(f"Ann Quill won the 2031 Zyxbridge marathon [2]. {WON[:-1]} [1].", evidence(WON, WEATHER))
    assert checked.kept == [(WON[:-1] + ".", [0])]
    checked = check(f"Ann Quill won the 2031 Zyxbridge marathon [1]. {WEATHER[:-1]} [2].", evidence(WON, WEATHER))
    assert len(checked.kept) == 2  # each says something of its own


def test_a_claim_that_is_its_cited_sentence_word_for_word_is_kept_without_asking_the_model() -> None:
    llm = FakeLLM(judge=lambda _: 0.0)
    checked = check(f"{WON.upper()} [1].", evidence(WON, WEATHER), llm)
    assert checked.kept == [(WON, [0])] and llm.checks == []  # given as the article writes it
    reworded = WON.replace("won", "easily won")
    checked = check(f"{reworded} [1].", evidence(WON, WEATHER), llm)
    assert checked.kept == [] and llm.checks  # one word more: the model is asked, and says no
    assert restates("He said “it is over” — twice.", ['he said "it is over" - twice']) and not restates("", [""])


def test_a_claim_citing_the_wrong_sentence_moves_to_the_one_that_states_it() -> None:
    checked = check("Ann Quill won the 2031 Zyxbridge marathon [2].", evidence(WON, WEATHER))
    assert checked.kept == [("Ann Quill won the 2031 Zyxbridge marathon.", [0])]


def test_an_inverted_relation_is_removed_even_when_the_model_says_yes() -> None:
    llm = FakeLLM(judge=lambda _: 1.0)
    checked = check("Ann Quill won the 2031 Zyxbridge marathon [1].", evidence(BEAT), llm)
    assert checked.kept == []
    assert "Bo Reed" in checked.removed[0].reason and "win" in checked.removed[0].reason


def test_a_claim_naming_someone_the_cited_text_never_names_is_removed_even_when_the_model_says_yes() -> None:
    said = "The course will close at noon, according to race spokesman Dev Amari."
    llm = FakeLLM(judge=lambda _: 1.0)
    checked = check("Race director Cy Moss said the course will close at noon [1].", evidence(said), llm)
    assert checked.kept == [] and llm.checks == []
    assert checked.removed[0].reason == "the cited text does not name Cy Moss"
    kept = check("Spokesman Amari said the course will close at noon [1].", evidence(said), llm)
    assert kept.kept == [("Spokesman Amari said the course will close at noon.", [0])]  # one word of the name is enough


@pytest.mark.parametrize(
    ("claim", "sources", "missing"),
    [
        ("Race director Cy Moss praised the winner.", "The race director praised the winner.", ["Cy Moss"]),
        ("The Qorvia council met.", "The council met.", ["Qorvia"]),  # "The" is no word of the name
        ("The winner was praised by Moss.", "Race director Cy Moss praised the winner.", []),
        ("The winner was praised by Moss.", "The race director praised the winner.", ["Moss"]),
        ("Race director Cy Moss praised Ann Quill.", "Race director Cy Mos praised Ann Quil.", []),  # a letter away
        ("The United States sent a team.", "The U.S. sent a team.", []),  # its initials
        ("The Qorvia council met in Kellerton.", "The Qorvia council met.", ["Kellerton"]),
        ("The winner finished in 2 hours.", "Ann Quill finished first.", []),  # names no one
        ("Ann Quill won the Kellerton Open.", "Ann Quill won the race.", ["the Kellerton Open"]),  # an event
    ],
)
def test_the_names_a_claim_gives_are_looked_for_in_its_sources(claim: str, sources: str, missing: list[str]) -> None:
    assert missing_names(claim, sources) == missing


def test_a_figure_given_to_the_wrong_measure_is_removed_even_when_the_model_says_yes() -> None:
    budget = "The city spent $4 million on roads, while the budget reached $9 million."
    llm = FakeLLM(judge=lambda _: 1.0)
    checked = check("The budget reached $4 million [1].", evidence(budget), llm)
    assert checked.kept == [] and llm.checks == []
    assert checked.removed[0].reason == "the cited text gives budget reach as 9, not 4"


@pytest.mark.parametrize(
    ("claim", "cited", "conflict"),
    [
        ("Turnout was 71% in the Zyxbridge vote.", "The Greens won 71% of the seats; turnout was 54%.", "turnout"),
        ("The bridge opened in 2029.", "The bridge, designed in 2029, opened to traffic in May 2031.", "bridge"),
        ("Volunteers planted 300 trees.", "Volunteers planted 300 trees and 40 hedges.", None),
        ("The fund grew by 12% last year.", "The fund grew 12% last year, and its fees fell 3%.", None),
        ("The city hosted the games in 2031.", "The games are in 2031; Zyxbridge hosted them in 1990.", None),
        ("Model 7 went on sale on May 3, 2031.", "Model 9 went on sale on May 3, 2031.", None),
        ("The club signed 3 players.", "The club, founded in 1901, signed three players.", None),
    ],
)
def test_a_figures_measure_is_read_from_the_parse(claim: str, cited: str, conflict: str | None) -> None:
    """A figure given to another measure conflicts; the claim's own figure given to its measure, a
    measure that shares only the verb, and figures inside names and dates (the number check's) do not."""
    found = figure_conflict(claim, [cited])
    assert (found is not None and conflict in found) if conflict else found is None, found


def test_a_claim_that_only_shares_names_with_its_citation_is_removed_with_the_models_verdict() -> None:
    llm = FakeLLM(judge=lambda _: 0.1)
    checked = check("Ann Quill trained in the Zyxbridge hills [1].", evidence(WON), llm)
    assert checked.kept == [] and "P(yes) 0.10" in checked.removed[0].reason


def test_a_copied_passage_heading_is_not_a_claim_even_when_the_model_says_yes() -> None:
    llm = FakeLLM(judge=lambda _: 1.0)
    found = [Evidence("0.txt", 0, len(WON), WON, None, "Wire", "2031-04-01", 1.0)]
    checked = check("Passage from Wire, 2031-04-01: [1]", found, llm)
    assert checked.kept == []
    assert [r.sentence for r in checked.removed] == ["Passage from Wire, 2031-04-01:"]
    assert "heading" in checked.removed[0].reason


def test_a_sentence_that_only_starts_like_a_heading_is_checked_as_a_claim() -> None:
    senate = "Passage from the Zyxbridge senate is expected before the 2031 recess."
    checked = check(f"{senate} [1]", evidence(senate), FakeLLM(judge=lambda _: 1.0))
    assert checked.kept == [(senate, [0])]


def test_a_claim_framed_as_what_a_passage_states_is_checked_and_given_without_the_frame() -> None:
    found = [Evidence("0.txt", 0, len(WON), WON, None, "Wire", "2031-04-01", 1.0)]
    checked = check("The passage from Wire states that the 2031 Zyxbridge marathon was won by Ann Quill [1].", found)
    assert checked.kept == [("The 2031 Zyxbridge marathon was won by Ann Quill.", [0])]


@pytest.mark.parametrize(
    ("claim", "clause"),
    [
        ("The passage from Wire states that Bo Reed said he would run again.", "Bo Reed said he would run again."),
        ("According to the passages, the race started at 9 am.", "The race started at 9 am."),
        ("The race, according to the passage from Wire, started late.", "The race started late."),
        ("The race started late, the passage says.", "The race started late."),
        ("The passage of the bill was delayed.", None),
        ("Bo Reed said that the race started late.", None),
        ("The race was moved after the passage of the road bill.", None),
        ("The passage of the road bill showed that support was broad.", None),
    ],
)
def test_a_frame_naming_the_passage_comes_off_and_nothing_else_does(claim: str, clause: str | None) -> None:
    assert unframed(claim, "Passage from") == clause


def test_the_reply_grammar_numbers_only_the_passage_sentences_and_compiles_in_llama_cpp() -> None:
    from llama_cpp import LlamaGrammar

    grammar = answer_grammar(12, 3)
    numbers = grammar.split("number ::= ")[1].splitlines()[0]
    assert numbers.split(" | ") == [f'"{n}"' for n in range(12, 0, -1)]
    assert grammar.count("claim") == 4  # the first part and at most two more
    LlamaGrammar.from_string(grammar, verbose=False)  # raises on a grammar llama.cpp cannot parse


def test_a_quoted_question_supports_no_claim_even_when_the_model_says_yes() -> None:
    asked = "Readers asked: did Ann Quill win the 2031 Zyxbridge marathon?"
    checked = check("Ann Quill won the 2031 Zyxbridge marathon [1].", evidence(asked), FakeLLM(judge=lambda _: 1.0))
    assert checked.kept == []
    assert checked.removed[0].reason == "it cites a question, which states nothing"


def test_a_claim_citing_a_question_moves_to_the_sentence_that_states_it() -> None:
    asked = "Readers asked: did Ann Quill win the 2031 Zyxbridge marathon?"
    checked = check("Ann Quill won the 2031 Zyxbridge marathon [1].", evidence(asked, WON))
    assert checked.kept == [("Ann Quill won the 2031 Zyxbridge marathon.", [1])]


def test_a_claim_that_only_restates_the_question_is_removed_even_when_the_model_says_yes() -> None:
    checked = check(
        "The 2031 Zyxbridge marathon was won [1]. Ann Quill won it [1].", evidence(WON), FakeLLM(judge=lambda _: 1.0)
    )
    assert checked.kept == [("Ann Quill won it.", [0])]
    assert checked.removed == [
        Removed(sentence="The 2031 Zyxbridge marathon was won.", reason="it says nothing the question does not")
    ]


def test_a_claim_that_restates_the_question_but_copies_its_sentence_is_that_sentence() -> None:
    """Copied, the claim is its sentence, which says what the question asks."""
    passive = "The 2031 Zyxbridge marathon was won by Ann Quill in record time."
    checked = check("The 2031 Zyxbridge marathon was won [1].", evidence(passive), FakeLLM(judge=lambda _: 0.0))
    assert checked.kept == [(passive, [0])] and checked.removed == []


@pytest.mark.parametrize(
    ("question", "claim", "restates"),
    [
        ("What was the Zyxbridge revenue in Q2 2031?", "Zyxbridge Q2 2031 revenue.", True),
        ("Who is the 2031 Zyxbridge marathon winner?", "The 2031 Zyxbridge marathon winner is the winner.", True),
        ("Who is the 2031 Zyxbridge marathon winner?", "The winner is Ann Quill.", False),
        ("Did Ann Quill win the 2031 Zyxbridge marathon?", "Ann Quill won the 2031 Zyxbridge marathon.", False),
        ("Who won in 2031, Ann Quill or Bo Reed?", "Ann Quill won in 2031.", False),
    ],
)
def test_a_claim_adds_nothing_unless_it_has_a_word_of_its_own_or_the_question_is_yes_no_or_a_choice(
    question: str, claim: str, restates: bool
) -> None:
    assert adds_nothing(question, claim) is restates


def test_a_passage_sentence_that_restates_the_question_is_not_quoted_as_the_answer() -> None:
    title = evidence("Zyxbridge Q2 2031 revenue")
    answer = finish(
        "What was the Zyxbridge revenue in Q2 2031?",
        NO_ANSWER,
        title,
        checker(FakeLLM(judge=lambda _: 1.0)),
        FakeEmbedder(),
        "fake",
        UNCHECKED,
    )
    assert not answer.answered


def test_a_question_in_the_passages_is_never_given_as_the_answer() -> None:
    asked = evidence("Who won the 2031 Zyxbridge marathon, readers asked?")
    answer = finish(
        "Who won?", NO_ANSWER, asked, checker(FakeLLM(judge=lambda _: 1.0)), FakeEmbedder(), "fake", UNCHECKED
    )
    assert not answer.answered
    stated = evidence("Ann Quill won the 2031 Zyxbridge marathon.")
    answer = finish(
        "Who won?", NO_ANSWER, stated, checker(FakeLLM(judge=lambda _: 1.0)), FakeEmbedder(), "fake", UNCHECKED
    )
    assert answer.answered  # the same check gives a stating sentence as the answer


def article(*texts: str, gap: str = " ") -> list[Evidence]:
    """Consecutive sentences of one file, at their offsets in `gap.join(texts)`."""
    found, start = [], 0
    for text in texts:
        found.append(Evidence("a.txt", start, start + len(text), text, None, None, None, 1.0))
        start += len(text) + len(gap)
    return found


NAMED = "Race director Cy Moss praised the 2031 Zyxbridge marathon winner Ann Quill."
HE_SAID = "He said the course record would stand for years."


def test_a_claim_about_he_is_kept_with_the_sentence_before_that_names_him() -> None:
    llm = FakeLLM()
    checked = check("Cy Moss said the course record would stand for years [2].", article(NAMED, HE_SAID, WEATHER), llm)
    assert checked.kept == [("Cy Moss said the course record would stand for years.", [0, 1])]  # not the weather
    # the cited sentence, the closest other one, the two closest together, then the first with its neighbour
    assert len(llm.checks) == 4
    again = "Cy Moss also thanked the volunteers."
    checked = check("Cy Moss said the course record would stand for years [2].", article(NAMED, HE_SAID, again))
    assert checked.kept[0][1] == [0, 1]  # one neighbour is enough: the one before, where "he" is named


def test_a_claim_about_the_director_is_kept_with_the_run_of_sentences_back_to_the_one_naming_him() -> None:
    later = "The director added that the route would change."
    checked = check("Cy Moss said the route would change [3].", article(NAMED, HE_SAID, later, WEATHER))
    assert checked.kept == [("Cy Moss said the route would change.", [0, 1, 2])]
    apart = check("Cy Moss said the route would change [3].", article(NAMED, HE_SAID) + evidence(later))
    assert apart.kept == []  # the sentence naming him is in another run: nothing ties them


def test_a_sentence_whose_subject_is_this_is_read_with_the_sentence_before() -> None:
    closed = "The council shut the Qorvia bridge for repairs in 2031."
    this = "This could delay the city buses for weeks."
    claim = "The bridge repairs could delay the city buses for weeks"  # naming no one
    late = "The city buses were late on the Qorvia bridge for weeks."  # closer to the claim than the repairs
    checked = check(f"{claim} [3].", article(WEATHER, closed, this, late))
    assert checked.kept == [(f"{claim}.", [1, 2])]
    assert leans_back(this) and leans_back(HE_SAID) and not leans_back(closed)
    assert not leans_back("We said the course record would stand.")  # first person: said by whom is after it


def test_a_claim_that_joins_two_sentences_is_kept_with_both_when_it_cites_neither() -> None:
    second = "Bo Reed finished second, four seconds behind."
    claim = "Ann Quill won the marathon and Bo Reed finished second"
    checked = check(f"{claim} [3].", evidence(WON, second, WEATHER))
    assert checked.kept == [(f"{claim}.", [0, 1])]
    alone = check(f"{claim} [3].", evidence(WON, WEATHER, WEATHER.replace("Rain", "Sun")))
    assert alone.kept == []  # one of the two facts is in no sentence: nothing states the claim


def test_a_quote_split_at_its_full_stop_is_read_with_its_attribution_after_it() -> None:
    quote = ['"The course record will stand for years.', 'It was a perfect day," said race director Cy Moss.']
    checked = check("Cy Moss said the course record will stand for years [1].", article(*quote, gap="\r\n"))
    assert checked.kept == [("Cy Moss said the course record will stand for years.", [0, 1])]


def test_a_sentence_that_names_its_own_source_takes_no_name_from_the_sentence_before() -> None:
    """Ann Quill's words are not Cy Moss's because a sentence before them names him."""
    said = "The course record will stand for years, said timekeeper Ann Quill."
    checked = check("Cy Moss said the course record will stand for years [2].", article(NAMED, said))
    assert checked.kept == []
    told = "He told timekeeper Ann Quill that the course record would stand for years."
    checked = check("Cy Moss told Ann Quill that the course record would stand for years [2].", article(NAMED, told))
    assert checked.kept == [("Cy Moss told Ann Quill that the course record would stand for years.", [0, 1])]


def test_a_sentence_about_the_mayor_is_read_with_the_earlier_one_that_names_the_mayor() -> None:
    """News names someone once and then describes them; sentences may stand between the two."""
    opened = "Mayor Ana Ortiz opened the Qorvia bridge on Monday."
    later = "After the vote, the mayor said the tolls would end in 2032."
    start = len(opened) + 90  # two sentences of the article, not among the passages, lie between them

    def passages(first: str) -> list[Evidence]:
        return [*article(first), Evidence("a.txt", start, start + len(later), later, None, None, None, 1.0)]

    claim = "Mayor Ana Ortiz said the tolls would end in 2032"
    assert check(f"{claim} [2].", passages(opened)).kept == [(f"{claim}.", [0, 1])]
    assert check(f"{claim} [2].", passages(opened.replace("Mayor ", ""))).kept == []  # not named as the mayor
    assert check(f"{claim} [2].", evidence(opened, later)).kept == []  # another article's mayor


def test_a_name_made_into_an_adjective_is_looked_for_in_its_other_forms() -> None:
    """The mayor of a claim's "Qorvian mayor" is the one an earlier sentence names with "Qorvia"."""
    opened = "Mayor of Qorvia Ana Ortiz opened the bridge on Monday."
    later = "After the vote, the mayor said the tolls would end in 2032."
    start = len(opened) + 90  # two sentences of the article, not among the passages, lie between them
    found = [*article(opened), Evidence("a.txt", start, start + len(later), later, None, None, None, 1.0)]
    llm = FakeLLM(judge=lambda messages: float("Ortiz" in messages[-1]["content"]))  # with the sentence naming her
    claim = "The Qorvian mayor said the tolls would end in 2032"
    assert check(f"{claim} [2].", found, llm).kept == [(f"{claim}.", [0, 1])]
    assert names(f"{claim}.") == {"qorvian"}
    assert same_name("qorvian", "qorvia") and same_name("ortis", "ortiz") and same_name("zyxlandic", "zyxland")
    assert not same_name("quill", "quinn") and not same_name("ann", "anna") and not same_name("moss", "mossington")


def test_a_quoted_sentence_whose_subject_is_he_comes_with_the_sentences_that_say_who() -> None:
    loose = Answering(min_answers=0, min_relevance=0)
    question = "What did the race director say about the course record?"
    draft = f"{HE_SAID[:-1]} [3]."
    smiled = "He smiled at the finish."
    answer = finish(question, draft, article(NAMED, smiled, HE_SAID), checker(), FakeEmbedder(), "fake", loose)
    assert answer.text == f"{NAMED[:-1]} [1]. {smiled[:-1]} [2]. {HE_SAID[:-1]} [3]."
    alone = finish(
        question, draft, [*evidence(NAMED), *article(smiled, HE_SAID)], checker(), FakeEmbedder(), "fake", loose
    )
    assert alone.text == f"{HE_SAID[:-1]} [1]."  # the passages never say who: nothing is added
    ended = "The race ended at noon."
    unnamed = finish(
        question, f"{HE_SAID[:-1]} [2].", article(ended, HE_SAID), checker(), FakeEmbedder(), "fake", loose
    )
    assert unnamed.text == f"{HE_SAID[:-1]} [1]."  # the sentence before names no one


def test_sentences_of_other_files_or_further_apart_are_not_neighbours() -> None:
    later = len(NAMED) + 40  # another sentence lies between them
    apart = [*article(NAMED), Evidence("a.txt", later, later + len(HE_SAID), HE_SAID, None, None, None, 1.0)]
    for found in (apart, evidence(NAMED, HE_SAID)):
        assert not found[1].is_next_to(found[0])
        checked = check("Cy Moss said the course record would stand for years [2].", found)
        assert checked.kept == []


def test_a_number_the_cited_text_lacks_is_refused_before_the_model_is_asked() -> None:
    llm = FakeLLM(judge=lambda _: 1.0)
    checked = check("Ann Quill won in 2 hours 7 minutes [1].", evidence(WON), llm)
    assert checked.kept == [] and "7" in checked.removed[0].reason
    assert llm.checks == []


def test_a_draft_refusal_with_no_close_answer_abstains_with_the_closest_sentences() -> None:
    found = evidence(WON, WEATHER)
    answer = finish(
        "Who won?", NO_ANSWER, found, checker(FakeLLM(judge=lambda _: 0.0)), FakeEmbedder(), "fake", UNCHECKED
    )
    assert (answer.answered, answer.text, answer.citations) == (False, NO_ANSWER, [])
    assert {c.quote for c in answer.evidence} == {WON, WEATHER}


def test_true_claims_that_do_not_answer_the_question_are_refused_under_the_answer_check() -> None:
    """The 2031 winner, truly cited, is no answer to a question about 2032."""
    found = evidence(WON, WEATHER)
    draft = "Sentences: [1]\nAnswer: Ann Quill won the 2031 Zyxbridge marathon [1]."

    def judge(messages: list) -> float:  # type: ignore[type-arg]
        asks_answer = "Question: " in messages[-1]["content"]
        return 0.2 if asks_answer else 1.0

    question = "Who won the 2032 Zyxbridge marathon?"
    kept = finish(question, draft, found, checker(FakeLLM(judge=judge)), FakeEmbedder(), "fake", UNCHECKED)
    assert kept.answered and kept.answer_check is None  # the check switched off
    refused = finish(question, draft, found, checker(FakeLLM(judge=judge)), FakeEmbedder(), "fake", CHECKED)
    assert not refused.answered and refused.reason == "The sentences the draft cites do not answer the question."
    assert (refused.answer_check, refused.relevance) == (0.2, None)  # the score that refused it, for the reader
    judged = finish(question, draft, found, checker(FakeLLM(judge=lambda _: 0.9)), FakeEmbedder(), "fake", CHECKED)
    assert judged.answered and judged.answer_check == 0.9


def test_an_answer_whose_words_do_not_say_what_was_asked_is_refused_under_the_relevance_check() -> None:
    """The sentence holds the winner, but the draft tells the weather from it: true, cited, beside the question."""
    found = evidence(f"{WON} {WEATHER}")
    draft = "Sentences: [1]\nAnswer: For most of the morning, rain fell on the course [1]."
    question = "Who won the 2031 Zyxbridge marathon?"
    loose = Answering(min_answers=0.5, min_relevance=0)
    kept = finish(question, draft, found, checker(), FakeEmbedder(), "fake", loose)
    assert kept.answered and kept.answer_check == 1.0 and kept.relevance is None  # the check switched off
    llm = FakeLLM()
    strict = Answering(min_answers=0.5, direct_candidates=0)  # no sentence quoted in place of the draft
    refused = finish(question, draft, found, checker(llm), FakeEmbedder(), "fake", strict)
    assert not refused.answered and refused.reason == "The answer the draft gives does not say what the question asks."
    assert (refused.answer_check, refused.relevance) == (1.0, 0.0)
    asked = [m[-1]["content"] for m in llm.checks if "Proposed answer: " in m[-1]["content"]]
    assert asked == [
        f"Question: {question}\n\nProposed answer: For most of the morning, rain fell on the course.\n\n"
        "Does the proposed answer give what the question asks for?\n"
    ]
    said = finish(question, f"{WON[:-1]} [1].", found, checker(), FakeEmbedder(), "fake", CHECKED)
    assert said.answered and said.relevance == 1.0
    quoted = finish(question, draft, found, checker(), FakeEmbedder(), "fake", CHECKED)  # the direct answer instead
    assert quoted.text == f"{WON} {WEATHER[:-1]} [1]." and quoted.relevance == 0.0  # the draft's score


def test_a_claim_kept_as_its_whole_sentence_passes_the_relevance_check_on_the_models_own_words() -> None:
    """The model copies the part that answers; the clause it left out, kept for the reader, can distract
    the check, but cannot take away what the copied part gives."""
    whole = "Ann Quill won the 2031 Zyxbridge marathon, though rain fell on the course all morning."
    question = "Who won the 2031 Zyxbridge marathon?"

    def judge(messages: list[Message]) -> float:  # distracted by the rain, as the model was by a clause
        text = messages[-1]["content"]
        return 0.0 if "Proposed answer: " in text and "rain" in text.partition("Proposed answer: ")[2].lower() else 1.0

    llm = FakeLLM(judge=judge)
    strict = Answering(min_answers=0.5, direct_candidates=0)
    draft = "Ann Quill won the 2031 Zyxbridge marathon [1]."
    answer = finish(question, draft, evidence(whole), checker(llm), FakeEmbedder(), "fake", strict)
    assert (answer.answered, answer.text, answer.relevance) == (True, f"{whole[:-1]} [1].", 1.0)
    asked = [m[-1]["content"].partition("Proposed answer: ")[2].partition("\n")[0] for m in llm.checks]
    assert [a for a in asked if a] == [whole, "Ann Quill won the 2031 Zyxbridge marathon."]
    rain = "Rain fell on the course [1]."
    rained = finish(question, rain, evidence(whole), checker(FakeLLM(judge=judge)), FakeEmbedder(), "fake", strict)
    assert not rained.answered  # its own words do not say who won either


def test_no_evidence_abstains_with_its_reason() -> None:
    answer = finish("Who won?", "", [], checker(), FakeEmbedder(), "fake", UNCHECKED)
    assert not answer.answered and "No indexed article" in answer.reason


def test_variants_quote_the_other_source_where_the_answer_relies_on_the_changed_words() -> None:
    other = WON.replace("Ann Quill", "Cy Moor")
    found = evidence(WON, other, WEATHER, sources=("a.txt", "b.txt", "c.txt"))
    notes = variants([("Ann Quill won the marathon.", [0])], found, RATIO)
    assert notes == [(f"Another source gives a different account: {other}", [1])]
    assert variants([("The marathon had a course record.", [0])], found, RATIO) == []  # not where they differ


def test_a_version_the_answer_already_gives_is_not_quoted_again() -> None:
    other = WON.replace("Ann Quill", "Cy Moor")
    found = evidence(WON, other, other, sources=("a.txt", "b.txt", "c.txt"))
    kept = [("Ann Quill won the marathon.", [0]), ("Cy Moor won the marathon.", [1])]
    assert variants(kept, found, RATIO) == []  # c.txt tells b.txt's version, which the answer cites
    notes = variants(kept[:1], found, RATIO)
    assert notes == [(f"Another source gives a different account: {other}", [1])]  # once, not for c.txt too


SHARE = "The survey found that 62% of Zyxbridge runners train in the hills."
OTHER_SHARE = "A club poll put the share of Zyxbridge runners who train in the hills at 48 percent."
UNRELATED_SHARE = "Ticket prices rose 48% this year."


def test_another_figure_of_what_the_answer_counts_is_quoted_when_it_answers_the_question() -> None:
    found = evidence(SHARE, WEATHER, OTHER_SHARE, UNRELATED_SHARE)
    question = "What share of Zyxbridge runners train in the hills?"
    draft = "Sentences: [1]\nAnswer: 62% of Zyxbridge runners train in the hills [1]."

    def judge(messages: list) -> float:  # type: ignore[type-arg]
        return 0.0 if "Ticket" in messages[-1]["content"] else 1.0

    llm = FakeLLM(judge=judge)
    answer = finish(question, draft, found, checker(llm), FakeEmbedder(), "fake", CHECKED)
    assert answer.text == f"{SHARE[:-1]} [1]. Another figure is reported: {OTHER_SHARE[:-1]} [2]."
    assert [c.quote for c in answer.citations] == [SHARE, OTHER_SHARE]
    asked = [m[-1]["content"] for m in llm.checks if "\n\nQuestion: " in m[-1]["content"]]  # sentences asked
    assert len(asked) == 3 and not any(WEATHER in a for a in asked)  # the answer check, then the two with a %
    alone = finish(
        question, draft, found, checker(llm), FakeEmbedder(), "fake", Answering(min_answers=0.5, figure_candidates=0)
    )
    assert alone.text == f"{SHARE[:-1]} [1]."


def test_figures_are_read_by_the_word_that_follows_them() -> None:
    assert figures("about 11% of its land, or 11 per cent") == {"%": {"11"}}
    assert figures("a 30-day ceasefire, then 50 days") == {"day": {"30", "50"}}
    assert figures("600,000 troops in 2022.") == {"troop": {"600000"}}


def test_a_sentence_from_an_unrelated_report_is_not_a_variant() -> None:
    found = evidence(WON, BEAT, sources=("a.txt", "b.txt"))
    assert variants([("Ann Quill won the marathon.", [0])], found, RATIO) == []


def test_passages_are_headed_by_their_source_and_numbered_by_sentence() -> None:
    found = [
        Evidence("a.txt", 0, 10, WON, "Marathon day", "Wire", "2031-04-01", 1.0, passage=0),
        Evidence("a.txt", 11, 20, WEATHER, "Marathon day", "Wire", "2031-04-01", 1.0, passage=0),
        Evidence("b.txt", 0, 10, BEAT, None, None, None, 0.5, passage=1),
    ]
    user = build_messages("Who won?", found)[1]["content"]
    assert user.splitlines()[:3] == [
        'Passage from Wire, 2031-04-01, headline "Marathon day":',
        f"[1] {WON}",
        f"[2] {WEATHER}",
    ]
    assert "Passage from b.txt, no date given:\n[3] " + BEAT in user


@pytest.mark.parametrize(
    "reply",
    [
        "Sentences: [1][2]\nAnswer: Ann Quill won [1]. She set a record [2]. It rained [3]. Bo Reed was second [2].",
        "Sentences: [1]\nAnswer: Ann Quill won. [1] She set a record. [1, 2] It rained. [3] Bo Reed was second. [2]",
        'Ann Quill won the race [1]. "It was hard," she said [1]. Dr. Reed agreed [2]. Rain fell [3].',
    ],
)
def test_generation_may_stop_once_the_sentences_read_cannot_change(reply: str) -> None:
    """Fed the reply a character at a time, `read_in_full` turns true once a word of the fourth
    sentence is whole (before the reply ends), and stays true; the three sentences read from the
    reply at that point are those of the whole reply, markers after a full stop included."""

    def read(text: str) -> list[str]:
        answer = normalise_markers(answer_part(text))
        return [answer[s:e] for s, e in split_sentences(answer)][:3]

    stops = [i for i in range(1, len(reply) + 1) if read_in_full(reply[:i], 3)]
    assert stops and stops == list(range(stops[0], len(reply) + 1))
    assert stops[0] < len(reply)
    assert read(reply[: stops[0]]) == read(reply)


def test_a_reply_of_three_sentences_is_read_to_its_end() -> None:
    reply = "Sentences: [1]\nAnswer: One [1]. Two [2]. Three [3]."
    assert not any(read_in_full(reply[:i], 3) for i in range(1, len(reply) + 1))
    assert read_in_full(reply + " Four more", 3) and not read_in_full(reply + " Four", 3)


def test_an_answer_that_names_no_date_to_a_when_question_is_the_refusal() -> None:
    opened = evidence("The council reopened the Qorvia bridge to traffic.", "Traffic on the Qorvia bridge was light.")
    yes = checker(FakeLLM(judge=lambda _: 1.0))
    question, draft = (
        "When did the council reopen the Qorvia bridge?",
        "The council reopened the bridge to traffic [1].",
    )
    refused = finish(question, draft, opened, yes, FakeEmbedder(), "fake", UNCHECKED)
    assert not refused.answered  # nor is a closest sentence quoted: neither names a date
    assert refused.reason == "The question asks for a date or time, and the answer names none."
    unasked = finish(question, draft, opened, yes, FakeEmbedder(), "fake", Answering(min_answers=0, asked_kind=False))
    assert unasked.answered
    dated = evidence("The council reopened the Qorvia bridge on Monday.")
    answer = finish(
        question, "The council reopened the bridge on Monday [1].", dated, yes, FakeEmbedder(), "f", UNCHECKED
    )
    assert answer.answered


def test_the_direct_answer_tries_the_closest_sentences_that_could_answer_passing_over_those_that_cannot() -> None:
    question = "When did the council reopen the Qorvia bridge to traffic?"
    found = evidence(
        "The council reopened the Qorvia bridge to traffic.",  # close, and names no date
        "Readers asked when the council will reopen the Qorvia bridge?",  # close, and a question answers nothing
        "Engineers signed off the Qorvia bridge repairs on Monday.",
    )
    closeness = FakeEmbedder().embed([e.text for e in found]) @ FakeEmbedder().embed([question])[0]
    assert closeness.argmin() == 2  # the dated sentence is the farthest of the three
    answer = finish(
        question,
        NO_ANSWER,
        found,
        checker(FakeLLM(judge=lambda _: 1.0)),
        FakeEmbedder(),
        "fake",
        Answering(min_answers=0, direct_candidates=1),
    )
    assert answer.answered and answer.citations[0].quote == found[2].text
