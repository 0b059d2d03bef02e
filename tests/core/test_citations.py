from rag.core.citations import marker_numbers, normalise_markers, renumber, strip_markers


def test_marker_groups_and_lists_become_single_markers() -> None:
    assert normalise_markers("A [1, 2]. B [3-5].") == "A [1][2]. B [3][4][5]."
    assert normalise_markers("They are [1], [2], and [3].") == "They are [1][2][3]."


def test_markers_after_the_full_stop_move_before_it() -> None:
    assert normalise_markers("Claim. [4] Next.") == "Claim[4]. Next."


def test_renumber_by_first_appearance() -> None:
    text, order = renumber([("First claim.", [5, 2]), ("Second claim.", [2]), ("Third.", [0])])
    assert text == "First claim [1][2]. Second claim [2]. Third [3]."
    assert order == [5, 2, 0]
    assert marker_numbers(text) == [1, 2, 2, 3]


def test_strip_markers_tidies_spacing() -> None:
    assert strip_markers("Moscow controls almost 20% [2].") == "Moscow controls almost 20%."
    assert strip_markers("Pravda.Ru [1] and UNN [3].") == "Pravda.Ru and UNN."


def test_markers_follow_a_stop_that_closes_a_quote() -> None:
    assert normalise_markers("It was “very useful.” [2] Then.") == "It was “very useful.” [2] Then."
    text, _ = renumber([("It was “very useful.”", [4]), ("Next.", [4])])
    assert text == "It was “very useful.” [1] Next [1]."


def test_markers_follow_an_ellipsis_whole() -> None:
    text, _ = renumber([("Sales rose in Japan, Europe\u00a0...", [3]), ("It ended\u2026", [1]), ("Next.", [3])])
    assert text == "Sales rose in Japan, Europe\u00a0... [1] It ended\u2026 [2] Next [1]."
