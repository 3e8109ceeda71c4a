"""Assistant tasks as answers of the request lifecycle: each kind on its own route (model,
deadline, lane of slots apart from the completions'), its items checked and forwarded as they
come, ``expired`` past the route's deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator

from config.task_routes import TaskRoute
from schemas.errors import ProtocolError
from schemas.socket import EndReason, TaskKind
from schemas.tasks import TaskEdit, TaskFinding, TaskItem, TaskText, read_item, short_title, write_item
from schemas.topics import CompletionEvent, FrameBatch, StageTimes
from tasks.verify import edit_problem
from workers.core import StartTask
from workers.inference import InferenceError, TaskBackend
from workers.lifecycle import Lifecycle, Outcome, Request, now_ms, request_event
from workers.tasks.items import TaskFrame, task_frame
from workers.tasks.llm_answers import line_findings, region_edit
from workers.tasks.prompts import code_region, task_prompt

log = logging.getLogger("workers")

#: Token budget of each task kind on an LLM route.
LLM_TASK_TOKENS: dict[str, int] = {"explain": 512, "find_bugs": 512, "fix": 1024,
                                   "refactor": 1024, "tests": 1024, "docs": 256}
#: Frames of one task sent in one reply record at most.
MAX_TASK_BATCH = 64


class Tasks:
    """The task routes of a worker and one lane (a semaphore of its slots) per task kind."""

    def __init__(self, lifecycle: Lifecycle, backend: TaskBackend | None,
                 routes: dict[TaskKind, TaskRoute]) -> None:
        self.lifecycle = lifecycle
        self.backend = backend
        self.routes = routes
        self._lanes: dict[TaskKind, asyncio.Semaphore] = {}

    def answer(self, start: StartTask) -> TaskAnswer:
        return TaskAnswer(self, start)

    def lane(self, kind: TaskKind) -> asyncio.Semaphore:
        return self._lanes.setdefault(kind, asyncio.Semaphore(self.routes[kind].slots))

    def stream(self, start: StartTask, left_ms: int) -> AsyncIterator[bytes]:
        """The route's answer as encoded items: our task models send items; an LLM's text
        becomes Markdown items (its edits stay in the text: not applied)."""
        assert self.backend is not None, "TaskAnswer.produce checks for a backend first"
        route = self.routes[start.kind]
        if route.interface == "items":
            return self.backend.stream_task(route.model, start, left_ms)
        prompt = task_prompt(start.kind, start.text, start.language_id, start.start, start.end,
                             start.instruction)
        text = self.backend.stream_llm(route.model, route.interface, prompt,
                                       LLM_TASK_TOKENS[start.kind], start.request_id, left_ms)
        return _as_items(text, start)


class TaskAnswer:
    """One task: admitted in its kind's lane within the route's deadline, then its items."""

    def __init__(self, owner: Tasks, start: StartTask) -> None:
        self._owner = owner
        self.start = start
        self.admitted = False

    async def produce(self, request: Request) -> Outcome:
        start = self.start
        route = self._owner.routes[start.kind]
        try:
            remaining_ms = route.deadline_ms - (now_ms() - start.arrived_ms)
            async with asyncio.timeout(max(0, remaining_ms) / 1000):
                async with self._owner.lane(start.kind):
                    if self._owner.backend is None:
                        raise InferenceError("this worker has no task backend")
                    if not await self._owner.lifecycle.admit(request):
                        return Outcome("quota")
                    self.admitted = True
                    left_ms = max(1, route.deadline_ms - (now_ms() - start.arrived_ms))
                    await self._forward(request, left_ms)
        except TimeoutError:
            return Outcome("expired",
                           f"the {start.kind} route's deadline of {route.deadline_ms} ms passed")
        except InferenceError as error:
            return Outcome("error", str(error))
        except ProtocolError as error:
            log.warning("task model %s sent an invalid item: %s", route.model, error.code)
            return Outcome("error", (f"model {route.model} sent an invalid item ({error.code}, "
                                     f"field {error.field}): {error.message}")[:500])
        return Outcome("stop")

    def event(self, request: Request, reason: EndReason) -> CompletionEvent:
        """``model`` names the task's route: each admitted task is one unit of quota."""
        return request_event(request, reason, model=self._owner.routes[self.start.kind].model,
                             language_id=self.start.language_id,
                             source="inferred" if self.admitted else "none",
                             admitted=self.admitted, received_ms=self.start.received_ms,
                             kind=self.start.kind)

    def end_timing(self, request: Request) -> StageTimes | None:
        """None: task frames carry no stage times (the edge's first-token figures are the
        completions')."""
        return None

    async def _forward(self, request: Request, left_ms: int) -> None:
        """Forward the route's items as frames: what arrived together goes in one record (no
        stage times on task frames: the edge's first-token figures are the completions')."""
        start = self.start
        stream = self._owner.stream(start, left_ms)
        async with contextlib.aclosing(drained(stream, MAX_TASK_BATCH)) as batches:
            async for batch in batches:
                frames: list[TaskFrame] = []
                for data in batch:
                    frames.append(task_frame(read_item(data), start.request_id,
                                             request.chunks + len(frames), start.version,
                                             len(start.text), start.uri))
                await self._owner.lifecycle.stream(
                    request, frames[0] if len(frames) == 1 else FrameBatch(tuple(frames)),
                    len(frames), sum(len(getattr(f, "text", "")) for f in frames))


async def _as_items(text: AsyncIterator[str], start: StartTask) -> AsyncIterator[bytes]:
    """The LLM's text as Markdown items as it comes, then what of it can be applied, checked
    (``applicable``: in a thread, since the checks run the language's analyzers)."""
    answer: list[str] = []
    async for piece in text:
        answer.append(piece)
        if piece:
            yield write_item(TaskText(piece[:65_536]))
    if start.kind in ("fix", "refactor", "find_bugs"):
        for item in await asyncio.to_thread(applicable, start, "".join(answer)):
            yield write_item(item)


def applicable(start: StartTask, answer: str) -> list[TaskItem]:
    """A ``fix`` or ``refactor`` answer's code block as an edit of the code the prompt showed,
    sent only if the edited document gets no new error or likely bug (tasks/verify.py); a
    ``find_bugs`` answer's entries that can be placed on a line, as the model's suggestions.
    Otherwise a line saying why nothing was applied."""
    begin, finish = code_region(start.text, start.start, start.end)
    if start.kind == "find_bugs":
        return [TaskFinding(_line_start(start.text, found.line), _line_end(start.text, found.line),
                            "information", "llm", f"The model's, not checked: {found.message}")
                for found in line_findings(start.text, begin, finish, answer)]
    edit = region_edit(start.text, begin, finish, answer)
    if edit is None:
        return [TaskText("\nNothing applied: the answer has no code block that changes the "
                         "code.\n")]
    problem = edit_problem(start.text, edit, start.language_id, start.uri)
    if problem is not None:
        return [TaskText(f"\nNot applied: the edited code gets a problem it did not have "
                         f"({problem}).\n")]
    return [TaskEdit(short_title(f"The model's {start.kind}"), (edit,))]


def _line_start(text: str, line: int) -> int:
    at = 0
    for _ in range(line):
        at = text.index("\n", at) + 1
    return at


def _line_end(text: str, line: int) -> int:
    start = _line_start(text, line)
    end = text.find("\n", start)
    return len(text) if end < 0 else end


async def drained(stream: AsyncIterator[bytes], most: int
                  ) -> AsyncGenerator[list[bytes], None]:
    """The stream's items in lists: each list holds what had arrived by the time the previous
    one was handled (at most ``most``), so a burst travels as one record and a trickle item by
    item, without waiting for anything."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    failure: list[BaseException] = []

    async def pump() -> None:
        try:
            async for item in stream:
                queue.put_nowait(item)
        except Exception as error:  # noqa: BLE001 - re-raised by the consumer, in order
            failure.append(error)
        finally:
            queue.put_nowait(None)

    reader = asyncio.create_task(pump())
    try:
        while True:
            first = await queue.get()
            batch: list[bytes] = []
            finished = first is None
            if first is not None:
                batch.append(first)
            while not finished and len(batch) < most and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    finished = True
                else:
                    batch.append(item)
            if batch:
                yield batch
            if finished:
                if failure:
                    raise failure[0]
                return
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
