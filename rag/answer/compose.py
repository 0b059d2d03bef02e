"""From passages to a verified, cited answer, or the refusal: every abstention is decided here.

The model drafts sentences that cite numbered passage sentences. Each draft sentence is kept only
when what it cites states it (`rag.verify.support`); a sentence whose own citations fail is tried
against the passage sentences closest to it in meaning, one by one and then the two closest
together, so a model that cites the sentence next to the right one still lands on the right one,
and each try may add the neighbouring sentences that name who "he" or "the mayor" is. When the
answer gives a figure, a passage sentence that answers with another value of it is quoted too, and
a sentence quoted whole that says "he said" comes with the sentences before it that say who. A
sentence that only restates the question answers nothing, whatever it cites, and is removed
first; nor does an answer that names no date to a "when" question, or no figure to a "how many".
When nothing survives, or the model declines, the closest sentences are checked for whether they
answer the question by themselves: the reader then gets that sentence, quoted, rather than a
refusal that shows the answer underneath.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import chain, islice

import numpy as np

from rag.articles.chunking import split_sentences
from rag.core.citations import (
    Answer,
    Removed,
    marker_numbers,
    normalise,
    normalise_markers,
    renumber,
    strip_markers,
)
from rag.core.config import Answering
from rag.evidence.passages import HEADING, Evidence, is_heading, passages_text
from rag.models.embedding import Embedder
from rag.models.llm import Message
from rag.models.prompts import NO_ANSWER, as_data, chat, load_prompt
from rag.verify.asked import Kind, asked_kinds, gives, kinds_named
from rag.verify.roles import (
    adds_nothing,
    described_subject,
    leans_back,
    lemmas,
    names,
    names_a_person,
    same_name,
    unframed,
)
from rag.verify.support import SupportChecker, Verdict, restates

Kept = list[tuple[str, list[int]]]


def build_messages(question: str, evidence: Sequence[Evidence]) -> list[Message]:
    """Fill the templates; the fixed system prompt comes first so llama.cpp can reuse its cache."""
    return chat("answer_system.txt", "answer_user.txt", evidence=passages_text(evidence), question=as_data(question))


def answer_system() -> str:
    """The answer prompt's fixed system part, the same for every question."""
    return load_prompt("answer_system.txt")


def answer_grammar(count: int, claims: int) -> str:
    """The reply format as a GBNF grammar: "Sentences: none", or the cited numbers and then one to
    `claims` answer parts, each ending in citations of passage sentences 1 to `count`.

    Generated under it, a reply cannot cite a sentence the passages lack, leave a part uncited,
    or run on past the answer; it ends where the grammar does.
    """
    numbers = " | ".join(f'"{n}"' for n in range(count, 0, -1))  # longest first
    more = "".join(' (" " claim' for _ in range(claims - 1)) + ")?" * (claims - 1)
    return "\n".join(
        [
            f'root ::= "Sentences: " ("none" | cites "\\nAnswer: " claim{more})',
            'cites ::= ("[" number "]")+',
            f"number ::= {numbers}",
            'claim ::= [^\\n\\[\\]]+ cites "."?',
        ]
    )


_SENTENCES = re.compile(r"^\s*Sentences:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^\s*Answer:\s*", re.IGNORECASE | re.MULTILINE)
_OPENING = "sentences:"  # how a reply in the format begins, lower-cased
_LABEL = "answer:"  # how its second line begins, lower-cased


def answer_start(reply: str) -> int:
    """Where the answer line's text begins in a (partial) reply, or -1 before it has begun."""
    match = _ANSWER.search(reply)
    return match.end() if match else -1


def stream_start(reply: str) -> int:
    """Where the text to show as it is generated begins in a partial reply, or -1 while that cannot
    be told yet: after "Answer:"; at the start of a reply that does not open with the Sentences
    line (the model wrote its answer without the format, and `answer_part` reads it whole); or
    after a Sentences line that cites, when the next line is not the "Answer:" label (the model
    left the label out, and `answer_part` reads the rest). A reply that copies a passage heading
    (`copies_heading`) shows nothing before an "Answer:" label: the checked answer replaces it."""
    start = answer_start(reply)
    if start >= 0:
        return start
    head = reply.lstrip()
    if not _OPENING.startswith(head[: len(_OPENING)].lower()):
        return -1 if copies_heading(head) is not False else len(reply) - len(head)
    listed, newline, rest = head.partition("\n")
    body = rest.lstrip()
    if not newline or not marker_numbers(listed) or not body or _LABEL.startswith(body[: len(_LABEL)].lower()):
        return -1
    return len(reply) - len(body)


def copies_heading(reply: str) -> bool | None:
    """Whether a reply opens by copying a passage heading ("Passage from Wire, no date given: [2]"),
    which is nothing to show a reader; None while its first line cannot tell yet. A heading ends
    in a colon before any sentence number; a sentence that happens to start with the same words
    ("Passage from the Senate is expected … [2]") reaches a number or the line's end first."""
    line, newline, _ = reply.partition("\n")
    opening = f"{HEADING} ".lower()
    if not line.lower().startswith(opening):
        return None if not newline and opening.startswith(line.lower()) else False
    if ":" in line.split("[", 1)[0]:
        return True
    return None if not newline and "[" not in line else False


def answer_part(draft: str) -> str:
    """The answer out of the model's two-line reply ("Sentences: [2][5]" / "Answer: ...").

    Naming the sentences first makes the small model read the passages before it decides:
    offered the refusal sentence to copy instead, it refused questions whose answer sat in a
    passage word for word. "Sentences: none" is how it declines.
    """
    start = answer_start(draft)
    if start >= 0:
        return draft[start:].strip()
    listed = _SENTENCES.search(draft)
    if listed and not marker_numbers(listed.group(1)):
        return ""
    return _SENTENCES.sub("", draft).strip()


def read_in_full(reply: str, claims: int) -> bool:
    """Whether a (partial) reply already holds every draft sentence `check_draft` reads: a whole
    word of a sentence past the first `claims` has been written. Those sentences can no longer
    change, so generation can stop there. What the model would write next is never read: a
    refusal sentence after them (the claims go to the checks), or an "Answer:" label after
    `claims` lines of something else (the answer is read from the top).

    The word being written is left out, so that a marker in progress ("[3" of "[3]", which still
    belongs to the sentence before it) never looks like the start of the next sentence.
    """
    answer = normalise_markers(answer_part(re.sub(r"\S*$", "", reply)))
    spans = split_sentences(answer)
    return len(spans) > claims and any(ch.isalpha() for ch in strip_markers(answer[slice(*spans[claims])]))


def is_refusal(draft: str) -> bool:
    answer = answer_part(draft)
    return not answer.strip() or NO_ANSWER.rstrip(".").lower() in answer.lower()


@dataclass
class Checked:
    """Sentences that survived verification, each with the evidence indices (0-based) it cites."""

    kept: Kept
    removed: list[Removed]
    worded: dict[str, str] = field(default_factory=dict)  # a claim taken whole from its sentence: the model's words


def check_draft(
    question: str,
    draft: str,
    evidence: Sequence[Evidence],
    checker: SupportChecker,
    vectors: np.ndarray,
    embedder: Embedder,
    rules: Answering,
) -> Checked:
    """Keep each draft sentence only if its citations, or the sentences closest to it, state it."""
    draft = normalise_markers(draft)
    kept: Kept = []
    removed: list[Removed] = []
    worded: dict[str, str] = {}
    for start, end in split_sentences(draft)[: rules.max_claims]:
        sentence = draft[start:end]
        claim = re.sub(r"([.!?])[.!?\s]+$", r"\1", strip_markers(sentence))  # "Two. [1]." leaves "Two.."
        if not claim or is_refusal(claim) or not any(ch.isalnum() for ch in claim):
            continue
        if is_heading(claim, evidence):
            removed.append(Removed(sentence=claim, reason="it repeats a passage's heading, not what a sentence says"))
            continue
        claim = unframed(claim, HEADING) or claim  # "The passage from X states that ..."
        numbers = dict.fromkeys(marker_numbers(sentence))
        marked = [n - 1 for n in numbers if 1 <= n <= len(evidence) and not evidence[n - 1].asks]
        if (copied := _copied_from(claim, marked, evidence)) is not None:
            worded.setdefault(evidence[copied].text, claim)
            claim, marked = evidence[copied].text, [copied]
        if adds_nothing(question, claim):
            removed.append(Removed(sentence=claim, reason="it says nothing the question does not"))
            continue
        cites, verdict = _cite(question, claim, marked, evidence, checker, vectors, embedder, rules.recite_candidates)
        if cites is None:
            asked = numbers and not marked and all(evidence[n - 1].asks for n in numbers if 1 <= n <= len(evidence))
            reason = "it cites a question, which states nothing" if asked else verdict.reason
            removed.append(Removed(sentence=claim, reason=reason))
        else:
            kept.append((claim, cites))
    return Checked(_without_repeats(kept), removed, worded)


def _without_repeats(kept: Kept) -> Kept:
    """The claims without those another claim already says: one whose words all appear, in order,
    in another's, and whose sentences that one cites too, goes. A fuller claim takes the place of the
    first one it says again, so that the copied sentence and the model's shorter copy of it, or a
    sentence and one of its clauses, are read once."""

    def says(a: tuple[str, list[int]], b: tuple[str, list[int]]) -> bool:  # whether b says all that a says
        return set(a[1]) <= set(b[1]) and _within(a[0], b[0])

    result: Kept = []
    for claim in kept:
        if any(says(claim, other) for other in result):
            continue
        fuller = [n for n, other in enumerate(result) if says(other, claim)]
        if fuller:
            result[fuller[0]] = claim
            result = [other for n, other in enumerate(result) if n not in fuller[1:]]
        else:
            result.append(claim)
    return result


def _copied_from(claim: str, marked: Sequence[int], evidence: Sequence[Evidence]) -> int | None:
    """The cited sentence a claim copies with words left out, if any: its words all appear there, in
    order. The sentence itself is then the claim: it loses nothing the claim says, it keeps what
    the model left out (often the detail asked for: "…, posting on the city website"), and it states
    itself, so it needs no check by the model."""
    return next((i for i in marked if _within(claim, evidence[i].text)), None)


def _within(part: str, whole: str) -> bool:
    """Whether every word of `part` appears in `whole`, in order (case, quote marks and dashes aside)."""
    words = re.findall(r"\w+", normalise(part))
    rest = iter(re.findall(r"\w+", normalise(whole)))
    return bool(words) and all(word in rest for word in words)


def _cite(
    question: str,
    claim: str,
    marked: list[int],
    evidence: Sequence[Evidence],
    checker: SupportChecker,
    vectors: np.ndarray,
    embedder: Embedder,
    recite: int,
) -> tuple[list[int] | None, Verdict]:
    """The citations a claim keeps (None when nothing supports it), and the first verdict.

    The claim's own citations are tried first, then the `recite` sentences closest to it, each by
    itself, then the two closest together: a claim that joins what two sentences say ("the mayor was
    quoted by the Post and the Herald", each named in a sentence of its own) is stated by neither
    alone. Then each set is tried with the sentences of its article it leans on
    (`naming_neighbours`): "He added that ..." states a claim about the mayor only with the
    sentence before it, which names him, a quote split at its first full stop is attributed in the
    sentence after it, and "This could ..." means what the sentence before says. The neighbours a
    claim needed are cited with it, so the reader sees what the check read. A set is asked about
    once.
    """
    ranked = np.argsort(-(vectors @ embedder.embed([claim])[0]))
    closest = [int(i) for i in ranked if int(i) not in marked and not evidence[int(i)].asks]
    tries = ([marked] if marked else []) + [[i] for i in closest[:recite]]
    if len(closest) >= 2:
        tries.append(sorted(closest[:2]))

    def with_context() -> Iterator[list[int]]:  # parsed only once every set alone has failed
        named = names(claim)
        for cites in tries:
            if context := naming_neighbours(named, cites, evidence):
                yield sorted({*cites, *context})

    first: Verdict | None = None
    asked: set[tuple[int, ...]] = set()
    for cites in chain(tries, with_context()):  # a sentence that states the claim by itself is cited first
        if tuple(cites) in asked:
            continue
        asked.add(tuple(cites))
        cited = [evidence[i] for i in cites]
        framing = " ".join([question, *(f"{e.label} {e.title or ''}" for e in cited)])
        verdict = checker.check(claim, [e.text for e in cited], [e.shown for e in cited], framing)
        if verdict.supported:
            return cites, verdict
        first = first or verdict
    return None, first or Verdict(False, 0.0, "it cites nothing")


def words(text: str) -> set[str]:
    """A text's words, lower-cased."""
    return set(re.findall(r"\w+", text.lower()))


def naming_neighbours(named: set[str], cites: Sequence[int], evidence: Sequence[Evidence]) -> list[int]:
    """For each cited sentence, the sentences of its article that tie it to someone of `named`
    whom the cited sentences do not name: the nearest sentence before it that names them, with the
    sentences between ("Mayor Ortiz said ... She added ... She stressed ... the mayor stated ...":
    each leans on the one before), else the one right after it (where a quote is attributed), else,
    when its subject describes someone ("the mayor said ..."), the nearest earlier one that names
    them with that description (`_describing`); and, when the cited sentence's subject is a pronoun
    of the third person ("This could ...", "He said ..."), the one right before it, whatever it
    names. A sentence that names a person of its own takes no names from its neighbours: "...,
    according to Bo Reed" is Bo Reed's, whoever the sentence before it quotes. Only sentences of
    the passages are read, one after another in the article but for a description's naming
    sentence; questions are left out."""
    cited = " ".join(evidence[i].text for i in cites)
    unnamed = {name for name in named if not naming(name, cited)}
    found: list[int] = []
    for i in cites:
        run = _run_before(i, evidence)
        sought = set() if names_a_person(evidence[i].text) else unnamed
        first = next((k for k, j in enumerate(run) if names_one(sought, evidence[j].text)), None)
        if first is not None:
            found += run[: first + 1]
            continue
        after = [j for j, e in enumerate(evidence) if e.start >= evidence[i].end and e.is_next_to(evidence[i])]
        naming_after = [
            j for j in after if j not in cites and not evidence[j].asks and names_one(sought, evidence[j].text)
        ]
        if naming_after:
            found.append(naming_after[0])
        elif (named_earlier := _describing(i, sought, evidence)) is not None:
            found.append(named_earlier)
        elif run and leans_back(evidence[i].text):
            found.append(run[0])
    return [j for j in dict.fromkeys(found) if j not in cites]


def naming(name: str, text: str) -> bool:
    """Whether `text` writes the name word `name` (lower-cased): as one of its words, or as a
    capitalised word that is another form of it (`same_name`): "the Qorvian mayor" is named by
    "Mayor of Qorvia Ana Ortiz", "Qorvia" by "the Qorvian mayor"."""
    return name in words(text) or any(same_name(name, w.lower()) for w in re.findall(r"\b[A-Z]\w+", text))


def names_one(sought: set[str], text: str) -> bool:
    """Whether `text` writes any of the name words `sought` (`naming`)."""
    return any(naming(name, text) for name in sought)


def _describing(i: int, sought: set[str], evidence: Sequence[Evidence]) -> int | None:
    """When sentence `i`'s subject describes someone ("the chancellor stated ..."), the nearest
    passage sentence before it in its article that names one of `sought` with that description
    ("Chancellor Ann Quill said ..."), though other sentences may stand between them; else None."""
    noun = described_subject(evidence[i].text) if sought else None
    if noun is None:
        return None
    here = evidence[i]
    earlier = [j for j, e in enumerate(evidence) if e.source == here.source and e.end <= here.start and not e.asks]
    for j in sorted(earlier, key=lambda j: -evidence[j].start):
        if names_one(sought, evidence[j].text) and (
            noun in words(evidence[j].text) or noun in lemmas(evidence[j].text)
        ):
            return j
    return None


def _run_before(i: int, evidence: Sequence[Evidence]) -> list[int]:
    """The passage sentences right before sentence `i` in its article, nearest first, up to the
    first gap or question."""
    run: list[int] = []
    current = evidence[i]
    while True:
        before = [j for j, e in enumerate(evidence) if e.end <= current.start and e.is_next_to(current)]
        if not before or evidence[before[0]].asks or before[0] in run:
            return run
        run.append(before[0])
        current = evidence[before[0]]


def finish(
    question: str,
    draft: str,
    evidence: Sequence[Evidence],
    checker: SupportChecker,
    embedder: Embedder,
    model: str,
    rules: Answering,
) -> Answer:
    """Turn a model draft into an Answer, or the refusal with the reason and the closest sentences.

    Claims that their sentences state can still miss the question. A question that asks when,
    how many, how much or how long is not answered by claims that name no thing of that
    kind (`rules.asked_kind`, read by the parse: no model call). The right kind can still be the
    wrong thing ("who won in 2022?" answered with the 2021 winner, truly cited): with
    `rules.min_answers` > 0, the cited sentences together must also answer the question, by the
    model's P(yes), or the answer is treated as no answer. A draft can also cite the sentence that
    answers and retell another clause of it: with `rules.min_relevance` > 0, the answer's own
    words, shown with the question alone, must give what it asks. A claim the model copied from its
    sentence with words left out is kept as the whole sentence; when the whole sentences fail, the
    model's own words are asked too, since what they give the whole sentence gives: "Calls last for
    hours" answers how long, though "…, but there are no results" after it can distract the check.
    """
    if not evidence:
        return abstain(question, evidence, rules, model, "No indexed article matches the question.")
    vectors = embedder.embed([e.text for e in evidence])
    closest = [int(i) for i in np.argsort(-(vectors @ embedder.embed([question])[0]), kind="stable")]
    if is_refusal(draft):
        checked = Checked([], [])
        reason = "The model found that the passages do not answer the question."
    else:
        checked = check_draft(question, answer_part(draft), evidence, checker, vectors, embedder, rules)
        reason = "No sentence of the draft answer was stated by the sentences it cites."
    score = relevance = None
    kinds = asked_kinds(question) if rules.asked_kind else []
    if checked.kept and not gives(" ".join(claim for claim, _ in checked.kept), kinds):
        checked = Checked([], checked.removed)
        reason = f"The question asks for {kinds_named(kinds)}, and the answer names none."
    if checked.kept and rules.min_answers > 0:
        cited = sorted({i for _, cites in checked.kept for i in cites})
        score = checker.answers(question, [evidence[i].shown for i in cited])
        if score < rules.min_answers:
            checked = Checked([], checked.removed)
            reason = "The sentences the draft cites do not answer the question."
    if checked.kept and rules.min_relevance > 0:
        relevance = checker.addresses(question, " ".join(claim for claim, _ in checked.kept))
        if relevance < rules.min_relevance and any(claim in checked.worded for claim, _ in checked.kept):
            worded = " ".join(checked.worded.get(claim, claim) for claim, _ in checked.kept)
            relevance = max(relevance, checker.addresses(question, worded))
        if relevance < rules.min_relevance:
            checked = Checked([], checked.removed)
            reason = "The answer the draft gives does not say what the question asks."
    if not checked.kept:
        direct = _direct_answer(question, evidence, closest, rules.direct_candidates, checker, kinds)
        if direct is None:
            answer = abstain(question, [evidence[i] for i in closest], rules, model, reason)
            answer.removed, answer.answer_check, answer.relevance = checked.removed, score, relevance
            return answer
        checked.kept.append((evidence[direct].text, [direct]))
    kept = with_speakers(checked.kept, evidence)
    notes = variants(kept, evidence, rules.variant_ratio)
    notes += other_figures(
        question, kept + notes, evidence, closest, checker, rules.figure_candidates, rules.min_answers
    )
    text, order = renumber(kept + notes)
    citations = [evidence[index].citation(n) for n, index in enumerate(order, 1)]
    return Answer(
        question=question,
        text=text,
        answered=True,
        citations=citations,
        removed=checked.removed,
        model=model,
        answer_check=score,
        relevance=relevance,
    )


def _direct_answer(
    question: str,
    evidence: Sequence[Evidence],
    closest: Sequence[int],
    limit: int,
    checker: SupportChecker,
    kinds: Sequence[Kind] = (),
) -> int | None:
    """Of the `limit` sentences closest to the question that could answer it, the one that best
    answers it by itself, if the check passes it. A question, a sentence that only restates the
    question, and a sentence that names nothing of the `kinds` the question asks for cannot: they
    are passed over, and the next closest is tried in their place."""
    candidates = (
        i
        for i in closest
        if not evidence[i].asks and not adds_nothing(question, evidence[i].text) and gives(evidence[i].text, kinds)
    )
    scored = [(checker.answers(question, evidence[i].shown), i) for i in islice(candidates, limit)]
    best, index = max(scored, default=(0.0, -1))
    return index if best >= checker.threshold else None


def with_speakers(kept: Kept, evidence: Sequence[Evidence]) -> Kept:
    """The kept claims, each sentence quoted whole whose subject is a pronoun ("It was a good day,
    he said.") preceded by the passage sentences before it that say who: back through those that
    lean on the one before, to the first that does not, when that one names a person (spaCy's
    entities); none when it does not, when the passages stop before it, or when the answer already
    gives one of them. A quote needs its speaker; "he said" alone does not tell the reader who."""
    given = [claim for claim, _ in kept]
    result: Kept = []
    for claim, cites in kept:
        if len(cites) == 1 and restates(claim, [evidence[cites[0]].text]) and leans_back(claim):
            run = _run_before(cites[0], evidence)
            last = next((k for k, j in enumerate(run) if not leans_back(evidence[j].text)), None)
            before = [] if last is None or not names_a_person(evidence[run[last]].text) else run[: last + 1]
            if not any(restates(evidence[j].text, given) for j in before):
                result += [(evidence[j].text, [j]) for j in reversed(before)]
                given += [evidence[j].text for j in before]
        result.append((claim, cites))
    return result


def variants(kept: Kept, evidence: Sequence[Evidence], ratio: float) -> Kept:
    """Sentences of other articles that tell a cited sentence's report with different details.

    "X won the 2021 prize" in one source and "Y won the 2021 prize" in another is a disagreement,
    not a duplicate: when an answer relies on a word where the two differ, the other version is
    quoted too, so the reader sees both and their sources. Two sentences are one report told two
    ways when they are at least `ratio` alike word for word (difflib's ratio over words). A version
    the answer already cites, in another source's words or the same, is not quoted again.
    """
    cited = {i for _, cites in kept for i in cites}
    said = {w for claim, _ in kept for w in _words_of(claim)}
    notes: Kept = []
    given = {tuple(_words_of(evidence[i].text)) for i in cited}
    for i in sorted(cited):
        for j, other in enumerate(evidence):
            if j in cited or other.source == evidence[i].source or tuple(_words_of(other.text)) in given:
                continue
            changed = _changed_words(evidence[i].text, other.text, ratio)
            if changed is not None and changed & said:
                notes.append((f"Another source gives a different account: {other.text}", [j]))
                given.add(tuple(_words_of(other.text)))
    return notes


def other_figures(
    question: str,
    kept: Kept,
    evidence: Sequence[Evidence],
    closest: Sequence[int],
    checker: SupportChecker,
    limit: int,
    floor: float,
) -> Kept:
    """Passage sentences that answer the question with another figure of what the answer counts.

    "The club owns almost 20% of the league" and, in another passage, "about 11% of the league's
    shares are the club's": the answer that gives one is quoted the other too. A candidate gives a figure
    of the same kind as one the answer states (the word after the number: 11% and 20%, 30 days
    and 50 days) with another value; the `limit` closest to the question are each asked whether
    they answer it, and quoted at the answer check's own `floor` (`answer.min_answers`): a figure
    that answers the question as well as an answer must.
    """
    said = figures(" ".join(claim for claim, _ in kept))
    used = {i for _, cites in kept for i in cites}
    found: Kept = []
    candidates = [
        i
        for i in closest
        if i not in used
        and not evidence[i].asks
        and any(values - said[unit] for unit, values in figures(evidence[i].text).items() if unit in said)
    ]
    for i in candidates[:limit]:
        if floor <= 0 or checker.answers(question, evidence[i].shown) >= floor:
            found.append((f"Another figure is reported: {evidence[i].text}", [i]))
    return found


_FIGURE = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)(?:\s*|-)(%|per ?cent\b|[^\W\d_]+)", re.IGNORECASE)


def figures(text: str) -> dict[str, set[str]]:
    """The figures a text writes in digits, by the word after them: "about 11% of its land" and
    "11 percent" give {"%": {"11"}}, "a 30-day deadline" and "30 days" {"day": {"30"}}."""
    found: dict[str, set[str]] = {}
    for value, unit in _FIGURE.findall(text):
        unit = unit.lower()
        unit = "%" if unit.replace(" ", "") == "percent" else unit.removesuffix("s")
        found.setdefault(unit, set()).add(value.replace(",", ""))
    return found


def _words_of(text: str) -> list[str]:
    """A sentence's words as two versions of a report are compared: case and punctuation aside."""
    return [w.strip(".,;:!?\"'()").lower() for w in text.split()]


def _changed_words(a: str, b: str, ratio: float) -> set[str] | None:
    """The words of `a` that `b` replaces, when `b` is `a` with a few words changed; else None."""
    wa, wb = _words_of(a), _words_of(b)
    matcher = SequenceMatcher(None, wa, wb, autojunk=False)
    if wa == wb or matcher.ratio() < ratio:
        return None
    changed = {w for tag, i1, i2, _, _ in matcher.get_opcodes() if tag in ("replace", "delete") for w in wa[i1:i2]}
    return changed or None


def abstain(question: str, evidence: Sequence[Evidence], rules: Answering, model: str = "", reason: str = "") -> Answer:
    """The fixed refusal, citing nothing, with the closest evidence for the reader."""
    closest = [e.citation(i) for i, e in enumerate(evidence[: rules.closest_shown], 1)]
    return Answer(question=question, text=NO_ANSWER, answered=False, evidence=closest, reason=reason, model=model)


def retrieval_only(
    question: str, evidence: Sequence[Evidence], notice: str, embedder: Embedder, rules: Answering
) -> Answer:
    """Answer without a model: the sentences closest to the question, each cited, when they are close.

    With no model to judge them, only sentences at least `rules.quote_similarity` (MiniLM cosine) from
    the question are quoted; below that the answer is the refusal, with the closest passages.
    """
    chosen: list[int] = []
    if evidence:
        similarity = embedder.embed([e.text for e in evidence]) @ embedder.embed([question])[0]
        best = np.argsort(-similarity, kind="stable")[: rules.retrieval_only_sentences]
        chosen = sorted(int(i) for i in best if similarity[i] >= rules.quote_similarity)
    if not chosen:
        answer = abstain(question, evidence, rules)
    else:
        text, order = renumber([(evidence[i].text, [i]) for i in chosen])
        citations = [evidence[index].citation(n) for n, index in enumerate(order, 1)]
        answer = Answer(question=question, text=text, answered=True, citations=citations)
    answer.retrieval_only, answer.notice = True, notice
    return answer
