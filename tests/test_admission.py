"""Model slots (pure): never more than ``slots`` busy, first come first served, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.admission import Admission


def test_fifo_and_hand_over() -> None:
    gate = Admission(2)
    assert gate.arrive("a") and gate.arrive("b")
    assert not gate.arrive("c") and not gate.arrive("d")
    gate.leave("c")  # gave up waiting
    assert gate.release() == "d"  # the slot passes on, still two busy
    assert gate.busy == 2 and gate.waiting == 0
    assert gate.release() is None and gate.release() is None
    assert gate.busy == 0
    with pytest.raises(RuntimeError, match="released twice"):
        gate.release()


def test_a_newcomer_does_not_jump_the_queue() -> None:
    gate = Admission(1)
    assert gate.arrive("a") and not gate.arrive("b")
    assert gate.release() == "b"
    assert not gate.arrive("c"), "b holds the slot"


@given(st.lists(st.sampled_from(["arrive", "leave", "release"]), max_size=200),
       st.integers(1, 4))
def test_busy_never_exceeds_slots(ops: list[str], slots: int) -> None:
    gate = Admission(slots)
    holding: list[str] = []
    waiting: list[str] = []
    for n, op in enumerate(ops):
        if op == "arrive":
            key = f"k{n}"
            (holding if gate.arrive(key) else waiting).append(key)
        elif op == "leave" and waiting:
            gate.leave(waiting.pop())
        elif op == "release" and holding:
            holding.pop()
            handed = gate.release()
            if handed is not None:
                assert handed == waiting.pop(0), "first come, first served"
                holding.append(handed)
        assert gate.busy == len(holding) <= slots
        assert gate.waiting == len(waiting)
