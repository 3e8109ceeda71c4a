"""Generations shared between requests: one model stream, any number of followers.

A :class:`Generation` records the chunks a model stream produced; requests follow it from any
character on (identical prompts start at 0, a typed-as-suggested request skips what the user
typed). A generation nobody follows any more is cancelled after ``linger_ms`` (so a keystroke
that matches the suggestion can pick it up again), which cancels its Triton request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from schemas.socket import EndReason


class Generation:
    """One model stream's output so far, and how it ended."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.chunks: list[str] = []
        self.finished = False
        self.reason: EndReason = "stop"
        self.detail: str | None = None
        self.followers = 0
        self.task: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self._changed = asyncio.Condition()
        #: Set once it has finished (a paced follower waits on it, so the end is never held).
        self._ended = asyncio.Event()

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    async def append(self, chunk: str) -> None:
        async with self._changed:
            self.chunks.append(chunk)
            self._changed.notify_all()

    async def finish(self, reason: EndReason, detail: str | None = None) -> None:
        async with self._changed:
            if not self.finished:
                self.finished, self.reason, self.detail = True, reason, detail
            self._ended.set()
            self._changed.notify_all()

    def _has_news(self, seen: int) -> bool:
        return len(self.chunks) > seen or self.finished

    async def pieces(self, skip_chars: int = 0, interval_s: float = 0.0
                     ) -> AsyncIterator[tuple[str, bool]]:
        """The text from character ``skip_chars`` on, until the end: the first piece as soon as
        there is one, then what came since, at most once every ``interval_s`` (0: each chunk as
        it arrives). Every piece a follower sends is a frame and a record all the way to the
        editor, so a fast model's tokens travel together; the end is never held back. Each
        piece comes with whether it is the last (the generation had finished when it was
        taken)."""
        index = 0
        loop = asyncio.get_running_loop()
        next_at = 0.0
        while True:
            wait_s = next_at - loop.time()
            if wait_s > 0 and not self.finished:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), wait_s)
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._has_news, index))
                new = self.chunks[index:]
                index = len(self.chunks)
                done = self.finished
            taken = new if interval_s <= 0 else ["".join(new)]
            for n, chunk in enumerate(taken):
                if skip_chars >= len(chunk):
                    skip_chars -= len(chunk)
                    continue
                yield chunk[skip_chars:], done and n == len(taken) - 1
                skip_chars = 0
                next_at = loop.time() + interval_s
            if done:
                return


log = logging.getLogger("workers.generations")

Producer = Callable[[Generation], Coroutine[Any, Any, None]]


class GenerationHub:
    """The live generations of one worker, by key."""

    def __init__(self, linger_ms: int) -> None:
        self._linger_s = linger_ms / 1000
        self._live: dict[str, Generation] = {}
        self.started = 0
        self.joined = 0

    def live(self, key: str) -> Generation | None:
        return self._live.get(key)

    def start(self, key: str, produce: Producer) -> Generation:
        """Run ``produce`` to fill a new generation under ``key``."""
        generation = Generation(key)
        self._live[key] = generation
        self.started += 1

        async def run() -> None:
            try:
                await produce(generation)
            except asyncio.CancelledError:
                await generation.finish("cancelled")
                raise
            except Exception as error:  # every follower must get an end, whatever went wrong
                log.exception("generation failed")
                await generation.finish("error", f"internal error: {type(error).__name__}")
            finally:
                await generation.finish(generation.reason, generation.detail)
                if self._live.get(key) is generation:
                    del self._live[key]

        generation.task = asyncio.create_task(run())
        return generation

    def attach(self, generation: Generation) -> None:
        generation.followers += 1
        if generation.linger is not None:
            generation.linger.cancel()
            generation.linger = None

    def detach(self, generation: Generation) -> None:
        """A follower left; cancel the stream if nobody follows it for the linger time."""
        generation.followers -= 1
        if generation.followers == 0 and not generation.finished:
            generation.linger = asyncio.get_running_loop().call_later(
                self._linger_s, self._cancel_unfollowed, generation)

    def _cancel_unfollowed(self, generation: Generation) -> None:
        generation.linger = None
        if generation.followers == 0 and not generation.finished and generation.task:
            if self._live.get(generation.key) is generation:
                del self._live[generation.key]  # nobody may join a stream being cancelled
            generation.task.cancel()

    async def close(self) -> None:
        tasks = [g.task for g in self._live.values() if g.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
