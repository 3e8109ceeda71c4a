"""Messages on the WebSocket between an IDE plugin and the edge (protocol version 1).

Every frame is one UTF-8 JSON object (a text frame) with a ``type`` field. Offsets are counted in
Unicode code points of the document text (LSP's ``utf-32`` position encoding); an edit replaces
``[start, end)`` of the document as it is after the previous edit in the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.codec import decode_as, limit, parse_json

PROTOCOL_VERSION = 1

_ID = limit(min_len=1, max_len=64, pattern=r"^[A-Za-z0-9_.:\-]+$",
            doc="client-chosen id: 1-64 of A-Z a-z 0-9 _ . : -")
_URI = limit(min_len=1, max_len=2048, doc="document identifier as the editor names it")
_VERSION = limit(ge=0, le=2**53, doc="document version; strictly increasing per document")
_OFFSET = limit(ge=0, le=2**31, doc="offset in Unicode code points")

Plan = Literal["free", "pro", "enterprise"]
#: ``rejected``: the user turned the suggestion down explicitly (Esc); ``dismissed``: it went away
#: without a decision (the user typed past it, moved the cursor, or another suggestion replaced
#: it). Both count as not accepted.
FeedbackKind = Literal["shown", "accepted", "partial", "rejected", "dismissed"]
EndReason = Literal["stop", "length", "superseded", "cancelled", "expired", "error", "quota",
                    "excluded", "overloaded"]
#: The assistant's jobs besides completion, each served by its own model route (docs/TASKS.md).
TaskKind = Literal["explain", "find_bugs", "fix", "refactor", "tests", "docs"]
TASK_KINDS: tuple[TaskKind, ...] = ("explain", "find_bugs", "fix", "refactor", "tests", "docs")
#: LSP's diagnostic severities, by name.
Severity = Literal["error", "warning", "information", "hint"]


# --- client -> edge ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of a session: protocol version and which plugin is calling. Who the user is
    comes from the API key of the handshake (``Authorization: Bearer``), never from a frame."""

    protocol: int = field(metadata=limit(ge=1, le=1, doc="protocol version; this server speaks 1"))
    client: str = field(metadata=limit(min_len=1, max_len=128, doc="plugin name/version"))
    capabilities: bool = field(default=False, metadata=limit(
        doc="ask for the per-language table of task kinds and analyzers in welcome"))
    edit_suggestions: bool = field(default=False, metadata=limit(
        doc="opt in to edit_suggestion frames (next edits); a session that did not never gets one"))
    type: Literal["hello"] = "hello"


@dataclass(frozen=True, slots=True)
class DocOpen:
    """The editor opened a document: its full text at ``version``."""

    uri: str = field(metadata=_URI)
    language_id: str = field(metadata=limit(min_len=1, max_len=64, doc="LSP languageId"))
    version: int = field(metadata=_VERSION)
    text: str
    type: Literal["doc_open"] = "doc_open"


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace code points ``[start, end)`` by ``text``."""

    start: int = field(metadata=_OFFSET)
    end: int = field(metadata=_OFFSET)
    text: str


@dataclass(frozen=True, slots=True)
class DocChange:
    """Incremental edits that take the document to ``version``; applied in order."""

    uri: str = field(metadata=_URI)
    version: int = field(metadata=_VERSION)
    changes: tuple[TextEdit, ...] = field(metadata=limit(min_len=1, max_len=1000))
    type: Literal["doc_change"] = "doc_change"


@dataclass(frozen=True, slots=True)
class DocClose:
    """The editor closed a document; its state is dropped."""

    uri: str = field(metadata=_URI)
    type: Literal["doc_close"] = "doc_close"


@dataclass(frozen=True, slots=True)
class CursorMove:
    """The cursor moved without an edit (it changes where a completion would go)."""

    uri: str = field(metadata=_URI)
    offset: int = field(metadata=_OFFSET)
    type: Literal["cursor"] = "cursor"


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """Ask for an inline completion at ``offset`` of ``uri`` as of ``version``."""

    request_id: str = field(metadata=_ID)
    uri: str = field(metadata=_URI)
    version: int = field(metadata=_VERSION)
    offset: int = field(metadata=_OFFSET)
    max_tokens: int | None = field(default=None, metadata=limit(ge=1, le=512))
    type: Literal["complete"] = "complete"


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """Ask for an assistant task on ``[start, end)`` of ``uri`` as of ``version`` (``start ==
    end``: at that offset, e.g. the definition around the cursor). Answered by ``token`` frames
    (Markdown), ``edit`` and ``finding`` frames against that version, then one ``end``."""

    request_id: str = field(metadata=_ID)
    kind: TaskKind
    uri: str = field(metadata=_URI)
    version: int = field(metadata=_VERSION)
    start: int = field(metadata=_OFFSET)
    end: int = field(metadata=_OFFSET)
    instruction: str | None = field(default=None, metadata=limit(
        max_len=2000, doc="optional free-text instruction from the user"))
    type: Literal["task"] = "task"


@dataclass(frozen=True, slots=True)
class Cancel:
    """The client no longer wants ``request_id``'s tokens."""

    request_id: str = field(metadata=_ID)
    type: Literal["cancel"] = "cancel"


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the user did with a completion; ``event_id`` makes retries idempotent."""

    event_id: str = field(metadata=_ID)
    request_id: str = field(metadata=_ID)
    kind: FeedbackKind
    accepted_chars: int | None = field(
        default=None, metadata=limit(ge=0, le=2**31, doc="for partial: characters accepted"))
    latency_ms: int | None = field(
        default=None, metadata=limit(ge=0, le=3_600_000, doc="latency the client saw"))
    type: Literal["feedback"] = "feedback"


@dataclass(frozen=True, slots=True)
class SuggestionFeedback:
    """What the user did with an ``edit_suggestion``: ``shown`` (optional), then exactly one of
    ``accepted`` (all its changes), ``partial`` (``accepted_changes`` of them), ``rejected`` or
    ``dismissed``; ``event_id`` makes retries idempotent."""

    event_id: str = field(metadata=_ID)
    suggestion_id: str = field(metadata=_ID)
    kind: FeedbackKind
    accepted_changes: int | None = field(
        default=None, metadata=limit(ge=0, le=1000, doc="for partial: changes applied"))
    type: Literal["suggestion_feedback"] = "suggestion_feedback"


ClientMessage = (Hello | DocOpen | DocChange | DocClose | CursorMove | CompletionRequest
                 | TaskRequest | Cancel | Feedback | SuggestionFeedback)


# --- edge -> client ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LanguageTasks:
    """What one language gets from the assistant's tasks (docs/TASKS.md): the task kinds, the
    analyzers ``find_bugs`` and ``fix`` run on it (``tree-sitter``: the syntax check and its
    missing-token fixes), the test frameworks ``tests`` writes in (the default first), and
    whether ``refactor`` offers more than rename."""

    language: str = field(metadata=limit(min_len=1, max_len=64, doc="LSP languageId"))
    kinds: tuple[TaskKind, ...]
    analyzers: tuple[str, ...]
    test_frameworks: tuple[str, ...]
    refactorings: bool


@dataclass(frozen=True, slots=True)
class Welcome:
    """Answer to hello: the session id, who the key says the caller is, and this edge's limits."""

    session_id: str
    protocol: int
    max_frame_bytes: int
    tenant_id: str
    user_id: str
    plan: Plan
    #: Client frames per second this session may send (more are refused with ``rate_limited``).
    messages_per_second: int
    #: Per language, what the tasks do there; only when hello asked (``capabilities``).
    languages: tuple[LanguageTasks, ...] = ()
    type: Literal["welcome"] = "welcome"


@dataclass(frozen=True, slots=True)
class TokenChunk:
    """Generated text for ``request_id``; ``seq`` counts chunks from 0 with no gaps."""

    request_id: str
    seq: int
    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class EditResult:
    """A task's proposed change: ``edits`` all refer to ``uri`` (the request's document when
    ``None``) as it was at ``version``, do not overlap and are applied together, like an LSP
    ``WorkspaceEdit``; for a new file (``new_file``), one edit at 0 holds its whole text.
    ``seq`` counts a task's frames (token, edit, finding) from 0 with no gaps."""

    request_id: str
    seq: int
    version: int
    title: str
    edits: tuple[TextEdit, ...]
    uri: str | None = None
    new_file: bool = False
    type: Literal["edit"] = "edit"


@dataclass(frozen=True, slots=True)
class FindingResult:
    """A problem found in ``[start, end)`` of the request's document as of ``version``, with the
    rule that found it and, when the analyzer has one, the edits that fix it."""

    request_id: str
    seq: int
    version: int
    start: int
    end: int
    severity: Severity
    rule: str
    message: str
    fix: tuple[TextEdit, ...] | None = None
    type: Literal["finding"] = "finding"


@dataclass(frozen=True, slots=True)
class CompletionEnd:
    """No more chunks for ``request_id``; ``reason`` says why (a task's ``chunks`` counts all
    its frames)."""

    request_id: str
    reason: EndReason
    chunks: int
    detail: str | None = None
    type: Literal["end"] = "end"


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """A refused message: ``code`` is stable for programs, ``message`` is for people."""

    code: str
    message: str
    field: str | None = None
    request_id: str | None = None
    #: The document the refused frame concerns, when it names one.
    uri: str | None = None
    type: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class SlowDown:
    """The backend is overloaded: wait at least ``request_interval_ms`` between ``complete``
    requests (a longer debounce) until a frame with 0 lifts it."""

    request_interval_ms: int
    reason: str
    type: Literal["slow_down"] = "slow_down"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that refuses nothing, e.g. ``bidi_control`` (a document
    holds invisible or bidirectional control characters that can make code read differently
    from how it runs) or ``excluded`` (a document matches the tenant's content exclusion, so it
    never reaches a prompt)."""

    code: str
    message: str
    uri: str | None = None
    type: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True)
class EditSuggestion:
    """Edits that follow from the user's last edit of ``uri`` (its next edits), for a session
    that opted in at hello. They apply to ``version`` only: a client whose document has moved
    on drops the suggestion, as the edge does when its copy has. ``changes`` do not overlap and
    are applied together, as one undo step; ``rule`` says what proposed them and
    ``confidence`` is that rule's measured precision. A newer suggestion for the document
    replaces this one."""

    suggestion_id: str = field(metadata=_ID)
    uri: str = field(metadata=_URI)
    version: int = field(metadata=_VERSION)
    changes: tuple[TextEdit, ...] = field(metadata=limit(min_len=1, max_len=1000))
    label: str = field(metadata=limit(min_len=1, max_len=200, doc="what it does, for people"))
    rule: str = field(metadata=limit(min_len=1, max_len=64))
    confidence: float = field(metadata=limit(ge=0, le=1))
    type: Literal["edit_suggestion"] = "edit_suggestion"


ServerMessage = (Welcome | TokenChunk | EditResult | FindingResult | CompletionEnd | ErrorFrame
                 | SlowDown | Notice | EditSuggestion)



def decode_client_message(value: Any) -> ClientMessage:
    """Validate one parsed frame from a plugin."""
    result: ClientMessage = decode_as(ClientMessage, value)  # type: ignore[arg-type]
    return result


def decode_server_message(value: Any, where: str = "") -> ServerMessage:
    """Validate one frame meant for a plugin (used by clients and on the reply path)."""
    result: ServerMessage = decode_as(ServerMessage, value, where)  # type: ignore[arg-type]
    return result


def read_client_frame(data: bytes | str) -> ClientMessage:
    return decode_client_message(parse_json(data))
