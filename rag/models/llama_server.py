"""llama-cpp-python's OpenAI-compatible server, loading the model as the embedded backend does.

`python -m rag.models.llama_server --model FILE …` takes the arguments of `python -m
llama_cpp.server` and runs it, with `without_amx` in force: where llama.cpp was built for Intel
AMX, the server's model keeps its weights in plain CPU buffers, as `LlamaCppLLM`'s does.
"""

from __future__ import annotations

import runpy

from rag.models.llm import without_amx


def main() -> None:
    with without_amx():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
