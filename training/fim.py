"""Fill-in-the-middle examples: where the cursor goes, what is hidden, and the token layout.

Pure (given a tokenizer and a random source). Layout, suffix first ("SPM"): ::

    <|language|> python <|fim_suffix|> suffix <|fim_prefix|> prefix <|fim_middle|> middle <|endoftext|>

Suffix first because then, as a developer types, everything before the newest characters is
unchanged and the server can reuse its cached states for it (the prefix only grows at its end).
Training builds the tokens with the serving code's own ``layout.prompt_ids``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Split:
    """A document cut at the cursor: ``prefix + middle + suffix`` is the original text."""

    prefix: str
    middle: str
    suffix: str


def _line_bounds(text: str, at: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return start, len(text) if end == -1 else end


def single_line(text: str, rng: random.Random) -> Split | None:
    """Hide the rest of a line from a point inside its code (what inline completion finishes)."""
    at = rng.randrange(len(text))
    start, end = _line_bounds(text, at)
    line = text[start:end]
    indent = len(line) - len(line.lstrip())
    if not line.strip():
        return None
    cursor = rng.randrange(start + indent, end)
    return Split(text[:cursor], text[cursor:end], text[end:])


def multi_line(text: str, rng: random.Random) -> Split | None:
    """Hide one to six whole lines, from the first non-blank character of the first."""
    lines = text.splitlines(keepends=True)
    if len(lines) < 3:
        return None
    first = rng.randrange(len(lines))
    count = rng.randint(1, 6)
    if not lines[first].strip():
        return None
    before = "".join(lines[:first])
    indent = len(lines[first]) - len(lines[first].lstrip())
    hidden = "".join(lines[first:first + count])
    # The hidden text ends at its last line's end; that newline stays in the suffix.
    if hidden.endswith("\n"):
        hidden = hidden[:-1]
        rest = "\n" + "".join(lines[first + count:])
    else:
        rest = "".join(lines[first + count:])
    return Split(before + lines[first][:indent], hidden[indent:], rest)


def random_span(text: str, rng: random.Random) -> Split | None:
    """Hide any span of up to 200 characters."""
    cursor = rng.randrange(len(text))
    end = min(len(text), cursor + rng.randint(1, 200))
    return Split(text[:cursor], text[cursor:end], text[end:])


def sample(text: str, rng: random.Random) -> Split | None:
    """One training cut: 40% rest-of-line, 35% whole lines, 25% any span."""
    if not text.strip():
        return None
    roll = rng.random()
    if roll < 0.40:
        return single_line(text, rng)
    if roll < 0.75:
        return multi_line(text, rng)
    return random_span(text, rng)
