"""LSP positions (line, character in the negotiated encoding) to our protocol's code-point offsets.

Pure. LSP counts ``character`` in UTF-16 code units unless client and server agree on
``utf-8`` or ``utf-32`` (``positionEncoding``, LSP 3.17); our socket protocol counts Unicode code
points (what LSP calls utf-32). Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as the LSP spec says.
A ``character`` past the end of its line means the line's end (the spec's rule); a line past the
last one, or a UTF-16 position that falls inside a surrogate pair, is refused, since no editor's
text has such a place. ``(line count, 0)`` is accepted as the document's end (some clients name
the end of a whole-document range that way).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

from schemas.errors import AssistantError

Encoding = Literal["utf-8", "utf-16", "utf-32"]
ENCODINGS: tuple[Encoding, ...] = ("utf-32", "utf-16", "utf-8")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ASTRAL = "\U00010000"


class PositionError(AssistantError, ValueError):
    """A position that names no place in the document."""


@dataclass(frozen=True, slots=True)
class Position:
    """Zero-based line and character (in the session's position encoding)."""

    line: int
    character: int


def line_starts(text: str) -> list[int]:
    """Code-point offset of the start of every line (the first is 0)."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def line_end(text: str, starts: list[int], line: int) -> int:
    """Offset just past the last character of ``line``, before its line break."""
    if line + 1 < len(starts):
        end = starts[line + 1] - 1
        if end > starts[line] and text[end - 1] == "\r" and text[end] == "\n":
            end -= 1
        return end
    return len(text)


def units(char: str, encoding: Encoding) -> int:
    """How many units of ``encoding`` one code point takes."""
    if encoding == "utf-32":
        return 1
    if encoding == "utf-16":
        return 2 if char >= _ASTRAL else 1
    return len(char.encode("utf-8"))


def column_to_offset(line_text: str, character: int, encoding: Encoding) -> int:
    """Code points of ``line_text`` before ``character`` units (clamped to the line's end)."""
    if character < 0:
        raise PositionError(f"character {character} is negative")
    if encoding == "utf-32" or (encoding == "utf-16" and (not line_text or max(line_text) < _ASTRAL)) \
            or line_text.isascii():
        return min(character, len(line_text))
    seen = 0
    for index, char in enumerate(line_text):
        if seen == character:
            return index
        seen += units(char, encoding)
        if seen > character:
            raise PositionError(
                f"character {character} falls inside the code point at column {index} "
                f"({encoding} units)")
    return len(line_text)


def offset_of(text: str, starts: list[int], position: Position, encoding: Encoding) -> int:
    """The code-point offset ``position`` names in ``text`` (``starts`` = ``line_starts(text)``)."""
    line, character = position.line, position.character
    if line < 0:
        raise PositionError(f"line {line} is negative")
    if line >= len(starts):
        if line == len(starts) and character == 0:
            return len(text)
        raise PositionError(f"line {line} is past the document's last line {len(starts) - 1}")
    start = starts[line]
    return start + column_to_offset(text[start:line_end(text, starts, line)], character, encoding)


def position_of(text: str, starts: list[int], offset: int, encoding: Encoding) -> Position:
    """The position of code-point ``offset`` (the inverse of :func:`offset_of` on line content)."""
    if not 0 <= offset <= len(text):
        raise PositionError(f"offset {offset} is outside the document (length {len(text)})")
    line = bisect.bisect_right(starts, offset) - 1
    prefix = text[starts[line]:offset]
    if encoding == "utf-32" or prefix.isascii():
        return Position(line, len(prefix))
    return Position(line, sum(units(char, encoding) for char in prefix))
