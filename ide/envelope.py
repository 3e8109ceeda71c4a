"""JSON-RPC 2.0 envelopes as LSP uses them: what a body is, and the error each bad one gets.

Pure. A body is a request (``id`` and ``method``), a notification (``method`` only) or a response
to a request of ours (``id`` and ``result`` or ``error``); anything else is refused with the code
the JSON-RPC specification gives (``-32700`` for what is not JSON, ``-32600`` for what is not a
message), and with the request's ``id`` whenever one can be found, even in a body that did not
parse, so that a client waiting on it is answered rather than left hanging. Which methods the
session's state admits is :mod:`ide.lifecycle`'s matter; whether the params fit the method is
checked where the method's types are known.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ide.framing import header_at

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002

MsgId = int | str
#: An ``"id"`` member near the start of a body that did not parse (best effort, for the reply).
_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,15}(?![\d.eE])|"(?:[^"\\\n]|\\.){0,200}")')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class Message:
    """A well-formed message; ``data`` is the whole parsed object."""

    kind: Literal["request", "notification", "response"]
    data: dict[str, Any]
    method: str = ""
    id: MsgId | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The error response a body gets (``reply`` False: a notification, which gets none)."""

    code: int
    message: str
    id: MsgId | None = None
    reply: bool = True

    def response(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.id,
                "error": {"code": self.code, "message": self.message}}


def read(body: bytes) -> Message | Refusal:
    """Parse and classify one body; an id for a body that is not JSON is looked for only before
    any ``Content-Length`` in it (past that, the bytes are a later frame's)."""
    try:
        data = json.loads(body.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(body):  # a lone one cannot be sent on as UTF-8
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as error:
        problem = "not UTF-8" if isinstance(error, UnicodeError) else "not JSON"
        return Refusal(PARSE_ERROR, f"the message body is {problem}",
                       salvage_id(body[:header_at(body)]))
    return classify(data)


def classify(data: object) -> Message | Refusal:
    """A parsed body as a message, or why it is none."""
    if isinstance(data, list):
        return Refusal(INVALID_REQUEST, "batches are not part of LSP: send one message per frame")
    if not isinstance(data, dict):
        return Refusal(INVALID_REQUEST, f"a message is a JSON object, not {_json_type(data)}")
    raw_id = data.get("id")
    msg_id = raw_id if _is_id(raw_id) else None
    if "id" in data and msg_id is None and raw_id is not None:
        return Refusal(INVALID_REQUEST, "id must be an integer or a string")
    if data.get("jsonrpc") != "2.0":
        return Refusal(INVALID_REQUEST, 'jsonrpc must be "2.0"', msg_id)
    method = data.get("method")
    if "method" in data:
        is_request = "id" in data
        if not isinstance(method, str):
            return Refusal(INVALID_REQUEST, "method must be a string", msg_id, is_request)
        params = data.get("params")
        if params is not None and not isinstance(params, dict | list):
            return Refusal(INVALID_PARAMS, "params must be an object or an array", msg_id,
                           is_request)
        if is_request:
            if msg_id is None:
                return Refusal(INVALID_REQUEST, "a request's id must be an integer or a string")
            return Message("request", data, method, msg_id)
        return Message("notification", data, method)
    if msg_id is not None and ("result" in data or "error" in data):
        return Message("response", data, id=msg_id)
    return Refusal(INVALID_REQUEST, "neither a request (method) nor a response (result, error)",
                   msg_id)


def salvage_id(body: bytes) -> MsgId | None:
    """The ``id`` a body that is not JSON seems to carry (a client waits on that id)."""
    found = _ID.search(body, 0, 4096)
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return value if _is_id(value) else None


def _is_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"
