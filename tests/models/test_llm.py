"""The local model's context pool, on plain objects standing in for llama.cpp contexts."""

from rag.models.llm import ContextPool


def test_each_system_prompt_keeps_its_context_and_a_new_one_takes_the_least_recently_used() -> None:
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    pool = ContextPool(make, 2)
    answer, check = pool.get("answer"), pool.get("check")
    assert pool.get("answer") is answer and pool.get("check") is check and len(made) == 2
    pool.get("answer")  # now "check" is the least recently used
    assert pool.get("rewrite") is check  # handed over, not made: at most two contexts
    assert pool.get("answer") is answer and len(made) == 2 and len(pool) == 2
