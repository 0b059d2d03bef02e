"""The local model's context pool, on plain objects standing in for llama.cpp contexts, the file format
and the pruning of saved heads, and the model parameters under `without_amx` with a faked build report."""

import os
from pathlib import Path

import llama_cpp.llama_cpp as lib
import pytest

from rag.models.llm import STALE_TEMPORARY, ContextPool, SavedHeads, prune_heads, without_amx


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


def test_saved_heads_past_the_budget_go_least_recently_used_first_and_the_newest_always_stays(tmp_path: Path) -> None:
    now = 1_000_000.0

    def saved(name: str, size: int, age: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"\0" * size)
        os.utime(path, (now - age, now - age))
        return path

    newest, used, old, oldest = saved("a.kv", 60, 1), saved("b.kv", 30, 10), saved("c.kv", 30, 20), saved("d.kv", 5, 30)
    # A save killed long ago, and one under way.
    left, under_way = saved("e.tmp", 500, STALE_TEMPORARY + 1), saved("f.tmp", 500, 5)
    other = saved("notes.txt", 500, 99)
    # Past the budget at "c.kv": it goes, and "d.kv" after it too, though it would fit.
    assert sorted(prune_heads(tmp_path, budget=100, now=now)) == [old, oldest, left]
    assert {p.name for p in tmp_path.iterdir()} == {newest.name, used.name, under_way.name, other.name}
    assert prune_heads(tmp_path, budget=10, now=now) == [used]  # the newest stays even past the budget
    assert prune_heads(tmp_path / "missing", now=now) == []


@pytest.mark.parametrize("amx", [True, False])
def test_a_build_for_amx_loads_weights_without_extra_buffers_and_other_builds_as_llama_cpp_chooses(
    amx: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = b"CPU : AVX2 = 1 | AVX512 = 1 | " + (b"AMX_INT8 = 1 | " if amx else b"") + b"REPACK = 1 | "
    monkeypatch.setattr(lib, "llama_print_system_info", lambda: report)  # a fake build report
    assert lib.llama_model_default_params().use_extra_bufts
    with without_amx():
        assert lib.llama_model_default_params().use_extra_bufts is not amx
    assert lib.llama_model_default_params().use_extra_bufts  # restored for whatever loads next
    with pytest.raises(RuntimeError), without_amx():
        raise RuntimeError("a load that fails")
    assert lib.llama_model_default_params().use_extra_bufts
