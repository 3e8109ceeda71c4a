"""A simulated developer's typing rhythm, reproducible from a seed (pure).

Each typist has their own speed; within a burst, gaps vary around it; they pause at line ends
and sometimes between words, and now and then mistype a character and take it back.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Keystroke:
    """``delay_ms`` after the previous one: type ``char``, or (``backspace``) delete one."""

    delay_ms: int
    char: str = ""
    backspace: bool = False


class Typist:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
        self.mean_gap_ms = self._rng.uniform(70, 220)

    def next_keys(self, expected: str) -> list[Keystroke]:
        """The keystrokes that type ``expected`` (one character), mistakes included."""
        rng = self._rng
        gap = max(15, int(rng.expovariate(1 / self.mean_gap_ms)))
        if expected == "\n" and rng.random() < 0.3:
            gap += rng.randint(500, 2000)  # a pause to think at a line end
        elif expected == " " and rng.random() < 0.08:
            gap += rng.randint(250, 800)
        if expected.isalnum() and rng.random() < 0.03:
            typo = rng.choice("qxzjkv")
            return [Keystroke(gap, typo), Keystroke(max(60, int(self.mean_gap_ms * 2)),
                                                    backspace=True),
                    Keystroke(max(15, int(rng.expovariate(1 / self.mean_gap_ms))), expected)]
        return [Keystroke(gap, expected)]


def fixed_debounce_fires(key_times_ms: list[int], debounce_ms: int) -> int:
    """How many requests a client with a fixed debounce would send for this keystroke trace:
    one each time ``debounce_ms`` passes without a keystroke (and after the last one)."""
    if not key_times_ms:
        return 0
    fires = 1
    for before, after in itertools.pairwise(key_times_ms):
        if after - before >= debounce_ms:
            fires += 1
    return fires
