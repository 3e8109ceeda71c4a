"""Triton python backend for ``code_fim``: the trained fill-in-the-middle model, streamed.

Decoupled: each request gets one response per piece of text that became final (``TEXT``, UTF-8
bytes), then an empty response with the final flag. ``execute`` only validates and queues; one
generation thread runs the :class:`engine.Engine`, which moves every active request (up to
``MAX_ACTIVE``) one token per pass through the network, so requests from many sessions are
computed together and join or leave between tokens. A cancelled request leaves at the next token.
Bad input gets an error response and the final flag; nothing a client sends stops the model.
Code is private: logs carry sizes, counts and timings, never text.
"""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from engine import BEAM_WIDTH, DEFAULT_THRESHOLD, Engine, Request, Sequence  # noqa: E402

MAX_TOKENS_LIMIT = 512
#: llama.cpp's threads when THREADS is empty, for a prompt and a search's steps while no other
#: request generates: two cut a cold 1,024-token prompt's first token from p50 135 to 96 ms end
#: to end on this 2-core machine in a good hour (``python -m bench.first_token``; its slow hours
#: in docs/PERFORMANCE.md).
DEFAULT_THREADS = 2
MAX_ACTIVE = 8
_LANGUAGE_ID = re.compile(r"[a-z0-9_+#.-]{1,32}")


class BadRequest(ValueError):
    """The request cannot be served as sent; the message says why (and contains no code)."""


def _text(request: Any, name: str, required: bool) -> str:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        if required:
            raise BadRequest(f"input {name} is missing")
        return ""
    data = tensor.as_numpy()
    if data.dtype != np.uint8:
        raise BadRequest(f"input {name} must be UINT8 (UTF-8 bytes), got {data.dtype}")
    try:
        text: str = data.tobytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"input {name} is not valid UTF-8 (byte {error.start} of {data.size})") from None
    return text


def _max_tokens(request: Any) -> int:
    tensor = pb_utils.get_input_tensor_by_name(request, "MAX_TOKENS")
    if tensor is None:
        raise BadRequest("input MAX_TOKENS is missing")
    data = tensor.as_numpy()
    if data.size != 1:
        raise BadRequest(f"input MAX_TOKENS must hold exactly one value, got {data.size}")
    value = int(data.reshape(-1)[0])
    if not 1 <= value <= MAX_TOKENS_LIMIT:
        raise BadRequest(f"input MAX_TOKENS must be between 1 and {MAX_TOKENS_LIMIT}, got {value}")
    return value


def _threshold(request: Any, default: float) -> float:
    tensor = pb_utils.get_input_tensor_by_name(request, "THRESHOLD")
    if tensor is None:
        return default
    data = tensor.as_numpy()
    if data.size != 1:
        raise BadRequest(f"input THRESHOLD must hold exactly one value, got {data.size}")
    value = float(data.reshape(-1)[0])
    if not 0.0 <= value <= 1.0:
        raise BadRequest(f"input THRESHOLD must be between 0 and 1, got {value}")
    return value


def _where(error: BaseException) -> str:
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return ""
    return f" at {os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}"


def _send_text(sender: Any, text: str) -> None:
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).reshape(1, -1)
    sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("TEXT", data)]))


def _fail(sender: Any, message: str) -> None:
    try:
        sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message)))
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    except Exception as error:  # noqa: BLE001 - e.g. the final flag was already sent
        pb_utils.Logger.log_warn(f"code_fim: could not report an error: {type(error).__name__}")


def _count_parameter(parameters: dict[str, Any], name: str, what: str) -> int | None:
    """A whole-number config parameter (``None`` when empty: the default)."""
    raw = parameters.get(name, {}).get("string_value", "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"code_fim: config parameter {name} must be {what} or empty, got {raw!r}")
    return int(raw) if raw else None


class _Job:
    def __init__(self, request: Any, parsed: Request) -> None:
        self.triton_request = request
        self.sender = request.get_response_sender()
        self.parsed = parsed
        self.sequence: Sequence | None = None
        self.received = time.perf_counter()
        self.closed = False  # the final flag was sent (or failed to be) and the slot freed


class TritonPythonModel:
    """Loads the committed weights and runs the generation thread."""

    def initialize(self, args: dict[str, str]) -> None:
        here = Path(_HERE)
        config = json.loads(args["model_config"])
        parameters = config.get("parameters", {})
        self.default_threshold = float(
            parameters.get("CONFIDENCE_THRESHOLD", {}).get("string_value", "") or DEFAULT_THRESHOLD)
        window = _count_parameter(parameters, "PROMPT_WINDOW", "a number of tokens (256 to the "
                                  "model's context)")
        beam_width = _count_parameter(parameters, "BEAM_WIDTH", "a number of hypotheses (1 to 8)")
        if beam_width is not None and not 1 <= beam_width <= 8:
            raise ValueError(f"code_fim: config parameter BEAM_WIDTH must be 1 to 8, got {beam_width}")
        started = time.perf_counter()
        network = parameters.get("NETWORK", {}).get("string_value", "").strip() or None
        template = parameters.get("FIM_TEMPLATE", {}).get("string_value", "") or None
        threads = _count_parameter(parameters, "THREADS", "a number of threads") or DEFAULT_THREADS
        self.engine = Engine.load(here, network, template, threads, window=window,
                                  beam_width=beam_width or BEAM_WIDTH)
        transformer = self.engine.transformer
        self.incoming: queue.Queue[_Job] = queue.Queue()
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="code_fim-generate", daemon=True)
        self.thread.start()
        pb_utils.Logger.log_info(
            f"code_fim: loaded {transformer.describe()}, vocabulary {transformer.vocab}, context "
            f"{transformer.context}, prompt window {self.engine.window}, one-line beam width "
            f"{self.engine.beam_width}, threshold {self.default_threshold} in "
            f"{time.perf_counter() - started:.2f}s")

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            try:
                language = _text(request, "LANGUAGE", required=False).strip().lower()
                parsed = Request(
                    prefix=_text(request, "PREFIX", required=True),
                    suffix=_text(request, "SUFFIX", required=True),
                    language=language if _LANGUAGE_ID.fullmatch(language) else "",
                    max_tokens=_max_tokens(request),
                    threshold=_threshold(request, self.default_threshold),
                    context=_text(request, "CONTEXT", required=False))
            except BadRequest as error:
                pb_utils.Logger.log_warn(f"code_fim: rejected a request: {error}")
                _fail(request.get_response_sender(), str(error))
                continue
            except Exception as error:  # noqa: BLE001 - one bad request must not take the model down
                pb_utils.Logger.log_error(f"code_fim: {type(error).__name__}{_where(error)}")
                _fail(request.get_response_sender(), f"code_fim internal error ({type(error).__name__})")
                continue
            self.incoming.put(_Job(request, parsed))
        return None

    def _loop(self) -> None:
        active: list[_Job] = []
        while self.running:
            try:
                self._admit(active)
                if not active:
                    continue
                self.engine.advance([job.sequence for job in active if job.sequence is not None])
            except Exception as error:  # noqa: BLE001 - fail the batch, keep serving
                pb_utils.Logger.log_error(
                    f"code_fim: generation failed: {type(error).__name__}{_where(error)}")
                for job in active:
                    self._abandon(job, error)
                active.clear()
                continue
            active[:] = [job for job in active if not self._deliver_or_abandon(job)]
        # Unloading: whatever is still running or queued gets its error and final flag.
        stopping = RuntimeError("model unloading")
        for job in active:
            self._abandon(job, stopping)
        while True:
            try:
                job = self.incoming.get_nowait()
            except queue.Empty:
                break
            _fail(job.sender, "code_fim is unloading")

    def _admit(self, active: list[_Job]) -> None:
        """Starts queued requests while there is room; waits for one when idle."""
        while len(active) < MAX_ACTIVE:
            try:
                job = self.incoming.get(timeout=0.05) if not active else self.incoming.get_nowait()
            except queue.Empty:
                return
            try:
                job.sequence = self.engine.start(job.parsed)
            except Exception as error:  # noqa: BLE001 - this request fails, the others go on
                pb_utils.Logger.log_error(f"code_fim: start failed: {type(error).__name__}{_where(error)}")
                _fail(job.sender, f"code_fim internal error ({type(error).__name__})")
                continue
            if not self._deliver_or_abandon(job):
                active.append(job)

    def _deliver_or_abandon(self, job: _Job) -> bool:
        """:meth:`_deliver`, failing only this job if sending to its client fails."""
        try:
            return self._deliver(job)
        except Exception as error:  # noqa: BLE001 - one client's failure is not the others'
            pb_utils.Logger.log_warn(f"code_fim: delivery failed: {type(error).__name__}{_where(error)}")
            self._abandon(job, error)
            return True

    def _abandon(self, job: _Job, error: BaseException) -> None:
        """Error and final flag to the client (unless it already has them); slot freed once."""
        if job.closed:
            return
        job.closed = True
        _fail(job.sender, f"code_fim internal error ({type(error).__name__})")
        if job.sequence is not None:
            self.engine.release(job.sequence, keep=False)

    def _deliver(self, job: _Job) -> bool:
        """Sends what became final; returns whether the job is over."""
        sequence = job.sequence
        assert sequence is not None
        cancelled = getattr(job.triton_request, "is_cancelled", None)
        if cancelled is not None and cancelled():
            sequence.done, sequence.reason = True, "cancelled"
        text = self.engine.take_output(sequence) if sequence.reason != "cancelled" else ""
        if text:
            _send_text(job.sender, text)
        if not sequence.done:
            return False
        job.closed = True
        self.engine.release(sequence)
        job.sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        pb_utils.Logger.log_verbose(
            f"code_fim: {len(sequence.prompt)} prompt tokens ({sequence.reused} reused), "
            f"{sequence.tokens}/{sequence.request.max_tokens} tokens, mode {sequence.context.mode}, "
            f"stop {sequence.reason}, confidence {sequence.confidence:.2f}, "
            f"{1000 * (time.perf_counter() - job.received):.1f} ms")
        return True

    def finalize(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        pb_utils.Logger.log_info("code_fim: unloaded")
