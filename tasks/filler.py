"""The code model writing the parts a static reading cannot: summaries, expected values.

Every such part is a fill-in-the-middle question (the text before the gap and after it), asked
of ``code_fim``'s engine loaded into the task model's own process: each task route has its own
copy of the network, so task traffic never waits in the completion route's batch.

Why the engine is loaded from a directory at run time and not imported: the task routes' Triton
models (``model/repository/task_*``) are entry points into this package, so ``tasks`` importing
the served model's code would make a loop. The served model is data to ``tasks`` (a directory
named in the route's configuration, read when the route loads, as its weights are), ``code_fim``
stays copyable (it imports nothing of ours), and the import order stays one way.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any, Protocol


class Filler(Protocol):
    """Writes the text between ``prefix`` and ``suffix``."""

    def fill(self, prefix: str, suffix: str, language: str, max_tokens: int) -> str: ...


class ModelFiller:
    """``code_fim``'s engine (from its model directory), at threshold 0: it always answers, and
    the task decides what to do with a poor answer."""

    def __init__(self, directory: Path, deadline_s: float = 1.0) -> None:
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
        engine: Any = importlib.import_module("engine")
        # One request at a time, never a stored prompt: one generation slot (of the line
        # search's width) and no prefix cache, so its llama.cpp context stays small.
        self._engine = engine.Engine.load(directory, slots=1, prefix_cache_entries=0)
        self._request = engine.Request
        self._deadline_s = deadline_s

    def fill(self, prefix: str, suffix: str, language: str, max_tokens: int) -> str:
        engine = self._engine
        started = time.perf_counter()
        sequence = engine.start(self._request(prefix, suffix, language, max_tokens, 0.0))
        parts: list[str] = []
        try:
            while not sequence.done and time.perf_counter() - started < self._deadline_s:
                engine.advance([sequence])
                parts.append(engine.take_output(sequence))
            parts.append(engine.take_output(sequence))
        finally:
            engine.release(sequence, keep=False)
        return "".join(parts)
