"""What one burst of typing changed in a document: the region where two versions differ, and the
identifier it replaced (a rename's first step)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Region:
    """``before[start:before_end]`` became ``after[start:after_end]``; the rest is equal."""

    start: int
    before_end: int
    after_end: int

    @property
    def delta(self) -> int:
        """How far text after the region moved."""
        return (self.after_end - self.start) - (self.before_end - self.start)


def changed_region(before: str, after: str) -> Region | None:
    """The one region where ``before`` and ``after`` differ (common prefix and suffix taken
    away), or ``None`` if they are equal."""
    if before == after:
        return None
    limit = min(len(before), len(after))
    start = 0
    while start < limit and before[start] == after[start]:
        start += 1
    tail = 0
    while (tail < limit - start and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]):
        tail += 1
    return Region(start, len(before) - tail, len(after) - tail)


@dataclass(frozen=True, slots=True)
class Replaced:
    """An identifier at ``start`` of the earlier text, ``old``, now spelled ``new``."""

    start: int
    old: str
    new: str


def _word_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and _WORD.match(text[start - 1]):
        start -= 1
    while end < len(text) and _WORD.match(text[end]):
        end += 1
    return start, end


def replaced_identifier(before: str, after: str, region: Region) -> Replaced | None:
    """The identifier the region's change turned into another one, when the change lies within
    one word of each text (``cnt`` -> ``count``, ``totl`` -> ``total``); ``None`` for anything
    else (a new line, an operator, two words)."""
    old_start, old_end = _word_span(before, region.start, region.before_end)
    new_start, new_end = _word_span(after, region.start, region.after_end)
    if old_start != new_start:
        return None
    old, new = before[old_start:old_end], after[new_start:new_end]
    if not NAME.fullmatch(old) or not NAME.fullmatch(new) or old == new:
        return None
    return Replaced(old_start, old, new)
