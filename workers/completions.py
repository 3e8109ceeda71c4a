"""Completions as answers of the request lifecycle: from a suggestion being typed, a shared or
cached generation, or the model in one of the worker's bounded slots.

:func:`~workers.answer_source.decide` picks the source; this module carries the decision out
(cache reads, quota, a model slot, the inference itself) and streams the chunks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from runtime.metrics import Registry
from schemas.socket import EndReason, TokenChunk
from schemas.topics import CompletionEvent, StageTimes
from workers.answer_source import Cached, Choice, Known, Live, Lookup, decide
from workers.cache import CompletionCache
from workers.core import StartCompletion
from workers.generations import Generation, GenerationHub
from workers.inference import InferenceBackend, InferenceError
from workers.lifecycle import Lifecycle, Outcome, Request, now_ms, request_event
from workers.model_slots import ModelSlots
from workers.persistence import PersistenceTracker
from workers.reuse import Suggestion, generation_key, typed_into

log = logging.getLogger("workers")

#: How long a generation nobody follows keeps running, for a keystroke that matches it.
GENERATION_LINGER_MS = 150
MAX_REMEMBERED_SUGGESTIONS = 100_000
#: A generation still streaming after this long is ended with an error (a hung model).
GENERATION_TIMEOUT_S = 30


@dataclass(frozen=True)
class Source:
    """A request's answer: a generation to follow from ``skip_chars``, or ready chunks."""

    kind: str  # inferred, shared, cached, typed_as_suggested, or none (refused)
    generation: Generation | None = None
    skip_chars: int = 0
    chunks: list[str] = field(default_factory=list)
    reason: EndReason = "stop"
    #: It took a unit of quota (what ``CompletionEvent.admitted`` reports).
    admitted: bool = False


class Completions:
    """What completions share on a worker: live generations, the cache, the model slots and the
    last suggestion of each session."""

    def __init__(self, lifecycle: Lifecycle, backend: InferenceBackend,
                 cache: CompletionCache | None, slots: ModelSlots, tracker: PersistenceTracker,
                 metrics: Registry, model: str, model_identity: str,
                 reply_interval_ms: int = 0) -> None:
        """``reply_interval_ms``: after a request's first chunk, what the model streams is sent
        at most this often (as one chunk): every chunk is a record and a frame."""
        self.lifecycle = lifecycle
        self.reply_interval_s = reply_interval_ms / 1000
        self._backend = backend
        self._cache = cache
        self.slots = slots
        self.tracker = tracker
        self.model = model
        self.model_identity = model_identity
        self.hub = GenerationHub(linger_ms=GENERATION_LINGER_MS)
        self._suggestions: OrderedDict[str, Suggestion] = OrderedDict()
        self.stats: Counter[str] = Counter()
        self.metrics = metrics

    def answer(self, start: StartCompletion) -> CompletionAnswer:
        return CompletionAnswer(self, start)

    async def source(self, start: StartCompletion, request: Request) -> Source | None:
        """Where the answer comes from, cheapest first; ``None`` if the quota refused it."""
        session_id = start.route.session_id
        suggestion = self._suggestions.get(session_id)
        typed = (typed_into(suggestion, start.uri, start.offset, start.prompt.prefix) or ""
                 if suggestion is not None else "")
        typed_live = self.hub.live(suggestion.key) if suggestion is not None and typed else None
        key = generation_key(start.route.tenant_id, self.model_identity, start.prompt,
                             start.max_tokens)
        known = Known(typed=typed, typed_live=None if typed_live is None else
                      Live(typed_live.text, typed_live.finished))
        while True:
            known = dataclasses.replace(known, live=self.hub.live(key) is not None)
            step = decide(known)
            if not isinstance(step, Lookup):
                break
            if step.which == "typed":
                assert suggestion is not None
                known = dataclasses.replace(known, typed_cached=await self._cached(suggestion.key))
            else:
                known = dataclasses.replace(known, cached=await self._cached(key))
        if step.kind == "typed_as_suggested":
            return self._count(_ready(step) if not step.follow_typed else
                               Source(step.kind, generation=typed_live, skip_chars=step.skip_chars))
        fresh = Suggestion(start.uri, start.offset, key)
        if step.kind == "infer":
            return await self._infer_source(start, request, fresh)
        # The suggestion shown is now this one (a refused or shed request leaves the last).
        self._remember(session_id, fresh)
        if step.kind == "shared":
            return self._count(Source("shared", generation=self.hub.live(key)))
        return self._count(_ready(step))

    async def _infer_source(self, start: StartCompletion, request: Request, fresh: Suggestion
                            ) -> Source | None:
        key = fresh.key
        if not await self.slots.take(f"{start.route.session_id}/{start.request_id}"):
            return self._count(Source("none", reason="overloaded"))  # shed: no model slot
        try:
            if not await self.lifecycle.admit(request):
                self.slots.release()
                return None
            self._remember(start.route.session_id, fresh)
            live = self.hub.live(key)  # an identical request may have started while we awaited
            if live is not None:
                self.slots.release()
                return self._count(Source("shared", generation=live, admitted=True))
            return self._count(Source("inferred", generation=self.hub.start(
                key, functools.partial(self._infer, start=start)), admitted=True))
        except BaseException:
            self.slots.release()  # cancelled or failed before the model had it
            raise

    async def _cached(self, key: str) -> Cached | None:
        """The cached generation, or ``None`` (also when the cache is down: then infer)."""
        if self._cache is None:
            return None
        try:
            return await self._cache.get(key)
        except Exception:
            log.warning("completion cache unavailable", exc_info=True)
            return None

    def _count(self, source: Source) -> Source:
        self.stats[source.kind] += 1
        self.metrics.inc("worker_requests_total", "completion requests answered, by source",
                         source=source.kind)
        return source

    def _remember(self, session_id: str, suggestion: Suggestion) -> None:
        self._suggestions[session_id] = suggestion
        self._suggestions.move_to_end(session_id)
        while len(self._suggestions) > MAX_REMEMBERED_SUGGESTIONS:
            self._suggestions.popitem(last=False)

    async def _infer(self, generation: Generation, start: StartCompletion) -> None:
        """Fill ``generation`` from the model (in the slot its request took); cache it when it
        ended normally."""
        try:
            await self._infer_in_slot(generation, start)
        finally:
            self.slots.release()

    async def _infer_in_slot(self, generation: Generation, start: StartCompletion) -> None:
        try:
            async with asyncio.timeout(GENERATION_TIMEOUT_S):
                async for text in self._backend.stream(start.prompt, start.max_tokens,
                                                       start.request_id):
                    await generation.append(text)
            generation.reason = "length" if len(generation.chunks) >= start.max_tokens else "stop"
        except InferenceError as error:
            generation.reason, generation.detail = "error", str(error)
            return
        except TimeoutError:
            generation.reason = "error"
            generation.detail = f"the model did not finish within {GENERATION_TIMEOUT_S} s"
            return
        if self._cache is not None:
            try:
                await self._cache.put(generation.key, generation.chunks, generation.reason)
            except Exception:
                log.warning("could not cache a generation", exc_info=True)


def _ready(choice: Choice) -> Source:
    return Source(choice.kind, chunks=list(choice.chunks), reason=choice.reason)


class CompletionAnswer:
    """One completion: its chunks as they come; the first carries the request's stage times."""

    def __init__(self, owner: Completions, start: StartCompletion) -> None:
        self._owner = owner
        self.start = start
        self.source: Source | None = None
        #: The streamed text, kept until the request ends (the persistence tracker needs it).
        self._text: list[str] = []

    async def produce(self, request: Request) -> Outcome:
        owner, start = self._owner, self.start
        source = self.source = await owner.source(start, request)
        if source is None:
            return self._outcome(request, "quota")
        if source.generation is None:
            if source.chunks:  # ready at once: one chunk (one record, one frame)
                await self._chunk(request, "".join(source.chunks), source.kind)
            return self._outcome(request, source.reason)
        generation = source.generation
        owner.hub.attach(generation)
        try:
            async for text, last in generation.pieces(source.skip_chars, owner.reply_interval_s):
                # The last (never the first: it is the first token) travels with the end, unless
                # REPLY_INTERVAL_MS is 0: then every piece and the end go as they come (what
                # edges older than FrameBatch ends understand, during a rolling upgrade).
                if last and request.chunks and owner.reply_interval_s > 0:
                    self._text.append(text)
                    owner.lifecycle.hold(request, TokenChunk(start.request_id, request.chunks,
                                                             text), len(text))
                else:
                    await self._chunk(request, text, source.kind)
        finally:
            owner.hub.detach(generation)
        return self._outcome(request, generation.reason, generation.detail)

    def event(self, request: Request, reason: EndReason) -> CompletionEvent:
        source = self.source
        return request_event(request, reason, model=self._owner.model,
                             language_id=self.start.prompt.language_id,
                             source=source.kind if source is not None else "none",  # type: ignore[arg-type]
                             admitted=source is not None and source.admitted,
                             received_ms=self.start.received_ms)

    async def _chunk(self, request: Request, text: str, source: str) -> None:
        start = self.start
        timing = None
        if request.chunks == 0:
            first_ms = now_ms()
            timing = StageTimes(start.received_ms, start.arrived_ms, start.fired_ms, first_ms,
                                first_ms)
            self._owner.metrics.observe("worker_first_chunk_seconds",
                                        "debounce release to first chunk, by where it came from",
                                        (first_ms - start.fired_ms) / 1000, source=source)
        await self._owner.lifecycle.stream(request, TokenChunk(start.request_id, request.chunks,
                                                               text), 1, len(text), timing)
        self._text.append(text)

    def end_timing(self, request: Request) -> StageTimes | None:
        """An end with no chunk before it carries the stage times (the edge still learns how
        long the request queued)."""
        if request.chunks:
            return None
        start, ended_ms = self.start, now_ms()
        return StageTimes(start.received_ms, start.arrived_ms, start.fired_ms, ended_ms, ended_ms)

    def _outcome(self, request: Request, reason: EndReason, detail: str | None = None
                 ) -> Outcome:
        """How it ended; a suggestion shown is tracked for persistence."""
        start = self.start
        if self._text and not request.stopped:  # a stopped request's text was never accepted
            self._owner.tracker.suggested(start.route.session_id, start.request_id, start.uri,
                                          start.offset, "".join(self._text),
                                          start.prompt.language_id)
        return Outcome(reason, detail, self.end_timing(request))
