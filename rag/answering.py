"""From evidence to a verified, cited answer: prompt, generate, check every sentence, renumber."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rag.answerability import question_parts, unanswered_kind
from rag.chunking import split_sentences
from rag.citations import (
    Answer,
    Removed,
    marker_numbers,
    normalise_markers,
    renumber,
    strip_markers,
    with_markers,
)
from rag.conflicts import describe, find_conflicts
from rag.evidence import Evidence, keywords
from rag.llm import Message
from rag.prompts import NO_ANSWER, as_data, load_prompt
from rag.verification import (
    MARKER,
    Cited,
    Verdict,
    Verifier,
    cited,
    claim_numbers,
    missing_terms,
    needs_context,
    negated,
    novel_words,
    points_back,
    without_asked_dates,
)


def build_messages(question: str, evidence: Sequence[Evidence]) -> list[Message]:
    """Fill the templates; the fixed system prompt comes first so llama.cpp can reuse its cache."""
    lines = "\n".join(f"[{i}] ({as_data(e.label)}) {as_data(e.text)}" for i, e in enumerate(evidence, 1))
    return [
        {"role": "system", "content": load_prompt("answer_system.txt")},
        {"role": "user", "content": load_prompt("answer_user.txt").format(evidence=lines, question=question)},
    ]


def insist_prompt() -> str:
    return load_prompt("answer_insist.txt")


def check_prompt() -> str:
    return load_prompt("answer_check.txt")


def check_says_no(reply: str) -> bool:
    """Read the model's one-word verdict on its own answer; anything but a clear "no" lets it stand."""
    return re.match(r"\W*no\b", reply.strip(), re.IGNORECASE) is not None


_RELEVANT = re.compile(r"^\s*Relevant:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^\s*Answer:\s*", re.IGNORECASE | re.MULTILINE)


def answer_start(reply: str) -> int:
    """Where the answer line's text begins in a (partial) reply, or -1 before it has begun."""
    match = _ANSWER.search(reply)
    return match.end() if match else -1


def answer_part(draft: str) -> str:
    """Take the answer out of the model's two-line reply ("Relevant: [2][5]" / "Answer: ...").

    Listing the relevant sentences first makes the small model read the evidence before it
    decides; "Relevant: none" is its way to decline.
    """
    start = answer_start(draft)
    if start >= 0:
        return draft[start:].strip()
    relevant = _RELEVANT.search(draft)
    if relevant and not MARKER.search(relevant.group(1)):
        return ""
    return _RELEVANT.sub("", draft).strip()


def relevant_part(draft: str) -> list[int]:
    """The evidence numbers the model listed on its "Relevant:" line, in order."""
    relevant = _RELEVANT.search(draft)
    return list(dict.fromkeys(marker_numbers(relevant.group(1)))) if relevant else []


def is_refusal(draft: str) -> bool:
    answer = answer_part(draft)
    return not answer or NO_ANSWER.rstrip(".").lower() in answer.lower()


@dataclass
class Checked:
    """Sentences that survived verification, each with the evidence indices (0-based) it cites."""

    kept: list[tuple[str, list[int]]]
    removed: list[Removed]
    restated: list[tuple[str, list[int]]] = field(default_factory=list)  # supported, but only the question's words


def check_draft(
    question: str, draft: str, evidence: Sequence[Evidence], verifier: Verifier, relevant: Sequence[int] = ()
) -> Checked:
    """Keep each draft sentence only if its citations support it, re-citing or trimming where possible.

    `relevant` holds the evidence numbers the model listed before writing; a sentence whose own
    markers fail, or that has none, is first checked against those (see `_recite`).
    """
    texts = [cited(e.text, e.outlet, e.date, e.title, e.author, e.context) for e in evidence]
    draft = normalise_markers(draft)
    kept: list[tuple[str, list[int]]] = []
    removed: list[Removed] = []
    restated: list[tuple[str, list[int]]] = []
    for start, end in split_sentences(draft):
        sentence = draft[start:end]
        claim = strip_markers(sentence)
        if not claim or is_refusal(claim):
            continue
        marked = [n - 1 for n in dict.fromkeys(marker_numbers(sentence)) if 1 <= n <= len(evidence)]
        listed = [n - 1 for n in relevant if 1 <= n <= len(evidence)]
        cites, verdict = _cite(question, claim, marked, texts, verifier, listed)
        if cites is None and (trimmed := without_asked_dates(claim, question)) != claim:
            # "Witkoff's April trip ...": the question's date, which the cited sentence does not give.
            cites, _ = _cite(question, trimmed, marked, texts, verifier, listed)
            if cites is not None:
                removed.append(Removed(sentence=claim, reason=f"{verdict.reason}; rewritten as: {trimmed}"))
                claim = trimmed
        if cites is None:
            removed.append(Removed(sentence=claim, reason=verdict.reason))
        elif restates(question, claim):
            removed.append(Removed(sentence=claim, reason="it only restates the question"))
            restated.append((claim, cites))
        else:
            kept.append((claim, cites))
    return Checked(kept, removed, restated)


def _cite(
    question: str, claim: str, marked: list[int], texts: list[Cited], verifier: Verifier, listed: list[int]
) -> tuple[list[int] | None, Verdict]:
    """The citations a claim keeps (None when nothing supports it), and the verdict on its own markers."""
    verdict = verifier.verify(claim, [texts[i] for i in marked], question)
    if verdict.supported:
        return _closest(question, claim, _prune(question, claim, marked, texts, verifier), texts, verifier), verdict
    # Small models often cite the sentence next to the right one, or none: look for the right one.
    return _recite(question, claim, texts, verifier, listed), verdict


def restates(question: str, claim: str) -> bool:
    """True when a sentence adds no word or number the question did not already have.

    Asked "Why did Merz endorse concessions?", a small model may answer "Merz endorsed
    concessions": supported by nothing but the question, and taking its premise for a fact.
    """
    return not (keywords(claim) - keywords(question)) and not (claim_numbers(claim) - claim_numbers(question))


def contradicted_premise(question: str, kept: Sequence[tuple[str, list[int]]]) -> str | None:
    """The answer sentence that denies what a "why" question takes for granted, if one does.

    "Why did Zelensky agree to cede Crimea?" answered "Zelensky rejects this idea" means the
    question's premise is false: the answer is then that the articles do not support it.
    """
    if not _WHY.match(question) or negated(question) or not kept:
        return None
    lead = kept[0][0]  # the direct answer; later sentences are context, and may deny other things
    return lead if negated(lead) or _DENIES.search(lead) else None


_WHY = re.compile(r"\s*why\b", re.IGNORECASE)
# Beyond plain negation: an answer saying the plan has Ukraine "renounce" NATO, or Merz wants to
# "avoid" concessions, denies a "why" question that takes the opposite for granted.
_DENIES = re.compile(r"\b(?:avoid|avoids|avoided|renounce|renounces|renounced|abandon|abandons|abandoned)\b", re.I)


def _prune(question: str, claim: str, cited: list[int], texts: list[Cited], verifier: Verifier) -> list[int]:
    """Drop citations the sentence does not need (ALCE-style precision)."""
    keep = list(cited)
    # Try dropping the sentences that say least of the claim first, so that the one kept says most.
    for index in sorted(cited, key=lambda i: sum(_gap(claim, [texts[i]])), reverse=True):
        if len(keep) == 1:
            break
        rest = [i for i in keep if i != index]
        if verifier.verify(claim, [texts[i] for i in rest], question).supported:
            keep = rest
    return keep


def _gap(claim: str, sources: Sequence[Cited]) -> tuple[int, int]:
    """How much of a claim its cited text lacks by itself, without the question's words: names and
    numbers first, then content words."""
    text = " ".join(s.text_for(claim) for s in sources)
    names = " ".join(s.names_for(claim) for s in sources)
    return len(missing_terms(claim, text, names_text=names)), len(novel_words(claim, text))


def _closest(question: str, claim: str, cites: list[int], texts: list[Cited], verifier: Verifier) -> list[int]:
    """Move a supported claim's citation to an evidence sentence that says more of it: lacks no
    more of its names and numbers, and no more of its words, than the sentences it cites.

    The question's words (not its names, numbers or dates) count as the reader's framing when a
    claim is checked, so a model that cites the sentence next to the right one can pass: asked
    what Witkoff said about the ongoing talks, "Witkoff said the ongoing talks were productive [3]"
    where [3] only names Witkoff arriving in Moscow. The reader clicking [3] must land on the
    sentence that says it.
    """
    current = _gap(claim, [texts[i] for i in cites])
    if current == (0, 0):
        return cites
    better = []
    for index, text in enumerate(texts):
        gap = _gap(claim, [text])
        if index not in cites and gap != current and gap[0] <= current[0] and gap[1] <= current[1]:
            better.append((sum(gap), index))
    for _, index in sorted(better):
        if verifier.verify(claim, [texts[index]], question).supported:
            return [index]
    return cites


def _recite(
    question: str, claim: str, texts: list[Cited], verifier: Verifier, listed: Sequence[int]
) -> list[int] | None:
    """Find citations for a claim whose own fail: the sentences the model listed as relevant, if
    they support it, else the evidence sentence that supports it and is closest to it."""
    if listed and verifier.verify(claim, [texts[i] for i in listed], question).supported:
        return _prune(question, claim, list(listed), texts, verifier)
    verdicts = [(verifier.verify(claim, [text], question), index) for index, text in enumerate(texts)]
    supported = [(v.similarity, index) for v, index in verdicts if v.supported]
    return [max(supported)[1]] if supported else None


def finish(question: str, draft: str, evidence: Sequence[Evidence], verifier: Verifier, model: str) -> Answer:
    """Turn a model draft into an Answer, abstaining when no supported sentence remains."""
    if is_refusal(draft):
        return abstain(question, evidence, model, "The model found no evidence sentence that answers the question.")
    checked = check_draft(question, answer_part(draft), evidence, verifier, relevant_part(draft))
    # The lead sentence as drafted is the direct answer: a denial there answers a "why" question.
    denial = contradicted_premise(question, checked.kept)
    if denial is not None:
        answer = abstain(question, evidence, model, f"The articles contradict the question's premise: {denial}")
        answer.removed = checked.removed
        return answer
    checked, found = with_context(question, checked, evidence)
    if not checked.kept:
        answer = abstain(question, evidence, model, "No sentence of the draft answer was supported by its citations.")
        answer.removed = checked.removed
        return answer
    wanted = unanswered_kind(question, _said(checked.kept))
    if wanted is not None and len(question_parts(question)) == 1:
        reason = f"The question asks {wanted.lower()}; no supported sentence of the answer says."
        answer = abstain(question, evidence, model, reason)
        answer.removed = checked.removed
        return answer
    text, order = renumber(checked.kept + conflict_notes(checked.kept, evidence))
    citations = [found[index].citation(n) for n, index in enumerate(order, 1)]
    return Answer(
        question=question, text=text, answered=True, citations=citations, removed=checked.removed, model=model
    )


Kept = list[tuple[str, list[int]]]


def with_context(question: str, checked: Checked, evidence: Sequence[Evidence]) -> tuple[Checked, list[Evidence]]:
    """Add, verbatim and cited, the sentences that say who or what the cited sentences are about,
    where the answer needs them. Returns the sentences and the evidence they cite, extended by any
    such sentence the evidence did not hold.

    Two cases. An answer sentence that points back ("Zelensky rejects this idea [1]") is preceded by
    the sentence that says which idea. And an answer that lacks what its question asks for gets
    the sentence that gives it: asked on what date Putin said the plan could serve as the basis
    for a settlement, the model restates the question citing the quotation's opening sentence;
    the sentence closing the quotation ("…,” said Putin on 21 November") has the date. A sentence
    that only restates the question stays, as the frame, only when such a sentence comes with it.
    """
    found = list(evidence)
    restated = {sentence for sentence, _ in checked.restated}
    cited_already = {i for _, cites in checked.kept for i in cites}
    framed: Kept = []
    for sentence, cites in [*checked.kept, *checked.restated]:
        before = _context_of(cites, found) if points_back(sentence) else []
        if sentence in restated and not before:
            continue
        framed += [
            (found[j].text, [j]) for j in before if j not in cited_already and found[j].text not in _said(framed)
        ]
        framed.append((sentence, cites))
    if unanswered_kind(question, _said(framed)) is not None:
        every = framed + [item for item in checked.restated if item not in framed]
        extra: Kept = []
        for _, cites in every:
            extra += [
                (found[j].text, [j]) for j in _context_of(cites, found) if found[j].text not in _said(every + extra)
            ]
        if extra and unanswered_kind(question, _said(every + extra)) is None:
            framed = every + extra
    kept = {sentence for sentence, _ in framed}
    return Checked(framed, [r for r in checked.removed if r.sentence not in kept]), found


def _said(sentences: Kept) -> str:
    return " ".join(sentence for sentence, _ in sentences)


def _context_of(cites: list[int], found: list[Evidence]) -> list[int]:
    """Indices in `found` of the context sentences of the cited ones, appending those not yet there."""
    indices = []
    for i in cites:
        cited_one = found[i]
        if not needs_context(cited_one.text):
            continue
        for start, end, text in cited_one.context_sentences:
            j = next((k for k, e in enumerate(found) if e.source == cited_one.source and e.start == start), None)
            if j is None:
                found.append(
                    replace(cited_one, start=start, end=end, text=text, context_sentences=(), also_reported_by=())
                )
                j = len(found) - 1
            if j not in cites and j not in indices:
                indices.append(j)
    return indices


def add_overlooked(answer: Answer, draft: str, evidence: Sequence[Evidence]) -> Answer:
    """Quote the best-matching evidence sentence when the model listed it as relevant and the
    answer cites it nowhere.

    A small model often lists the right sentence and then writes about another one it listed:
    asked how soon Witkoff thought a pause in fighting could come, it lists "...could arrive
    within weeks" first and answers "Witkoff said the talks were productive". The sentence it
    overlooked is added as the article words it, cited, so it needs no check of its own.
    """
    if not answer.answered or not evidence or 1 not in relevant_part(draft):
        return answer
    top = evidence[0]
    if top.title and top.text.strip() == top.title.strip():
        return answer  # a headline says what the story is about, not what happened
    if any(c.source == top.source and c.start == top.start for c in answer.citations):
        return answer
    n = len(answer.citations) + 1
    text = f"{answer.text} {with_markers(top.text, [n])}"
    return answer.model_copy(update={"text": text, "citations": [*answer.citations, top.citation(n)]})


def conflict_notes(kept: list[tuple[str, list[int]]], evidence: Sequence[Evidence]) -> list[tuple[str, list[int]]]:
    """For each disagreement among the evidence that the answer touches, a sentence giving every figure."""
    used = {i for _, cited in kept for i in cited}
    said = claim_numbers(" ".join(sentence for sentence, _ in kept))
    notes = []
    for conflict in find_conflicts(evidence):
        if used & set(conflict.indices) or any(f"{f.value:g}" in said for f in conflict.figures):
            notes.append(describe(conflict, evidence))
    return notes


def abstain(question: str, evidence: Sequence[Evidence], model: str = "", reason: str = "") -> Answer:
    """The fixed refusal, citing nothing, with the closest evidence for the reader."""
    closest = [e.citation(i) for i, e in enumerate(evidence[:3], 1)]
    return Answer(question=question, text=NO_ANSWER, answered=False, evidence=closest, reason=reason, model=model)


RETRIEVAL_ONLY_SENTENCES = 3


def retrieval_only(question: str, evidence: Sequence[Evidence], notice: str, min_score: float) -> Answer:
    """Answer without a model: the best evidence sentences, each cited, when they are relevant enough.

    Without a model to judge relevance, only evidence scoring at least `min_score` is quoted;
    below that the answer is the fixed refusal, with the closest passages for the reader.
    """
    best = sorted(range(len(evidence)), key=lambda i: -evidence[i].score)[:RETRIEVAL_ONLY_SENTENCES]
    chosen = sorted(i for i in best if evidence[i].score >= min_score)
    if not chosen:
        answer = abstain(question, evidence)
    else:
        text, order = renumber([(evidence[i].text, [i]) for i in chosen])
        citations = [evidence[index].citation(n) for n, index in enumerate(order, 1)]
        answer = Answer(question=question, text=text, answered=True, citations=citations)
    answer.retrieval_only, answer.notice = True, notice
    return answer
