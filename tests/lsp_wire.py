"""A raw LSP peer for ``python -m ide``: bytes on its stdin, every frame of its stdout read back.

What a well-behaved client library (pytest-lsp) will not send: broken frames, bad envelopes,
params of the wrong type. Replies are collected by id; the server's notifications and requests
are kept too (a request the server sends is answered with ``null``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ide.framing import Body, Decoder, frame

ROOT = Path(__file__).resolve().parent.parent


def refused_url() -> str:
    """A loopback port nothing listens on (connections to it are refused at once): a server
    with no edge."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}"


def message(method: str, params: Any = None, msg_id: int | str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        data["id"] = msg_id
    if params is not None:
        data["params"] = params
    return data


def framed(data: Any) -> bytes:
    return frame(json.dumps(data).encode())


class Wire:
    """One ``python -m ide`` process spoken to in bytes."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.replies: dict[int | str | None, list[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, stderr: Path, url: str, api_key: str = "k",
                    log_level: str = "warning") -> Wire:
        env = {**os.environ, "CODE_ASSISTANT_API_KEY": api_key, "PYTHONPATH": str(ROOT),
               "CODE_ASSISTANT_URL": url, "CODE_ASSISTANT_LOG": log_level}
        with stderr.open("wb") as log:  # the child holds its own descriptor
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ide", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=env)
        return cls(process, stderr)

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def ask(self, method: str, params: Any, msg_id: int | str,
                  timeout_s: float = 10.0) -> dict[str, Any]:
        """Send a well-formed request and wait for its reply."""
        await self.send(framed(message(method, params, msg_id)))
        return await self.reply(msg_id, timeout_s)

    async def reply(self, msg_id: int | str | None, timeout_s: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while not self.replies.get(msg_id):
                self._arrived.clear()
                await self._arrived.wait()
        return self.replies[msg_id].pop(0)

    async def initialize(self, init: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.ask("initialize", {"capabilities": {}, "initializationOptions":
                                              init or {}}, "init")
        await self.send(framed(message("initialized", {})))
        return reply

    async def stop(self, timeout_s: float = 10.0) -> int:
        """``shutdown`` and ``exit`` if it still runs; its exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await self.ask("shutdown", None, "shutdown", timeout_s)
                await self.send(framed(message("exit")))
        try:
            async with asyncio.timeout(timeout_s):
                code = await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
            self._reader.cancel()
        return code

    async def _read(self) -> None:
        assert self.process.stdout is not None
        decoder = Decoder()
        while data := await self.process.stdout.read(1 << 16):
            decoder.feed(data)
            while (event := decoder.next()) is not None:
                assert isinstance(event, Body), f"the server wrote a bad frame: {event}"
                self._take(json.loads(event.data))
        self._arrived.set()

    def _take(self, data: dict[str, Any]) -> None:
        if "method" not in data:
            self.replies.setdefault(data.get("id"), []).append(data)
        elif "id" in data:  # the server asks (workspace/applyEdit...): a neutral answer
            assert self.process.stdin is not None
            self.process.stdin.write(framed({"jsonrpc": "2.0", "id": data["id"], "result": None}))
        else:
            self.notifications.append(data)
        self._arrived.set()
