"""The pure rules of reuse: generation keys, typed-as-suggested, skipping typed characters."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from workers.generations import Generation, GenerationHub
from workers.prompt import Prompt
from workers.reuse import (
    Suggestion,
    chunks_after,
    continues,
    generation_key,
    model_identity,
    typed_into,
)


class TestGenerationKey:
    """The key changes with anything that changes the output, and never shows the code."""

    def test_stable_and_sensitive(self) -> None:
        p = Prompt("def f(", ")", "python")
        assert len({model_identity("m", "r1", None), model_identity("m", "r2", None),
                    model_identity("m", "r1", 0.0), model_identity("m", "r1", 0.05),
                    model_identity("m2", "r1", None)}) == 5
        key = generation_key("t", "m", p, 16)
        assert key == generation_key("t", "m", Prompt("def f(", ")", "python"), 16)
        others = {generation_key("t", "m2", p, 16), generation_key("t", "m", p, 17),
                  generation_key("t2", "m", p, 16),
                  generation_key("t", "m", Prompt("def f(", "", "python"), 16),
                  generation_key("t", "m", Prompt("def f(", ")", "go"), 16),
                  generation_key("t", "m", Prompt("def f", "()", "python"), 16),
                  generation_key("t", "m", Prompt("def f(", ")", "python", "# g()\n"), 16)}
        assert key not in others and len(others) == 7
        assert "def" not in key and len(key) == 64


class TestTypedAsSuggested:
    """Only typing forward in the same document, matching the suggestion, reuses it."""

    suggestion = Suggestion("a.py", 10, "k")

    def test_typed_text(self) -> None:
        assert typed_into(self.suggestion, "a.py", 13, "0123456789abc") == "abc"

    def test_other_document_or_backwards(self) -> None:
        assert typed_into(self.suggestion, "b.py", 13, "0123456789abc") is None
        assert typed_into(self.suggestion, "a.py", 10, "0123456789") is None
        assert typed_into(self.suggestion, "a.py", 9, "012345678") is None

    def test_continues(self) -> None:
        assert continues("range(10)", "ran", finished=True)
        assert not continues("range(10)", "rat", finished=True)
        assert not continues("range(10)", "range(10)", finished=True), "nothing left to serve"
        assert continues("range(1", "range(1", finished=False), "still streaming"


@given(st.lists(st.text(max_size=6), max_size=8), st.integers(0, 60))
def test_chunks_after_drops_exactly_the_typed_characters(chunks: list[str], skip: int) -> None:
    assert "".join(chunks_after(chunks, skip)) == "".join(chunks)[skip:]


class TestGeneration:
    """Followers see every chunk from their starting character, then the end."""

    async def test_follow_from_a_character(self) -> None:
        hub = GenerationHub(linger_ms=10)

        async def produce(g: Generation) -> None:
            for chunk in ("ab", "cd", "ef"):
                await asyncio.sleep(0.001)
                await g.append(chunk)

        generation = hub.start("k", produce)
        late = [c async for c, _ in generation.pieces(3)]
        assert late == ["d", "ef"]
        assert [c async for c, _ in generation.pieces(0)] == ["ab", "cd", "ef"]
        assert generation.finished and hub.live("k") is None

    async def test_unfollowed_generation_is_cancelled_after_linger(self) -> None:
        hub = GenerationHub(linger_ms=20)
        started = asyncio.Event()

        async def forever(g: Generation) -> None:
            started.set()
            await asyncio.sleep(60)

        generation = hub.start("k", forever)
        await started.wait()
        hub.attach(generation)
        hub.detach(generation)
        await asyncio.sleep(0.01)
        assert not generation.finished, "still lingering for a matching keystroke"
        await asyncio.sleep(0.05)
        assert generation.finished and generation.reason == "cancelled"


def test_typist_trace_is_reproducible_and_fixed_debounce_counts_pauses() -> None:
    from bench.typist import Typist, fixed_debounce_fires

    first = [Typist(3).next_keys(ch) for ch in "def f(x):\n    return x\n"]
    again = [Typist(3).next_keys(ch) for ch in "def f(x):\n    return x\n"]
    assert first == again
    assert fixed_debounce_fires([0, 100, 200, 600, 700, 1100], 350) == 3
    assert fixed_debounce_fires([], 350) == 0


class TestLingerAndFailure:
    """A lingering stream can be picked up again; a failing one still ends its followers."""

    async def test_reattaching_during_linger_keeps_the_stream(self) -> None:
        hub = GenerationHub(linger_ms=50)
        release = asyncio.Event()

        async def slow(g: Generation) -> None:
            await release.wait()
            await g.append("done")

        generation = hub.start("k", slow)
        hub.attach(generation)
        hub.detach(generation)
        await asyncio.sleep(0.02)
        hub.attach(generation)  # a matching keystroke picks it up again
        await asyncio.sleep(0.1)
        assert not generation.finished, "an attached follower cancels the pending linger"
        release.set()
        assert [c async for c, _ in generation.pieces(0)] == ["done"]
        hub.detach(generation)

    async def test_a_failing_producer_ends_its_followers_with_an_error(self) -> None:
        hub = GenerationHub(linger_ms=10)

        async def broken(g: Generation) -> None:
            await g.append("x")
            raise RuntimeError("boom")

        generation = hub.start("k", broken)
        assert [c async for c, _ in generation.pieces(0)] == ["x"]
        assert (generation.reason, generation.detail) == ("error", "internal error: RuntimeError")
