"""Where a completion's answer comes from: the cheapest source the facts allow, asking for one
cache lookup at a time and only when the cheaper sources are ruled out."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from workers.answer_source import UNKNOWN, Choice, Known, Live, Lookup, decide


def walk(known: Known, typed_cache: tuple[list[str], str] | None,
         prompt_cache: tuple[list[str], str] | None) -> tuple[Choice, list[str]]:
    """Decide, answering each lookup from the given caches; the choice and the lookups made."""
    asked: list[str] = []
    while isinstance(step := decide(known), Lookup):
        asked.append(step.which)
        assert step.which not in asked[:-1], "a fact is never asked for twice"
        field = "typed_cached" if step.which == "typed" else "cached"
        value = typed_cache if step.which == "typed" else prompt_cache
        known = dataclasses.replace(known, **{field: value})
    return step, asked


class TestDecide:
    """Cheapest first: typed into a live suggestion, its cached copy, shared, cached, infer."""

    def test_nothing_known_asks_the_cache_then_infers(self) -> None:
        assert walk(Known(), None, None) == (Choice("infer"), ["prompt"])

    def test_typing_into_a_live_suggestion_follows_it_without_any_lookup(self) -> None:
        known = Known(typed="ret", typed_live=Live("return x", finished=False))
        assert decide(known) == Choice("typed_as_suggested", follow_typed=True, skip_chars=3)

    def test_typing_into_a_cached_suggestion_sends_the_rest(self) -> None:
        choice, asked = walk(Known(typed="ret"), (["re", "turn x"], "stop"), None)
        assert asked == ["typed"]
        assert choice == Choice("typed_as_suggested", chunks=("urn x",), reason="stop")

    def test_typing_past_a_finished_suggestion_is_a_new_request(self) -> None:
        known = Known(typed="return x", typed_live=Live("return x", finished=True))
        choice, asked = walk(known, (["return x"], "stop"), None)
        assert (choice, asked) == (Choice("infer"), ["typed", "prompt"])

    def test_typing_something_else_falls_through(self) -> None:
        choice, asked = walk(Known(typed="pri", live=True), (["return"], "stop"), None)
        assert (choice, asked) == (Choice("shared"), ["typed"])

    def test_a_live_generation_is_shared_before_the_cache_is_read(self) -> None:
        assert decide(Known(live=True)) == Choice("shared")

    def test_a_cache_hit_is_sent_with_its_end_reason(self) -> None:
        choice, _ = walk(Known(), None, (["a", "b"], "length"))
        assert choice == Choice("cached", chunks=("a", "b"), reason="length")

    @given(typed=st.text(max_size=4), live_text=st.none() | st.text(max_size=6),
           finished=st.booleans(), live=st.booleans(),
           typed_cache=st.none() | st.lists(st.text(max_size=3), max_size=3),
           prompt_cache=st.none() | st.lists(st.text(max_size=3), max_size=3))
    def test_always_decides_and_never_skips_a_cheaper_source(
            self, typed: str, live_text: str | None, finished: bool, live: bool,
            typed_cache: list[str] | None, prompt_cache: list[str] | None) -> None:
        known = Known(typed=typed, live=live,
                      typed_live=None if live_text is None else Live(live_text, finished))
        choice, asked = walk(known, None if typed_cache is None else (typed_cache, "stop"),
                             None if prompt_cache is None else (prompt_cache, "stop"))
        if choice.kind in ("shared", "cached", "infer") and live:
            assert choice.kind == "shared", "a live generation beats the cache and the model"
        if choice.kind == "infer":
            assert "prompt" in asked, "the cache is asked before the model"
            assert not live
        if not typed:
            assert "typed" not in asked
        if choice.kind == "typed_as_suggested" and not choice.follow_typed:
            assert typed_cache is not None
            assert "".join(typed_cache).startswith(typed) and "".join(choice.chunks) == \
                "".join(typed_cache)[len(typed):]
        assert known.cached == UNKNOWN
