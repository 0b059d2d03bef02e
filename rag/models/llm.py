"""Chat models behind one small protocol: embedded llama.cpp, an OpenAI-compatible server, or a fake."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from rag.core.config import Settings
from rag.core.errors import RagError
from rag.models.weights import LOCAL_MODELS, ensure_gguf

Message = dict[str, str]

log = logging.getLogger(__name__)

HEADS_BUDGET = 256 * 2**20  # bytes of saved system prompts kept; past it the least recently used go
STALE_TEMPORARY = 3600.0  # seconds after which a save's temporary file is one that a killed save left


class LLM(Protocol):
    """Stream a chat completion as text pieces."""

    name: str

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        """`grammar` (GBNF) bounds what the reply can be, where the backend supports it."""
        ...

    def p_yes(self, messages: list[Message]) -> float:
        """The probability that the reply to `messages` is yes rather than no."""
        ...


class LlamaCppLLM:
    """A GGUF model run in-process by llama-cpp-python, loaded once, greedy decoding.

    Prompts are tokenized here, not by the chat template: the template's role markers are
    special tokens, and every message's text is tokenized as plain text, so `<|im_start|>` typed
    in a question or written in an article is characters, never a role switch.

    Each fixed system prompt (the answer's, a follow-up's rewrite, each kind of check) keeps a
    llama.cpp context of its own on the one loaded model, with that prompt computed in its KV
    cache: a prompt is computed once per process, not again each time another kind of call came
    between two of its uses, and restored from disk by a new process (`SavedHeads`).
    """

    def __init__(self, model: str, settings: Settings) -> None:
        self.name = model
        self._settings = settings
        self._llama: Any = None
        self._writers = ContextPool(self._writer, MAX_WRITERS)
        self._scorers = ContextPool(self._scorer, MAX_SCORERS)
        self._lock = threading.Lock()
        self._score_lock = threading.Lock()
        self._saved: SavedHeads | None = None

    def _load(self) -> Any:
        if self._llama is None:
            self._llama = self._open(self._settings.llm_context)
        return self._llama

    def _writer(self) -> Any:
        """A generation context (made under the generation lock): the loaded model's own first,
        then others on the same weights."""
        if not self._writers:
            return self._load()
        return second_context(self._load(), self._settings.llm_context)

    def _scorer(self) -> Any:
        """A check context on the loaded weights."""
        with self._lock:
            return second_context(self._load(), self._settings.llm_check_context)

    def _open(self, context: int) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise RagError("llama-cpp-python is not installed: run `pip install llama-cpp-python`.") from exc
        path = ensure_gguf(self.name, self._settings.model_dir)
        if self._settings.llm_saved_heads:
            self._saved = SavedHeads(self._settings.model_dir / "heads", path.name)
        with without_amx():
            return Llama(
                model_path=str(path),
                n_ctx=context,
                # Prompt reading (batches) and generation each take their own thread count; both follow the setting.
                n_threads=self._settings.llm_threads,
                n_threads_batch=self._settings.llm_threads,
                n_batch=512,
                seed=0,
                verbose=False,
            )

    def warm(self, system: str | None = None, checks: Sequence[str] = ()) -> None:
        """Load the weights now, and compute `system` (the answer prompt's fixed part) and the
        checks' system prompts in their contexts, as `stream` and `p_yes` would: the first
        question then starts from its own passages, and its first checks from their own text."""
        with self._lock:
            self._load()
            if system is not None:
                writer = self._writers.get(system)
                cache_head(writer, head_tokens(writer, [{"role": "system", "content": system}]), self._saved)
        for check in checks:
            with self._score_lock:
                scorer = self._scorers.get(check)
                cache_head(scorer, head_tokens(scorer, [{"role": "system", "content": check}]), self._saved)

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        # One generation at a time: llama.cpp contexts are not thread-safe.
        with self._lock:
            llama = self._writers.get(system_prompt(messages))
            cache_head(llama, head_tokens(llama, messages), self._saved)
            chunks = llama.create_completion(
                prompt=chatml_tokens(llama, messages),
                max_tokens=max_tokens,
                temperature=0.0,
                top_k=1,
                seed=0,
                stream=True,
                stop=["<|im_end|>", "<|endoftext|>"],
                grammar=_grammar(grammar),
            )
            try:
                for chunk in chunks:
                    if piece := chunk["choices"][0]["text"]:
                        yield piece
            finally:
                chunks.close()  # a caller that stops reading stops the generation, under the lock

    def p_yes(self, messages: list[Message]) -> float:
        """The probability that the reply to `messages` starts with yes rather than no.

        Scored in a context of its own (one per kind of check), so that the answer prompt's
        cached head survives the checks, and every answer's support, answer and relevance checks
        find their fixed prompts computed.
        """
        with self._score_lock:
            scorer = self._scorers.get(system_prompt(messages))
            tokens = chatml_tokens(scorer, messages)
            return yes_probability(scorer, tokens, len(head_tokens(scorer, messages)), self._saved)


# Contexts kept per loaded model: generation (the answer, a follow-up's rewrite) and checks (the
# support and answer checks share a system prompt; the relevance check has its own).
MAX_WRITERS = 2
MAX_SCORERS = 3


class ContextPool:
    """llama.cpp contexts by system prompt, at most `size`: the least recently used one is handed
    over to a new prompt (`cache_head` then clears it), so no context is ever made beyond `size`."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._make = make
        self._size = size
        self._by_system: OrderedDict[str, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_system)

    def get(self, system: str) -> Any:
        if system in self._by_system:
            self._by_system.move_to_end(system)
        elif len(self._by_system) < self._size:
            self._by_system[system] = self._make()
        else:
            self._by_system[system] = self._by_system.popitem(last=False)[1]
        return self._by_system[system]


@functools.lru_cache(maxsize=64)
def _grammar(text: str | None) -> Any:
    """The compiled GBNF grammar (llama.cpp checks every sampled token against it), or None."""
    if text is None:
        return None
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


_LOADING = threading.Lock()


@contextlib.contextmanager
def without_amx() -> Iterator[None]:
    """Load models inside with their weights in plain CPU buffers where llama.cpp was built to use
    Intel AMX; elsewhere, as llama.cpp chooses.

    llama-cpp-python is compiled on the machine it installs on, for that CPU. Where the CPU has AMX
    (Xeon Sapphire Rapids and later), the build multiplies the weights with AMX tiles, and the
    first prompt read crashed the process with a segmentation fault inside
    `ggml_backend_amx_mul_mat`, on a VM whose kernel granted the tile permission; a crash cannot be
    caught. Without extra buffer types llama.cpp neither repacks weights for AMX nor for its
    AVX2/AVX-512 kernels, and reads prompts with its ordinary ones (128 prompt tokens a second on
    that machine's two cores). `llama_cpp.Llama` does not take the model parameter, so its default
    is changed while a model loads, under a lock; elsewhere nothing changes.
    """
    import llama_cpp.llama_cpp as lib

    if b"AMX_INT8 = 1" not in lib.llama_print_system_info():
        yield
        return
    defaults = lib.llama_model_default_params

    def plain() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _LOADING:
        lib.llama_model_default_params = plain
        try:
            yield
        finally:
            lib.llama_model_default_params = defaults


def second_context(llama: Any, context: int) -> Any:
    """A `Llama` with a KV cache of its own on `llama`'s loaded model.

    A second `Llama(model_path=…)` would load the weights again: llama.cpp maps the file once per
    load and keeps a CPU-repacked copy of its matrices per load, about 1.7 GB more for the 1.5B
    model. This shares the model and gives the copy its own context, batch and token buffers,
    built as `Llama.__init__` builds them (llama-cpp-python 0.3). The copy holds `llama`, so the
    model it shares is freed after it, never before.
    """

    import numpy as np
    from llama_cpp import _internals as internals

    params = type(llama.context_params).from_buffer_copy(llama.context_params)
    params.n_ctx = context
    other = object.__new__(type(llama))  # not copy.copy: `Llama.__setstate__` loads the model again
    other.__dict__.update(llama.__dict__)
    other._owner = llama
    other._stack = contextlib.ExitStack()
    other.context_params = params
    other._ctx = other._stack.enter_context(
        contextlib.closing(internals.LlamaContext(model=llama._model, params=params, verbose=False))
    )
    other._batch = other._stack.enter_context(
        contextlib.closing(internals.LlamaBatch(n_tokens=llama.n_batch, embd=0, n_seq_max=context, verbose=False))
    )
    other._n_ctx = other.n_ctx()
    other._candidates = internals.LlamaTokenDataArray(n_vocab=llama._n_vocab)
    other._sampler = None
    other.cache = None
    other.n_tokens = 0
    other.input_ids = np.ndarray((context,), dtype=np.intc)
    other.scores = np.ndarray((llama.n_batch, llama._n_vocab), dtype=np.single)
    return other


def chatml_tokens(llama: Any, messages: list[Message], *, reply: bool = True) -> list[int]:
    """Tokenize a chat in ChatML: role markers as special tokens, message text as plain text."""
    tokens: list[int] = []
    for message in messages:
        tokens += llama.tokenize(f"<|im_start|>{message['role']}\n".encode(), add_bos=False, special=True)
        tokens += llama.tokenize(message["content"].encode(), add_bos=False, special=False)
        tokens += llama.tokenize(b"<|im_end|>\n", add_bos=False, special=True)
    if reply:
        tokens += llama.tokenize(b"<|im_start|>assistant\n", add_bos=False, special=True)
    return tokens


def system_prompt(messages: list[Message]) -> str:
    """The text of a chat's system message, or "" when it has none."""
    return messages[0]["content"] if messages[0]["role"] == "system" else ""


def head_tokens(llama: Any, messages: list[Message]) -> list[int]:
    """The tokens of a chat's system message: the fixed head kept cached between calls (none without one)."""
    return chatml_tokens(llama, messages[:1], reply=False) if messages[0]["role"] == "system" else []


def cache_head(llama: Any, head: list[int], saved: SavedHeads | None = None) -> None:
    """Leave exactly `head` (a fixed system prompt) in the KV cache, computed on its own.

    The floats of a prompt's logits depend on how its tokens were split into batches, not only on
    the tokens. Reusing more than the head (say, a repeated question), or a head computed in one
    batch with the rest of a prompt, changes them by up to half a logit and with them greedy output
    and P(yes). A head always computed alone, followed by the rest from the head's end, gives every
    prompt the same floats in a fresh process and after any other prompt, so answers and verdicts
    are repeatable and never depend on what was asked before. A head `saved` on disk is restored
    instead of computed: the same floats, read back.
    """
    cached = llama.input_ids[: llama.n_tokens].tolist()
    keep = len(head) if cached[: len(head)] == head else 0
    if llama.n_tokens > keep:
        llama._ctx.kv_cache_seq_rm(-1, keep, -1)
        llama.n_tokens = keep
    if keep < len(head) and not (saved and saved.restore(llama, head)):
        llama.eval(head)
        if saved:
            saved.save(llama, head)


class SavedHeads:
    """Computed system prompts kept on disk, so that a new process restores a head's KV cache in
    milliseconds instead of computing it (about a second per 100 tokens on two cores, and a
    process computes three or four heads).

    A file is named by a hash of all that its floats depend on: the weights file (its name holds
    its hash), llama.cpp's version, the context's size, batch and threads, and the head's tokens,
    which the file also holds with the state's sha256. A file that does not match, is damaged or
    does not load is computed again and replaced; a folder that cannot be written only costs the
    saving. A restore marks its file as used; each save deletes the least recently used files past
    `HEADS_BUDGET` (those of an old prompt, setting or model), so the folder does not grow forever.
    """

    def __init__(self, directory: Path, weights: str) -> None:
        import llama_cpp

        self.directory = directory
        self.key = f"{weights}|llama.cpp {llama_cpp.__version__}"

    def _path(self, llama: Any, head: list[int]) -> Path:
        params = llama.context_params
        key = f"{self.key}|{llama.n_ctx()}|{llama.n_batch}|{params.n_threads}|{params.n_threads_batch}|{head}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.kv"

    @staticmethod
    def _pack(head: list[int], state: bytes) -> bytes:
        """The head's tokens, the state's sha256, then the state, so that a file is read back whole or not at all."""
        return json.dumps(head).encode() + b"\n" + hashlib.sha256(state).hexdigest().encode() + b"\n" + state

    @staticmethod
    def _unpack(head: list[int], data: bytes) -> bytes | None:
        tokens = json.dumps(head).encode() + b"\n"
        if not data.startswith(tokens):
            return None
        digest, _, state = data[len(tokens) :].partition(b"\n")
        return state if state and hashlib.sha256(state).hexdigest().encode() == digest else None

    def restore(self, llama: Any, head: list[int]) -> bool:
        """Load `head`'s saved KV cache into an empty `llama`; False (and `llama` left empty) if none fits."""
        import llama_cpp

        path = self._path(llama, head)
        try:
            state = self._unpack(head, path.read_bytes())
        except OSError:
            return False
        if state is None:
            return False
        loaded = llama_cpp.llama_state_seq_set_data(
            llama._ctx.ctx, (ctypes.c_uint8 * len(state)).from_buffer_copy(state), len(state), 0
        )
        if loaded != len(state):
            llama._ctx.kv_cache_seq_rm(-1, 0, -1)
            return False
        llama.input_ids[: len(head)] = head
        llama.n_tokens = len(head)
        with contextlib.suppress(OSError):  # marks it as used; a folder that cannot be written keeps it anyway
            os.utime(path)
        return True

    def save(self, llama: Any, head: list[int]) -> None:
        """Write `llama`'s KV cache, which holds exactly `head`, atomically."""
        import llama_cpp

        size = llama_cpp.llama_state_seq_get_size(llama._ctx.ctx, 0)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llama._ctx.ctx, state, size, 0)
        path = self._path(llama, head)
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(self._pack(head, bytes(state)[:written]))
            os.replace(temporary, path)
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            log.debug("A computed system prompt was not saved to %s: %s", path.parent, exc)
            return
        prune_heads(self.directory)


def prune_heads(directory: Path, budget: int = HEADS_BUDGET, now: float | None = None) -> list[Path]:
    """Delete saved heads, the least recently used first, until `directory` holds at most `budget`
    bytes of them (the most recent always stays), and the temporary files of saves killed more than
    `STALE_TEMPORARY` seconds ago; return the deleted paths. A process reading a file as it goes
    only computes that head again."""
    now = time.time() if now is None else now
    try:
        files = [(path.stat(), path) for path in directory.iterdir() if path.suffix in (".kv", ".tmp")]
    except OSError:
        return []
    deleted: list[Path] = []
    held, full = 0, False
    for stat, path in sorted(files, key=lambda file: -file[0].st_mtime):
        if path.suffix == ".tmp":
            stale = now - stat.st_mtime > STALE_TEMPORARY
        else:
            full = full or (held > 0 and held + stat.st_size > budget)
            held += stat.st_size
            stale = full
        if stale:
            with contextlib.suppress(OSError):
                path.unlink()
                deleted.append(path)
    return deleted


def yes_probability(llama: Any, tokens: list[int], head: int = 0, saved: SavedHeads | None = None) -> float:
    """P(yes) against P(no) for the token after `tokens`, whose first `head` tokens (the fixed system
    prompt) stay cached between calls (`cache_head`, restored from `saved` in a new process): every
    check is computed the same way, whatever was checked before, so a verdict never depends on the
    order of questions."""
    import numpy as np

    budget = llama.n_ctx() - 1
    if len(tokens) > budget:  # keep the head and the question: drop text from the middle
        tokens = tokens[: budget // 2] + tokens[-(budget - budget // 2) :]
    head = min(head, len(tokens) - 1, budget // 2)
    cache_head(llama, tokens[:head], saved)
    llama.eval(tokens[head:])
    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
    yes = _logsumexp(logits[_word_tokens(llama, ("Yes", "yes", " Yes", " yes", "YES"))])
    no = _logsumexp(logits[_word_tokens(llama, ("No", "no", " No", " no", "NO"))])
    return 1.0 / (1.0 + math.exp(no - yes))


def _word_tokens(llama: Any, words: Iterable[str]) -> list[int]:
    return sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})


def _logsumexp(values: Any) -> float:
    top = float(values.max())
    return top + math.log(float(sum(math.exp(float(v) - top) for v in values)))


class OpenAICompatibleLLM:
    """Any server speaking the OpenAI chat-completions API (llama.cpp server, vLLM, Ollama, hosted)."""

    def __init__(self, url: str, model: str | None, api_key: str | None, timeout: float = 120.0) -> None:
        self.name = model or "default"
        self._url = url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._timeout = timeout

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        """The server's reply; `grammar` is not sent (the OpenAI API has no field for it), so the
        answer's format is checked after the reply, as for any model."""
        import httpx

        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "stream": True}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            with httpx.stream("POST", self._url, json=body, headers=headers, timeout=self._timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise LLMUnavailable(f"{self._url} answered {response.status_code}: {response.text[:200]}")
                yield from _sse_content(response.iter_lines())
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"Cannot reach the LLM server at {self._url}: {exc}") from exc

    def p_yes(self, messages: list[Message]) -> float:
        """The server's one-word reply, read as 1.0 for yes and 0.0 otherwise (servers differ in
        whether they return token probabilities)."""
        reply = "".join(self.stream(messages, 2))
        return 1.0 if reply.strip().lower().startswith("yes") else 0.0


class LLMUnavailable(RagError):
    """The language model backend could not be reached or failed."""


def _sse_content(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        choices = json.loads(data).get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content")
        if piece:
            yield piece


class FakeLLM:
    """Replays queued replies, word by word, and records the prompts it was given."""

    def __init__(self, replies: Iterable[str] = (), judge: Callable[[list[Message]], float] | None = None) -> None:
        self.name = "fake"
        self.replies = list(replies)
        self.prompts: list[list[Message]] = []
        self.checks: list[list[Message]] = []
        self.grammars: list[str | None] = []
        self.judge = judge

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        self.grammars.append(grammar)
        reply = self.replies.pop(0) if self.replies else ""
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word

    def p_yes(self, messages: list[Message]) -> float:
        """The judge given at construction, else `fake_word_judge`."""
        self.checks.append(messages)
        return (self.judge or fake_word_judge)(messages)


def fake_word_judge(messages: list[Message]) -> float:
    """A deterministic stand-in for the model's yes: 1.0 when the statement's longer words (or, asked
    whether a sentence answers a question, half of the question's) all appear in the sources; asked
    whether an answer gives what a question asks, when half of the question's longer words are in it."""
    text = messages[-1]["content"]
    if "\n\nProposed answer: " in text:
        question, answer = text.removeprefix("Question: ").split("\n\nProposed answer: ", 1)
        text = answer.partition("\n")[0] + "\n\nQuestion: " + question
    for label, share in (("\n\nStatement: ", 1.0), ("\n\nQuestion: ", 0.5)):
        if label in text:
            sources, rest = text.split(label, 1)
            words = [w for w in _fake_words(rest.split("\n", 1)[0]) if len(w) > 3]
            seen = set(_fake_words(sources))
            return 1.0 if words and sum(w in seen for w in words) >= share * len(words) else 0.0
    return 0.0


def _fake_words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()[]“”’").lower() for w in text.split()]


def make_llm(settings: Settings) -> LLM:
    """Pick the backend the settings name."""
    if settings.llm_url:
        return OpenAICompatibleLLM(settings.llm_url, settings.llm_model, settings.llm_api_key)
    if settings.llm not in LOCAL_MODELS:
        raise RagError(f"Unknown local model {settings.llm!r}; choose one of {', '.join(LOCAL_MODELS)}.")
    return LlamaCppLLM(settings.llm, settings)
