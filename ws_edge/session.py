"""One plugin session at the edge, without I/O: frames in, frames and Kafka records out.

The edge validates everything before it enters Kafka: frame type and size, JSON shape, message
order (hello first), document existence and versions, the session's and its tenant's message
rates. It keeps its own copy of each open document for that, and so that a worker that lost
state can be sent a snapshot. A refused frame yields an :class:`ErrorFrame` (and, for a
``complete``, its ``end``) and changes nothing; the session goes on.

Who the session acts for is the :class:`~tenants.directory.Principal` of its API key, fixed at the
handshake: no frame can name another user or tenant. Text leaves the edge with secrets masked
(same length, so offsets hold), and documents the tenant excludes never leave it at all.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from documents.document import DocumentSet
from documents.redaction import control_characters, redact
from schemas.capabilities import LANGUAGE_TASKS
from schemas.codec import parse_json
from schemas.editors import Editor, editor_of
from schemas.errors import FrameError, ProtocolError, StateError, ValidationError
from schemas.socket import (
    PROTOCOL_VERSION,
    TASK_KINDS,
    Cancel,
    ClientMessage,
    CompletionEnd,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocClose,
    DocOpen,
    EditResult,
    EditSuggestion,
    EndReason,
    ErrorFrame,
    Feedback,
    FeedbackKind,
    FindingResult,
    Hello,
    Notice,
    ServerMessage,
    SlowDown,
    SuggestionFeedback,
    TaskRequest,
    TextEdit,
    TokenChunk,
    Welcome,
    read_client_frame,
)
from schemas.topics import (
    CompletionEvent,
    DocSnapshot,
    EditorBody,
    EditorEvent,
    FeedbackEvent,
    RequestKind,
    SessionEnd,
    SuggestionEvent,
)
from tenants.directory import Principal
from ws_edge.ratelimit import TokenBucket, UserBudget

#: How many recent request ids a session remembers: feedback must name one of them (a session
#: can only give feedback on its own completions) and gets its language from it.
REMEMBERED_REQUESTS = 1024
#: Next-edit suggestions a session remembers (open or finished): feedback must name one of them.
REMEMBERED_SUGGESTIONS = 256
#: What ends a suggestion (``shown`` does not).
TERMINAL_FEEDBACK = frozenset({"accepted", "partial", "rejected", "dismissed"})
#: Refused frames a client may run up before the edge closes it as a flood; the allowance comes
#: back at ``FLOOD_FORGIVEN_PER_S``. Accepted frames in between do not reset it: a flooder the edge
#: cannot read fast enough has refusals and acceptances interleaved, and is still a flood. Only
#: what the client alone causes is charged: frames past the session's own rate and frames that do
#: not decode. The tenant's shared rate (other sessions' doing) and state errors such as
#: ``document_stale`` after a dropped change are not.
FLOOD_REFUSALS = 200
FLOOD_FORGIVEN_PER_S = 10


class _OverOwnRate(StateError):
    """A frame past the user's own rate: the client's doing, so charged to its flood budget
    (the same ``rate_limited`` error as the tenant's rate, to the client)."""


class _OverOwnBytes(_OverOwnRate):
    """A frame past the user's byte budget, refused before it is parsed (it is not parsed to
    name its request or document either)."""


#: A client told to slow down hears again at most this often, and hears it lifted once it has
#: kept to its rate this long.
SLOW_DOWN_REPEAT_MS = 1000


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record the edge must produce: to the editor-events, feedback or completion-events
    topic (the last for requests the edge refused, which no worker sees: analytics count every
    request), or what became of a next-edit suggestion to quality-events."""

    topic: Literal["editor", "feedback", "completions", "quality"]
    key: str
    value: EditorEvent | FeedbackEvent | CompletionEvent | SuggestionEvent


@dataclass(frozen=True)
class EdgeLimits:
    max_frame_bytes: int
    max_documents: int
    max_document_chars: int
    #: Client frames per second per user, across its sessions (burst: one second's worth).
    messages_per_second: int = 200
    #: A request that gets no frame for this long (first frame, or the next chunk) is ended by
    #: the edge with ``error`` / ``no_answer``: a worker died or the broker lost it meanwhile.
    reply_deadline_ms: int = 5000
    #: Bytes of client frames per second per user, across its sessions (near-limit documents
    #: are the costliest frames to take apart).
    user_bytes_per_second: int = 2 * 1024 * 1024
    #: The interval a ``slow_down`` asks of a client past its user's rate.
    slow_down_interval_ms: int = 400


#: Ended request ids a session remembers: a frame for one of them is not delivered (a request
#: ends exactly once, even when a worker that replays its records answers it again).
REMEMBERED_ENDED = 256


Replies = tuple[list[ServerMessage], list[OutRecord]]


class EdgeSession:
    """State of one socket: who it is, its documents, its recent requests."""

    def __init__(self, session_id: str, reply_partition: int, limits: EdgeLimits,
                 principal: Principal, tenant_bucket: TokenBucket, now_ms: int,
                 user: UserBudget | None = None) -> None:
        """``user``: the budget shared by the user's sessions on this edge (a budget of this
        session's own without one)."""
        self.session_id = session_id
        self.reply_partition = reply_partition
        self.principal = principal
        self.hello: Hello | None = None
        #: The editor family its hello names (``other`` until then).
        self.editor: Editor = "other"
        self._limits = limits
        self.docs = DocumentSet(limits.max_documents, limits.max_document_chars)
        #: The session's last requests: their language and what each asked for.
        self._requests: OrderedDict[str, tuple[str, RequestKind]] = OrderedDict()
        self._user = user or UserBudget.new(limits.messages_per_second,
                                            limits.user_bytes_per_second,
                                            limits.max_frame_bytes, now_ms)
        self._tenant_bucket = tenant_bucket
        #: When this session was last told to slow down (``None``: it is not slowed).
        self._slowed_at_ms: int | None = None
        #: Documents whose change was refused for rate: the edge's copy (and the workers') would
        #: silently drift from the editor's, so they take no edit until the client re-opens them.
        self._stale: set[str] = set()
        self._refusals = TokenBucket(FLOOD_FORGIVEN_PER_S, FLOOD_REFUSALS, now_ms)
        self._flooding = False
        #: Requests forwarded and not ended yet: (deadline for their next frame, chunks so far).
        self._waiting: dict[str, tuple[int, int]] = {}
        #: Requests that have ended (by a worker's end, or here for want of an answer).
        self._ended: OrderedDict[str, None] = OrderedDict()
        #: Next-edit suggestions delivered: id -> (the suggestion, whether it has ended).
        self._suggestions: OrderedDict[str, tuple[EditSuggestion, bool]] = OrderedDict()

    @property
    def flooding(self) -> bool:
        """The client keeps sending past every refusal: the server should close it."""
        return self._flooding

    def receive(self, frame: bytes | str, now_ms: int) -> Replies:
        """Handle one frame: replies to the client and records to produce."""
        try:
            replies, records = self._receive(frame, now_ms)
            if self._slowed_at_ms is not None and now_ms - self._slowed_at_ms >= SLOW_DOWN_REPEAT_MS:
                self._slowed_at_ms = None
                replies = [*replies, SlowDown(0, "recovered")]
            return replies, records
        except ProtocolError as error:
            charged = isinstance(error, FrameError | ValidationError | _OverOwnRate)
            if charged and not self._refusals.take(now_ms):
                self._flooding = True
            kind, request_id, uri, asked = ((None, None, None, "completion")
                                            if isinstance(error, _OverOwnBytes)
                                            else _identify(frame))
            replies = [ErrorFrame(code=error.code, message=error.message, field=error.field,
                                  request_id=request_id, uri=uri)]
            if isinstance(error, _OverOwnRate):
                if self._slowed_at_ms is None or now_ms - self._slowed_at_ms >= SLOW_DOWN_REPEAT_MS:
                    replies.append(SlowDown(self._limits.slow_down_interval_ms, "rate_limited"))
                self._slowed_at_ms = now_ms
            if kind in ("complete", "task") and request_id is not None \
                    and error.code != "duplicate_request_id" and request_id not in self._requests:
                # A refused request still ends, so a client waiting for its end is not left
                # hanging; one whose id is in use does not (whatever the refusal): the request
                # that owns it ends by itself, once, with its one analytics row.
                replies.append(CompletionEnd(request_id, "error", 0, detail=error.code))
                return replies, [self._unstarted(request_id, "error", now_ms, now_ms,
                                                 kind=asked)]
            return replies, []

    def snapshot(self, uri: str, now_ms: int) -> OutRecord | None:
        """A worker lost ``uri``: its current text, or a close if the editor closed it since."""
        if self.hello is None:
            return None
        doc = self.docs.get(uri)
        if doc is None or self.principal.tenant.excludes(uri) or uri in self._stale:
            return self._editor(DocClose(uri), now_ms)
        return self._editor(DocSnapshot(doc.uri, doc.language_id, doc.version, redact(doc.text)),
                            now_ms)

    def on_reply(self, frame: object, now_ms: int) -> object | None:
        """A frame from a worker for this session: what to deliver for it (``None``: nothing,
        its request has ended already). A request one of whose frames never came (its record
        was dropped as unreadable) ends here with ``error`` / ``reply_lost`` in place of the
        frame after the gap: a client never gets a stream with a hole in it, and nothing of the
        request after that end. Keeps the request's answer deadline up to date."""
        request_id = getattr(frame, "request_id", None)
        if request_id is None:
            return frame
        if request_id in self._ended:
            return None
        waiting = self._waiting.get(request_id)
        if isinstance(frame, CompletionEnd):
            self._waiting.pop(request_id, None)
            self._finish(request_id)
            if waiting is not None and frame.chunks > waiting[1]:
                return CompletionEnd(request_id, "error", waiting[1], detail="reply_lost")
        elif isinstance(frame, TokenChunk | EditResult | FindingResult) and waiting is not None:
            if frame.seq != waiting[1]:
                if frame.seq < waiting[1]:
                    return None  # sent again (a worker replaying its records): delivered once
                self._waiting.pop(request_id)
                self._finish(request_id)
                return CompletionEnd(request_id, "error", waiting[1], detail="reply_lost")
            self._waiting[request_id] = (now_ms + self._limits.reply_deadline_ms,
                                         waiting[1] + 1)
        return frame

    def on_suggestion(self, frame: EditSuggestion, now_ms: int) -> tuple[bool, list[OutRecord]]:
        """A next-edit suggestion from a worker: whether to deliver it (only to a session that
        opted in, and only while this edge's copy of the document is at its version: a client
        that has typed on must never get one for an older text), and the records of the
        suggestion it replaces, which ends ``dismissed`` unless the client ended it."""
        if self.hello is None or not self.hello.edit_suggestions:
            return False, []
        doc = self.docs.get(frame.uri)
        if (doc is None or doc.version != frame.version or frame.uri in self._stale
                or frame.suggestion_id in self._suggestions):
            # Gone, typed past, or a change was refused here (the client is ahead of this copy).
            return False, []
        records = self._dismiss_open(frame.uri, now_ms)
        self._suggestions[frame.suggestion_id] = (frame, False)
        while len(self._suggestions) > REMEMBERED_SUGGESTIONS:
            old, ended = self._suggestions.popitem(last=False)[1]
            if not ended:
                records.append(self._suggestion_event(old, "dismissed", None, now_ms))
        return True, records

    def _dismiss_open(self, uri: str | None, now_ms: int) -> list[OutRecord]:
        """End the open suggestions of ``uri`` (every document's when ``None``) as dismissed."""
        records = []
        for suggestion_id, (suggestion, ended) in self._suggestions.items():
            if not ended and (uri is None or suggestion.uri == uri):
                records.append(self._suggestion_event(suggestion, "dismissed", None, now_ms))
                self._suggestions[suggestion_id] = (suggestion, True)
        return records

    def _suggestion_feedback(self, message: SuggestionFeedback, now_ms: int) -> OutRecord:
        known = self._suggestions.get(message.suggestion_id)
        if known is None:
            raise StateError("unknown_suggestion", "feedback must name an edit_suggestion this "
                             f"session received (one of its last {REMEMBERED_SUGGESTIONS})",
                             "suggestion_id")
        suggestion, ended = known
        if ended:
            raise StateError("suggestion_finished", "this suggestion has ended already (the "
                             "client ended it, or a newer one for its document replaced it)",
                             "suggestion_id")
        if message.kind == "partial" and message.accepted_changes is None:
            raise StateError("missing_field", "partial feedback needs accepted_changes",
                             "accepted_changes")
        if message.kind in TERMINAL_FEEDBACK:
            self._suggestions[message.suggestion_id] = (suggestion, True)
        return self._suggestion_event(suggestion, message.kind, message.accepted_changes, now_ms,
                                      message.event_id)

    def _suggestion_event(self, suggestion: EditSuggestion, kind: FeedbackKind,
                          accepted_changes: int | None, now_ms: int,
                          event_id: str | None = None) -> OutRecord:
        principal = self.principal
        doc = self.docs.get(suggestion.uri)
        return OutRecord("quality", f"{principal.tenant_id}/{principal.user_id}", SuggestionEvent(
            event_id=event_id or uuid.uuid4().hex, session_id=self.session_id,
            tenant_id=principal.tenant_id, user_id=principal.user_id, plan=principal.tenant.plan,
            suggestion_id=suggestion.suggestion_id, rule=suggestion.rule,
            language_id=doc.language_id if doc is not None else "", kind=kind,
            changes=len(suggestion.changes), accepted_changes=accepted_changes,
            received_ms=now_ms))

    def overdue(self, now_ms: int) -> list[CompletionEnd]:
        """Ends for requests with no frame within the deadline: the client hears, never
        silence. No analytics event here: the request is on the broker, and the worker that
        consumes it (after a crash, the one the replay reaches) reports it; a second report
        from here could land after the usage stream restarted and be counted twice."""
        late = [rid for rid, (deadline, _) in self._waiting.items() if deadline <= now_ms]
        ends = []
        for request_id in late:
            _, chunks = self._waiting.pop(request_id)
            self._finish(request_id)
            ends.append(CompletionEnd(request_id, "error", chunks, detail="no_answer"))
        return ends

    def _finish(self, request_id: str) -> None:
        self._ended[request_id] = None
        while len(self._ended) > REMEMBERED_ENDED:
            self._ended.popitem(last=False)

    def end(self, now_ms: int) -> list[OutRecord]:
        """The socket closed: tell the workers to drop this session's state; its open
        suggestions end dismissed."""
        if self.hello is None:
            return []
        return [*self._dismiss_open(None, now_ms), self._editor(SessionEnd(), now_ms)]

    def _receive(self, frame: bytes | str, now_ms: int) -> Replies:
        if isinstance(frame, bytes):
            raise FrameError("binary_frame", "binary frames are not accepted; send JSON as text")
        size = len(frame.encode("utf-8")) if len(frame) * 4 > self._limits.max_frame_bytes else 0
        if size > self._limits.max_frame_bytes:
            raise FrameError("frame_too_large",
                             f"frame has {size} bytes; the limit is {self._limits.max_frame_bytes}")
        if not self._user.bytes.take(now_ms, len(frame)):
            if '"doc_change"' in frame:  # which document is not known without parsing it
                self._stale.update(doc.uri for doc in self.docs.all())
            raise _OverOwnBytes("rate_limited",
                                f"more than {self._limits.user_bytes_per_second} bytes per second "
                                "from this user; this frame was dropped; re-open with doc_open "
                                "the documents it edited", "type")
        message = read_client_frame(frame)
        over_own_rate = not self._user.frames.take(now_ms)
        if over_own_rate or not self._tenant_bucket.take(now_ms):
            if isinstance(message, DocChange):
                self._stale.add(message.uri)
            raise (_OverOwnRate if over_own_rate else StateError)("rate_limited",
                             f"more than {self._limits.messages_per_second} frames per second "
                             "(this user, all its sessions) or over the tenant's rate; this frame "
                             "was dropped" + ("; re-open the document with doc_open"
                                              if isinstance(message, DocChange) else ""), "type")
        if self.hello is None:
            if not isinstance(message, Hello):
                raise StateError("hello_required",
                                 f"the first message must be hello, got {message.type}", "type")
            self.hello = message
            self.editor = editor_of(message.client)
            principal = self.principal
            return [Welcome(self.session_id, PROTOCOL_VERSION, self._limits.max_frame_bytes,
                            principal.tenant_id, principal.user_id, principal.tenant.plan,
                            self._limits.messages_per_second,
                            LANGUAGE_TASKS if message.capabilities else ())], []
        return self._dispatch(message, now_ms)

    def _dispatch(self, message: ClientMessage, now_ms: int) -> Replies:
        docs = self.docs
        tenant = self.principal.tenant
        notices: list[ServerMessage] = []
        if isinstance(message, Hello):
            raise StateError("duplicate_hello", "hello was already received on this session",
                             "type")
        if isinstance(message, DocOpen):
            docs.open(message.uri, message.language_id, message.version, message.text)
            self._stale.discard(message.uri)
            if tenant.excludes(message.uri):
                return [Notice("excluded", "this document matches the tenant's content "
                               "exclusion: it is never sent to the model, and completions in it "
                               "end with reason 'excluded'", message.uri)], []
            notices = _flag_controls(message.uri, (message.text,))
            message = DocOpen(message.uri, message.language_id, message.version,
                              redact(message.text))
        elif isinstance(message, DocChange):
            if message.uri in self._stale:
                raise StateError("document_stale", "an earlier change to this document was "
                                 "dropped; re-open it with doc_open", "uri")
            try:
                docs.change(message.uri, message.version, message.changes)
            except StateError as error:
                if error.code != "unknown_document":
                    # The editor applied the change and we did not: our copy would drift.
                    self._stale.add(message.uri)
                    raise StateError(error.code, f"{error.message}; re-open the document with "
                                     "doc_open", error.field) from error
                raise
            if tenant.excludes(message.uri):
                return [], []
            notices = _flag_controls(message.uri, (edit.text for edit in message.changes))
            message = DocChange(message.uri, message.version, tuple(
                TextEdit(edit.start, edit.end, redact(edit.text)) for edit in message.changes))
        elif isinstance(message, DocClose):
            dismissed = self._dismiss_open(message.uri, now_ms)  # while its language is known
            docs.close(message.uri)
            self._stale.discard(message.uri)
            if tenant.excludes(message.uri):
                return [], dismissed
            return [], [*dismissed, self._editor(message, now_ms)]
        elif isinstance(message, CursorMove):
            doc = docs.require(message.uri)
            if message.offset > len(doc.text):
                raise StateError("offset_out_of_range",
                                 f"offset {message.offset} is past the document's length "
                                 f"{len(doc.text)}", "offset")
            if tenant.excludes(message.uri):
                return [], []
        elif isinstance(message, CompletionRequest | TaskRequest):
            if message.request_id in self._requests:
                raise StateError("duplicate_request_id",
                                 "this request_id was already used on this session; use a new one",
                                 "request_id")
            if message.uri in self._stale:
                raise StateError("document_stale", "an earlier change to this document was "
                                 "dropped; re-open it with doc_open", "uri")
            if isinstance(message, TaskRequest) and message.start > message.end:
                raise StateError("invalid_range", f"start {message.start} is after end "
                                 f"{message.end}", "start")
            if isinstance(message, CompletionRequest):
                doc = docs.check_position(message.uri, message.version, message.offset)
            else:
                doc = docs.check_position(message.uri, message.version, message.end, "end")
            self._remember(message.request_id, doc.language_id,
                           message.kind if isinstance(message, TaskRequest) else "completion")
            if tenant.excludes(message.uri):
                return [CompletionEnd(message.request_id, "excluded", 0,
                                      detail="content_exclusion")], [
                    self._unstarted(message.request_id, "excluded", now_ms, now_ms,
                                    doc.language_id, message.kind
                                    if isinstance(message, TaskRequest) else "completion")]
            self._waiting[message.request_id] = (now_ms + self._limits.reply_deadline_ms, 0)
        elif isinstance(message, Feedback):
            feedback = self._feedback(message, now_ms)
            if message.kind in ("accepted", "partial"):
                # Also to the session's worker, in order with the edits: it measures how much
                # of the accepted text stays in the document.
                return [], [feedback, self._editor(message, now_ms)]
            return [], [feedback]
        elif isinstance(message, SuggestionFeedback):
            return [], [self._suggestion_feedback(message, now_ms)]
        elif not isinstance(message, Cancel):  # pragma: no cover - the union is exhaustive
            raise AssertionError(message)
        return notices, [self._editor(message, now_ms)]

    def _remember(self, request_id: str, language_id: str, kind: RequestKind) -> None:
        self._requests[request_id] = (language_id, kind)
        self._requests.move_to_end(request_id)
        while len(self._requests) > REMEMBERED_REQUESTS:
            self._requests.popitem(last=False)

    def _editor(self, body: EditorBody, now_ms: int) -> OutRecord:
        principal = self.principal
        return OutRecord("editor", self.session_id, EditorEvent(
            event_id=uuid.uuid4().hex, session_id=self.session_id,
            reply_partition=self.reply_partition, tenant_id=principal.tenant_id,
            user_id=principal.user_id, plan=principal.tenant.plan,
            daily_limit=principal.tenant.daily_limit(), received_ms=now_ms, body=body,
            edit_suggestions=self.hello is not None and self.hello.edit_suggestions,
            editor=self.editor,
        ))

    def _unstarted(self, request_id: str, reason: EndReason, now_ms: int, received_ms: int,
                   language_id: str = "", kind: RequestKind = "completion") -> OutRecord:
        principal = self.principal
        return OutRecord("completions", f"{principal.tenant_id}/{principal.user_id}",
                         CompletionEvent.unstarted(
                             self.session_id, principal.tenant_id, principal.user_id,
                             principal.tenant.plan, request_id, reason, received_ms, now_ms,
                             language_id, kind, self.editor))

    def _feedback(self, message: Feedback, now_ms: int) -> OutRecord:
        principal = self.principal
        if message.kind == "partial" and message.accepted_chars is None:
            raise StateError("missing_field", "partial feedback needs accepted_chars",
                             "accepted_chars")
        remembered = self._requests.get(message.request_id)
        if remembered is None:
            raise StateError("unknown_request", "feedback must name a request of this session "
                             f"(one of its last {REMEMBERED_REQUESTS})", "request_id")
        return OutRecord("feedback", f"{principal.tenant_id}/{principal.user_id}", FeedbackEvent(
            event_id=message.event_id, session_id=self.session_id,
            tenant_id=principal.tenant_id, user_id=principal.user_id, plan=principal.tenant.plan,
            request_id=message.request_id, kind=message.kind, received_ms=now_ms,
            language_id=remembered[0], accepted_chars=message.accepted_chars,
            latency_ms=message.latency_ms, editor=self.editor, request_kind=remembered[1],
        ))


def _flag_controls(uri: str, texts: Iterable[str]) -> list[ServerMessage]:
    if not any(next(control_characters(text), None) is not None for text in texts):
        return []
    return [Notice("bidi_control", "the text holds invisible or bidirectional control characters "
                   "(U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF): the code may read "
                   "differently from how it runs", uri)]


def _identify(frame: bytes | str
              ) -> tuple[str | None, str | None, str | None, RequestKind]:
    """Best-effort type, request id and document of a refused frame, so the client can match
    the error to what it sent; and what the request asked for (for its analytics row)."""
    if isinstance(frame, bytes) or ('"request_id"' not in frame and '"uri"' not in frame):
        return None, None, None, "completion"
    try:
        value = parse_json(frame)
    except ProtocolError:
        return None, None, None, "completion"
    if not isinstance(value, dict):
        return None, None, None, "completion"
    kind, found, uri = value.get("type"), value.get("request_id"), value.get("uri")
    request_id = found if isinstance(found, str) and 0 < len(found) <= 64 else None
    task = value.get("kind")
    asked: RequestKind = task if kind == "task" and task in TASK_KINDS else "completion"
    return ((kind if isinstance(kind, str) else None), request_id,
            uri if isinstance(uri, str) and 0 < len(uri) <= 2048 else None, asked)
