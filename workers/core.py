"""The completion worker's decisions, without I/O: editor events and ``now_ms`` in, actions out.

One :class:`WorkerCore` holds, per session, the open documents, the typist's rhythm, at most one
request waiting out its debounce and the in-flight generations. A newer request or a newer edit
supersedes what is pending or in flight (the client gets ``end`` with reason ``superseded``); a
cancel stops it. The asyncio service executes the returned actions (start/stop a generation,
send a frame), calls :meth:`WorkerCore.due` at :meth:`WorkerCore.next_deadline_ms`, and reports
ends with :meth:`WorkerCore.finished`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from documents import cross_file
from documents.document import Document, DocumentSet
from documents.languages import canonical_id
from documents.redaction import HeadMemo, redact
from next_edits.engine import MAX_CHARS as NEXT_EDIT_MAX_CHARS
from next_edits.engine import Suggestion
from next_edits.region import changed_region, replaced_identifier
from schemas.editors import Editor
from schemas.errors import ProtocolError, StateError
from schemas.socket import (
    Cancel,
    CompletionEnd,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocClose,
    DocOpen,
    EditSuggestion,
    EndReason,
    ErrorFrame,
    TaskKind,
    TaskRequest,
)
from schemas.topics import (
    DocSnapshot,
    EditorEvent,
    ReplyFrame,
    RequestKind,
    ResyncRequest,
    SessionEnd,
    StageTimes,
)
from workers.debounce import DebounceConfig, TypingRhythm
from workers.prompt import Prompt, build_prompt


@dataclass(frozen=True, slots=True)
class Route:
    """Where a session's frames go and who is billed for its work."""

    session_id: str
    reply_partition: int
    tenant_id: str
    user_id: str
    plan: str
    #: Completions per UTC day for this user (``None``: unlimited), set by the edge from the key.
    daily_limit: int | None
    #: The session's editor, for analytics (``schemas.editors``).
    editor: Editor = "other"


@dataclass(frozen=True, slots=True)
class StartCompletion:
    route: Route
    request_id: str
    uri: str
    offset: int
    prompt: Prompt
    max_tokens: int
    #: When the edge received the request (edge clock), when it reached this worker and when
    #: the debounce released it (worker clock).
    received_ms: int
    arrived_ms: int
    fired_ms: int

    @property
    def debounce_ms(self) -> int:
        return self.fired_ms - self.arrived_ms


@dataclass(frozen=True, slots=True)
class StopCompletion:
    route: Route
    request_id: str
    reason: EndReason


@dataclass(frozen=True, slots=True)
class SendFrame:
    route: Route
    frame: ReplyFrame
    #: Stage times, for an end frame that answers a request which never got a chunk (the edge
    #: still learns how long the request queued).
    timing: StageTimes | None = None
    #: For the end of a request that never started: when the edge received the request (edge
    #: clock). Its analytics event is dated by it, as every other event of the request is, so
    #: two reports of one request (a replay, the edge giving up) land in one usage window.
    received_ms: int | None = None
    #: For the end of a request that never started: what it asked for (its analytics event's
    #: ``kind``).
    kind: RequestKind = "completion"


@dataclass(frozen=True, slots=True)
class StartTask:
    """Run an assistant task on ``text`` (the document at the request's version)."""

    route: Route
    request_id: str
    kind: TaskKind
    uri: str
    version: int
    language_id: str
    text: str
    start: int
    end: int
    instruction: str | None
    #: The session's other open documents: (uri, first lines), for the test framework.
    neighbours: tuple[tuple[str, str], ...]
    received_ms: int
    arrived_ms: int


@dataclass(frozen=True, slots=True)
class ProposeEdits:
    """Run the next-edit engine on ``uri``: its text at the last settled pause (``before``) and
    at ``version`` (``after``); its answer comes back through :meth:`WorkerCore.proposed`."""

    route: Route
    uri: str
    version: int
    language_id: str
    before: str
    after: str
    rules: frozenset[str]


Action = StartCompletion | StopCompletion | StartTask | SendFrame | ProposeEdits

#: Characters of each other open document a task sees (enough for imports and framework hints).
NEIGHBOUR_HEAD_CHARS = 2000


def coalesce(actions: list[Action]) -> list[Action]:
    """Drop generations that a later event of the same batch already stopped: a request
    superseded before it was ever started costs no inference, only its end frame."""
    stopped = {(a.route.session_id, a.request_id): a for a in actions
               if isinstance(a, StopCompletion)}
    started = {(a.route.session_id, a.request_id) for a in actions
               if isinstance(a, StartCompletion)}
    out: list[Action] = []
    for action in actions:
        key = (action.route.session_id, getattr(action, "request_id", ""))
        if isinstance(action, StartCompletion) and key in stopped:
            stop = stopped[key]
            out.append(SendFrame(stop.route, CompletionEnd(stop.request_id, stop.reason, 0),
                                 received_ms=action.received_ms))
        elif not (isinstance(action, StopCompletion) and key in started):
            out.append(action)
    return out


#: A transit time outside this range means the edge's and the worker's clocks disagree.
PLAUSIBLE_TRANSIT_MS = 10_000


def request_age_ms(pending: _Pending, now_ms: int) -> int:
    """How long the user has been waiting: time at this worker plus the Kafka transit, the
    latter measured across two machines' clocks and ignored when implausible (skew)."""
    transit = pending.arrived_ms - pending.received_ms
    if not 0 <= transit <= PLAUSIBLE_TRANSIT_MS:
        transit = 0
    return now_ms - pending.arrived_ms + transit


def _still_typing(before: str, after: str) -> bool:
    """Whether ``before`` -> ``after`` is one identifier growing or shrinking at its end (the
    user may be typing a new name over an old one: keep comparing with the name before)."""
    region = changed_region(before, after)
    replaced = replaced_identifier(before, after, region) if region is not None else None
    return replaced is not None and (replaced.new.startswith(replaced.old)
                                     or replaced.old.startswith(replaced.new))


def request_snapshot(route: Route, uri: str) -> SendFrame:
    """Ask the edge holding the session for its copy of ``uri`` (this worker lost or never had it)."""
    return SendFrame(route, ResyncRequest(uri))


@dataclass(frozen=True)
class WorkerLimits:
    max_documents: int
    max_document_chars: int
    max_completion_tokens: int
    prompt_prefix_chars: int
    prompt_suffix_chars: int
    debounce: DebounceConfig = field(default_factory=DebounceConfig)
    #: A request older than this when its debounce ends is answered ``expired``, not inferred.
    request_deadline_ms: int = 1000
    #: A session with no event for this long is dropped (its socket is gone or moved away).
    session_idle_ms: int = 600_000
    #: The next-edit rules run for sessions that opted in (none and no model: no suggestion is
    #: ever made).
    next_edit_rules: frozenset[str] = frozenset()
    #: Whether a next-edit model route is configured (asked when the rules find nothing).
    next_edit_model: bool = False


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request waiting out its debounce."""

    route: Route
    request: CompletionRequest
    #: Edge clock when the edge received it; worker clock when it reached the worker.
    received_ms: int
    arrived_ms: int
    fire_at_ms: int


@dataclass
class _Session:
    docs: DocumentSet
    rhythm: TypingRhythm
    last_event_ms: int
    inflight: set[str] = field(default_factory=set)
    pending: _Pending | None = None
    #: Documents whose snapshot was asked of the edge and has not arrived yet, with the newest
    #: version an edit carried meanwhile (a snapshot older than that must be asked again).
    awaiting: dict[str, int] = field(default_factory=dict)
    #: Tasks running (edits do not supersede them: each answers the version it asked about).
    tasks: set[str] = field(default_factory=set)
    #: Tasks waiting for a snapshot of their document.
    waiting_tasks: list[tuple[TaskRequest, int, int]] = field(default_factory=list)
    #: The session opted in to next-edit suggestions (said by the edge on every event).
    suggest: bool = False
    #: Per document, its text at the last settled pause: what the next burst is compared with.
    bases: dict[str, str] = field(default_factory=dict)
    #: Per document, when typing will have paused (the next-edit engine runs then).
    edit_due: dict[str, int] = field(default_factory=dict)
    #: The route of the session's last event.
    route: Route | None = None
    #: Other open documents cut into windows, per uri, with the document they were cut from
    #: (documents are immutable: a reopened or changed document is a new object).
    indexed: dict[str, tuple[Document, cross_file.Neighbour]] = field(default_factory=dict)
    #: Per document, the secrets found above the cursor's line at its last prompt.
    heads: dict[str, HeadMemo] = field(default_factory=dict)

    def neighbours(self, doc: Document) -> list[cross_file.Neighbour]:
        """The session's other open documents of ``doc``'s language, indexed once per version."""
        language = canonical_id(doc.language_id, doc.uri)
        out: list[cross_file.Neighbour] = []
        open_uris = set()
        for other in self.docs.all():
            open_uris.add(other.uri)
            if other.uri == doc.uri or canonical_id(other.language_id, other.uri) != language:
                continue
            known = self.indexed.get(other.uri)
            if known is None or known[0] is not other:
                # Only the indexed start is masked (the rest is never read).
                text = redact(other.text[:cross_file.MAX_CHARS])
                known = (other, cross_file.index(other.uri, text))
                self.indexed[other.uri] = known
            out.append(known[1])
        for uri in [u for u in self.indexed if u not in open_uris]:
            del self.indexed[uri]
        return out

    def await_snapshot(self, route: Route, uri: str, seen_version: int = -1) -> list[Action]:
        """Forget ``uri`` and ask the edge for it, once."""
        if self.docs.get(uri) is not None:
            self.docs.close(uri)
        if uri in self.awaiting:
            self.awaiting[uri] = max(self.awaiting[uri], seen_version)
            return []
        self.awaiting[uri] = seen_version
        return [request_snapshot(route, uri)]

    def supersede(self, route: Route, reason: EndReason) -> list[Action]:
        """End whatever is pending or in flight: a newer edit or request makes it stale."""
        actions: list[Action] = [StopCompletion(route, r, reason) for r in sorted(self.inflight)]
        self.inflight.clear()
        if self.pending is not None:
            actions.append(SendFrame(route, CompletionEnd(self.pending.request.request_id,
                                                          reason, 0),
                                     received_ms=self.pending.received_ms))
            self.pending = None
        return actions


class WorkerCore:
    """Per-session document state and in-flight bookkeeping for the sessions this worker owns."""

    def __init__(self, limits: WorkerLimits) -> None:
        self._limits = limits
        self._sessions: dict[str, _Session] = {}
        #: Pauses in documents too large for the next-edit engine (no suggestion, no error).
        self.next_edit_too_large = 0

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def inflight(self, session_id: str) -> frozenset[str]:
        session = self._sessions.get(session_id)
        return frozenset(session.inflight) if session else frozenset()

    def has_session(self, session_id: str) -> bool:
        return session_id in self._sessions

    def document(self, session_id: str, uri: str) -> Document | None:
        session = self._sessions.get(session_id)
        return session.docs.get(uri) if session else None

    def evict_idle(self, now_ms: int) -> list[Action]:
        """Forget sessions idle for ``session_idle_ms``: their code must not stay in memory."""
        return self.forget([sid for sid, s in self._sessions.items()
                            if now_ms - s.last_event_ms >= self._limits.session_idle_ms])

    def forget(self, session_ids: list[str]) -> list[Action]:
        """Drop these sessions' state (idle, or their partition moved to another worker: a copy
        kept here would be stale if the partition came back). Generations already running finish."""
        actions: list[Action] = []
        for session_id in session_ids:
            session = self._sessions.pop(session_id, None)
            pending = session.pending if session else None
            if pending is not None:
                actions.append(SendFrame(pending.route, CompletionEnd(
                    pending.request.request_id, "cancelled", 0), received_ms=pending.received_ms))
        return actions

    def next_deadline_ms(self) -> int | None:
        """When :meth:`due` next has something to do (``None``: nothing is pending)."""
        times = [self._due_at(s, s.pending) for s in self._sessions.values() if s.pending]
        times += [at for s in self._sessions.values() for at in s.edit_due.values()]
        return min(times) if times else None

    def _due_at(self, session: _Session, pending: _Pending) -> int:
        """A request waiting for a snapshot is due only at its deadline (then it expires)."""
        if pending.request.uri in session.awaiting:
            return pending.arrived_ms + self._limits.request_deadline_ms + 1
        return pending.fire_at_ms

    def due(self, now_ms: int) -> list[Action]:
        """Start the pending requests whose debounce has run out; expire the stale ones."""
        actions: list[Action] = []
        for session in self._sessions.values():
            pending = session.pending
            if pending is not None and self._due_at(session, pending) <= now_ms:
                session.pending = None
                actions.extend(self._start(session, pending, now_ms))
            for uri in [u for u, at in session.edit_due.items() if at <= now_ms]:
                del session.edit_due[uri]
                doc = session.docs.get(uri)
                before = session.bases.get(uri)
                if doc is None or before is None or session.route is None \
                        or uri in session.awaiting:
                    continue
                if max(len(doc.text), len(before)) > NEXT_EDIT_MAX_CHARS:
                    self.next_edit_too_large += 1
                    session.bases[uri] = doc.text
                else:
                    actions.append(ProposeEdits(session.route, uri, doc.version,
                                                canonical_id(doc.language_id, uri), before,
                                                doc.text, self._limits.next_edit_rules))
        return actions

    def proposed(self, session_id: str, uri: str, version: int, after: str,
                 suggestions: list[Suggestion], suggestion_id: str) -> list[Action]:
        """The engine's answer for ``uri`` at ``version``: the first suggestion as a frame if the
        document is still at that version (a client that typed on never gets a stale one; the
        edge checks again). The base moves to the text now, unless a suggestion was made or the
        change is an identifier still growing (then the next pause compares with the same base,
        so a name typed on is proposed in full)."""
        session = self._sessions.get(session_id)
        doc = session.docs.get(uri) if session is not None else None
        if session is None or doc is None or doc.version != version or session.route is None:
            return []
        before = session.bases.get(uri)
        if before is None or (not suggestions and not _still_typing(before, after)):
            # A proposal made keeps its base (a name typed on is proposed again in full), as
            # does a name still growing; any other change is the base of the next comparison.
            session.bases[uri] = after
        if not suggestions:
            return []
        first = suggestions[0]
        return [SendFrame(session.route, EditSuggestion(
            suggestion_id, uri, version, first.changes, first.label, first.rule,
            first.confidence))]

    def handle(self, event: EditorEvent, now_ms: int) -> list[Action]:
        """Apply one event; return what must happen because of it."""
        route = Route(event.session_id, event.reply_partition, event.tenant_id, event.user_id,
                      event.plan, event.daily_limit, event.editor)
        body = event.body
        if isinstance(body, SessionEnd):
            session = self._sessions.pop(event.session_id, None)
            if session is None:
                return []
            return [StopCompletion(route, r, "cancelled")
                    for r in sorted(session.inflight | session.tasks)]
        session = self._sessions.get(event.session_id)
        if session is None:
            if isinstance(body, Cancel | DocClose):
                return []  # nothing to apply to: this worker holds no state of the session
            session = _Session(DocumentSet(self._limits.max_documents,
                                           self._limits.max_document_chars),
                               TypingRhythm(self._limits.debounce), now_ms)
            self._sessions[event.session_id] = session
        session.last_event_ms = now_ms
        session.route = route
        session.suggest = event.edit_suggestions and (bool(self._limits.next_edit_rules)
                                                       or self._limits.next_edit_model)
        if not session.suggest and session.bases:
            session.bases.clear()
            session.edit_due.clear()
        try:
            return self._apply(route, session, body, event.received_ms, now_ms)
        except ProtocolError as error:
            request_id = (body.request_id if isinstance(body, CompletionRequest | TaskRequest)
                          else None)
            return self._refuse(route, request_id, error, event.received_ms,
                                body.kind if isinstance(body, TaskRequest) else "completion")

    def _apply(self, route: Route, session: _Session, body: object, received_ms: int,
               now_ms: int) -> list[Action]:
        docs = session.docs
        if isinstance(body, DocOpen):
            session.awaiting.pop(body.uri, None)
            docs.open(body.uri, body.language_id, body.version, body.text)
            session.edit_due.pop(body.uri, None)
            if session.suggest:
                session.bases[body.uri] = body.text
        elif isinstance(body, DocSnapshot):
            return self._resume(route, session, body, now_ms)
        elif isinstance(body, DocChange):
            session.rhythm.keystroke(received_ms)
            actions = session.supersede(route, "superseded") + self._change(route, session, body)
            doc = docs.get(body.uri)
            if session.suggest and doc is not None and doc.version == body.version:
                # Each edit pushes the proposal back: it runs once the burst has ended.
                session.edit_due[body.uri] = now_ms + session.rhythm.idle_ms()
            return actions
        elif isinstance(body, DocClose):
            session.bases.pop(body.uri, None)
            session.heads.pop(body.uri, None)
            session.edit_due.pop(body.uri, None)
            if docs.get(body.uri) is not None:
                docs.close(body.uri)
            if body.uri in session.awaiting:
                del session.awaiting[body.uri]
                ended = [w for w in session.waiting_tasks if w[0].uri == body.uri]
                session.waiting_tasks = [w for w in session.waiting_tasks
                                         if w[0].uri != body.uri]
                return session.supersede(route, "cancelled") + [
                    SendFrame(route, CompletionEnd(w[0].request_id, "cancelled", 0),
                              received_ms=w[1], kind=w[0].kind)
                    for w in ended]
        elif isinstance(body, CursorMove):
            return session.supersede(route, "superseded")
        elif isinstance(body, Cancel):
            return self._cancel(route, session, body.request_id)
        elif isinstance(body, CompletionRequest):
            return self._request(route, session, body, received_ms, now_ms)
        elif isinstance(body, TaskRequest):
            return self._task(route, session, body, received_ms, now_ms)
        return []

    def _task(self, route: Route, session: _Session, body: TaskRequest, received_ms: int,
              now_ms: int) -> list[Action]:
        """Start a task now (no debounce: the user asked for it), or once the edge's copy of
        its document arrives."""
        doc = session.docs.get(body.uri)
        if doc is not None and body.version < doc.version and body.uri not in session.awaiting:
            return [SendFrame(route, CompletionEnd(body.request_id, "superseded", 0,
                                                   detail="the document changed since"),
                              received_ms=received_ms, kind=body.kind)]
        if (doc is None or body.uri in session.awaiting or body.version > doc.version
                or body.end > len(doc.text)):
            session.waiting_tasks.append((body, received_ms, now_ms))
            return session.await_snapshot(route, body.uri)
        if body.start > body.end:
            raise StateError("invalid_range", f"start {body.start} is after end {body.end}",
                             "start")
        session.tasks.add(body.request_id)
        neighbours = tuple((d.uri, d.text[:NEIGHBOUR_HEAD_CHARS]) for d in session.docs.all()
                           if d.uri != body.uri)
        # The language as the model knows it: from the editor's languageId, else the file name
        # (an editor without filetype detection sends an empty or unknown id).
        language = canonical_id(doc.language_id, body.uri)
        return [StartTask(route, body.request_id, body.kind, body.uri, doc.version, language,
                          doc.text, body.start, body.end, body.instruction, neighbours,
                          received_ms, now_ms)]

    @staticmethod
    def _change(route: Route, session: _Session, body: DocChange) -> list[Action]:
        """Apply an edit the edge accepted. A replayed one is ignored; one that does not fit
        this worker's copy means the copy is incomplete (a restart or a moved partition):
        ask the edge for the document instead of failing the user."""
        doc = session.docs.get(body.uri)
        if doc is None or body.uri in session.awaiting:
            return session.await_snapshot(route, body.uri, body.version)
        if body.version <= doc.version:
            return []
        try:
            session.docs.change(body.uri, body.version, body.changes)
        except ProtocolError:
            return session.await_snapshot(route, body.uri, body.version)
        return []

    def _request(self, route: Route, session: _Session, body: CompletionRequest,
                 received_ms: int, now_ms: int) -> list[Action]:
        actions = session.supersede(route, "superseded")
        doc = session.docs.get(body.uri)
        if doc is not None and body.version < doc.version:
            # Replayed, or overtaken by a newer edit: the user has moved on.
            return [*actions, SendFrame(route, CompletionEnd(body.request_id, "superseded", 0),
                                        received_ms=received_ms)]
        if (doc is None or body.uri in session.awaiting or body.version > doc.version
                or body.offset > len(doc.text)):
            session.pending = _Pending(route, body, received_ms, now_ms, now_ms)
            return actions + session.await_snapshot(route, body.uri)
        last_char = doc.text[body.offset - 1] if body.offset else "\n"
        wait_ms = session.rhythm.wait_ms(last_char)
        # Count the wait from the earlier clock: Kafka transit already covered part of it,
        # and a skewed edge clock can never push the wait past the ceiling.
        pending = _Pending(route, body, received_ms, now_ms, min(received_ms, now_ms) + wait_ms)
        if pending.fire_at_ms <= now_ms:
            return actions + self._start(session, pending, now_ms)
        session.pending = pending
        return actions

    def _resume(self, route: Route, session: _Session, body: DocSnapshot, now_ms: int
                ) -> list[Action]:
        """The edge's copy arrived: serve the request that waited for it, if still current."""
        seen = session.awaiting.pop(body.uri, -1)
        if body.version < seen:
            # An edit newer than this snapshot overtook it on the way: the copy would be stale.
            return session.await_snapshot(route, body.uri, seen)
        session.docs.open(body.uri, body.language_id, body.version, body.text)
        if session.suggest:
            session.bases[body.uri] = body.text
        actions: list[Action] = []
        waiting = [w for w in session.waiting_tasks if w[0].uri == body.uri]
        session.waiting_tasks = [w for w in session.waiting_tasks if w[0].uri != body.uri]
        for task, received_ms, arrived_ms in waiting:
            try:
                actions += self._task(route, session, task, received_ms, arrived_ms)
            except ProtocolError as error:
                actions += self._refuse(route, task.request_id, error, received_ms, task.kind)
        pending = session.pending
        if pending is None or pending.request.uri != body.uri:
            return actions
        session.pending = None
        if pending.request.version != body.version:
            return [*actions, SendFrame(pending.route, CompletionEnd(pending.request.request_id,
                                                                     "superseded", 0),
                                        received_ms=pending.received_ms)]
        return actions + self._start(session, pending, now_ms)

    @staticmethod
    def _cancel(route: Route, session: _Session, request_id: str) -> list[Action]:
        if request_id in session.tasks:
            session.tasks.discard(request_id)
            return [StopCompletion(route, request_id, "cancelled")]
        waiting = [w for w in session.waiting_tasks if w[0].request_id == request_id]
        if waiting:
            session.waiting_tasks.remove(waiting[0])
            return [SendFrame(route, CompletionEnd(request_id, "cancelled", 0),
                              received_ms=waiting[0][1], kind=waiting[0][0].kind)]
        if request_id in session.inflight:
            session.inflight.discard(request_id)
            return [StopCompletion(route, request_id, "cancelled")]
        pending = session.pending
        if pending is not None and pending.request.request_id == request_id:
            session.pending = None
            return [SendFrame(route, CompletionEnd(request_id, "cancelled", 0),
                              received_ms=pending.received_ms)]
        return []

    def _start(self, session: _Session, pending: _Pending, now_ms: int) -> list[Action]:
        request = pending.request
        if request_age_ms(pending, now_ms) > self._limits.request_deadline_ms:
            # Too old to help the user (the worker is behind): spend no inference on it.
            timing = StageTimes(pending.received_ms, pending.arrived_ms, now_ms, now_ms, now_ms)
            return [SendFrame(pending.route, CompletionEnd(request.request_id, "expired", 0),
                              timing, pending.received_ms)]
        try:
            doc = session.docs.check_position(request.uri, request.version, request.offset)
        except ProtocolError as error:  # e.g. the document was closed while the request waited
            return self._refuse(pending.route, request.request_id, error, pending.received_ms)
        limits = self._limits
        prompt = build_prompt(doc, request.offset, limits.prompt_prefix_chars,
                              limits.prompt_suffix_chars, session.neighbours(doc),
                              session.heads.setdefault(request.uri, HeadMemo()))
        max_tokens = min(request.max_tokens or limits.max_completion_tokens,
                         limits.max_completion_tokens)
        session.inflight.add(request.request_id)
        return [StartCompletion(pending.route, request.request_id, request.uri, request.offset,
                                prompt, max_tokens, pending.received_ms, pending.arrived_ms,
                                now_ms)]

    @staticmethod
    def _refuse(route: Route, request_id: str | None, error: ProtocolError,
                received_ms: int | None = None, kind: RequestKind = "completion"
                ) -> list[Action]:
        frame = ErrorFrame(code=error.code, message=error.message, field=error.field,
                           request_id=request_id)
        actions: list[Action] = [SendFrame(route, frame)]
        if request_id is not None:
            actions.append(SendFrame(route, CompletionEnd(request_id, "error", 0,
                                                          detail=error.code),
                                     received_ms=received_ms, kind=kind))
        return actions

    def finished(self, session_id: str, request_id: str) -> None:
        """A generation ended (any reason): it is no longer in flight."""
        session = self._sessions.get(session_id)
        if session is not None:
            session.inflight.discard(request_id)
            session.tasks.discard(request_id)
