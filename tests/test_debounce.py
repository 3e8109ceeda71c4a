"""The typing-rhythm debounce, driven by a fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.debounce import FIRE_AT_ONCE_AFTER, DebounceConfig, TypingRhythm

CONFIG = DebounceConfig(ceiling_ms=60, gap_factor=1.5, smoothing=0.5, initial_gap_ms=150)


def rhythm_after(gaps: list[int]) -> TypingRhythm:
    rhythm = TypingRhythm(CONFIG)
    at = 0
    rhythm.keystroke(at)
    for gap in gaps:
        at += gap
        rhythm.keystroke(at)
    return rhythm


class TestTypingRhythm:
    """The wait follows the typist, fires at once where a suggestion is wanted, never exceeds the ceiling."""

    def test_fast_typist_waits_about_one_and_a_half_gaps(self) -> None:
        rhythm = rhythm_after([30] * 20)
        assert 44 <= rhythm.wait_ms("a") <= 46

    def test_slow_typist_is_not_made_to_wait(self) -> None:
        assert rhythm_after([200] * 20).wait_ms("a") == 0

    def test_new_session_assumes_a_slow_typist(self) -> None:
        assert TypingRhythm(CONFIG).wait_ms("a") == 0

    def test_pauses_do_not_count_as_rhythm(self) -> None:
        rhythm = rhythm_after([30] * 20 + [5000])
        assert rhythm.wait_ms("a") == rhythm_after([30] * 20).wait_ms("a")

    def test_rhythm_adapts_when_the_typist_slows_down(self) -> None:
        rhythm = rhythm_after([30] * 20 + [120] * 10)
        assert rhythm.wait_ms("a") == 0

    def test_fire_at_once_after_newline_and_brackets(self) -> None:
        rhythm = rhythm_after([30] * 20)
        for ch in "\n([{":
            assert ch in FIRE_AT_ONCE_AFTER
            assert rhythm.wait_ms(ch) == 0


@given(st.lists(st.integers(0, 3000), max_size=50), st.characters())
def test_never_waits_longer_than_the_ceiling(gaps: list[int], last_char: str) -> None:
    assert 0 <= rhythm_after(gaps).wait_ms(last_char) <= CONFIG.ceiling_ms
