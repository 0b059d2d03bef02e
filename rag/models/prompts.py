"""Prompt templates kept as files in `prompts/`, checked for exactly the variables the code fills."""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path

from rag.core.config import PROMPTS_DIR
from rag.core.errors import RagError

# The one "cannot answer" sentence: used by the prompt, the pipeline, the tests and the eval.
NO_ANSWER = "The articles do not answer this question."

EXPECTED_VARIABLES = {
    "answer_system.txt": set(),
    "answer_user.txt": {"evidence", "question"},
    "support_system.txt": set(),
    "support_user.txt": {"sources", "claim"},
    "answers_user.txt": {"sources", "claim"},
    "relevance_system.txt": set(),
    "relevance_user.txt": {"question", "answer"},
    "rewrite_system.txt": set(),
    "rewrite_user.txt": {"history", "question"},
}


def template_variables(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@cache
def load_prompt(name: str, directory: Path = PROMPTS_DIR) -> str:
    """Read a template and check it uses exactly the expected variables."""
    path = directory / name
    try:
        template = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RagError(f"Prompt template {path} cannot be read: {exc.strerror}.") from exc
    expected = EXPECTED_VARIABLES.get(name)
    found = template_variables(template)
    if expected is not None and found != expected:
        raise RagError(f"Prompt template {path} uses {sorted(found)}, expected {sorted(expected)}.")
    return template


def chat(system: str, user: str, **fields: str) -> list[dict[str, str]]:
    """A system message from the template `system` and a user message from `user`, filled with `fields`."""
    return [
        {"role": "system", "content": load_prompt(system)},
        {"role": "user", "content": load_prompt(user).format(**fields)},
    ]


_SPECIAL_TOKEN = re.compile(r"<\|([^|<>]{0,40})\|>")


def as_data(text: str) -> str:
    """Make article text safe to quote inside a prompt: one line, and no chat-template tokens.

    An article is data, never instructions: `<|im_start|>system` in an article would otherwise
    become a real role switch once the prompt is tokenised, and a line break would let a fake
    `Answer:` or `Question:` line start a line of its own.
    """
    return " ".join(_SPECIAL_TOKEN.sub(r"<\1>", text).split())
