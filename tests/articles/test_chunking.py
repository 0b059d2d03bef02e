from rag.articles.chunking import chunk_article, split_sentences
from rag.articles.documents import parse_article, read_article
from tests.conftest import SEEDS


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_splits_on_sentence_ends_but_not_abbreviations() -> None:
    text = "Washington: U.S. President Donald Trump spoke. Mr. Witkoff agreed! Did Putin? “Yes,” he said."
    assert sentences(text) == [
        "Washington: U.S. President Donald Trump spoke.",
        "Mr. Witkoff agreed!",
        "Did Putin?",
        "“Yes,” he said.",
    ]


def test_quotes_close_sentences_and_lines_are_boundaries() -> None:
    text = '"Don\'t believe it," he wrote. "Something good."\nHeadline without stop\n  Next line.  '
    assert sentences(text) == [
        '"Don\'t believe it," he wrote.',
        '"Something good."',
        "Headline without stop",
        "Next line.",
    ]


def test_numbers_with_decimals_do_not_split() -> None:
    assert sentences("Inflation hit 3.5 percent in May. It fell later.") == [
        "Inflation hit 3.5 percent in May.",
        "It fell later.",
    ]


def test_every_seed_sentence_is_verbatim_at_its_offsets() -> None:
    for path in sorted(SEEDS.iterdir()):
        article = read_article(path)
        for chunk in chunk_article(article, max_words=60, overlap_sentences=1):
            for start, end in chunk.sentences:
                piece = article.text[start:end]
                assert piece and piece == piece.strip()
                assert piece in chunk.text


def test_chunks_respect_the_word_budget_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(20))
    article = parse_article("a.txt", text.encode())
    chunks = chunk_article(article, max_words=21, overlap_sentences=1)
    assert all(len(c.text.split()) <= 21 for c in chunks)
    assert chunks[0].sentences[-1] == chunks[1].sentences[0]
    covered = {span for c in chunks for span in c.sentences}
    assert len(covered) == 20


def test_a_sentence_longer_than_the_budget_is_its_own_chunk() -> None:
    article = parse_article("a.txt", ("word " * 50 + ". Short one.").encode())
    chunks = chunk_article(article, max_words=10, overlap_sentences=0)
    assert [len(c.sentences) for c in chunks] == [1, 1]


def test_a_citation_marker_after_the_stop_stays_with_its_sentence() -> None:
    text = "He called it “solution-oriented.” [1] Trump agreed. [2][3] Next one."
    assert sentences(text) == ["He called it “solution-oriented.” [1]", "Trump agreed. [2][3]", "Next one."]
