"""Names the articles never mention, and disagreeing figures in the evidence."""

import numpy as np
import pytest

from rag.answerability import (
    absent_actor,
    asks_latest,
    assumed_denial,
    ignored_names,
    question_parts,
    unanswered_kind,
    uncovered_parts,
    unknown_names,
)
from rag.answering import finish, restates
from rag.conflicts import describe, figures, find_conflicts
from rag.embedding import FakeEmbedder
from rag.evidence import Evidence
from rag.verification import Verdict

VOCABULARY = frozenset("zelensky witkoff zaporizhzhia putin moscow china trump brien o".split())


@pytest.mark.parametrize(
    ("question", "unknown"),
    [
        ("What did Xi Jinping say about the plan?", ["Jinping", "Xi"]),
        ("What did Zelenksy say in March?", []),  # a misspelling of a known name; months are not subjects
        ("How long did the Witkof-Putin talks in Moscow last?", []),
        ("What status would Zaporizhia get?", []),
        ("What did O'Brien say on Friday?", []),
        ("Who won the Super Bowl?", ["Bowl", "Super"]),
        ("Besides land, what did Trump name?", []),  # a capitalised opening word is not a name
        ("Regarding Xi, what did Trump say?", ["Xi"]),
    ],
)
def test_unknown_names(question: str, unknown: list[str]) -> None:
    assert unknown_names(question, VOCABULARY) == unknown


SPREAD = {"trump": 5, "china": 1, "india": 1, "crimea": 2, "tariff": 2}
EVIDENCE = "Trump focused on the Kremlin's allies, particularly India and China. India has been announced a 50% duty."


@pytest.mark.parametrize(
    ("question", "answer", "ignored"),
    [
        # The evidence names China; the answer, about India, does not: it answers something else.
        ("Why did Trump impose a 50% tariff on China?", "India has been announced a 50% duty.", ["China"]),
        ("What did Trump say about China and India?", "Trump focused on India and China.", []),
        # Names in most articles may stay implicit, and a name the evidence lacks is not for this check.
        ("Why did Trump impose a tariff on India?", "India has been announced a 50% duty.", []),
        ("Why did Zelensky agree to cede Crimea?", "Zelensky said land could be discussed.", []),
        ("What about the Chinese tariff?", "China was named.", []),  # shares five letters
    ],
)
def test_ignored_names(question: str, answer: str, ignored: list[str]) -> None:
    assert ignored_names(question, answer, EVIDENCE, SPREAD, articles=5) == ignored


def test_a_name_in_half_the_articles_or_more_is_not_distinctive() -> None:
    question, answer = "Why did Trump impose a 50% tariff on China?", "India has been announced a 50% duty."
    assert ignored_names(question, answer, EVIDENCE, {"china": 3}, articles=5) == []


def test_figures_keep_their_hedges() -> None:
    found = figures("Ukraine lost about 11% of its land; others say 20 percent.")
    assert [(f.text, f.value) for f in found] == [("about 11%", 11.0), ("20 percent", 20.0)]


def evidence(source: str, text: str, score: float, direction: list[float], outlet: str | None = None) -> Evidence:
    vector = np.array(direction, dtype=np.float32)
    return Evidence(source, 0, len(text), text, None, outlet, None, score, vector / np.linalg.norm(vector))


def test_different_figures_on_one_topic_conflict_and_unrelated_ones_do_not() -> None:
    found = [
        evidence("a.txt", "Moscow controls almost 20% of Ukrainian territory.", 1.0, [1, 0.1, 0], "Wire"),
        evidence("b.txt", "Ukraine has lost control of about 11% of its land.", 0.9, [1, 0.3, 0], "CNN"),
        evidence("c.txt", "India faces a 50% duty on its goods.", 0.85, [0, 0, 1]),
        evidence("d.txt", "Weak match: turnout was 60%.", 0.2, [1, 0.2, 0]),
    ]
    conflicts = find_conflicts(found)
    assert [c.indices for c in conflicts] == [(0, 1)]
    sentence, cited = describe(conflicts[0], found)
    assert cited == [0, 1]
    assert "almost 20%" in sentence and "about 11%" in sentence and "Wire" in sentence and "CNN" in sentence


def test_equal_figures_do_not_conflict() -> None:
    found = [
        evidence("a.txt", "The duty is 50%.", 1.0, [1, 0]),
        evidence("b.txt", "A 50% duty was announced.", 0.9, [1, 0.1]),
    ]
    assert find_conflicts(found) == []


def test_one_source_giving_two_figures_is_named_as_such() -> None:
    found = [
        evidence("u.txt", "India has already been announced a 50% duty.", 1.0, [1, 0.2], "UNN"),
        evidence("u.txt", "Trump is imposing 25% tariffs on goods from India.", 0.95, [1, 0.4], "UNN"),
    ]
    sentence, _ = describe(find_conflicts(found)[0], found)
    assert sentence == (
        "The UNN report gives differing figures: “India has already been announced a 50% duty” and "
        "“Trump is imposing 25% tariffs on goods from India”."
    )


class FakeAcceptingVerifier:
    """Accepts every claim: isolates what `finish` adds after verification."""

    def verify(self, claim: str, sources: object, question: str = "") -> Verdict:
        return Verdict(True, 1.0)


def test_an_answer_touching_one_figure_gets_both() -> None:
    found = [
        evidence("003.txt", "Moscow currently controls almost 20% of Ukrainian territory.", 1.0, [1, 0.1, 0]),
        evidence("001.txt", "Ukraine has lost control of about 11% of its land.", 0.9, [1, 0.3, 0], "CNN"),
        evidence("002.txt", "The plan limits the army to 600,000 personnel.", 0.8, [0, 0, 1]),
    ]
    answer = finish(
        "How much?", "Answer: Moscow controls almost 20% of Ukraine [1].", found, FakeAcceptingVerifier(), "m"
    )
    assert answer.text.startswith("Moscow controls almost 20% of Ukraine [1]. The reports differ on this figure: ")
    assert "CNN (date unknown) reports “Ukraine has lost control of about 11% of its land” [1][2]." in answer.text
    assert [c.source for c in answer.citations] == ["003.txt", "001.txt"]


def test_an_answer_about_something_else_gets_no_figures() -> None:
    found = [
        evidence("003.txt", "Moscow currently controls almost 20% of Ukrainian territory.", 1.0, [1, 0.1, 0]),
        evidence("001.txt", "Ukraine has lost control of about 11% of its land.", 0.95, [1, 0.3, 0], "CNN"),
        evidence("002.txt", "The plan limits the army to 600,000 personnel.", 0.9, [0, 0, 1]),
    ]
    answer = finish(
        "How big an army?", "Answer: The army is capped at 600,000 [3].", found, FakeAcceptingVerifier(), "m"
    )
    assert answer.text == "The army is capped at 600,000 [1]."


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "Where did the talks take place, and in which city did Witkoff meet Putin in April?",
            ["Where did the talks take place?", "in which city did Witkoff meet Putin in April?"],
        ),
        ("Which officials spoke in November and after the April visit?", None),
        ("How much land does Russia hold, and do the figures agree?", None),
    ],
)
def test_question_parts(question: str, parts: list[str] | None) -> None:
    assert question_parts(question) == (parts or [question])


def test_a_part_nothing_in_the_answer_addresses_is_reported() -> None:
    parts = ["What troop ceiling did the plan set?", "What share of land does Russia control?"]
    said = ["The plan set a troop ceiling of 600,000.", "The plan set a troop ceiling of 600,000 personnel."]
    embedder = FakeEmbedder()
    assert uncovered_parts(parts, said, embedder) == ["What share of land does Russia control?"]
    assert uncovered_parts(parts[:1], said, embedder) == []


def test_a_sentence_that_only_restates_the_question_is_removed() -> None:
    found = [evidence("002.txt", "Merz said Ukraine must avoid unilateral territorial concessions.", 1.0, [1, 0])]
    question = "Why did Friedrich Merz endorse unilateral territorial concessions by Ukraine?"
    draft = "Answer: Friedrich Merz endorsed unilateral territorial concessions by Ukraine [1]."
    answer = finish(question, draft, found, FakeAcceptingVerifier(), "m")
    assert not answer.answered and answer.removed[0].reason == "it only restates the question"


def test_a_sentence_adding_a_number_is_not_a_restatement() -> None:
    assert not restates("What share of its land has Ukraine lost?", "Ukraine has lost about 11% of its land.")
    assert restates("Why did Russia reject the ceasefire?", "Russia rejected the ceasefire.")


def test_an_answer_denying_a_why_questions_premise_abstains_and_says_so() -> None:
    found = [evidence("003.txt", "Zelensky rejects this idea.", 1.0, [1, 0])]
    draft = "Answer: Zelensky rejects ceding Crimea [1]."
    answer = finish("Why did Zelensky agree to cede Crimea to Russia?", draft, found, FakeAcceptingVerifier(), "m")
    assert (
        not answer.answered
        and answer.reason == "The articles contradict the question's premise: Zelensky rejects ceding Crimea."
    )
    kept = finish("What did Zelensky say about Crimea?", draft, found, FakeAcceptingVerifier(), "m")
    assert kept.answered  # not a "why" question: a denial is simply the answer
    # Only the lead sentence answers "why"; a later one may deny something else.
    found.append(evidence("004.txt", "Ukraine fears Trump may cut military aid.", 0.9, [1, 0.2]))
    draft = "Answer: Ukraine fears Trump may cut military aid [2]. Zelensky rejects this idea [1]."
    assert finish("Why is Ukraine worried?", draft, found, FakeAcceptingVerifier(), "m").answered


@pytest.mark.parametrize(
    ("question", "answer", "wanted"),
    [
        ("How many soldiers have been killed?", "Ukraine has lost about 11% of its land [1].", "How many soldiers"),
        ("How many barrels of oil does India import?", "India faces a 50% duty [1].", "How many barrels of oil"),
        ("How many days did Trump give Putin?", "Trump gave Putin 50 days [1].", None),
        ("How many troops would Ukraine keep?", "The plan cut its armed forces to 600,000 personnel [1].", None),
        ("How many soldiers have died?", "Since 2022, Ukraine lost 11 per cent of its land [1].", "How many soldiers"),
        ("How much of Ukraine does Russia hold?", "Russia holds almost 20% [1].", None),  # a share, not a unit
        # A 30-day ceasefire is a length of time, not a count of soldiers.
        (
            "How many soldiers have been killed?",
            "Ukraine accepted a US-proposed 30-day ceasefire [1].",
            "How many soldiers",
        ),
        ("How many soldiers have been killed?", "Trump gave Putin 50 days [1].", "How many soldiers"),
        ("How many troops would Ukraine keep?", "Ukraine would keep 600,000 troops for a 10-year period [1].", None),
        ("How long did the talks last?", "The three-hour talks were useful [1].", None),
        ("How long did the talks last?", "Witkoff and Putin shook hands [1].", "how long"),
        ("On what date did Putin speak?", "Putin spoke on 21 November [1].", None),
        ("On what date did Putin speak?", "Putin said the plan could be a basis [1].", "what date"),
        ("Why did Putin speak?", "Anything [1].", None),
    ],
)
def test_an_answer_must_give_what_the_question_asks_for(question: str, answer: str, wanted: str | None) -> None:
    assert unanswered_kind(question, answer) == wanted


def test_a_count_question_answered_with_another_figure_abstains_and_says_why() -> None:
    found = [evidence("001.txt", "Ukraine has lost control of about 11% of its land.", 0.9, [1, 0])]
    draft = "Relevant: [1]\nAnswer: Ukraine has lost control of about 11% of its land [1]."
    answer = finish("How many soldiers have been killed?", draft, found, FakeAcceptingVerifier(), "m")
    assert not answer.answered
    assert answer.reason == "The question asks how many soldiers; no supported sentence of the answer says."


AMBIGUOUS = "Putin’s response so far to the Trump-backed ceasefire proposal has been ambiguous."
REJECTS = "Trump has said he would support Russia keeping Crimea. Zelensky rejects this idea."


@pytest.mark.parametrize(
    ("question", "evidence", "assumed"),
    [
        ("Why did Russia flatly reject the 30-day ceasefire?", [AMBIGUOUS], True),
        ("Why did Zelensky reject the idea?", [AMBIGUOUS, REJECTS], False),  # a refusal is reported
        ("Why is the plan unacceptable for Kyiv?", ["Such a plan is unacceptable for Kyiv."], False),
        ("Did Russia reject the ceasefire?", [AMBIGUOUS], False),  # "no, its answer was ambiguous" answers it
        ("Why did Russia delay its answer?", [AMBIGUOUS], False),  # takes no refusal for granted
    ],
)
def test_a_refusal_the_question_takes_for_granted_must_be_reported(
    question: str, evidence: list[str], assumed: bool
) -> None:
    assert assumed_denial(question, evidence) is assumed


ABSENT = "Trump said it had been a good day, while the Kremlin described the talks – which Ukraine was not present at – as constructive."


@pytest.mark.parametrize(
    ("question", "evidence", "absent"),
    [
        ("What did the Ukrainian delegation say at the Witkoff-Putin talks?", [ABSENT], ABSENT),
        (
            "What did Ukraine propose during the talks in Moscow?",
            ["Talks without Ukraine went on for hours."],
            "Talks without Ukraine went on for hours.",
        ),
        ("What did Putin say at the Witkoff-Putin talks?", [ABSENT], None),  # Putin was there
        ("What did the Ukrainian delegation say at the Geneva meeting?", [ABSENT], None),  # another gathering
        ("Where were the talks that Ukraine was not present at?", [ABSENT], None),  # asks nothing of Ukraine
    ],
)
def test_a_question_about_what_an_absent_party_said_there_has_a_false_premise(
    question: str, evidence: list[str], absent: str | None
) -> None:
    assert absent_actor(question, evidence) == absent


@pytest.mark.parametrize(
    ("question", "latest"),
    [
        ("What is the latest on the peace talks?", True),
        ("How long did the most recent Trump-Putin call last?", True),
        ("Where do the talks stand now?", True),
        ("Which share of Ukraine does Russia currently control?", True),
        ("What land terms were proposed?", False),
        ("Who is the author of the CNN report?", False),
    ],
)
def test_questions_about_the_latest_state_of_things(question: str, latest: bool) -> None:
    assert asks_latest(question) is latest
