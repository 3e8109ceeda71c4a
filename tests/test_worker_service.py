"""The worker's asyncio adapter with a small double for the model and the reply topic:
ordering of frames, cleanup of generations, quota refusal, model failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from config.settings import Settings
from quota.arithmetic import QuotaDecision
from schemas.socket import (
    Cancel,
    CompletionEnd,
    CompletionRequest,
    DocChange,
    DocOpen,
    ErrorFrame,
    FindingResult,
    TaskRequest,
    TextEdit,
    TokenChunk,
)
from schemas.tasks import TaskFinding, TaskText, write_item
from schemas.topics import EditorBody, EditorEvent, FrameBatch, ReplyFrame, StageTimes, write_record
from workers.core import Route, StartTask
from workers.inference import InferenceError
from workers.lifecycle import now_ms
from workers.prompt import Prompt
from workers.service import CompletionWorker


class SlowModel:
    """Yields ``tokens`` pieces, ``delay_s`` apart; can be told to fail."""

    def __init__(self, tokens: int = 5, delay_s: float = 0.02, fail: bool = False) -> None:
        self.tokens, self.delay_s, self.fail = tokens, delay_s, fail
        self.calls = 0

    async def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]:
        self.calls += 1
        for i in range(min(self.tokens, max_tokens)):
            await asyncio.sleep(self.delay_s)
            if self.fail:
                raise InferenceError("model code_ngram failed: boom")
            yield f"t{i}"

    async def close(self) -> None:
        pass


class RefuseAll:
    async def take(self, tenant_id: str, user_id: str, plan: str, now: int) -> QuotaDecision:
        return QuotaDecision(False, 101, 100, 86_400_000)


class AllowOnce:
    """Grants the first unit of quota, refuses the rest."""

    def __init__(self) -> None:
        self.granted = False

    async def take(self, tenant_id: str, user_id: str, plan: str, now: int) -> QuotaDecision:
        allowed, self.granted = not self.granted, True
        return QuotaDecision(allowed, 1 if allowed else 2, 1, 86_400_000)


class MemoryCache:
    """The cache's interface over a dict."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[list[str], str]] = {}

    async def get(self, key: str) -> tuple[list[str], str] | None:
        return self.data.get(key)

    async def put(self, key: str, chunks: list[str], reason: str) -> None:
        self.data[key] = (list(chunks), reason)


class RecordingPublisher:
    """The publisher's interface, recording frames and events instead of producing them."""

    def __init__(self) -> None:
        #: The frames as the edge delivers them (a batch's one by one), and the records.
        self.sent: list[ReplyFrame] = []
        self.records: list[ReplyFrame] = []
        self.timings: list[StageTimes | None] = []
        self.events: list[object] = []

    async def send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                   ) -> None:
        self.records.append(frame)
        self.sent.extend(frame.frames if isinstance(frame, FrameBatch) else (frame,))
        self.timings.append(timing)

    def emit(self, topic: str, record: object, route: Route) -> asyncio.Task[None] | None:
        self.events.append(record)
        return None

    async def drain(self) -> None:
        pass


class RecordingWorker(CompletionWorker):
    """The real worker, with reply frames and events recorded instead of produced."""

    def __init__(self, model: SlowModel, quota: object = None, cache: object = None,
                 settings: Settings | None = None) -> None:
        self.recorder = RecordingPublisher()
        super().__init__(settings or Settings(), model, quota, cache,  # type: ignore[arg-type]
                         publisher=self.recorder)
        self.sent = self.recorder.sent
        self.timings = self.recorder.timings
        self.reply_partitions = 8


async def feed(worker: CompletionWorker, body: EditorBody, session: str = "s1") -> None:
    event = EditorEvent("e", session, 0, "t", "u", "pro", None, now_ms(), body)
    await worker.handle_batch([(write_record(event), 0, 0)])


async def start_request(worker: CompletionWorker, request_id: str = "r1", session: str = "s1"
                        ) -> None:
    await feed(worker, DocOpen("a.py", "python", 1, "x = 1\n"), session)
    await feed(worker, CompletionRequest(request_id, "a.py", 1, 6), session)  # after a newline


async def until_idle(worker: CompletionWorker) -> None:
    for _ in range(200):
        if not worker.lifecycle.in_flight:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("generations did not finish")


class TestWorkerFrames:
    """Every request ends exactly once, after its last token, and leaves nothing behind."""

    async def test_tokens_then_end(self) -> None:
        worker = RecordingWorker(SlowModel(tokens=3, delay_s=0),
                                 settings=Settings(reply_interval_ms=0))
        await start_request(worker)
        await until_idle(worker)
        assert worker.sent == [TokenChunk("r1", 0, "t0"), TokenChunk("r1", 1, "t1"),
                               TokenChunk("r1", 2, "t2"), CompletionEnd("r1", "stop", 3)]
        first, *rest = worker.timings
        assert first is not None and rest == [None, None, None], "only the first chunk is timed"
        assert worker.recorder.records == worker.sent, \
            "with REPLY_INTERVAL_MS=0 every frame is its own record (what older edges read)"
        assert first.received_ms <= first.consumed_ms <= first.fired_ms <= first.first_chunk_ms
        assert 'worker_requests_total{source="inferred"} 1' in worker.metrics.render()

    async def test_a_fast_models_tokens_travel_together_after_the_first(self) -> None:
        """Past the first chunk, what the model streams goes at most once per reply interval:
        fewer records and frames, the same text, an end that counts the chunks sent."""
        worker = RecordingWorker(SlowModel(tokens=20, delay_s=0.005),
                                 settings=Settings(reply_interval_ms=40))
        await start_request(worker)
        await until_idle(worker)
        chunks = [f for f in worker.sent if isinstance(f, TokenChunk)]
        assert chunks[0].text == "t0", "the first token goes alone, at once"
        assert "".join(c.text for c in chunks) == "".join(f"t{i}" for i in range(20))
        assert 2 <= len(chunks) <= 6, chunks
        assert [c.seq for c in chunks] == list(range(len(chunks)))
        assert worker.sent[-1] == CompletionEnd("r1", "stop", len(chunks))
        assert worker.recorder.records[-1] == FrameBatch((chunks[-1], worker.sent[-1])), \
            "the last chunk travels with the end"

    async def test_the_reply_interval_never_holds_back_the_end(self) -> None:
        worker = RecordingWorker(SlowModel(tokens=2, delay_s=0.01),
                                 settings=Settings(reply_interval_ms=5000))
        await start_request(worker)
        started = asyncio.get_running_loop().time()
        await until_idle(worker)
        assert asyncio.get_running_loop().time() - started < 1.0
        assert [f.text for f in worker.sent if isinstance(f, TokenChunk)] == ["t0", "t1"]
        assert worker.sent[-1] == CompletionEnd("r1", "stop", 2)

    async def test_cancel_mid_stream_ends_with_the_count_and_no_token_after(self) -> None:
        worker = RecordingWorker(SlowModel(tokens=50, delay_s=0.01))
        await start_request(worker)
        await asyncio.sleep(0.05)
        await feed(worker, Cancel("r1"))
        await asyncio.sleep(0.01)  # the end goes out once the request's event is reported
        sent_at_end = len(worker.sent)
        await asyncio.sleep(0.05)
        end = worker.sent[-1]
        assert len(worker.sent) == sent_at_end, "nothing is sent after the end"
        tokens = [f for f in worker.sent if isinstance(f, TokenChunk)]
        assert 0 < len(tokens) < 50
        assert end == CompletionEnd("r1", "cancelled", len(tokens))
        assert worker.lifecycle.in_flight == 0

    async def test_quota_refusal_spends_no_inference_and_cleans_up(self) -> None:
        model = SlowModel()
        worker = RecordingWorker(model, quota=RefuseAll())
        await start_request(worker)
        await until_idle(worker)
        error, end = worker.sent
        assert isinstance(error, ErrorFrame) and error.code == "quota_exceeded"
        assert "resets at 1970-01-02T00:00:00+00:00" in error.message
        assert end == CompletionEnd("r1", "quota", 0)
        assert model.calls == 0
        assert worker.lifecycle.in_flight == 0

    async def test_model_failure_ends_with_error(self) -> None:
        worker = RecordingWorker(SlowModel(fail=True, delay_s=0))
        await start_request(worker)
        await until_idle(worker)
        (end,) = worker.sent
        assert isinstance(end, CompletionEnd) and end.reason == "error"
        assert end.detail == "model code_ngram failed: boom"

    async def test_bad_records_are_counted_and_skipped(self) -> None:
        worker = RecordingWorker(SlowModel())
        bad_partition = EditorEvent("e", "s1", 4000, "t", "u", "pro", None, 1, DocOpen("a", "x", 1, ""))
        await worker.handle_batch([(b"not json", 0, 1), (None, 0, 2),
                                   (write_record(bad_partition), 0, 3)])
        assert worker.bad_records == 3
        assert worker.sent == []


def frames_of(worker: RecordingWorker, request_id: str) -> list[ReplyFrame]:
    return [f for f in worker.sent if getattr(f, "request_id", None) == request_id]


class TestReuse:
    """Identical prompts share a generation, finished ones come from the cache, and typing the
    suggestion's first characters keeps serving the rest: none of these runs the model again."""

    async def test_identical_prompts_share_one_generation(self) -> None:
        model = SlowModel(tokens=4, delay_s=0.01)
        worker = RecordingWorker(model, settings=Settings(reply_interval_ms=0))
        await start_request(worker, "a1", session="s1")
        await start_request(worker, "b1", session="s2")
        await until_idle(worker)
        assert model.calls == 1
        assert [f for f in frames_of(worker, "a1") if isinstance(f, TokenChunk)] == [
            TokenChunk("a1", i, f"t{i}") for i in range(4)]
        assert frames_of(worker, "b1")[-1] == CompletionEnd("b1", "stop", 4)
        assert worker.stats["shared"] == 1

    async def test_finished_generation_is_served_from_the_cache(self) -> None:
        model, cache = SlowModel(tokens=3, delay_s=0), MemoryCache()
        worker = RecordingWorker(model, cache=cache)
        await start_request(worker, "a1", session="s1")
        await until_idle(worker)
        await start_request(worker, "b1", session="s2")
        await until_idle(worker)
        assert model.calls == 1
        assert [f.text for f in frames_of(worker, "b1") if isinstance(f, TokenChunk)] == [
            "t0t1t2"], "a cached answer is ready at once: one chunk"
        assert frames_of(worker, "b1")[-1] == CompletionEnd("b1", "stop", 1)
        assert worker.stats["cached"] == 1

    async def test_a_new_threshold_or_model_revision_never_serves_an_old_answer(self) -> None:
        cache = MemoryCache()
        first = SlowModel(tokens=3, delay_s=0)
        worker = RecordingWorker(first, cache=cache,
                                 settings=Settings(model_threshold=0.1, model_revision="r1"))
        await start_request(worker, "a1", session="s1")
        await until_idle(worker)
        for changed in (Settings(model_threshold=0.5, model_revision="r1"),
                        Settings(model_threshold=0.1, model_revision="r2"),
                        Settings(model_threshold=-1, model_revision="r1"),
                        Settings(triton_model="code_ngram", model_threshold=0.1,
                                 model_revision="r1")):
            model = SlowModel(tokens=3, delay_s=0)
            other = RecordingWorker(model, cache=cache, settings=changed)
            await start_request(other, "b1", session="s2")
            await until_idle(other)
            assert model.calls == 1 and other.stats["cached"] == 0, changed
        same = SlowModel(tokens=3, delay_s=0)
        again = RecordingWorker(same, cache=cache,
                                settings=Settings(model_threshold=0.1, model_revision="r1"))
        await start_request(again, "c1", session="s3")
        await until_idle(again)
        assert same.calls == 0 and again.stats["cached"] == 1, "the same identity is a hit"

    async def test_typing_the_suggestion_serves_the_rest_without_inference(self) -> None:
        model = SlowModel(tokens=3, delay_s=0.01)  # suggests "t0t1t2"
        worker = RecordingWorker(model, cache=MemoryCache())
        await start_request(worker, "r1")
        await until_idle(worker)
        await feed(worker, DocChange("a.py", 2, (TextEdit(6, 6, "t0t"),)))
        await feed(worker, CompletionRequest("r2", "a.py", 2, 9))  # cursor after "t0t"
        for _ in range(100):
            if frames_of(worker, "r2") and isinstance(frames_of(worker, "r2")[-1], CompletionEnd):
                break
            await asyncio.sleep(0.01)
        assert model.calls == 1
        assert [f.text for f in frames_of(worker, "r2") if isinstance(f, TokenChunk)] == ["1t2"]
        assert worker.stats["typed_as_suggested"] == 1

    async def test_a_refused_request_leaves_the_suggestion_shown(self) -> None:
        """A request the quota refuses showed nothing: typing into the suggestion that is
        still on screen is still served from it."""
        model = SlowModel(tokens=3, delay_s=0.01)  # suggests "t0t1t2"
        worker = RecordingWorker(model, quota=AllowOnce(), cache=MemoryCache())
        await start_request(worker, "r1")
        await until_idle(worker)
        await feed(worker, CompletionRequest("r2", "a.py", 1, 2))  # elsewhere: refused
        await until_idle(worker)
        assert frames_of(worker, "r2")[-1] == CompletionEnd("r2", "quota", 0)
        await feed(worker, DocChange("a.py", 2, (TextEdit(6, 6, "t0t"),)))
        await feed(worker, CompletionRequest("r3", "a.py", 2, 9))
        await until_idle(worker)
        assert worker.stats["typed_as_suggested"] == 1 and model.calls == 1

    async def test_typing_something_else_asks_the_model_again(self) -> None:
        model = SlowModel(tokens=3, delay_s=0)
        worker = RecordingWorker(model, cache=MemoryCache())
        await start_request(worker, "r1")
        await until_idle(worker)
        await feed(worker, DocChange("a.py", 2, (TextEdit(6, 6, "q"),)))
        await feed(worker, CompletionRequest("r2", "a.py", 2, 7))
        await asyncio.sleep(0.2)
        assert model.calls == 2
        assert worker.stats["typed_as_suggested"] == 0


class TestRebalance:
    """Sessions of partitions that moved away are forgotten, so a stale copy is never used."""

    async def test_revoked_partition_forgets_its_sessions(self) -> None:
        worker = RecordingWorker(SlowModel(tokens=1, delay_s=0))
        await feed(worker, DocOpen("a.py", "python", 1, "x"), session="s1")  # partition 0
        await worker.partitions_revoked({1})
        assert worker._core.document("s1", "a.py") is not None
        await worker.partitions_revoked({0})
        assert worker._core.document("s1", "a.py") is None
        assert not worker._core.has_session("s1")


class TestBatches:
    """A request superseded within the same fetched batch never reaches the model."""

    async def test_superseded_in_the_same_batch_costs_no_inference(self) -> None:
        model = SlowModel(tokens=2, delay_s=0)
        worker = RecordingWorker(model)
        events = [DocOpen("a.py", "python", 1, "x = 1\n"),
                  CompletionRequest("r1", "a.py", 1, 6),
                  DocChange("a.py", 2, (TextEdit(6, 6, "y"),))]
        await worker.handle_batch([
            (write_record(EditorEvent("e", "s1", 0, "t", "u", "pro", None, now_ms(), body)), 0, i)
            for i, body in enumerate(events)])
        await asyncio.sleep(0.05)
        assert model.calls == 0
        assert worker.sent == [CompletionEnd("r1", "superseded", 0)]


class SwallowingCache(MemoryCache):
    """A cache client that turns a cancellation into a miss, as some libraries do."""

    async def get(self, key: str) -> tuple[list[str], str] | None:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            return None
        return None


class TestStopIsFinal:
    """A stopped request sends nothing more, even when a library swallows the cancellation."""

    async def test_one_end_even_if_cancellation_is_swallowed(self) -> None:
        worker = RecordingWorker(SlowModel(tokens=3, delay_s=0), cache=SwallowingCache())
        await start_request(worker)
        await asyncio.sleep(0.05)  # the request is waiting on the cache
        await feed(worker, Cancel("r1"))
        await asyncio.sleep(0.3)
        assert worker.sent == [CompletionEnd("r1", "cancelled", 0)]


class TestModelSlots:
    """Over the worker's model slots a request waits briefly, then is refused ``overloaded``."""

    @staticmethod
    async def ask(worker: CompletionWorker, n: int) -> None:
        """Request ``rN`` on session ``sN`` with a prompt of its own (nothing to share)."""
        await feed(worker, DocOpen("a.py", "python", 1, f"x = {n}\n"), f"s{n}")
        await feed(worker, CompletionRequest(f"r{n}", "a.py", 1, len(f"x = {n}\n")), f"s{n}")

    async def test_shed_not_queued_and_slots_come_back(self) -> None:
        model = SlowModel(tokens=3, delay_s=0.1)
        worker = RecordingWorker(model, settings=Settings(worker_model_slots=1,
                                                          admission_wait_ms=30))
        await self.ask(worker, 1)
        await asyncio.sleep(0.05)  # r1 holds the only slot
        await self.ask(worker, 2)
        await until_idle(worker)
        ends = {f.request_id: f for f in worker.sent if isinstance(f, CompletionEnd)}
        assert ends["r2"] == CompletionEnd("r2", "overloaded", 0)
        assert ends["r1"].reason == "stop" and model.calls == 1
        # The slot was given back: the next request gets the model.
        await self.ask(worker, 3)
        await until_idle(worker)
        assert worker.sent[-1] == CompletionEnd("r3", "stop", 3)
        admission = worker.completions.slots.admission
        assert admission.busy == 0 and admission.waiting == 0

    async def test_a_waiting_request_gets_the_freed_slot(self) -> None:
        model = SlowModel(tokens=1, delay_s=0.03)
        worker = RecordingWorker(model, settings=Settings(worker_model_slots=1,
                                                          admission_wait_ms=500))
        await self.ask(worker, 1)
        await asyncio.sleep(0.01)
        await self.ask(worker, 2)
        await until_idle(worker)
        reasons = {f.request_id: f.reason for f in worker.sent if isinstance(f, CompletionEnd)}
        assert reasons == {"r1": "stop", "r2": "stop"} and model.calls == 2
        assert worker.completions.slots.admission.busy == 0


class SlowTasks:
    """A task route double: sends ``items`` encoded items, ``delay_s`` apart."""

    def __init__(self, items: list[bytes], delay_s: float = 0.0) -> None:
        self.items, self.delay_s = items, delay_s
        self.calls = 0

    async def stream_task(self, model: str, task: StartTask, timeout_ms: int
                          ) -> AsyncIterator[bytes]:
        self.calls += 1
        for item in self.items:
            if self.delay_s >= 0:
                await asyncio.sleep(self.delay_s)
            yield item


def task_worker(tasks: SlowTasks, deadlines: str = "") -> RecordingWorker:
    worker = RecordingWorker(SlowModel(), settings=Settings(task_deadlines_ms=deadlines))
    worker.tasks.backend = tasks  # type: ignore[assignment]
    return worker


async def start_task(worker: CompletionWorker, kind: str = "find_bugs") -> None:
    await feed(worker, DocOpen("a.py", "python", 1, "x = 1\n"))
    await feed(worker, TaskRequest("t1", kind, "a.py", 1, 0, 0))  # type: ignore[arg-type]


class TestWorkerTasks:
    """Tasks end exactly once: after their items, at their route's deadline, or on a bad item."""

    async def test_items_become_frames_then_end(self) -> None:
        worker = task_worker(SlowTasks([write_item(TaskText("two problems\n")),
                                        write_item(TaskFinding(0, 1, "error", "F821", "x"))]))
        await start_task(worker)
        await until_idle(worker)
        assert worker.sent == [
            TokenChunk("t1", 0, "two problems\n"),
            FindingResult("t1", 1, 1, 0, 1, "error", "F821", "x"),
            CompletionEnd("t1", "stop", 2)]

    async def test_a_burst_of_items_travels_as_one_record(self) -> None:
        findings = [TaskFinding(0, 1, "warning", f"R{i}", "x") for i in range(5)]
        worker = task_worker(SlowTasks([write_item(f) for f in findings], delay_s=-1))
        await start_task(worker)
        await until_idle(worker)
        batch, end = worker.recorder.records
        assert isinstance(batch, FrameBatch) and end == CompletionEnd("t1", "stop", 5)
        assert [(f.seq, f.rule) for f in batch.frames] == [(i, f"R{i}") for i in range(5)]

    async def test_past_the_deadline_the_task_ends_expired(self) -> None:
        worker = task_worker(SlowTasks([write_item(TaskText("slow\n"))] * 5, delay_s=0.05),
                             deadlines="find_bugs=120")
        await start_task(worker)
        await until_idle(worker)
        end = worker.sent[-1]
        assert isinstance(end, CompletionEnd) and end.reason == "expired"
        assert end.detail == "the find_bugs route's deadline of 120 ms passed"
        assert end.chunks == len(worker.sent) - 1 < 5

    async def test_an_item_outside_the_document_ends_with_an_error(self) -> None:
        worker = task_worker(SlowTasks([write_item(TaskFinding(0, 99, "error", "X", "x"))]))
        await start_task(worker)
        await until_idle(worker)
        (end,) = worker.sent
        assert isinstance(end, CompletionEnd) and end.reason == "error"
        assert end.detail is not None and "outside the document" in end.detail

    async def test_an_edit_does_not_supersede_a_task_but_a_cancel_stops_it(self) -> None:
        worker = task_worker(SlowTasks([write_item(TaskText("x\n"))] * 50, delay_s=0.01))
        await start_task(worker, "explain")
        await feed(worker, DocChange("a.py", 2, (TextEdit(0, 0, "y"),)))
        await asyncio.sleep(0.05)
        assert worker.lifecycle.in_flight, "an edit leaves the task running"
        await feed(worker, Cancel("t1"))
        await until_idle(worker)
        await asyncio.sleep(0.02)
        end = worker.sent[-1]
        assert isinstance(end, CompletionEnd) and end.reason == "cancelled"
        assert 0 < end.chunks < 50
