"""Chat models behind one small protocol: embedded llama.cpp, an OpenAI-compatible server, or a fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from rag.config import Settings
from rag.errors import RagError
from rag.weights import LOCAL_MODELS, ensure_gguf

Message = dict[str, str]


class LLM(Protocol):
    """Stream a chat completion as text pieces."""

    name: str

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]: ...


class LlamaCppLLM:
    """A GGUF model run in-process by llama-cpp-python, loaded once, greedy decoding."""

    def __init__(self, model: str, settings: Settings) -> None:
        self.name = model
        self._settings = settings
        self._llama: Any = None
        self._lock = threading.Lock()
        self._last: list[Message] = []

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise RagError("llama-cpp-python is not installed: run `pip install llama-cpp-python`.") from exc
            path = ensure_gguf(self.name, self._settings.model_dir)
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self._settings.llm_context,
                n_threads=self._settings.llm_threads,
                n_batch=512,
                seed=0,
                verbose=False,
            )
        return self._llama

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        # One generation at a time: llama.cpp contexts are not thread-safe, and the lock keeps
        # the KV cache of the shared prompt prefix warm for the next request.
        with self._lock:
            llama = self._load()
            if not (self._last and messages[: len(self._last)] == self._last):
                self._rewind_to_system_prompt(llama, messages)
            self._last = []
            chunks = llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, top_k=1, seed=0, stream=True
            )
            reply = []
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    reply.append(piece)
                    yield piece
            # A follow-up turn that repeats this exchange may reuse the whole cache.
            self._last = [*messages, {"role": "assistant", "content": "".join(reply)}]

    @staticmethod
    def _rewind_to_system_prompt(llama: Any, messages: list[Message]) -> None:
        """Keep only the system prompt in the KV cache.

        llama.cpp reuses the longest cached prefix; reusing more than the fixed system prompt
        (say, a repeated question) changes the floating-point path and with it greedy output.
        Cutting back to the system prompt keeps its cache benefit and makes answers repeatable;
        only a continuation of the last exchange, always computed the same way, keeps more.
        """
        if not messages or messages[0]["role"] != "system":
            keep = 0
        else:
            head = f"<|im_start|>system\n{messages[0]['content']}<|im_end|>\n"
            keep = len(llama.tokenize(head.encode(), add_bos=False, special=True))
        if llama.n_tokens > keep:
            llama._ctx.kv_cache_seq_rm(-1, keep, -1)
            llama.n_tokens = keep


class OpenAICompatibleLLM:
    """Any server speaking the OpenAI chat-completions API (llama.cpp server, vLLM, Ollama, hosted)."""

    def __init__(self, url: str, model: str | None, api_key: str | None, timeout: float = 120.0) -> None:
        self.name = model or "default"
        self._url = url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._timeout = timeout

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
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

    def __init__(self, replies: Iterable[str] = ()) -> None:
        self.name = "fake"
        self.replies = list(replies)
        self.prompts: list[list[Message]] = []

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0) if self.replies else ""
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word


def make_llm(settings: Settings) -> LLM:
    """Pick the backend the settings name."""
    if settings.llm_url:
        return OpenAICompatibleLLM(settings.llm_url, settings.llm_model, settings.llm_api_key)
    if settings.llm not in LOCAL_MODELS:
        raise RagError(f"Unknown local model {settings.llm!r}; choose one of {', '.join(LOCAL_MODELS)}.")
    return LlamaCppLLM(settings.llm, settings)
