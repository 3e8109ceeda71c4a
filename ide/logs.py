"""The language server's log (stderr, what an editor's LSP log shows): never code, at any level.

Our own lines name codes, counts and URIs only. The libraries need holding: websockets logs
the handshake's headers (the API key) and every frame at DEBUG; pygls logs whole messages
(documents, suggestions) at INFO and DEBUG, and the params of a failed request, with their
traceback, at ERROR. pygls is held at WARNING, and what it still logs goes out with its
arguments reduced to numbers and short names and without exception text.
"""

from __future__ import annotations

import logging
import os

from pygls.exceptions import JsonRpcException

#: A string argument longer than this, or with white space, may be code: its type is logged.
NAME_CHARS = 64


class _AnsweredErrors(logging.Filter):
    """pygls logs a traceback for every error a handler answers with; those are answers, not
    bugs, and the handlers log their own one line where it helps (a failed task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], JsonRpcException))


class _NoContent(logging.Filter):
    """A pygls record reduced to what cannot be code: method names, ids, numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("pygls"):
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(arg) for arg in record.args)
        elif record.args:
            record.args = ()
            record.msg = str(record.msg).split("%", 1)[0] + "(arguments omitted)"
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} [{type(record.exc_info[1]).__name__}]"
        record.exc_info = None
        record.exc_text = None
        return True


def _safe(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str) and len(value) <= NAME_CHARS and not any(c.isspace() for c in value):
        return value
    return f"<{type(value).__name__}>"


def configure() -> None:
    """Log to stderr at ``CODE_ASSISTANT_LOG`` (default warning), never code."""
    level = os.environ.get("CODE_ASSISTANT_LOG", "warning").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "WARNING",
                        format="%(asctime)s %(name)s %(message)s")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(_NoContent())
    logging.getLogger("websockets").setLevel(max(logging.INFO, root.level))
    logging.getLogger("pygls").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_AnsweredErrors())
