"""Positions in a document: code points (our protocol), UTF-8 bytes (tree-sitter) and
1-based line/column pairs counted in code points (ruff), converted exactly."""

from __future__ import annotations

import bisect


class Offsets:
    """Converters for one text; cheap for ASCII text (the common case: bytes are code points)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self._ascii = len(self.data) == len(text)
        self._line_starts = [0]
        index = text.find("\n")
        while index >= 0:
            self._line_starts.append(index + 1)
            index = text.find("\n", index + 1)
        #: For non-ASCII text: byte offset of every code point, and of the end.
        self._bytes_at: list[int] = []
        if not self._ascii:
            position = 0
            for char in text:
                self._bytes_at.append(position)
                position += len(char.encode("utf-8"))
            self._bytes_at.append(position)

    def from_byte(self, byte: int) -> int:
        """The code point offset of a byte offset (one inside a character rounds down)."""
        byte = max(0, min(byte, len(self.data)))
        if self._ascii:
            return byte
        return bisect.bisect_right(self._bytes_at, byte) - 1

    def to_byte(self, offset: int) -> int:
        offset = max(0, min(offset, len(self.text)))
        return offset if self._ascii else self._bytes_at[offset]

    def from_line_column(self, line: int, column: int) -> int:
        """1-based line and code-point column (past the last line: the end of the text)."""
        if line > len(self._line_starts):
            return len(self.text)
        start = self._line_starts[max(1, line) - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return min(start + max(1, column) - 1, end)

    def from_line_byte(self, line: int, column: int) -> int:
        """1-based line and UTF-8 byte column (compilers count bytes), clamped to the line."""
        if line > len(self._line_starts):
            return len(self.text)
        start = self._line_starts[max(1, line) - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return min(self.from_byte(self.to_byte(start) + max(1, column) - 1), end)

    def line_of(self, offset: int) -> int:
        """0-based line of a code point offset."""
        return bisect.bisect_right(self._line_starts, offset) - 1

    def line_start(self, line: int) -> int:
        return self._line_starts[max(0, min(line, len(self._line_starts) - 1))]
