"""LSP's base protocol: ``Content-Length`` framing of a byte stream, tolerant of a hostile peer.

Pure: bytes go in, message bodies and framing faults come out. Header names are read
case-insensitively, ``Content-Type`` is allowed (its charset must be UTF-8), and LF-only header
lines are accepted. A fault never stops the stream: the decoder reports it once and searches for
the next ``Content-Length`` header, so one bad frame costs that frame, not the session. Headers
are bounded (``MAX_HEADER_BYTES``) and so are bodies (``MAX_BODY_BYTES``): a peer cannot make the
server buffer without end.

A body that turns out not to be JSON (its length was wrong) is handed back with :meth:`resync`:
the search starts again one byte into its header, so a message that a too-long length or a
broken header swallowed is read again instead of lost. A message that stops arriving is handed
over by :meth:`stalled`, which the I/O side calls after a quiet spell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEADER_BYTES = 8 * 1024
#: A 5 MB document is about 5 MB of JSON; the edge takes documents up to 1 M characters.
MAX_BODY_BYTES = 64 * 1024 * 1024

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
#: What may start a header section: a token, then perhaps the colon and anything after it.
_HEADER_PREFIX = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]*(?::[^\n]*(?:\n.*)?)?", re.DOTALL)
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w-]+)", re.IGNORECASE)
#: Bytes kept while searching: a header name split across two reads is still found.
_SEARCH_TAIL = len(b"content-length:") + 8


@dataclass(frozen=True, slots=True)
class Body:
    """One message's body, as many bytes as its ``Content-Length`` said."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Fault:
    """Bytes that were not a frame; the decoder has skipped to the next header."""

    reason: str


Event = Body | Fault


class Decoder:
    """Frames from a byte stream, fed in pieces of any size."""

    def __init__(self, max_body_bytes: int = MAX_BODY_BYTES,
                 max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self._buffer = bytearray()
        self._body_length: int | None = None  # reading a body of this many bytes
        self._searching = False  # skipping to the next Content-Length header
        self._header_bytes = b""  # the header section of the body being read or last read

    @property
    def pending(self) -> bool:
        """Whether part of a message is buffered (the I/O side times its silence)."""
        return bool(self._buffer) or self._body_length is not None

    def feed(self, data: bytes) -> None:
        """Add ``data`` to what was fed before; :meth:`next` reads the frames it completes."""
        self._buffer += data

    def next(self) -> Event | None:
        """The next frame or fault, ``None`` until more bytes come. One at a time: a body that
        was no message is handed back (:meth:`resync`) before the bytes after it are read."""
        return self._step()

    def resync(self, body: bytes) -> None:
        """``body``, the last one read, was no message: its length was wrong, so its header may
        have swallowed the next frame's header, and its body the next frame. Search again from
        the second byte of its header."""
        self._buffer[:0] = self._header_bytes[1:] + body
        self._header_bytes = b""
        self._body_length = None
        self._searching = True

    def stalled(self) -> Event | None:
        """Nothing more arrived: a body cut short is handed over as it is (its length may have
        been too large), a partial header is dropped."""
        data, length = bytes(self._buffer), self._body_length
        self._buffer.clear()
        self._body_length = None
        searching, self._searching = self._searching, False
        if length is not None:
            return Body(data)
        if data and not searching:
            return Fault("an incomplete header section, then nothing")
        return None

    def _step(self) -> Event | None:
        if self._body_length is not None:
            return self._body()
        if self._searching:
            return self._search()
        return self._header()

    def _body(self) -> Event | None:
        length = self._body_length
        assert length is not None
        if len(self._buffer) < length:
            return None
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._body_length = None
        return Body(data)

    def _search(self) -> Event | None:
        found = _CONTENT_LENGTH.search(self._buffer)
        if found is None:
            del self._buffer[:max(0, len(self._buffer) - _SEARCH_TAIL)]
            return None
        del self._buffer[:found.start()]
        self._searching = False
        return self._header()

    def _header(self) -> Event | None:
        # Line breaks between frames (a peer that ends its bodies with one) are not a fault.
        while self._buffer[:1] in (bytearray(b"\r"), bytearray(b"\n")):
            del self._buffer[:1]
        end = _HEADER_END.search(self._buffer, 0, self.max_header_bytes + 4)
        if end is None:
            if len(self._buffer) > self.max_header_bytes:
                return self._fault(f"no end of headers within {self.max_header_bytes} bytes")
            if not _HEADER_PREFIX.fullmatch(self._buffer):
                return self._fault("bytes that are not a header where a header must start")
            return None
        section = bytes(self._buffer[:end.start()])
        length, problem = _content_length(section, self.max_body_bytes)
        if length is None:
            return self._fault(problem)
        self._header_bytes = bytes(self._buffer[:end.end()])
        del self._buffer[:end.end()]
        self._body_length = length
        return self._body()

    def _fault(self, reason: str) -> Fault:
        del self._buffer[:1]
        self._searching = True
        return Fault(reason)


def _content_length(section: bytes, max_body_bytes: int) -> tuple[int | None, str]:
    """The body length a header section announces, or ``None`` and what is wrong with it."""
    if len(_CONTENT_LENGTH.findall(section)) > 1:
        return None, "two Content-Length headers (one cut short?)"
    length: int | None = None
    for line in section.replace(b"\r\n", b"\n").split(b"\n"):
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            return None, "a header line that is not 'Name: value'"
        name, value = match.group(1).lower(), match.group(2)
        if name == b"content-length":
            if not value.isdigit() or len(value) > 12:
                return None, "Content-Length is not a number of bytes"
            length = int(value)
        elif name == b"content-type":
            charset = _CHARSET.search(value.decode("latin-1"))
            if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
                return None, f"charset {charset.group(1)!r}: only UTF-8 is read"
    if length is None:
        return None, "a header section without Content-Length"
    if length > max_body_bytes:
        return None, f"a body of {length} bytes, over the limit of {max_body_bytes}"
    return length, ""


def header_at(data: bytes) -> int:
    """Where the first ``Content-Length`` header in ``data`` starts (its length if none): what
    comes before it is one message's, what comes after belongs to later frames."""
    found = _CONTENT_LENGTH.search(data)
    return len(data) if found is None else found.start()


def frame(body: bytes) -> bytes:
    """``body`` with the header that announces it."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
