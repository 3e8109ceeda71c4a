"""The task routes on Triton's python backend: one model per kind (``task_explain``,
``task_find_bugs``, ...), each with its own instances, queue and deadline, all running this
adapter. Decoupled: a request gets one ``ITEM`` response per answer item (an orjson
:data:`~schemas.tasks.TaskItem`), then an empty final one. Bad input gets an error response;
nothing a client sends stops the model. Logs carry sizes and timings, never code.

Inputs (UTF-8 in UINT8 tensors): ``TEXT`` (the document), ``LANGUAGE``, ``URI``, optional
``INSTRUCTION`` and ``NEIGHBOURS`` (orjson list of [uri, first lines] of the other open
documents); ``RANGE`` (INT64, start and end in code points).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from schemas.errors import AssistantError
from schemas.socket import TASK_KINDS, TaskKind
from schemas.tasks import write_item
from tasks.analyzers import warm
from tasks.engine import TaskInput, run_task
from tasks.filler import Filler, ModelFiller
from tasks.linters import remove_leftovers

MAX_TEXT_BYTES = 8 * 1024 * 1024


class BadRequest(AssistantError, ValueError):
    """The request cannot be served as sent (the message holds no code)."""


def _text(request: Any, name: str, required: bool) -> str:
    import triton_python_backend_utils as pb_utils

    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        if required:
            raise BadRequest(f"input {name} is missing")
        return ""
    data = tensor.as_numpy().astype(np.uint8).tobytes()
    if len(data) > MAX_TEXT_BYTES:
        raise BadRequest(f"input {name} has {len(data)} bytes; the limit is {MAX_TEXT_BYTES}")
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(f"input {name} is not UTF-8") from None


def parse_request(kind: TaskKind, request: Any) -> TaskInput:
    import triton_python_backend_utils as pb_utils

    text = _text(request, "TEXT", True)
    span = pb_utils.get_input_tensor_by_name(request, "RANGE")
    if span is None:
        raise BadRequest("input RANGE is missing")
    values = span.as_numpy().reshape(-1).tolist()
    if len(values) != 2 or not 0 <= values[0] <= values[1] <= len(text):
        raise BadRequest(f"RANGE must be [start, end] with 0 <= start <= end <= {len(text)}")
    raw = _text(request, "NEIGHBOURS", False)
    try:
        neighbours = [(str(u), str(h)) for u, h in orjson.loads(raw)] if raw else []
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise BadRequest("NEIGHBOURS must be a JSON list of [uri, head] pairs") from None
    return TaskInput(kind, text, _text(request, "LANGUAGE", True).strip().lower(),
                     _text(request, "URI", False), int(values[0]), int(values[1]),
                     _text(request, "INSTRUCTION", False) or None, neighbours)


class TaskModel:
    """``TritonPythonModel`` of every task route; the kind comes from the model's name."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils

        config = json.loads(args["model_config"])
        name = str(config["name"])
        kind = name.removeprefix("task_")
        if kind not in TASK_KINDS:
            raise ValueError(f"{name}: a task model's name is task_<kind>, kind one of "
                             f"{', '.join(TASK_KINDS)}")
        self.kind: TaskKind = kind
        self.name = name
        parameters = config.get("parameters", {})
        # Tasks are best-effort next to completions, which a developer waits on keystroke by
        # keystroke: on a shared CPU this route's process yields to them (NICENESS, default 10).
        niceness = int(parameters.get("NICENESS", {}).get("string_value", "") or 10)
        if niceness > 0:
            os.nice(niceness)
        remove_leftovers()  # of a process killed while it linted (the text must not stay)
        if kind == "find_bugs":
            # Go's first vet compiles the standard library (tens of seconds), staticcheck and
            # mypy analyse it: do it now, aside.
            threading.Thread(target=warm, name="warm-analyzers", daemon=True).start()
        fill_dir = parameters.get("FILL_MODEL_DIR", {}).get("string_value", "")
        self.filler: Filler | None = None
        if fill_dir:
            directory = (Path(args["model_repository"]) / fill_dir).resolve()
            deadline = float(parameters.get("FILL_DEADLINE_S", {}).get("string_value", "") or 1)
            self.filler = ModelFiller(directory, deadline)
        pb_utils.Logger.log_info(f"{name}: ready (code model: {'yes' if self.filler else 'no'}, "
                                 f"niceness {os.nice(0)})")

    def execute(self, requests: list[Any]) -> None:
        import triton_python_backend_utils as pb_utils

        for request in requests:
            sender = request.get_response_sender()
            started = time.perf_counter()
            items = 0
            try:
                task = parse_request(self.kind, request)
                for item in run_task(task, self.filler):
                    if request.is_cancelled():
                        break
                    data = np.frombuffer(write_item(item), dtype=np.uint8).reshape(1, -1)
                    sender.send(pb_utils.InferenceResponse(
                        output_tensors=[pb_utils.Tensor("ITEM", data)]))
                    items += 1
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            except Exception as error:  # noqa: BLE001 - one bad request must not stop the model
                message = str(error) if isinstance(error, BadRequest) else \
                    f"{self.name} internal error ({type(error).__name__})"
                pb_utils.Logger.log_warn(f"{self.name}: request failed: {message}")
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message)),
                            flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                continue
            pb_utils.Logger.log_verbose(
                f"{self.name}: {items} items in {1000 * (time.perf_counter() - started):.1f} ms")
        return None

    def finalize(self) -> None:
        return None
