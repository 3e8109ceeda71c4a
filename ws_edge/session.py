"""One plugin session at the edge, without I/O: frames in, frames and Kafka records out.

The edge validates everything before it enters Kafka: frame type and size, JSON shape, message
order (hello first), document existence and versions. It keeps its own copy of each open
document for that, and so that a worker that lost state can be sent a snapshot (the
``DocSnapshot`` record; the resync exchange itself is not built yet). A refused frame yields an
:class:`ErrorFrame` (and, for a ``complete``, its ``end``) and changes nothing; the session goes on.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from schemas.codec import parse_json
from schemas.errors import FrameError, ProtocolError, StateError
from schemas.socket import (
    PROTOCOL_VERSION,
    Cancel,
    ClientMessage,
    CompletionEnd,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocClose,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    ServerMessage,
    Welcome,
    read_client_frame,
)
from schemas.topics import DocSnapshot, EditorBody, EditorEvent, FeedbackEvent, SessionEnd
from streams.document import DocumentSet

#: How many recent request ids a session remembers to attach a language to their feedback.
REMEMBERED_REQUESTS = 256


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record the edge must produce: to the editor-events or the feedback topic."""

    topic: Literal["editor", "feedback"]
    key: str
    value: EditorEvent | FeedbackEvent


@dataclass(frozen=True)
class EdgeLimits:
    max_frame_bytes: int
    max_documents: int
    max_document_chars: int


class EdgeSession:
    """State of one socket: who it is, its documents, its recent requests."""

    def __init__(self, session_id: str, reply_partition: int, limits: EdgeLimits) -> None:
        self.session_id = session_id
        self.reply_partition = reply_partition
        self.hello: Hello | None = None
        self._limits = limits
        self.docs = DocumentSet(limits.max_documents, limits.max_document_chars)
        self._requests: OrderedDict[str, str] = OrderedDict()

    def receive(self, frame: bytes | str, now_ms: int) -> tuple[list[ServerMessage],
                                                                list[OutRecord]]:
        """Handle one frame: replies to the client and records to produce."""
        try:
            return self._receive(frame, now_ms)
        except ProtocolError as error:
            kind, request_id = _identify(frame)
            replies: list[ServerMessage] = [ErrorFrame(code=error.code, message=error.message,
                                                       field=error.field, request_id=request_id)]
            if kind == "complete" and request_id is not None:
                # A refused request still ends, so a client waiting for its end is not left hanging.
                replies.append(CompletionEnd(request_id, "error", 0, detail=error.code))
            return replies, []

    def snapshot(self, uri: str, now_ms: int) -> OutRecord | None:
        """A worker lost ``uri``: its current text, or a close if the editor closed it since."""
        if self.hello is None:
            return None
        doc = self.docs.get(uri)
        if doc is None:
            return self._editor(DocClose(uri), now_ms)
        return self._editor(DocSnapshot(doc.uri, doc.language_id, doc.version, doc.text), now_ms)

    def end(self, now_ms: int) -> list[OutRecord]:
        """The socket closed: tell the workers to drop this session's state."""
        if self.hello is None:
            return []
        return [self._editor(SessionEnd(), now_ms)]

    def _receive(self, frame: bytes | str, now_ms: int) -> tuple[list[ServerMessage],
                                                                 list[OutRecord]]:
        if isinstance(frame, bytes):
            raise FrameError("binary_frame", "binary frames are not accepted; send JSON as text")
        size = len(frame.encode("utf-8")) if len(frame) * 4 > self._limits.max_frame_bytes else 0
        if size > self._limits.max_frame_bytes:
            raise FrameError("frame_too_large",
                             f"frame has {size} bytes; the limit is {self._limits.max_frame_bytes}")
        message = read_client_frame(frame)
        if self.hello is None:
            if not isinstance(message, Hello):
                raise StateError("hello_required",
                                 f"the first message must be hello, got {message.type}", "type")
            self.hello = message
            return [Welcome(self.session_id, PROTOCOL_VERSION, self._limits.max_frame_bytes)], []
        return [], self._dispatch(message, now_ms)

    def _dispatch(self, message: ClientMessage, now_ms: int) -> list[OutRecord]:
        docs = self.docs
        if isinstance(message, Hello):
            raise StateError("duplicate_hello", "hello was already received on this session",
                             "type")
        if isinstance(message, DocOpen):
            docs.open(message.uri, message.language_id, message.version, message.text)
        elif isinstance(message, DocChange):
            docs.change(message.uri, message.version, message.changes)
        elif isinstance(message, DocClose):
            docs.close(message.uri)
        elif isinstance(message, CursorMove):
            doc = docs.require(message.uri)
            if message.offset > len(doc.text):
                raise StateError("offset_out_of_range",
                                 f"offset {message.offset} is past the document's length "
                                 f"{len(doc.text)}", "offset")
        elif isinstance(message, CompletionRequest):
            if message.request_id in self._requests:
                raise StateError("duplicate_request_id",
                                 "this request_id was already used on this session; use a new one",
                                 "request_id")
            doc = docs.check_position(message.uri, message.version, message.offset)
            self._remember(message.request_id, doc.language_id)
        elif isinstance(message, Feedback):
            return [self._feedback(message, now_ms)]
        elif not isinstance(message, Cancel):  # pragma: no cover - the union is exhaustive
            raise AssertionError(message)
        return [self._editor(message, now_ms)]

    def _remember(self, request_id: str, language_id: str) -> None:
        self._requests[request_id] = language_id
        self._requests.move_to_end(request_id)
        while len(self._requests) > REMEMBERED_REQUESTS:
            self._requests.popitem(last=False)

    def _editor(self, body: EditorBody, now_ms: int) -> OutRecord:
        hello = self.hello
        assert hello is not None
        return OutRecord("editor", self.session_id, EditorEvent(
            event_id=uuid.uuid4().hex, session_id=self.session_id,
            reply_partition=self.reply_partition, tenant_id=hello.tenant_id,
            user_id=hello.user_id, plan=hello.plan, received_ms=now_ms, body=body,
        ))

    def _feedback(self, message: Feedback, now_ms: int) -> OutRecord:
        hello = self.hello
        assert hello is not None
        if message.kind == "partial" and message.accepted_chars is None:
            raise StateError("missing_field", "partial feedback needs accepted_chars",
                             "accepted_chars")
        return OutRecord("feedback", hello.user_id, FeedbackEvent(
            event_id=message.event_id, session_id=self.session_id, tenant_id=hello.tenant_id,
            user_id=hello.user_id, plan=hello.plan, request_id=message.request_id,
            kind=message.kind, received_ms=now_ms,
            language_id=self._requests.get(message.request_id),
            accepted_chars=message.accepted_chars, latency_ms=message.latency_ms,
        ))


def _identify(frame: bytes | str) -> tuple[str | None, str | None]:
    """Best-effort type and request id of a refused frame, so the client can match the error."""
    if isinstance(frame, bytes) or '"request_id"' not in frame:
        return None, None
    try:
        value = parse_json(frame)
    except ProtocolError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    kind, found = value.get("type"), value.get("request_id")
    request_id = found if isinstance(found, str) and 0 < len(found) <= 64 else None
    return (kind if isinstance(kind, str) else None), request_id
