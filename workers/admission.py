"""Model slots of one worker: shed overload instead of queueing it (pure; no I/O, no clock).

A request that needs the model starts at once in a free slot, or waits for one in arrival order;
the asyncio adapter gives up on it after ``ADMISSION_WAIT_MS`` and answers ``overloaded``. So
what is admitted keeps the latency of a model that is never oversubscribed, and the rest hears
at once that it was refused (and the edge asks clients to slow down) instead of waiting seconds
in the model's queue and ending ``expired``.
"""

from __future__ import annotations

from collections import OrderedDict


class Admission:
    """``slots`` concurrent inferences; a FIFO of requests waiting for one."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one model slot")
        self.slots = slots
        self.busy = 0
        self._waiting: OrderedDict[str, None] = OrderedDict()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def arrive(self, key: str) -> bool:
        """``True``: start now (a slot is taken); ``False``: wait for :meth:`release`."""
        if self.busy < self.slots and not self._waiting:
            self.busy += 1
            return True
        self._waiting[key] = None
        return False

    def leave(self, key: str) -> None:
        """A waiting request gave up (refused, cancelled): it no longer wants a slot."""
        self._waiting.pop(key, None)

    def release(self) -> str | None:
        """A slot was freed: the waiting request that now holds it, if any."""
        if self._waiting:
            key, _ = self._waiting.popitem(last=False)
            return key  # the slot passes to it: busy stays the same
        self.busy -= 1
        if self.busy < 0:
            raise RuntimeError("a model slot was released twice")
        return None
