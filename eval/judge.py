"""The support judge: a fixed entailment prompt to the local LLM, scored on the probability of "yes".

The judge is an instrument of the eval, not of the pipeline: nothing in `rag/` imports it, so the
pipeline can never have filtered its answers by the judge's verdicts. It shares two things with
the pipeline's own check (`rag.verify.support`): the bundled model, asked with a prompt of its own, and
the dependency parse of who did what (`rag.verify.roles`). Its own accuracy is measured
against hand labels (`eval/judge_pairs.jsonl`, `measure_judge`).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.models.llm import cache_head, without_amx
from rag.verify.roles import role_conflict

EVAL_DIR = Path(__file__).resolve().parent
JUDGE_PROMPT = EVAL_DIR / "judge_prompt.txt"
JUDGE_PAIRS = EVAL_DIR / "judge_pairs.jsonl"

# P(yes) at or above which a claim counts as supported. Not fitted: yes must simply outweigh no.
SUPPORT_THRESHOLD = 0.5


class Judge(Protocol):
    """Say how likely it is that the evidence states the claim."""

    name: str

    def p_supported(self, claim: str, evidence: Sequence[str]) -> float: ...


@lru_cache(maxsize=4)
def judge_template(path: Path = JUDGE_PROMPT) -> tuple[str, str]:
    """The judge prompt's system and user parts, split at the `---` line."""
    system, user = path.read_text(encoding="utf-8").split("\n---\n", 1)
    if "{evidence}" not in user or "{claim}" not in user:
        raise ValueError(f"{path} must hold {{evidence}} and {{claim}} after its --- line")
    return system.strip(), user.strip()


def chatml(claim: str, evidence: Sequence[str], prompt: Path = JUDGE_PROMPT) -> str:
    """The judge's prompt as ChatML text, ending where the assistant's one-word reply begins."""
    system, user = judge_template(prompt)
    numbered = "\n".join(f"[{i}] {_plain(text)}" for i, text in enumerate(evidence, 1))
    body = user.replace("{evidence}", numbered).replace("{claim}", _plain(claim))
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n"


def _plain(text: str) -> str:
    """One line of text that cannot open or close a chat turn (the prompt is tokenized with specials)."""
    return " ".join(text.replace("<|", "< |").split())


class LlamaJudge:
    """The bundled GGUF model in its own llama.cpp context, asked one claim at a time.

    Its verdict is read from the next-token distribution, not from generated text: the
    probability of "Yes" against "No" after the fixed prompt. The system prompt stays in the KV
    cache between calls, so each call pays only for its evidence and claim.
    """

    def __init__(self, model_path: Path, *, threads: int, context: int = 4096, prompt: Path = JUDGE_PROMPT) -> None:
        self.name = f"llm-judge:{model_path.name}"
        self._path = model_path
        self._prompt = prompt
        self._threads = threads
        self._context = context
        self._llama: Any = None
        self._yes: list[int] = []
        self._no: list[int] = []
        self._head: list[int] = []
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            with without_amx():
                self._llama = Llama(
                    model_path=str(self._path),
                    n_ctx=self._context,
                    n_threads=self._threads,
                    n_threads_batch=self._threads,
                    n_batch=512,
                    seed=0,
                    verbose=False,
                )
            system, _ = judge_template(self._prompt)
            head = f"<|im_start|>system\n{system}<|im_end|>\n"
            self._head = self._llama.tokenize(head.encode(), add_bos=False, special=True)
            self._yes = self._word_tokens(["Yes", "yes", " Yes", " yes", "YES"])
            self._no = self._word_tokens(["No", "no", " No", " no", "NO"])
        return self._llama

    def _word_tokens(self, words: Sequence[str]) -> list[int]:
        tokens = {self._llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
        return sorted(tokens)

    def p_supported(self, claim: str, evidence: Sequence[str]) -> float:
        with self._lock:
            llama = self._load()
            tokens = llama.tokenize(chatml(claim, evidence, self._prompt).encode(), add_bos=False, special=True)
            budget = self._context - 1
            if len(tokens) > budget:  # keep the head and the claim: drop evidence from the middle
                tokens = tokens[: budget // 2] + tokens[-(budget - budget // 2) :]
            head = self._head if tokens[: len(self._head)] == self._head else []
            cache_head(llama, head)  # the same floats for a pair whatever was judged before it
            llama.eval(tokens[len(head) :])
            logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()
        yes = _logsumexp(logits[self._yes])
        no = _logsumexp(logits[self._no])
        return 1.0 / (1.0 + math.exp(no - yes))


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - top).sum()))


class RoleCheckedJudge:
    """The LLM's verdict, overruled when the parse shows the claim's doer doing something the evidence
    has someone else do ("A won", cited to "B beat A to win").

    A small model reads such a sentence as support: it sees the same names and the same verb. A
    dependency parse sees that the verb's subject differs. The check fires only when the evidence
    has the claim's verb with a known subject, none of them the claim's, and still names the
    claim's subject: an evidence that says nothing either way is left to the model.
    """

    def __init__(self, judge: Judge) -> None:
        self.name = f"{judge.name}+roles"
        self._judge = judge

    def p_supported(self, claim: str, evidence: Sequence[str]) -> float:
        if role_conflict(claim, evidence):
            return 0.0
        return self._judge.p_supported(claim, evidence)


def default_judge(settings: Any) -> RoleCheckedJudge:
    """The judge on the default bundled model, whatever model the pipeline answers with."""
    from rag.models.weights import ensure_gguf

    llm = LlamaJudge(ensure_gguf("qwen2.5-coder-1.5b", settings.model_dir), threads=settings.llm_threads)
    return RoleCheckedJudge(llm)


class FakeJudge:
    """A deterministic stand-in for unit tests: supported when every claim word is in the evidence."""

    name = "fake-judge"

    def p_supported(self, claim: str, evidence: Sequence[str]) -> float:
        words = set(_words(" ".join(evidence)))
        return 1.0 if set(_words(claim)) <= words else 0.0


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()[]").lower() for w in text.split() if w.strip(".,;:!?\"'()[]")]


@dataclass(frozen=True)
class JudgePair:
    """One hand-labelled (claim, cited text) pair, with the question the claim was written to answer."""

    id: str
    question: str
    claim: str
    evidence: list[str]
    supported: bool
    kind: str
    origin: str
    notes: str = ""
    # "dev" pairs may steer the judge's prompt; "test" pairs only measure it.
    split: str = "dev"


def load_pairs(path: Path = JUDGE_PAIRS, split: str = "all") -> list[JudgePair]:
    with open(path, encoding="utf-8") as handle:
        pairs = [JudgePair(**json.loads(line)) for line in handle if line.strip()]
    return [p for p in pairs if split == "all" or p.split == split]


def measure_judge(judge: Judge, pairs: Sequence[JudgePair], threshold: float = SUPPORT_THRESHOLD) -> dict[str, Any]:
    """Agreement of the judge with the hand labels, recall on each label, and every miss."""
    scored = [(p, judge.p_supported(p.claim, p.evidence)) for p in pairs]
    right = [(p, s) for p, s in scored if (s >= threshold) == p.supported]
    supported = [s for p, s in scored if p.supported]
    unsupported = [s for p, s in scored if not p.supported]
    called_yes = [p for p, s in scored if s >= threshold]
    by_kind: dict[str, list[bool]] = {}
    for p, s in scored:
        by_kind.setdefault(p.kind, []).append((s >= threshold) == p.supported)
    return {
        "judge": judge.name,
        "pairs": len(scored),
        "judge_agreement": len(right) / len(scored) if scored else math.nan,
        "judge_recall_supported": _share([s >= threshold for s in supported]),
        "judge_recall_unsupported": _share([s < threshold for s in unsupported]),
        "judge_precision_supported": _share([p.supported for p in called_yes]),
        "by_kind": {kind: {"pairs": len(v), "agreement": _share(v)} for kind, v in sorted(by_kind.items())},
        "misses": [
            {"id": p.id, "kind": p.kind, "label": p.supported, "p_yes": round(s, 3), "claim": p.claim}
            for p, s in scored
            if (s >= threshold) != p.supported
        ],
    }


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else math.nan
