from pathlib import Path

import pytest

from rag.articles.documents import _html_segments, decode, parse_article, read_article
from rag.core.errors import RagError
from tests.conftest import SEEDS


def test_seed_metadata_comes_from_the_text() -> None:
    cnn = read_article(SEEDS / "001_8a2a514bf6660ac7.txt")
    assert (cnn.date, cnn.author, cnn.outlet) == ("2025-03-16", "Jessie Yeung", "CNN")
    pravda = read_article(SEEDS / "002_bf4c599bf41a5fdc.txt")
    assert pravda.author == "Anton Kulikov"
    assert pravda.outlet == "Pravda.Ru"
    assert pravda.title and pravda.title.startswith("Trump Teases Major Progress")
    assert pravda.date is None  # the text gives event days without a year, never a publication date
    unn = read_article(SEEDS / "004_e2343d4eb54106e2.txt")
    assert unn.outlet == "UNN"
    assert unn.title and unn.title.startswith("Negotiations of the Year")


def test_article_without_metadata_has_none_invented() -> None:
    article = read_article(SEEDS / "000_91727c63c750db2a.txt")
    assert (article.title, article.outlet, article.author, article.date) == (None, None, None, None)


def test_text_is_the_decoded_file_with_newlines_kept() -> None:
    data = b"Title line\r\nFirst sentence. Second one.\r\n"
    article = parse_article("a.txt", data)
    assert article.text == data.decode()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café déjà vu.".encode("utf-16"), "Café déjà vu."),
        ("Café déjà vu.".encode("latin-1"), "Café déjà vu."),
        ("Kyiv — “quoted”.".encode("cp1252"), "Kyiv — “quoted”."),
    ],
)
def test_decodes_common_encodings(data: bytes, expected: str) -> None:
    assert decode(data, "x.txt") == expected


def test_binary_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="binary"):
        parse_article("x.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(RagError, match="no text"):
        parse_article("x.txt", b"  \n\n ")
    odd = tmp_path / "x.pdf"
    odd.write_bytes(b"%PDF-1.4")
    with pytest.raises(RagError, match="unsupported"):
        read_article(odd)


def test_html_keeps_only_visible_text_with_raw_offsets() -> None:
    html = (
        "<html><head><title>Talks resume</title><style>p{color:red}</style>"
        '<meta property="article:published_time" content="2025-04-26T10:00:00Z"></head>'
        "<body><script>alert('x')</script><p>Envoys met in Geneva. Tom &amp; Jerry watched.</p></body></html>"
    )
    article = parse_article("page.html", html.encode())
    visible = [article.text[s:e] for s, e in article.segments]
    assert visible == ["Envoys met in Geneva. Tom &amp; Jerry watched."]
    assert article.title == "Talks resume"
    assert article.date == "2025-04-26"
    assert not any("alert" in v or "color" in v for v in visible)


def test_html_markup_inside_scripts_comments_and_hidden_elements_is_not_text() -> None:
    html = (
        '<!DOCTYPE html><script>if (a < b) { s = "</p><p>fake"; }</script>'
        "<!-- <p>commented out</p> --><svg><text>drawn</text></svg>"
        "<p>One <b>two</b> three.</p><p>After a self-closing <br/> tag.</p>"
    )
    article = parse_article("page.html", html.encode())
    visible = [article.text[s:e] for s, e in article.segments]
    assert visible == ["One ", "two", " three.", "After a self-closing ", " tag."]


def test_unclosed_tags_are_read_in_one_pass() -> None:
    # The standard library's parser needs seconds for 40,000 of these and minutes for 400,000.
    page = "<p>Envoys met in Geneva.</p>" + "<a" * 2_000_000
    article = parse_article("flood.html", page.encode())
    # as in a browser, a tag left open runs to the end of the file
    assert [article.text[s:e] for s, e in article.segments] == ["Envoys met in Geneva."]


def test_an_html_page_over_the_time_budget_is_a_clear_error() -> None:
    with pytest.raises(RagError, match="HTML too slow to read"):
        _html_segments("<p>x</p>" * 10, budget=0.0)


def test_byline_outlet_stops_at_the_sentence_end() -> None:
    article = parse_article("x.txt", b"Headline here\nBy Jane Doe, Reuters. Published 2025-03-16.\nBody text here.")
    assert (article.author, article.outlet, article.date) == ("Jane Doe", "Reuters", "2025-03-16")
