"""Running one service process: settings from the environment, logging, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from config.settings import Settings, SettingsError

ServiceMain = Callable[[Settings, str | None], Coroutine[Any, Any, None]]


async def _until_signalled(main: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_service(name: str, service: ServiceMain, settings: Settings | None = None) -> int:
    """Run ``service`` until it ends or SIGTERM/SIGINT cancels it (its ``finally`` blocks run)."""
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {name} %(name)s %(levelname)s %(message)s")
    # aiokafka logs record values at DEBUG; those carry code. Never let them reach a log.
    logging.getLogger("aiokafka").setLevel(logging.INFO)
    try:
        settings = Settings.from_env() if settings is None else settings
    except SettingsError as error:
        print(f"{name}: configuration error: {error}", file=sys.stderr)
        return 2
    asyncio.run(_until_signalled(service(settings, os.environ.get("READY_FILE"))))
    return 0


async def run_marking_ready(main: Coroutine[Any, Any, None], ready: asyncio.Event,
                            ready_file: str | None) -> None:
    """Run ``main``; once ``ready`` is set, create ``ready_file`` so the supervisor knows."""
    task = asyncio.create_task(main)
    waiter = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if ready_file and ready.is_set():
            Path(ready_file).touch()  # noqa: ASYNC240 - one tiny local file, once
        await task
    finally:
        waiter.cancel()
        task.cancel()
        await asyncio.gather(task, waiter, return_exceptions=True)
