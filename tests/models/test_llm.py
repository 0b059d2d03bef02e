"""The local model's context pool, on plain objects standing in for llama.cpp contexts, and the file format of saved heads."""

from rag.models.llm import ContextPool, SavedHeads


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


def test_a_saved_head_is_read_back_whole_for_its_own_tokens_or_not_at_all() -> None:
    head, state = [151644, 8948, 198, 2610], bytes(range(256)) * 40
    packed = SavedHeads._pack(head, state)
    assert SavedHeads._unpack(head, packed) == state
    assert SavedHeads._unpack([*head[:-1], 11], packed) is None  # another prompt's tokens
    assert SavedHeads._unpack(head, packed[:-1]) is None  # cut short
    assert SavedHeads._unpack(head, packed[:-1] + b"\0") is None  # the same length, another byte
    assert SavedHeads._unpack(head, b"") is None
