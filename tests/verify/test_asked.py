"""What a question asks for, read from its parse, and whether an answer names it (spaCy's entities)."""

import pytest

from rag.verify.asked import AMOUNT, LENGTH, TIME, asked_kinds, gives


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("When did the Zyxbridge marathon start?", [TIME]),
        ("When was the Qorvia bridge reopened?", [TIME]),  # "when" hangs from the auxiliary
        ("Where will the 2031 Zyxbridge marathon finish?", []),  # a town, a venue or a web address
        ("According to the council, how many runners would the course hold?", [AMOUNT]),
        ("How much did the Qorvia bridge repairs cost?", [AMOUNT]),
        ("How long did the Qorvia bridge stay closed?", [LENGTH]),
        ("How many runners finished, and when?", [AMOUNT, TIME]),
        ("Did the mayor say when the bridge reopens?", []),  # asks yes or no
        ("When the bridge closed, what did the council decide?", []),  # "when" opens a clause of its own
        ("Who won the race, and when?", []),  # a name answers part of it
        ("How did the council describe the repairs?", []),
        ("Which runner won the 2031 Zyxbridge marathon?", []),
        ("To how many days did the Qorvia council later shorten its deadline before moving it to Friday?", [AMOUNT]),
        ("When the bridge closed, how did the council respond?", []),
    ],
)
def test_the_kind_asked_for_comes_from_a_wh_word_of_the_main_clause(question: str, kinds: list[object]) -> None:
    assert asked_kinds(question) == kinds


@pytest.mark.parametrize(
    ("answer", "kinds", "named"),
    [
        ("The Qorvia bridge reopened on Monday.", [TIME], True),
        ("The Qorvia bridge reopened on March 3, 2031.", [TIME], True),
        ("The council officially reopened the Qorvia bridge.", [TIME], False),
        ("The Zyxbridge Model 6 was announced.", [TIME], False),  # a figure inside a name is no date
        ("The army would be capped at 600,000 personnel.", [AMOUNT], True),
        ("Four runners did not finish.", [AMOUNT], True),
        ("Many runners did not finish.", [AMOUNT], False),
        ("The repairs cost 4.2 million euros.", [AMOUNT], True),
        ("The council shortened the closure to 50 days.", [AMOUNT], True),  # a number of days, tagged a date
        ("The bridge closed on March 3, 2031.", [AMOUNT], False),  # a date is no count
        ("The bridge closed last week.", [AMOUNT], False),
        ("The bridge stayed closed for three weeks.", [LENGTH], True),
        ("The bridge stayed closed.", [LENGTH], False),
        ("The bridge stayed closed for a week.", [LENGTH], True),
        ("The repairs were a 30-day job.", [LENGTH], True),
        ("The bridge will stay closed in the coming weeks.", [LENGTH], False),  # when, not for how long
        ("The bridge stayed closed for weeks.", [LENGTH], True),
        ("The bridge stayed closed for the three weeks of repairs.", [LENGTH], True),  # definite, but counted
        ("Council sessions in Kellerton last for hours.", [LENGTH], True),  # parsed with "last" at the head
        ("The bridge closed last week.", [LENGTH], False),  # a point in time, not a length
        ("The bridge closed on March 3, 2031.", [LENGTH], False),
        ("The bridge has been closed since 2029.", [LENGTH], True),  # how long, as far as now
        ("The bridge closed last week.", [TIME], True),
        ("Four runners finished.", [AMOUNT, TIME], True),  # either kind asked answers
        ("The runners met.", [], True),  # nothing asked for: anything answers
    ],
)
def test_an_answer_names_the_kind_by_its_entities(answer: str, kinds: list[object], named: bool) -> None:
    assert gives(answer, kinds) is named  # type: ignore[arg-type]
