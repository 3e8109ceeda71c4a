"""The asyncio side of :class:`~workers.admission.Admission`: wait a bounded time for a slot."""

from __future__ import annotations

import asyncio

from workers.admission import Admission


class ModelSlots:
    """A request (``session/request`` id) takes a slot or waits ``wait_ms`` for one; whoever
    ends an inference calls :meth:`release`, which hands the slot to the longest waiter."""

    def __init__(self, slots: int, wait_ms: int) -> None:
        self.admission = Admission(slots)
        self._wait_ms = wait_ms
        self._waiters: dict[str, asyncio.Future[None]] = {}

    async def take(self, request_id: str) -> bool:
        """``True``: the request holds a slot (release it); ``False``: none came free in time."""
        if self.admission.arrive(request_id):
            return True
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[request_id] = granted
        try:
            async with asyncio.timeout(self._wait_ms / 1000):
                await granted
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # granted as the request was cancelled: pass it on
            else:
                self.admission.leave(request_id)
            raise
        finally:
            self._waiters.pop(request_id, None)
        if granted.done() and not granted.cancelled():
            return True  # (also when the grant and the timeout came together)
        self.admission.leave(request_id)
        return False

    def release(self) -> None:
        """An inference ended: its slot passes to the longest-waiting request, if any."""
        while (next_id := self.admission.release()) is not None:
            waiter = self._waiters.get(next_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
                return
