"""Evidence: the best sentences inside the retrieved chunks, scored against the question."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.citations import Citation
from rag.embedding import Embedder
from rag.retrieval import RetrievedChunk
from rag.verification import (
    attributed_to_pronoun,
    claim_entities,
    claim_numbers,
    closes_quotation,
    needs_context,
    opens_quotation,
    opens_with_pronoun,
    points_back,
    speakers_in,
)

Sentence = tuple[int, int, str]  # start and end offsets in the article, and the text
KEYWORD_WEIGHT = 0.4
DUPLICATE_SIMILARITY = 0.9
# Within an article known to repeat another (rag/duplicates.py), a paraphrase is the same report.
# On 000/001 (MiniLM) true paraphrases score 0.68-0.93, and the closest unrelated pair 0.69.
REWRITE_SIMILARITY = 0.72
COVERED_CHUNKS = 4
# Ranking (not scoring) handicap for a vague sentence: one with no name and no figure that shares
# a single word with the question. "We'll be talking about land." matches "What land terms were
# proposed?" on "land" and tells the reader nothing; on the eval set this brought the 002 plan
# sentences to the model's attention and lost one other answer.
VAGUE_PENALTY = 0.15
_STOP = frozenset(
    (
        "a an the and or of to in on at for with by from as is are was were be been what which who whom whose "
        "when where why how did does do has have had that this these those it its about any there their they "
        "he she his her will would could should can may might say said says tell told"
    ).split()
)


# A quotation running longer than this many sentences before its closing one is not followed.
_QUOTATION_SENTENCES = 3
# How far back to look for the sentence that says who "he" is.
_CONTEXT_SENTENCES = 3
# Text addressed to a chat model, not to readers (chat-template tokens, a role or answer label
# opening a line, "ignore previous instructions"): never shown to the model as evidence.
_INSTRUCTION = re.compile(
    r"<\|[^|<>]{0,40}\|>|^\s*(system|assistant|user|answer|relevant|question)\s*:"
    r"|\bignore (all |any )?(the )?(previous|prior|above|earlier) instructions\b",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Evidence:
    """One sentence from one article, with where it sits and how well it matches the question."""

    source: str
    start: int
    end: int
    text: str
    title: str | None
    outlet: str | None
    date: str | None
    score: float
    vector: np.ndarray = field(repr=False, compare=False)
    also_reported_by: tuple[str, ...] = ()
    author: str | None = None
    # The sentences (start, end, text) that say who or what this one is about (`needs_context`).
    context_sentences: tuple[Sentence, ...] = field(default=(), repr=False)
    vague: bool = field(default=False, repr=False)  # no name, no figure, one word in common with the question

    @property
    def context(self) -> str | None:
        return " ".join(text for *_, text in self.context_sentences) or None

    @property
    def label(self) -> str:
        """Say who published it, who wrote it and when, as far as the article tells."""
        parts = [self.outlet or self.source, f"by {self.author}" if self.author else "", self.date or "date unknown"]
        return ", ".join(filter(None, parts))

    def citation(self, n: int) -> Citation:
        return Citation(
            n=n,
            source=self.source,
            quote=self.text,
            start=self.start,
            end=self.end,
            title=self.title,
            outlet=self.outlet,
            date=self.date,
            author=self.author,
            also_reported_by=list(self.also_reported_by),
            context=self.context if self.context and needs_context(self.text) else None,
        )


def keywords(text: str) -> set[str]:
    """Content words, crudely stemmed so that "talks" meets "talk" and "proposed" meets "proposal"."""
    return {w[:6] for w in re.findall(r"\w+", text.lower()) if w not in _STOP and len(w) > 2}


def _idf(pool: Sequence[set[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for words in pool:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    return {w: math.log(1 + len(pool) / c) for w, c in counts.items()}


def select_evidence(
    question: str,
    query_vector: np.ndarray,
    chunks: Sequence[RetrievedChunk],
    embedder: Embedder,
    limit: int,
) -> list[Evidence]:
    """Rank the distinct sentences of the chunks; fold near-identical sentences from other sources."""
    twins = [c for c in chunks if c.metadata.get("duplicate_of")]
    chunks = [c for c in chunks if not c.metadata.get("duplicate_of")]
    seen: set[tuple[str, int]] = set()
    candidates: list[tuple[RetrievedChunk, int, int, str]] = []
    # Who or what a sentence is about, or who is talking in it, when the sentence does not say.
    contexts: dict[tuple[str, int], tuple[Sentence, ...]] = {}
    for chunk in chunks:
        # The sentences before, newest last, each with whether it names its own subject.
        recent: list[tuple[Sentence, bool]] = []
        quoting: list[int] = []  # sentences of a quotation whose closing sentence is still to come
        lead_in = len(chunk.lead_in)
        for position, (start, end, text) in enumerate([*chunk.lead_in, *chunk.sentence_texts()]):
            says_nobody = opens_with_pronoun(text) or points_back(text) or attributed_to_pronoun(text)
            if says_nobody and (before := _says_who(recent)):
                contexts.setdefault((chunk.source, start), before)
            inside = opens_quotation(text) or bool(quoting)
            anchor = not (
                inside or opens_with_pronoun(text) or attributed_to_pronoun(text) or _INSTRUCTION.search(text)
            )
            recent = [*recent, ((start, end, text), anchor)][-_CONTEXT_SENTENCES:]
            # "“I believe it could serve as the basis. However, ...,” said Putin on 21 November."
            if quoting and closes_quotation(text) and not _INSTRUCTION.search(text):
                for opened in quoting:
                    contexts.setdefault((chunk.source, opened), ((start, end, text),))
                quoting = []
            elif opens_quotation(text) or (quoting and len(quoting) < _QUOTATION_SENTENCES):
                quoting.append(start)
            else:
                quoting = []
            if position < lead_in:
                continue  # the lead-in says who; the chunks before it are evidence of their own when retrieved
            if (chunk.source, start) not in seen and not _INSTRUCTION.search(text):
                seen.add((chunk.source, start))
                candidates.append((chunk, start, end, text))
    if not candidates:
        return []
    vectors = embedder.embed([text for *_, text in candidates])
    asked = keywords(question)
    words = [keywords(text) for *_, text in candidates]
    idf = _idf(words)
    asked_weight = sum(idf.get(w, max(idf.values(), default=1.0)) for w in asked) or 1.0
    scored = []
    owners = [chunk.rank for chunk, *_ in candidates]
    for (chunk, start, end, text), vector, sentence_words in zip(candidates, vectors, words, strict=True):
        overlap = sum(idf[w] for w in asked & sentence_words) / asked_weight
        score = float(vector @ query_vector) + KEYWORD_WEIGHT * overlap
        meta = chunk.metadata
        scored.append(
            Evidence(
                chunk.source,
                start,
                end,
                text,
                meta.get("title"),
                meta.get("outlet"),
                meta.get("date"),
                score,
                vector,
                author=meta.get("author"),
                context_sentences=contexts.get((chunk.source, start), ()),
                vague=len(asked & sentence_words) <= 1
                and not is_specific(text)
                and not asked & keywords(" ".join(_speakers_of(contexts.get((chunk.source, start), ())))),
            )
        )
    kept = _credit_twins(_fold_duplicates(_cover_chunks(scored, owners, limit), limit), twins, embedder)
    return sorted(kept, key=_rank, reverse=True)


def _says_who(recent: Sequence[tuple[Sentence, bool]]) -> tuple[Sentence, ...]:
    """The sentences before one that does not say who or what it is about, back to the nearest that
    does: "Putin's response has been ambiguous. He said that ... . But he also ...", or, for '...,"
    he told reporters', the sentence before the quotation began. Empty when one of them is text
    addressed to a model."""
    taken: list[Sentence] = []
    for sentence, anchor in reversed(recent):
        if _INSTRUCTION.search(sentence[2]):
            return ()
        taken.insert(0, sentence)
        if anchor:
            break
    return tuple(taken)


def newest_first(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Evidence for a question about the latest state of things: the sentences of articles with a
    publication date, newest first, in the places dated sentences held; sentences of undated
    articles keep theirs, since nothing says whether they are newer or older."""
    dated = sorted((e for e in evidence if e.date), key=lambda e: e.date or "", reverse=True)
    order = iter(dated)
    return [next(order) if e.date else e for e in evidence]


def _speakers_of(context: Sequence[Sentence]) -> set[str]:
    """Who the sentences that say who a sentence is about have talking."""
    return set().union(*(speakers_in(text) for *_, text in context))


def _rank(item: Evidence) -> float:
    return item.score - (VAGUE_PENALTY if item.vague else 0.0)


def is_specific(text: str) -> bool:
    """True for a sentence with a figure or a name (a capitalised word past its first word)."""
    rest = text.lstrip(" \"'“‘(").split(maxsplit=1)
    return bool(claim_numbers(text) or (len(rest) > 1 and claim_entities(rest[1])))


def _cover_chunks(scored: list[Evidence], owners: list[int], limit: int) -> list[Evidence]:
    """Rank sentences by score, but first the best sentence of each top chunk and the one after it.

    The embedder rates a vague sentence that shares the question's words ("We'll be talking
    about land.") above a specific one in another well-ranked chunk; taking each top chunk's
    best sentence first keeps the specific one in the evidence, and its successor often
    finishes the thought ("Kherson and Zaporizhzhia would receive frozen status..."). A successor
    with no name and no figure ("Recall.") finishes nothing and would only take a place from a
    better-scored sentence: on the eval set, the UNN "24 hours" and the CNN "11%" sentences.
    """
    order = sorted(range(len(scored)), key=lambda i: _rank(scored[i]), reverse=True)
    first: list[int] = []
    for rank in range(min(COVERED_CHUNKS, limit)):
        best = next((i for i in order if owners[i] == rank), None)
        if best is not None and best not in first:
            first.append(best)
            follower = _next_sentence(scored, best)
            if follower is not None and follower not in first and is_specific(scored[follower].text):
                first.append(follower)
    chosen = first + [i for i in order if i not in first]
    return [scored[i] for i in chosen]


def _next_sentence(scored: list[Evidence], index: int) -> int | None:
    item = scored[index]
    after = [(e.start, i) for i, e in enumerate(scored) if e.source == item.source and e.start >= item.end]
    return min(after)[1] if after else None


def _fold_duplicates(ranked: list[Evidence], limit: int) -> list[Evidence]:
    kept: list[Evidence] = []
    for item in ranked:
        twin = next(
            (
                i
                for i, k in enumerate(kept)
                if k.source != item.source and float(k.vector @ item.vector) >= DUPLICATE_SIMILARITY
            ),
            None,
        )
        if twin is not None:
            keep = kept[twin]
            if item.source not in keep.also_reported_by:
                kept[twin] = _with_also(keep, item.source)
            continue
        if len(kept) < limit:
            kept.append(item)
    return kept


def _with_also(item: Evidence, source: str) -> Evidence:
    from dataclasses import replace

    return replace(item, also_reported_by=(*item.also_reported_by, source))


def _credit_twins(kept: list[Evidence], twins: Sequence[RetrievedChunk], embedder: Embedder) -> list[Evidence]:
    """Credit a duplicate article's sentence to the canonical sentence it paraphrases, as "also reported by"."""
    sentences = [(c.source, c.metadata["duplicate_of"], text) for c in twins for _, _, text in c.sentence_texts()]
    if not sentences or not kept:
        return kept
    vectors = embedder.embed([text for *_, text in sentences])
    credited = []
    for item in kept:
        for (source, canonical, _), vector in zip(sentences, vectors, strict=True):
            close = canonical == item.source and float(vector @ item.vector) >= REWRITE_SIMILARITY
            if close and source not in item.also_reported_by:
                item = _with_also(item, source)
        credited.append(item)
    return credited
