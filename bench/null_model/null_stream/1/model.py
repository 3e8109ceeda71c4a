"""``null_stream``: a load generator for the infrastructure (it computes nothing).

Every request is answered with ``TOKENS`` fixed pieces of text, one every ``TOKEN_MS`` ms (the
first at once; the last carries the final flag), whatever its inputs say (``MAX_TOKENS`` caps the
count). One thread paces every request in flight, so thousands can stream at once at the cost of
sending their responses; ``execute`` only queues them. A cancelled request stops at its next piece.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

#: What each response carries: a short identifier-like piece (it is not a completion).
PIECES = tuple(f" n{i}" for i in range(64))


def _parameter(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    return int(value) if value else default


class _Stream:
    __slots__ = ("left", "request", "sender", "sent")

    def __init__(self, request: Any, left: int) -> None:
        self.request = request
        self.sender = request.get_response_sender()
        self.left = left
        self.sent = 0


class TritonPythonModel:
    """Streams fixed pieces at a fixed pace from one pacing thread."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.tokens = max(1, _parameter(config, "TOKENS", 4))
        self.pace_s = max(0, _parameter(config, "TOKEN_MS", 20)) / 1000
        self._due: list[tuple[float, int, _Stream]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._pace, name="null_stream", daemon=True)
        self._thread.start()
        pb_utils.Logger.log_info(f"null_stream (load generator): {self.tokens} pieces, one every "
                                 f"{self.pace_s * 1000:.0f} ms")

    def execute(self, requests: list[Any]) -> None:
        now = time.monotonic()
        with self._wake:
            for request in requests:
                limit = pb_utils.get_input_tensor_by_name(request, "MAX_TOKENS")
                wanted = int(limit.as_numpy().reshape(-1)[0]) if limit is not None else self.tokens
                stream = _Stream(request, max(0, min(self.tokens, wanted)))
                heapq.heappush(self._due, (now, next(self._order), stream))
            self._wake.notify()
        return None

    def _pace(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._due or self._due[0][0] > time.monotonic()):
                    self._wake.wait(None if not self._due else self._due[0][0] - time.monotonic())
                if self._stopping:
                    return
                now = time.monotonic()
                ready = []
                while self._due and self._due[0][0] <= now:
                    ready.append(heapq.heappop(self._due)[2])
            for stream in ready:
                self._step(stream, now)

    def _step(self, stream: _Stream, now: float) -> None:
        cancelled = getattr(stream.request, "is_cancelled", None)
        try:
            if stream.left == 0 or (cancelled is not None and cancelled()):
                stream.sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                return
            piece = PIECES[stream.sent % len(PIECES)].encode()
            data = np.frombuffer(piece, dtype=np.uint8).reshape(1, -1)
            # The last piece carries the final flag (no empty response after it).
            stream.sender.send(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("TEXT", data)]),
                flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if stream.left == 1 else 0)
            if stream.left == 1:
                return
        except Exception as error:  # noqa: BLE001 - a gone client must not stop the pacing
            pb_utils.Logger.log_warn(f"null_stream: {type(error).__name__}")
            return
        stream.left -= 1
        stream.sent += 1
        with self._wake:
            heapq.heappush(self._due, (now + self.pace_s, next(self._order), stream))

    def finalize(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=5)
