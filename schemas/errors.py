"""Errors raised while reading a message: machine-readable code, human message, offending field.

::

    ProtocolError            any message we refuse; carries ``code``, ``message``, ``field``
    ├── FrameError           the frame itself (binary, too large, not JSON)
    ├── ValidationError      a field has the wrong type, range or is missing/unknown
    └── StateError           valid shape, wrong moment (no hello yet, unknown document, old version)
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A message we refuse. ``field`` is a dotted path into the message (``changes.0.start``)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.code = code
        self.message = message
        self.field = field


class FrameError(ProtocolError):
    """The frame cannot be read as a message at all."""


class ValidationError(ProtocolError):
    """The message does not match its schema."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid_field") -> None:
        super().__init__(code, message, field)


class StateError(ProtocolError):
    """The message is well formed but does not fit the session's or document's state."""
