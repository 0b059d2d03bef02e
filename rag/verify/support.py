"""Does the cited text say the claim? Numbers, a parse of who does what, then the model's own reading.

The checks run cheapest first. A claim that is a cited sentence word for word is stated by it, and
the model is not asked. A number the claim gives must be in the cited text (or the question, which
frames it), and so must every person, organisation and place it names; the parse refuses a claim
that has the cited sentence's action done by someone else, or that gives its figure to a measure the
cited text gives another; and the local LLM, shown the cited sentences and the claim in a fixed
prompt of its own, must say yes with a probability of at least the threshold. The threshold was set
on the `dev` half of the hand-labelled pairs in `eval/judge_pairs.jsonl`
(`python -m eval.support_threshold`).

Asked instead in a turn that continues the answering exchange (the passages already in the KV
cache, the cited sentences named by number), the model said yes to nearly every claim about its
own draft: 77% agreement with the dev labels at best, against 81% for the fixed prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.core.citations import normalise
from rag.models.llm import LLM, Message
from rag.models.prompts import as_data, chat, load_prompt
from rag.verify.roles import figure_conflict, missing_names, role_conflict

_NUMBER = re.compile(r"\d+(?:[.,\u202f\u00a0]\d{3})*(?:\.\d+)?")


@dataclass(frozen=True)
class Verdict:
    supported: bool
    p_yes: float
    reason: str = ""


def numbers(text: str) -> set[str]:
    """The figures a text writes in digits, normalised: "600,000" and "600 000" give "600000"."""
    found = {re.sub(r"[,\u202f\u00a0]", "", m.group(0)).rstrip(".") for m in _NUMBER.finditer(text)}
    return {n.lstrip("0") or "0" for n in found}


def _wording(text: str) -> str:
    """A sentence's words as a reader compares them: case, quote marks, dashes, spacing and the
    final stop aside."""
    return normalise(text).strip().rstrip(".!?;: ").strip()


def restates(claim: str, texts: Sequence[str]) -> bool:
    """True when the claim is one of the sentences, word for word: a sentence states itself, so
    the model need not be asked."""
    wording = _wording(claim)
    return bool(wording) and any(_wording(text) == wording for text in texts)


# The checks' fixed system prompts: the support and answer checks share one, the relevance check has its own.
SUPPORT_SYSTEM, RELEVANCE_SYSTEM = "support_system.txt", "relevance_system.txt"


def support_messages(claim: str, sources: Sequence[str], template: str = "support_user.txt") -> list[Message]:
    numbered = "\n".join(f"[{i}] {as_data(text)}" for i, text in enumerate(sources, 1))
    return chat(SUPPORT_SYSTEM, template, sources=numbered, claim=as_data(claim))


class SupportChecker:
    """Decide whether cited sentences state a claim; every refusal says which check refused it."""

    def __init__(self, llm: LLM, threshold: float) -> None:
        self.llm = llm
        self.threshold = threshold

    def systems(self) -> list[str]:
        """The fixed system prompts of the checks, for a model to compute ahead of the first answer."""
        return [load_prompt(SUPPORT_SYSTEM), load_prompt(RELEVANCE_SYSTEM)]

    def check(self, claim: str, texts: Sequence[str], shown: Sequence[str] | None = None, framing: str = "") -> Verdict:
        """Check a claim against sentences `texts`, put to the model as `shown` (with their sources);
        `framing` (the question, the sources' names and dates) may vouch for its numbers."""
        if not texts:
            return Verdict(False, 0.0, "it cites nothing")
        if restates(claim, texts):
            return Verdict(True, 1.0)
        if missing := sorted(numbers(claim) - numbers(" ".join(texts)) - numbers(framing)):
            return Verdict(False, 0.0, f"the cited text does not give {', '.join(missing)}")
        if unnamed := missing_names(claim, " ".join([*texts, framing])):
            return Verdict(False, 0.0, f"the cited text does not name {', '.join(unnamed)}")
        if conflict := role_conflict(claim, texts) or figure_conflict(claim, texts):
            return Verdict(False, 0.0, conflict)
        p = self.llm.p_yes(support_messages(claim, shown or texts))
        if p < self.threshold:
            return Verdict(False, p, f"the cited text does not state it (P(yes) {p:.2f})")
        return Verdict(True, p)

    def answers(self, question: str, shown: str | Sequence[str]) -> float:
        """How likely the model finds that the sentences by themselves answer the question."""
        sources = [shown] if isinstance(shown, str) else list(shown)
        return self.llm.p_yes(support_messages(question, sources, "answers_user.txt"))

    def addresses(self, question: str, answer: str) -> float:
        """How likely the model finds that the answer's own words give what the question asks for.

        The sources are left out: `answers` asks whether the cited sentences hold the answer, this
        asks whether the answer written from them says it, or tells something else that is true."""
        return self.llm.p_yes(
            chat(RELEVANCE_SYSTEM, "relevance_user.txt", question=as_data(question), answer=as_data(answer))
        )
