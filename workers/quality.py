"""The asyncio side of :class:`~workers.persistence.PersistenceTracker`: it follows each
session's feedback, edits and end, and publishes persistence and authorship events (lengths and
counts only) through the worker's :class:`~workers.publisher.EventPublisher`."""

from __future__ import annotations

from collections.abc import Callable

from schemas.socket import DocChange, Feedback
from schemas.topics import AuthorshipEvent, EditorEvent, PersistenceEvent, SessionEnd, event_id
from workers.core import Route, WorkerCore
from workers.persistence import PersistenceTracker
from workers.publisher import EventPublisher


class QualityFollower:
    """Feeds the tracker from editor events; emits its checkpoints and authorship figures."""

    def __init__(self, core: WorkerCore, tracker: PersistenceTracker,
                 publisher: EventPublisher, topic: str) -> None:
        self._core = core
        self.tracker = tracker
        self._publisher = publisher
        self._topic = topic
        #: The last route of each session, to bill its events to.
        self._routes: dict[str, Route] = {}

    def follow(self, event: EditorEvent, route: Route, now_ms: int) -> None:
        """Suggestions accepted, edits, sessions ending."""
        body, session_id = event.body, event.session_id
        if isinstance(body, Feedback):
            uri = self.tracker.uri_of(session_id, body.request_id)
            doc = self._core.document(session_id, uri) if uri is not None else None
            self.tracker.accepted(session_id, body.request_id, body.accepted_chars,
                                  doc.text if doc is not None else None, now_ms)
        elif isinstance(body, DocChange):
            doc = self._core.document(session_id, body.uri)
            if doc is not None:
                self.tracker.edited(session_id, body.uri, doc.language_id, body.changes)
        elif isinstance(body, SessionEnd):
            for authorship in self.tracker.forget(session_id):
                self._publisher.emit(self._topic, AuthorshipEvent(
                    event_id=event_id(session_id, "authorship", authorship.language_id),
                    session_id=session_id, tenant_id=route.tenant_id, user_id=route.user_id,
                    plan=route.plan,  # type: ignore[arg-type]
                    language_id=authorship.language_id[:64],
                    typed_chars=authorship.typed_chars,
                    completion_chars=authorship.completion_chars, ended_ms=now_ms), route)
            self._routes.pop(session_id, None)
            return
        self._routes[session_id] = route

    def measure(self, now_ms: int) -> None:
        """Publish the persistence checkpoints that are due."""
        texts = {}
        for session_id, uri in self.tracker.tracked_uris():
            doc = self._core.document(session_id, uri)
            if doc is not None:
                texts[(session_id, uri)] = doc.text
        for checkpoint in self.tracker.due(now_ms, texts):
            route = self._routes.get(checkpoint.session_id)
            if route is None:
                continue
            self._publisher.emit(self._topic, PersistenceEvent(
                event_id=event_id(checkpoint.session_id, checkpoint.request_id,
                                  str(checkpoint.checkpoint_s)),
                session_id=checkpoint.session_id, tenant_id=route.tenant_id,
                user_id=route.user_id, plan=route.plan,  # type: ignore[arg-type]
                request_id=checkpoint.request_id, language_id=checkpoint.language_id[:64],
                checkpoint_s=checkpoint.checkpoint_s, accepted_chars=checkpoint.accepted_chars,
                surviving_chars=checkpoint.surviving_chars, accepted_ms=checkpoint.accepted_ms),
                route)

    def retain(self, alive: Callable[[str], bool]) -> set[str]:
        """Forget sessions that are gone; the sessions still followed."""
        self._routes = {sid: r for sid, r in self._routes.items() if alive(sid)}
        self.tracker.retain(alive)
        return set(self._routes)
