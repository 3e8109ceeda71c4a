"""The root of every error our code raises on purpose, and the errors of reading a message.

Each package's errors derive from :class:`AssistantError` (and keep the builtin they always were,
so ``except ValueError`` still works); the served models in ``model/repository`` import nothing
of ours and keep their own. The tree::

    AssistantError
    ├── ProtocolError            a message we refuse: ``code``, ``message``, ``field``
    │   ├── FrameError           the frame itself (binary, too large, not JSON)
    │   ├── ValidationError      a field has the wrong type, range or is missing/unknown
    │   └── StateError           valid shape, wrong moment (no hello yet, unknown document, ...)
    ├── SettingsError            config: a setting's value (names the variable)
    ├── DirectoryError           tenants: the tenants file
    ├── SealError, SessionKeyError, TopicConfigError    streams: sealing, keys, topics
    ├── InferenceError           workers: the model server failed or answered badly
    ├── QueryError               analytics: an analyst's query
    ├── LinterMissing, LinterError, RuffError, BadRequest    tasks: an analyzer, a request
    ├── CompilerMissing, CompilerFailed                  tasks: a compiler as analyzer
    ├── InstallError, ComponentError                     infra: installing, starting
    └── DocumentError, OptionsError, PositionError, EdgeUnavailable   ide: the language server
"""

from __future__ import annotations


class AssistantError(Exception):
    """Any error this project raises on purpose; the message says what failed and what to do."""


class ProtocolError(AssistantError):
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
