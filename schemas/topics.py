"""Records on the Kafka topics (schema version 1). Every record is one orjson-encoded object.

- ``editor-events`` (key = session id, short retention: carries code): :class:`EditorEvent`
- ``completion-replies`` (partition = the edge holding the socket): :class:`Reply`
- ``feedback-events`` (key = tenant/user): :class:`FeedbackEvent` (no code text)
- ``completion-events`` (key = tenant/user): :class:`CompletionEvent` (no code text)
- ``quality-events`` (key = tenant/user): :class:`PersistenceEvent`, :class:`AuthorshipEvent`,
  :class:`SuggestionEvent`
- ``usage-records`` (key = ``record_id``, partition by tenant/user, compacted: an erasure's
  tombstones remove a user's records): :class:`UsageRecord` (no code text)

Consumers validate every record with :func:`read_record`; a bad record is reported and skipped,
never allowed to stop a worker.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from schemas.codec import decode_as, encode, limit, parse_json
from schemas.editors import Editor
from schemas.socket import (
    Cancel,
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
    Plan,
    TaskKind,
    TaskRequest,
    TokenChunk,
)

RECORD_VERSION = 1
_ID = limit(min_len=1, max_len=64)
_MS = limit(ge=0, le=2**42, doc="milliseconds since the Unix epoch")

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """The socket closed: workers drop the session's documents and in-flight requests."""

    type: Literal["session_end"] = "session_end"


@dataclass(frozen=True, slots=True)
class DocSnapshot:
    """The edge's full copy of a document, sent when a worker must rebuild its state."""

    uri: str
    language_id: str
    version: int = field(metadata=limit(ge=0))
    text: str
    type: Literal["doc_snapshot"] = "doc_snapshot"


EditorBody = (
    DocOpen | DocChange | DocClose | CursorMove | CompletionRequest | TaskRequest | Cancel
    | SessionEnd | DocSnapshot | Feedback
)


@dataclass(frozen=True, slots=True)
class EditorEvent:
    """One editor event of one session, as the edge received and validated it."""

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    #: Partition of the replies topic that the edge holding this session reads.
    reply_partition: int = field(metadata=limit(ge=0, le=4096))
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    #: Completions this user may start per UTC day (from the tenant's plan); ``None``: unlimited.
    daily_limit: int | None = field(metadata=limit(ge=0))
    received_ms: int = field(metadata=_MS)
    body: EditorBody
    #: The session opted in to next-edit suggestions at hello.
    edit_suggestions: bool = False
    #: The session's editor (``schemas.editors``, from hello), for analytics.
    editor: Editor = "other"
    v: Literal[1] = 1


@dataclass(frozen=True, slots=True)
class ResyncRequest:
    """Worker to edge: send a :class:`DocSnapshot` of ``uri`` (the worker lost or never had it)."""

    uri: str
    type: Literal["resync"] = "resync"


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Several frames of one request in one record (the edge delivers them one by one): a
    task's answer can be dozens of findings, and a completion's last chunk travels with its
    ``end``; one record each would load the worker, the broker and the edge."""

    frames: tuple[TokenChunk | EditResult | FindingResult | CompletionEnd, ...] = field(
        metadata=limit(min_len=1, max_len=256))
    type: Literal["batch"] = "batch"


ReplyFrame = (TokenChunk | EditResult | FindingResult | CompletionEnd | ErrorFrame | ResyncRequest
              | FrameBatch | EditSuggestion)


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Epoch milliseconds at each stage of one request, up to its first chunk (for the
    per-stage latency split; ``received_ms`` is on the edge's clock, the rest on the worker's)."""

    received_ms: int = field(metadata=_MS)
    consumed_ms: int = field(metadata=_MS)
    fired_ms: int = field(metadata=_MS)
    first_chunk_ms: int = field(metadata=_MS)
    produced_ms: int = field(metadata=_MS)


@dataclass(frozen=True, slots=True)
class Reply:
    """A frame for one session's socket, routed to the partition of the edge that holds it.
    The first chunk of a request carries its ``timing``."""

    session_id: str = field(metadata=_ID)
    frame: ReplyFrame
    timing: StageTimes | None = None
    v: Literal[1] = 1


#: What a request asked for: an inline completion or one of the tasks.
RequestKind = Literal["completion", TaskKind]


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """What a user did with a completion. Metadata only: no code text ever."""

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    request_id: str = field(metadata=_ID)
    kind: FeedbackKind
    received_ms: int = field(metadata=_MS)
    language_id: str | None = field(default=None, metadata=limit(max_len=64))
    accepted_chars: int | None = field(default=None, metadata=limit(ge=0, le=2**31))
    latency_ms: int | None = field(default=None, metadata=limit(ge=0, le=3_600_000))
    editor: Editor = "other"
    #: What the request the feedback is about asked for.
    request_kind: RequestKind = "completion"
    v: Literal[1] = 1


Source = Literal["inferred", "shared", "cached", "typed_as_suggested", "none"]


@dataclass(frozen=True, slots=True)
class CompletionEvent:
    """One completion request as a worker answered it. Metadata only: no code text ever.

    ``admitted`` is what quotas count: the request took a unit of its user's daily quota and went
    to inference (cache hits, shared generations and typed-as-suggested answers are free; a
    refused request has reason ``quota``). ``event_id`` is derived from session and request, so
    a replayed event collapses onto the first.
    """

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    request_id: str = field(metadata=_ID)
    model: str = field(metadata=limit(min_len=1, max_len=128))
    language_id: str = field(metadata=limit(max_len=64))
    source: Source
    admitted: bool
    reason: EndReason
    chunks: int = field(metadata=limit(ge=0, le=2**31))
    generated_chars: int = field(metadata=limit(ge=0, le=2**31))
    received_ms: int = field(metadata=_MS)
    ended_ms: int = field(metadata=_MS)
    #: Edge receipt of the request to its first chunk (edge and worker clocks); none if no chunk.
    first_chunk_latency_ms: int | None = field(default=None, metadata=limit(ge=-60_000,
                                                                             le=3_600_000))
    kind: RequestKind = "completion"
    editor: Editor = "other"
    v: Literal[1] = 1

    @classmethod
    def unstarted(cls, session_id: str, tenant_id: str, user_id: str, plan: Plan,
                  request_id: str, reason: EndReason, received_ms: int, ended_ms: int,
                  language_id: str = "", kind: RequestKind = "completion",
                  editor: Editor = "other") -> CompletionEvent:
        """A request that ended before any answer started (superseded or cancelled while it
        waited, expired, refused by the edge or a worker): no model, no source, not admitted.
        Its id is the one a worker would give it and ``received_ms`` the edge's receipt of the
        request, as in every report of it: an edge and a worker that both end it (or a replay)
        leave one row and one count in one usage window."""
        return cls(event_id=event_id(session_id, request_id), session_id=session_id,
                   tenant_id=tenant_id, user_id=user_id, plan=plan, request_id=request_id,
                   model=UNSTARTED_MODEL, language_id=language_id, source="none",
                   admitted=False, reason=reason, chunks=0, generated_chars=0,
                   received_ms=received_ms, ended_ms=ended_ms, first_chunk_latency_ms=None,
                   kind=kind, editor=editor)


#: The ``model`` of a request no model was asked about.
UNSTARTED_MODEL = "none"


def event_id(*parts: str) -> str:
    """A deterministic id for an event derived from others (a request's end, a checkpoint): a
    replay produces the same one, and the deduplicating sink keeps one row."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PersistenceEvent:
    """How much of an accepted completion is still in the document ``checkpoint_s`` after it
    was accepted (measured by the worker on its copy). Lengths only."""

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    request_id: str = field(metadata=_ID)
    language_id: str = field(metadata=limit(max_len=64))
    checkpoint_s: int = field(metadata=limit(ge=1, le=86_400))
    accepted_chars: int = field(metadata=limit(ge=1, le=2**31))
    surviving_chars: int = field(metadata=limit(ge=0, le=2**31))
    accepted_ms: int = field(metadata=_MS)
    type: Literal["persistence"] = "persistence"
    v: Literal[1] = 1


@dataclass(frozen=True, slots=True)
class AuthorshipEvent:
    """Characters a session inserted in documents of one language: typed by hand, or put there
    by accepting completions. Sent when the session ends."""

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    language_id: str = field(metadata=limit(max_len=64))
    typed_chars: int = field(metadata=limit(ge=0, le=2**40))
    completion_chars: int = field(metadata=limit(ge=0, le=2**40))
    ended_ms: int = field(metadata=_MS)
    type: Literal["authorship"] = "authorship"
    v: Literal[1] = 1


@dataclass(frozen=True, slots=True)
class SuggestionEvent:
    """What became of one next-edit suggestion, from the edge: the client's feedback (``shown``,
    then one terminal kind), or ``dismissed`` when a newer suggestion for the document, its
    close or the session's end came first. Counts only: no code."""

    event_id: str = field(metadata=_ID)
    session_id: str = field(metadata=_ID)
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    suggestion_id: str = field(metadata=_ID)
    rule: str = field(metadata=limit(min_len=1, max_len=64))
    language_id: str = field(metadata=limit(max_len=64))
    kind: FeedbackKind
    changes: int = field(metadata=limit(ge=1, le=1000))
    accepted_changes: int | None = field(metadata=limit(ge=0, le=1000))
    received_ms: int = field(metadata=_MS)
    type: Literal["suggestion"] = "suggestion"
    v: Literal[1] = 1


QualityEvent = PersistenceEvent | AuthorshipEvent | SuggestionEvent


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Usage of one user in one window ``[window_start_ms, window_end_ms)`` (UTC, by the time
    the edge received each event), for billing. Metadata only.

    Readers keep one record per ``record_id`` (a record can be emitted twice after a crash, with
    the same id and the same counts) and sum the records of a window: ``seq`` 0 holds the window
    as it closed, ``seq`` 1, 2, ... events that arrived after it closed.
    """

    record_id: str = field(metadata=limit(min_len=32, max_len=32))
    tenant_id: str = field(metadata=_ID)
    user_id: str = field(metadata=_ID)
    plan: Plan
    window_start_ms: int = field(metadata=_MS)
    window_end_ms: int = field(metadata=_MS)
    seq: int = field(metadata=limit(ge=0))
    #: Completions admitted to inference: what quotas count and billing charges.
    completions: int = field(metadata=limit(ge=0))
    #: Every completion request answered (including cache hits and refusals).
    requests: int = field(metadata=limit(ge=0))
    shown: int = field(metadata=limit(ge=0))
    #: Accepted, fully or partially.
    accepted: int = field(metadata=limit(ge=0))
    #: Rejected explicitly or dismissed.
    rejected: int = field(metadata=limit(ge=0))
    v: Literal[1] = 1


def read_record(cls: type[R], data: bytes | None, sealed: bool = False) -> R:
    """Validate one Kafka record value as ``cls``; ``sealed``: it was opened with its session's
    key, so our own encoder wrote it (no object in it can repeat a key)."""
    if data is None:
        from schemas.errors import FrameError

        raise FrameError("empty_record", "record has no value")
    return decode_as(cls, parse_json(data, unique_keys=not sealed))


def read_quality(data: bytes | None) -> QualityEvent:
    """Validate one ``quality-events`` record (any of its kinds, told apart by ``type``)."""
    if data is None:
        from schemas.errors import FrameError

        raise FrameError("empty_record", "record has no value")
    result: QualityEvent = decode_as(QualityEvent, parse_json(data))  # type: ignore[arg-type]
    return result


def write_record(record: object) -> bytes:
    return encode(record)
