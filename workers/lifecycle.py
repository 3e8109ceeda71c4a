"""One request lifecycle for every kind of answer: admit, stream frames, report, end once.

Completions and assistant tasks (and, later, next-edit suggestions) are *answers*: an
:class:`Answer` knows how to produce its frames and how to describe itself as a
:class:`~schemas.topics.CompletionEvent`. :class:`Lifecycle` runs any answer and owns the rules
that used to be spread over the worker:

- every request the worker started gets **exactly one** ``end`` frame, whether it finished, failed,
  was stopped (superseded, cancelled, expired) or a library swallowed its cancellation;
- nothing of a request is sent after its ``end``;
- the ``end`` goes out only once the request's event is on the broker, so a client never sees the
  end of a request whose accounting a crash could still lose;
- a refused quota tells the client why (``quota_exceeded``) before the request ends ``quota``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from schemas.socket import CompletionEnd, EndReason, ErrorFrame, TokenChunk
from schemas.topics import (
    CompletionEvent,
    FrameBatch,
    ReplyFrame,
    RequestKind,
    Source,
    StageTimes,
    event_id,
)
from workers.core import Route
from workers.publisher import EventPublisher
from workers.quota import QuotaGate

log = logging.getLogger("workers")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Request:
    """One request being answered: what it has sent, and whether it was stopped (then it sends
    nothing more, even if a library swallowed the cancellation) or has ended."""

    task: asyncio.Task[None]

    def __init__(self, route: Route, request_id: str, answer: Answer) -> None:
        self.route = route
        self.request_id = request_id
        self.answer = answer
        #: Whether its task ran at all: one cancelled before its first step runs none of it.
        self.began = False
        self.chunks = 0
        self.generated_chars = 0
        self.first_chunk_ms: int | None = None
        self.stopped = False
        self.stop_reason: EndReason = "cancelled"
        #: The delivery of its event, which its end frame waits for.
        self.report: asyncio.Task[None] | None = None
        self.ended = False
        #: Its last frame, held to travel with its end in one record (counted already).
        self.tail: TokenChunk | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an answer ended by itself (a stop is not an outcome: the stop's reason is)."""

    reason: EndReason
    detail: str | None = None
    #: Stage times for the end frame, when no chunk carried them.
    timing: StageTimes | None = None


def request_event(request: Request, reason: EndReason, *, model: str, language_id: str,
                  source: Source, admitted: bool, received_ms: int,
                  kind: RequestKind = "completion") -> CompletionEvent:
    """The :class:`CompletionEvent` of any request: ``model`` names what answered it (a task's
    route model), so analytics and billing see every kind side by side."""
    route = request.route
    return CompletionEvent(
        event_id=event_id(route.session_id, request.request_id),
        session_id=route.session_id, tenant_id=route.tenant_id, user_id=route.user_id,
        plan=route.plan,  # type: ignore[arg-type]
        request_id=request.request_id, model=model[:128], language_id=language_id[:64],
        source=source, admitted=admitted, reason=reason, chunks=request.chunks,
        generated_chars=request.generated_chars, received_ms=received_ms, ended_ms=now_ms(),
        first_chunk_latency_ms=(None if request.first_chunk_ms is None
                                else request.first_chunk_ms - received_ms),
        kind=kind, editor=route.editor)


def unstarted_event(route: Route, end: CompletionEnd, received_ms: int, ended_ms: int,
                    kind: RequestKind = "completion") -> CompletionEvent:
    """The event of a request that ended before any answer started: analytics count every
    request a client sent."""
    return CompletionEvent.unstarted(route.session_id, route.tenant_id, route.user_id,
                                     route.plan, end.request_id, end.reason,  # type: ignore[arg-type]
                                     received_ms, ended_ms, kind=kind, editor=route.editor)


class Answer(Protocol):
    """One kind of answer, as the lifecycle runs it."""

    async def produce(self, request: Request) -> Outcome:
        """Send the answer's frames through :meth:`Lifecycle.stream`; return how it ended."""

    def event(self, request: Request, reason: EndReason) -> CompletionEvent:
        """The request's analytics event (metadata only)."""

    def end_timing(self, request: Request) -> StageTimes | None:
        """Stage times for an end that no chunk carried them before (``None``: none)."""


class Lifecycle:
    """The requests in flight and the one way each of them ends."""

    def __init__(self, publisher: EventPublisher, quota: QuotaGate | None, completions_topic: str,
                 finished: Callable[[str, str], None]) -> None:
        self.publisher = publisher
        self._quota = quota
        self._topic = completions_topic
        #: Tells the pure core a request is over (it stops tracking it as in flight).
        self._finished = finished
        self._requests: dict[tuple[str, str], Request] = {}
        self._ending: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._requests)

    async def end_unstarted(self, route: Route, end: CompletionEnd,
                            timing: StageTimes | None = None,
                            received_ms: int | None = None,
                            kind: RequestKind = "completion") -> None:
        """Send the end of a request that never started, after its event (as for any other),
        dated by the edge's receipt of the request when known."""
        ended = now_ms()
        event = unstarted_event(route, end, ended if received_ms is None else received_ms, ended,
                                kind)
        report = self.publisher.emit(self._topic, event, route)
        if report is not None:
            await asyncio.wait({report})
        await self.publisher.send(route, end, timing)

    def start(self, route: Route, request_id: str, answer: Answer) -> None:
        request = Request(route, request_id, answer)
        request.task = asyncio.create_task(self._run(request))
        self._requests[(route.session_id, request_id)] = request

    async def stop(self, route: Route, request_id: str, reason: EndReason) -> None:
        """Stop a request: its task is gone before its end is sent (no frame of it can follow),
        and the end waits for its event without holding up the caller."""
        request = self._requests.pop((route.session_id, request_id), None)
        if request is None:
            return
        request.stopped = True
        request.stop_reason = reason
        request.task.cancel()
        await asyncio.gather(request.task, return_exceptions=True)
        if not request.began:
            # Started and stopped in one go (one poll of the broker): the cancellation reached
            # the task before its first step, so none of ``_run`` ran to report it.
            self._finished(route.session_id, request_id)
        self._report(request, reason)
        ending = asyncio.create_task(self._end(request, Outcome(reason)))
        self._ending.add(ending)
        ending.add_done_callback(self._stop_ended)

    async def stream(self, request: Request, frame: ReplyFrame, count: int = 1, chars: int = 0,
                     timing: StageTimes | None = None) -> None:
        """Send ``frame`` (``count`` chunks, ``chars`` generated characters) for ``request``."""
        if request.stopped or request.ended:
            raise asyncio.CancelledError  # its end was sent: nothing may follow it
        await self.publisher.send(request.route, frame, timing)
        if request.chunks == 0:
            request.first_chunk_ms = now_ms()
        request.chunks += count
        request.generated_chars += chars

    def hold(self, request: Request, frame: TokenChunk, chars: int) -> None:
        """Keep ``frame``, the request's last, to send with its end (one record instead of two:
        the end waits for the request's event on the broker anyway)."""
        if request.stopped or request.ended:
            raise asyncio.CancelledError
        request.tail = frame
        request.chunks += 1
        request.generated_chars += chars

    async def admit(self, request: Request) -> bool:
        """Take one unit of quota; on refusal tell the client why (no inference is spent)."""
        if self._quota is None:
            return True
        route = request.route
        decision = await self._quota.take(route.tenant_id, route.user_id, route.daily_limit,
                                          now_ms())
        if decision.allowed:
            return True
        resets = datetime.fromtimestamp(decision.resets_at_ms / 1000, UTC)
        limit = (f"the {route.plan} plan allows {decision.limit} completions per UTC day"
                 if not decision.degraded else
                 f"the quota service is unavailable, so the {route.plan} plan is limited to "
                 f"{decision.limit} completions per UTC day on this server until it is back")
        await self.publisher.send(route, ErrorFrame(
            code="quota_exceeded", message=f"{limit}; the quota resets at {resets.isoformat()}",
            request_id=request.request_id))
        return False

    async def close(self) -> None:
        """Cancel what runs (at shutdown) and wait for the ends already under way. Every request
        is reported, one whose task never ran too (as ``_run`` reports the others)."""
        requests = list(self._requests.values())
        for request in requests:
            request.task.cancel()
        await asyncio.gather(*(request.task for request in requests), return_exceptions=True)
        for request in requests:
            if not request.began:
                self._finished(request.route.session_id, request.request_id)
                self._report(request, request.stop_reason)
        await asyncio.gather(*self._ending, return_exceptions=True)
        if self._quota is not None:
            await self._quota.settled()  # units of cancelled takes, given back before we go

    async def _run(self, request: Request) -> None:
        request.began = True
        route = request.route
        try:
            outcome = await request.answer.produce(request)
        except asyncio.CancelledError:
            self._report(request, request.stop_reason)
            raise  # stop() sends the end frame
        except Exception as error:
            log.exception("request failed")
            outcome = Outcome("error", f"internal error: {type(error).__name__}",
                              request.answer.end_timing(request))
        finally:
            self._finished(route.session_id, request.request_id)
            key = (route.session_id, request.request_id)
            if self._requests.get(key) is request:
                del self._requests[key]
        if request.stopped:  # the cancellation was swallowed: the stop sends the end
            self._report(request, request.stop_reason)
            return
        self._report(request, outcome.reason)
        await self._end(request, outcome)

    def _report(self, request: Request, reason: EndReason) -> None:
        """Emit the request's event, once (in the background: this may run while its task is
        being cancelled); its end frame waits for it."""
        if request.report is None:
            request.report = self.publisher.emit(self._topic,
                                                 request.answer.event(request, reason),
                                                 request.route)

    async def _end(self, request: Request, outcome: Outcome) -> None:
        if request.ended:
            return
        request.ended = True
        if request.report is not None:
            await asyncio.wait({request.report})
        end = CompletionEnd(request.request_id, outcome.reason, request.chunks,
                            detail=outcome.detail)
        await self.publisher.send(request.route, end if request.tail is None else
                                  FrameBatch((request.tail, end)), outcome.timing)

    def _stop_ended(self, task: asyncio.Task[Any]) -> None:
        self._ending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("end of a stopped request not sent: %s", type(task.exception()).__name__)
