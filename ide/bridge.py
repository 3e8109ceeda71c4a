"""Between the editor's LSP events and the edge session: which frame each event becomes, which
documents the edge must be sent again, and what a completion or a feedback command needs.

The edge's copy of a document is *unsent* when a frame for it could not go out (no session, or
larger than the edge takes) or the edge refused one: its next event re-opens it whole instead of
sending an edit against a text the edge may not have. The edge holds a bounded number of
documents per session, while an IDE may have a hundred tabs open: the bridge keeps only the
``EDGE_DOCUMENTS`` most recently used ones there, closes the least recently used one at the edge
when another comes, and re-opens it whole on its next use.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

from ide.coalescing import merge
from ide.edge_link import EdgeLink
from ide.mirror import Change, DocumentError, Mirror, MirroredDocument
from ide.next_edits import VERDICTS, Offers
from ide.options import Options
from ide.positions import Encoding, Position, PositionError
from ide.verdicts import Verdicts
from schemas.errors import AssistantError
from schemas.socket import (
    ClientMessage,
    CompletionEnd,
    DocChange,
    DocClose,
    DocOpen,
    EditSuggestion,
    ErrorFrame,
    FeedbackKind,
    SuggestionFeedback,
    TaskKind,
)
from socket_client.answers import Answer

#: End details after which the request is worth one retry once the document is re-opened.
RESYNC = {"unknown_document", "document_stale", "version_conflict", "offset_out_of_range",
          "edit_out_of_range"}
#: How long a request waits for a session to the edge that may be opening (none after a failed
#: attempt) before answering with nothing.
CONNECT_WAIT_S = 2.0
#: Answers remembered for their feedback (request id -> latency); the oldest are forgotten.
REMEMBERED_ANSWERS = 256
QUOTA_NOTICE_EVERY_S = 300.0
#: Documents kept open at the edge (it refuses more than its MAX_OPEN_DOCUMENTS, 64 by default).
EDGE_DOCUMENTS = 32
#: The edge's default MAX_DOCUMENT_CHARS: a larger document is never sent (the edge refuses it).
EDGE_DOCUMENT_CHARS = 1_000_000
#: How long edits wait to be sent together when no request for their document comes first.
COALESCE_S = 0.05


class EdgeUnavailable(AssistantError):
    """No session to the edge could be opened in time."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A finished answer, with the document and cursor it is for."""

    answer: Answer
    doc: MirroredDocument
    offset: int


class Bridge:
    """The documents of one editor and its session to the edge."""

    def __init__(self, options: Options, encoding: Encoding,
                 notify: Callable[[str], None] = lambda _message: None) -> None:
        self.mirror = Mirror(encoding)
        self.notify = notify
        self.link = EdgeLink(options, self._reopen, notify, self._refused, self._suggested)
        self._unsent: set[str] = set()
        self._at_edge: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._latency_ms: OrderedDict[str, int] = OrderedDict()
        self._quota_noticed_s = -QUOTA_NOTICE_EVERY_S
        self.verdicts = Verdicts()
        self._verdict_timer: asyncio.TimerHandle | None = None
        #: Edits not yet sent, per document (``None``: send it whole); see ``ide.coalescing``.
        self._outgoing: dict[str, DocChange | None] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        #: Next-edit suggestions: the current one per document, and those awaiting a verdict.
        self.offers = Offers()
        self.edit_verdicts = Verdicts()
        self._suggestions: OrderedDict[str, bool] = OrderedDict()  # id -> reported shown
        #: Called with each suggestion kept (the server tells the editor of it).
        self.on_next_edit: Callable[[EditSuggestion], None] = lambda _suggestion: None

    # --- documents -------------------------------------------------------------------------

    def opened(self, uri: str, language_id: str, text: str) -> None:
        self._stale_edit(uri)
        self._outgoing.pop(uri, None)
        self._send(uri, self.mirror.open(uri, language_id, text))

    def changed(self, uri: str, changes: Sequence[Change]) -> None:
        """Applied to the mirror now; sent to the edge with the edits that follow within
        ``COALESCE_S``, or before the next request for the document, whichever comes first."""
        self._stale_edit(uri)  # even a change that cannot be applied: the text moved on
        frame = self.mirror.change(uri, changes)
        if uri in self._outgoing:
            earlier = self._outgoing[uri]
            if earlier is None or isinstance(frame, DocOpen):
                self._outgoing[uri] = None
            else:
                self._outgoing[uri] = merge(earlier, frame, len(self.mirror.get(uri).text))
        else:
            self._outgoing[uri] = None if isinstance(frame, DocOpen) else frame
        self._schedule_flush()

    def flush(self, uri: str) -> None:
        """Send ``uri``'s held edits now (a request about it is going out)."""
        if uri not in self._outgoing:
            return
        pending = self._outgoing.pop(uri)
        doc = self.mirror.find(uri)
        if doc is not None and doc.synced:
            self._send(uri, doc.snapshot() if pending is None else pending)

    def _flush_all(self) -> None:
        self._flush_timer = None
        for uri in list(self._outgoing):
            self.flush(uri)

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a caller outside the server): at once
            self._flush_all()
            return
        self._flush_timer = loop.call_later(COALESCE_S, self._flush_all)

    def closed(self, uri: str) -> None:
        self._supersede(uri)
        self.offers.changed(uri)
        self.edit_verdicts.forget(uri)  # the edge ends them (dismissed) when the document closes
        self._outgoing.pop(uri, None)
        self._unsent.discard(uri)
        frame = self.mirror.close(uri)
        if uri in self._at_edge:  # else the edge does not hold it (never sent, or evicted)
            del self._at_edge[uri]
            self.link.post(frame)

    def _send(self, uri: str, frame: ClientMessage) -> None:
        if uri in self._unsent and not isinstance(frame, DocOpen):
            frame = self.mirror.get(uri).snapshot()
        too_large = isinstance(frame, DocOpen) and len(frame.text) > EDGE_DOCUMENT_CHARS
        if not too_large and self.link.post(frame):
            self._unsent.discard(uri)
            self._at_edge[uri] = None
            self._at_edge.move_to_end(uri)
            while len(self._at_edge) > EDGE_DOCUMENTS:
                evicted, _ = self._at_edge.popitem(last=False)
                self.link.post(DocClose(evicted))
                self._unsent.add(evicted)
        else:
            self._unsent.add(uri)
            self._at_edge.pop(uri, None)

    def _reopen(self) -> None:
        """A new session: the documents last used go again, whole; the others when next used."""
        recent = list(self._at_edge)
        self._at_edge.clear()
        self._outgoing.clear()  # every document goes whole
        self._unsent.update(doc.uri for doc in self.mirror)
        for uri in recent:
            doc = self.mirror.find(uri)
            if doc is not None and doc.synced:
                self._send(uri, doc.snapshot())

    def _refused(self, frame: ErrorFrame) -> None:
        """The edge refused a frame that names no request: it may have been an edit, and the
        frame does not say of which document, so every document is sent whole on its next use.
        Feedback on a suggestion the edge has ended meanwhile is refused about the suggestion,
        not a document: nothing to resend."""
        if frame.field == "suggestion_id":
            return
        self._unsent.update(doc.uri for doc in self.mirror)

    # --- next edits ------------------------------------------------------------------------

    def _suggested(self, suggestion: EditSuggestion) -> None:
        """A suggestion from the edge: kept if it is for the mirror's version of its document
        (the edge's copy has that version too), else ended at once as dismissed."""
        doc = self.mirror.find(suggestion.uri)
        version = doc.version if doc is not None and doc.synced else None
        self._suggestions[suggestion.suggestion_id] = False
        while len(self._suggestions) > REMEMBERED_ANSWERS:
            self._suggestions.popitem(last=False)
        if version is None or suggestion.version != version:
            self._post_verdict(suggestion.suggestion_id, "dismissed")
            return
        # The edge ended the document's older ones, current or stale, when it sent this one.
        self.edit_verdicts.forget(suggestion.uri)
        self.offers.offered(suggestion, version)
        self.edit_verdicts.answered(suggestion.suggestion_id, suggestion.uri)
        self.on_next_edit(suggestion)

    def _stale_edit(self, uri: str) -> None:
        """The document changed: its suggestion no longer applies (reported ``dismissed`` after
        the grace unless the editor gives a verdict first)."""
        if self.offers.changed(uri) is not None:
            self.edit_verdicts.superseded(uri, time.monotonic())
            self._schedule_verdicts()

    def next_edit_feedback(self, suggestion_id: str, kind: str,
                           accepted_changes: int | None = None) -> bool:
        """The editor's verdict on a suggestion (``shown`` is reported once, whoever says it
        first: the editor package that drew it, or the server listing its code action);
        :class:`DocumentError` for one this server was not given or an unknown kind."""
        if kind not in VERDICTS:
            raise DocumentError("invalid_kind", f"kind {kind!r} is not one of {', '.join(VERDICTS)}")
        if suggestion_id not in self._suggestions:
            raise DocumentError("unknown_suggestion",
                                f"suggestion {suggestion_id!r} was not given to this server")
        if accepted_changes is not None and accepted_changes < 0:
            raise DocumentError("invalid_field", "acceptedChanges must not be negative")
        if kind == "shown":
            if self._suggestions[suggestion_id]:
                return True
            self._suggestions[suggestion_id] = True
        else:
            self.edit_verdicts.settled(suggestion_id)
        return self._post_verdict(suggestion_id, kind, accepted_changes)

    def _post_verdict(self, suggestion_id: str, kind: str,
                      accepted_changes: int | None = None) -> bool:
        return self.link.post(SuggestionFeedback(uuid.uuid4().hex, suggestion_id,
                                                 kind, accepted_changes))  # type: ignore[arg-type]

    # --- assistant tasks -------------------------------------------------------------------

    async def task(self, kind: TaskKind, uri: str, start: Position, end: Position,
                   instruction: str | None = None) -> Suggestion:
        """Run a task on ``[start, end)`` of ``uri``; errors as for :meth:`complete`."""
        if (end.line, end.character) < (start.line, start.character):
            raise DocumentError("invalid_range", f"{uri}: the range ends before it starts")
        self._locate(uri, start)
        self._locate(uri, end)
        await self._await_session()
        for attempt in range(2):
            doc, first = self._locate(uri, start)
            _, last = self._locate(uri, end)
            self.flush(uri)
            if uri in self._unsent:
                self._send(uri, doc.snapshot())
                if uri in self._unsent:
                    raise DocumentError("document_too_large",
                                        f"{uri} is larger than the edge takes")
            # The mirror changes in place while the task runs: keep the text it answers.
            sent = copy.copy(doc)
            answer = await self.link.task(kind, uri, sent.version, first, last, instruction)
            if attempt == 0 and answer.detail in RESYNC:
                self._unsent.add(uri)
                continue
            break
        return Suggestion(answer, sent, first)

    # --- completions and feedback ----------------------------------------------------------

    async def complete(self, uri: str, position: Position) -> Suggestion:
        """Ask the edge for a completion at ``position``; :class:`DocumentError` for a document
        or position that does not exist, :class:`EdgeUnavailable` without a session."""
        doc, offset = self._locate(uri, position)
        self._supersede(uri)
        await self._await_session()
        for attempt in range(2):
            if not await self.link.pace():
                # A newer request took this one's turn under slow_down: it is never sent.
                answer = Answer("", time.perf_counter())
                answer.finish(CompletionEnd("", "superseded", 0, detail="a newer request"))
                return Suggestion(answer, doc, offset)
            # The document may have changed (or been re-opened) while this request waited.
            doc, offset = self._locate(uri, position)
            self.flush(uri)
            if uri in self._unsent:
                self._send(uri, doc.snapshot())
                if uri in self._unsent:
                    raise DocumentError(
                        "document_too_large",
                        f"{uri} is larger than the edge's frame limit "
                        f"({self.link.max_frame_bytes} bytes), so it cannot be completed")
            answer = await self.link.complete(uri, doc.version, offset)
            if attempt == 0 and answer.detail in RESYNC:
                self._unsent.add(uri)
                continue
            break
        self._remember(answer, uri)
        return Suggestion(answer, doc, offset)

    async def _await_session(self) -> None:
        """Wait for a session to the edge: up to ``CONNECT_WAIT_S`` while one may be opening, not
        at all once an attempt has failed (every request would stall until the next retry)."""
        link = self.link
        if link.connected or (not link.unreachable and await link.wait_connected(CONNECT_WAIT_S)):
            return
        raise EdgeUnavailable(f"no session to the edge at {link.options.url}; check that it runs "
                              "(`make up`) and the server's url setting (it keeps retrying)")

    def _locate(self, uri: str, position: Position) -> tuple[MirroredDocument, int]:
        doc = self.mirror.get(uri)
        try:
            return doc, doc.offset(position, self.mirror.encoding)
        except PositionError as error:
            raise DocumentError("position_out_of_range", f"{uri}: {error}") from error

    def _remember(self, answer: Answer, uri: str) -> None:
        if answer.error is not None and answer.error.code == "quota_exceeded":
            now = time.monotonic()
            if now - self._quota_noticed_s >= QUOTA_NOTICE_EVERY_S:
                self._quota_noticed_s = now
                self.notify(f"code assistant: {answer.error.message}")
        if answer.text:
            latency = int((time.perf_counter() - answer.sent_s) * 1000)
            self._latency_ms[answer.request_id] = latency
            while len(self._latency_ms) > REMEMBERED_ANSWERS:
                self._latency_ms.popitem(last=False)
            self.link.feedback(answer.request_id, "shown", None, latency)
            self.verdicts.answered(answer.request_id, uri)

    def _supersede(self, uri: str) -> None:
        """A newer request for ``uri`` (or its close): its unanswered-for suggestions will be
        reported dismissed unless the editor gives a verdict first (``ide.verdicts``)."""
        self.verdicts.superseded(uri, time.monotonic())
        self._schedule_verdicts()

    def _schedule_verdicts(self) -> None:
        due = min((at for at in (self.verdicts.next_due_s(), self.edit_verdicts.next_due_s())
                   if at is not None), default=None)
        if due is None or self._verdict_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a caller outside the server): reported on the next event
            return
        self._verdict_timer = loop.call_later(max(0.0, due - time.monotonic()),
                                              self._report_dismissed)

    def _report_dismissed(self) -> None:
        self._verdict_timer = None
        now = time.monotonic()
        for request_id in self.verdicts.due(now):
            self.link.feedback(request_id, "dismissed", None, self._latency_ms.get(request_id))
        for suggestion_id in self.edit_verdicts.due(now):
            self._post_verdict(suggestion_id, "dismissed")
        self._schedule_verdicts()

    def feedback(self, request_id: str, kind: str, accepted_chars: int | None = None) -> bool:
        """The editor's verdict on a suggestion it was given; :class:`DocumentError` for a
        request this server did not answer or an unknown kind."""
        if kind not in get_args(FeedbackKind):
            raise DocumentError("invalid_kind",
                                f"kind {kind!r} is not one of {', '.join(get_args(FeedbackKind))}")
        latency = self._latency_ms.get(request_id)
        if latency is None:
            raise DocumentError("unknown_request", f"request {request_id!r} got no suggestion here")
        if accepted_chars is not None and accepted_chars < 0:
            raise DocumentError("invalid_field", "acceptedChars must not be negative")
        self.verdicts.settled(request_id)
        return self.link.feedback(request_id, kind, accepted_chars, latency)
