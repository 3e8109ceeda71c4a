"""The one request lifecycle: every request gets exactly one end, nothing after it, and the end
only once its event is on the broker (a recording publisher stands in for Kafka)."""

from __future__ import annotations

import asyncio

import pytest

from schemas.socket import CompletionEnd, EndReason, TokenChunk
from schemas.topics import CompletionEvent, ReplyFrame, StageTimes, event_id
from workers.core import Route
from workers.lifecycle import Lifecycle, Outcome, Request, request_event

ROUTE = Route("s1", 0, "t", "u", "pro", None)


class SlowBroker:
    """Records frames and events; an event is acknowledged ``ack_s`` after it is emitted."""

    def __init__(self, ack_s: float = 0.0) -> None:
        self.ack_s = ack_s
        self.log: list[object] = []

    async def send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                   ) -> None:
        self.log.append(frame)

    def emit(self, topic: str, record: object, route: Route) -> asyncio.Task[None]:
        async def deliver() -> None:
            await asyncio.sleep(self.ack_s)
            self.log.append(record)
        return asyncio.create_task(deliver())

    async def drain(self) -> None:
        pass

    def ends(self) -> list[CompletionEnd]:
        return [f for f in self.log if isinstance(f, CompletionEnd)]


class TimedBroker(SlowBroker):
    """Also records the stage times each frame carried."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: list[StageTimes | None] = []

    async def send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                   ) -> None:
        self.log.append(frame)
        self.timings.append(timing)


class Scripted:
    """An answer that streams ``chunks`` pieces ``delay_s`` apart, then ends or fails."""

    def __init__(self, lifecycle: Lifecycle, chunks: int = 3, delay_s: float = 0.0,
                 fail: BaseException | None = None, swallow: bool = False) -> None:
        self.lifecycle, self.chunks, self.delay_s = lifecycle, chunks, delay_s
        self.fail, self.swallow = fail, swallow

    async def produce(self, request: Request) -> Outcome:
        for i in range(self.chunks):
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:
                if not self.swallow:
                    raise
                return Outcome("stop")  # a library that turns cancellation into a result
            await self.lifecycle.stream(request, TokenChunk(request.request_id, i, "x"), 1, 1)
        if self.fail is not None:
            raise self.fail
        return Outcome("stop")

    def event(self, request: Request, reason: EndReason) -> CompletionEvent:
        return request_event(request, reason, model="m", language_id="python",
                             source="inferred", admitted=True, received_ms=0)

    def end_timing(self, request: Request) -> StageTimes | None:
        return None if request.chunks else StageTimes(1, 2, 3, 4, 4)


def lifecycle(broker: SlowBroker) -> tuple[Lifecycle, list[tuple[str, str]]]:
    finished: list[tuple[str, str]] = []
    return Lifecycle(broker, None, "completions", lambda s, r: finished.append((s, r))), finished


async def settle(life: Lifecycle) -> None:
    for _ in range(300):
        await asyncio.sleep(0.01)
        if not life.in_flight:
            await asyncio.sleep(0.05)
            return
    raise AssertionError("requests did not finish")


class TestExactlyOneEnd:
    """Finished, failed, stopped, or stopped while a library swallowed the cancellation."""

    @pytest.mark.parametrize("fail", [None, RuntimeError("boom")])
    async def test_a_request_that_ends_by_itself(self, fail: BaseException | None) -> None:
        broker = SlowBroker()
        life, finished = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life, fail=fail))
        await settle(life)
        (end,) = broker.ends()
        assert (end.reason, end.chunks) == (("stop", 3) if fail is None else ("error", 3))
        assert end.detail is None or "internal error: RuntimeError" in end.detail
        assert broker.log[-1] is end, "nothing after the end"
        assert finished == [("s1", "r1")]

    @pytest.mark.parametrize("swallow", [False, True])
    async def test_a_stopped_request(self, swallow: bool) -> None:
        broker = SlowBroker()
        life, finished = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life, chunks=50, delay_s=0.01, swallow=swallow))
        await asyncio.sleep(0.05)
        await life.stop(ROUTE, "r1", "superseded")
        await life.stop(ROUTE, "r1", "cancelled")  # a second stop is a no-op
        await settle(life)
        (end,) = broker.ends()
        assert end.reason == "superseded" and 0 < end.chunks < 50
        assert broker.log[-1] is end
        (event,) = [e for e in broker.log if isinstance(e, CompletionEvent)]
        assert (event.reason, event.chunks) == ("superseded", end.chunks)
        assert finished == [("s1", "r1")]

    async def test_a_failure_before_any_chunk_ends_with_the_stage_times(self) -> None:
        """The edge still learns how long the request queued."""
        broker = TimedBroker()
        life, _ = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life, chunks=0, fail=RuntimeError("boom")))
        await settle(life)
        (end,) = broker.ends()
        assert end.reason == "error" and broker.timings[-1] == StageTimes(1, 2, 3, 4, 4)

    @pytest.mark.parametrize("reason", ["superseded", "cancelled"])
    async def test_a_request_stopped_before_its_task_ever_ran(self, reason: str) -> None:
        """A start and its stop from one poll of the broker: the task is cancelled before its
        first step, so none of its own code runs; the stop still reports it, once."""
        broker = SlowBroker()
        life, finished = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life))
        await life.stop(ROUTE, "r1", reason)  # type: ignore[arg-type]
        await settle(life)
        await asyncio.sleep(0.05)
        (end,) = broker.ends()
        (event,) = [e for e in broker.log if isinstance(e, CompletionEvent)]
        assert (end.reason, end.chunks) == (reason, 0)
        assert (event.reason, event.chunks, event.request_id) == (reason, 0, "r1")
        assert broker.log.index(event) < broker.log.index(end), "the end after the event"
        assert finished == [("s1", "r1")]

    async def test_a_request_closed_before_its_task_ever_ran_is_reported(self) -> None:
        """At shutdown too: a request started in the last poll has its event."""
        broker = SlowBroker()
        life, finished = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life))
        await life.close()
        await asyncio.sleep(0.05)
        (event,) = [e for e in broker.log if isinstance(e, CompletionEvent)]
        assert (event.reason, event.request_id) == ("cancelled", "r1")
        assert finished == [("s1", "r1")]

    async def test_stopping_an_unknown_request_sends_nothing(self) -> None:
        broker = SlowBroker()
        life, _ = lifecycle(broker)
        await life.stop(ROUTE, "nope", "cancelled")
        assert broker.log == []


class TestEndAfterEvent:
    """A client never sees the end of a request whose event a crash could still lose."""

    async def test_the_end_waits_for_the_event(self) -> None:
        broker = SlowBroker(ack_s=0.1)
        life, _ = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life, chunks=1))
        await settle(life)
        await asyncio.sleep(0.15)
        kinds = [type(f).__name__ for f in broker.log]
        assert kinds == ["TokenChunk", "CompletionEvent", "CompletionEnd"]

    async def test_a_stopped_request_too(self) -> None:
        broker = SlowBroker(ack_s=0.1)
        life, _ = lifecycle(broker)
        life.start(ROUTE, "r1", Scripted(life, chunks=50, delay_s=0.01))
        await asyncio.sleep(0.03)
        await life.stop(ROUTE, "r1", "cancelled")
        assert broker.ends() == [], "the stop does not wait for the broker, its end does"
        await asyncio.sleep(0.2)
        assert [type(f).__name__ for f in broker.log][-2:] == ["CompletionEvent",
                                                               "CompletionEnd"]


class TestEveryRequestCounted:
    """A request that ends before any answer started (superseded while it waited, cancelled,
    expired, refused) still gets its one analytics row: analysts count what users asked for."""

    @pytest.mark.parametrize("reason", ["superseded", "cancelled", "expired", "error"])
    async def test_an_unstarted_request_has_its_event_before_its_end(self, reason: str) -> None:
        broker = SlowBroker(ack_s=0.05)
        life, _ = lifecycle(broker)
        await life.end_unstarted(ROUTE, CompletionEnd("r9", reason, 0))  # type: ignore[arg-type]
        assert [type(f).__name__ for f in broker.log] == ["CompletionEvent", "CompletionEnd"]
        event = broker.log[0]
        assert isinstance(event, CompletionEvent)
        assert (event.request_id, event.reason, event.admitted, event.source, event.chunks) == (
            "r9", reason, False, "none", 0)
        assert event.event_id == event_id(ROUTE.session_id, "r9"), "one row per request"
