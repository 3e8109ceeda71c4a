"""A resident helper process: an analyzer kept loaded between checks (mypy, javac with Error
Prone), because starting one costs more than the check (mypy's imports 190 ms, a JVM with Error
Prone about 3 s).

The protocol is one JSON value a line each way: a request on the helper's stdin, its answer (an
object) on its stdout. One check at a time. The helper is started on first use and again after it ends,
stalls past the caller's time limit (it is killed, its process group with it) or has served
``limit`` checks (what an analyzer keeps between runs grows). A new helper's first check may take
``start_timeout_s`` instead, its start included: else a start slower than the limit would be
killed at every try.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import orjson

from tasks.linters import LinterError

#: How to start the helper: its argv and environment (asked at each start, so a tool installed
#: after the first failure is found), and what to run in the child before it executes, if any.
Command = Callable[[], tuple[list[str], dict[str, str]]]


class Resident:
    """One helper process of tool ``name``, started by ``command``."""

    def __init__(self, name: str, command: Command, limit: int,
                 preexec: Callable[[], None] | None = None, start_timeout_s: float = 0.0) -> None:
        self.name = name
        self.limit = limit
        self.start_timeout_s = start_timeout_s
        self._command = command
        self._preexec = preexec
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._served = 0

    @property
    def warm(self) -> bool:
        """Whether a helper runs and has answered since it started."""
        process = self._process
        return process is not None and process.poll() is None and self._served > 0

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is not None:
            self._stop()  # it ended: its pipes closed
        if self._process is None:
            argv, env = self._command()
            try:
                self._process = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, start_new_session=True, env=env,
                    preexec_fn=self._preexec)
            except OSError as error:
                raise LinterError(f"{self.name} could not start: {error.strerror}") from None
            self._served = 0
        return self._process

    def stop(self) -> None:
        """Kill the helper (its process group), if one runs (after the check in progress)."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def ask(self, request: object, timeout_s: float, start: bool = True) -> dict[str, Any]:
        """The helper's answer to ``request``; :class:`LinterError` naming the tool if it cannot
        take the request, answers nothing within ``timeout_s`` or ends, or (``start`` false) no
        warm helper runs. An answer with an ``error`` ends the helper too (its state is in doubt:
        an out-of-memory error, say); the next check starts another."""
        with self._lock:
            if not start and not self.warm:
                raise LinterError(f"{self.name}'s helper is not running")
            process = self._started()
            if self._served == 0:
                timeout_s = max(timeout_s, self.start_timeout_s)
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                process.stdin.write(orjson.dumps(request) + b"\n")
                process.stdin.flush()
            except OSError:
                self._stop()
                raise LinterError(f"{self.name}'s helper process could not take the file") from None
            ready, _, _ = select.select([process.stdout], [], [], timeout_s)
            line = process.stdout.readline() if ready else b""
            if not line:
                self._stop()
                raise LinterError(f"{self.name} did not finish within {timeout_s:g} s"
                                  if not ready else f"{self.name}'s helper process ended")
            self._served += 1
            try:
                answer = orjson.loads(line)
            except orjson.JSONDecodeError:
                answer = None
            if not isinstance(answer, dict) or "error" in answer or self._served >= self.limit:
                self._stop()
        if not isinstance(answer, dict):
            raise LinterError(f"{self.name}'s helper answered something unreadable")
        return answer
