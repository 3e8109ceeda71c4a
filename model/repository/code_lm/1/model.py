"""Triton python backend for ``code_lm``: the LLM backends' tensor interface over code_fim's
network, so the worker's vLLM / TensorRT-LLM adapter is exercised against a real model here.

Decoupled. ``text_input`` is continued (as the prefix of a fill-in-the-middle question with an
empty suffix) for ``max_tokens`` tokens (from ``sampling_parameters``' JSON, or the
``max_tokens`` input; default 16). With ``stream`` true each new piece of text is one response;
otherwise one response holds the whole text, after the prompt unless
``exclude_input_in_output`` is true (streamed responses carry new text only). Logs carry sizes,
never text.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

FIM_DIR = Path(__file__).resolve().parent.parent.parent / "code_fim" / "1"
if str(FIM_DIR) not in sys.path:
    sys.path.insert(0, str(FIM_DIR))

from engine import Engine, Request  # noqa: E402

MAX_TOKENS_LIMIT = 2048
DEFAULT_MAX_TOKENS = 16


def _scalar(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    values = tensor.as_numpy().reshape(-1)
    return values[0] if len(values) else None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _max_tokens(request: Any) -> int:
    raw = _scalar(request, "sampling_parameters")
    if raw is not None:
        parameters = json.loads(_text(raw) or "{}")
        if not isinstance(parameters, dict):
            raise ValueError("sampling_parameters must be a JSON object")
        value = parameters.get("max_tokens", DEFAULT_MAX_TOKENS)
    else:
        found = _scalar(request, "max_tokens")
        value = DEFAULT_MAX_TOKENS if found is None else int(found)
    if not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
        raise ValueError(f"max_tokens must be a whole number in 1..{MAX_TOKENS_LIMIT}")
    return value


def _respond(sender: Any, text: str) -> None:
    data = np.array([text.encode("utf-8")], dtype=np.object_)
    sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("text_output", data)]))


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.engine = Engine.load(FIM_DIR)
        pb_utils.Logger.log_info(f"code_lm: ready (code_fim's network, pid {os.getpid()})")

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            sender = request.get_response_sender()
            try:
                prompt = _text(_scalar(request, "text_input"))
                stream = bool(_scalar(request, "stream"))
                exclude = bool(_scalar(request, "exclude_input_in_output"))
                max_tokens = _max_tokens(request)
                self._generate(request, sender, prompt, stream, exclude, max_tokens)
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            except Exception as error:  # noqa: BLE001 - one bad request must not stop the model
                message = str(error) if isinstance(error, ValueError) else \
                    f"code_lm internal error ({type(error).__name__})"
                pb_utils.Logger.log_warn(f"code_lm: request failed: {message}")
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message)),
                            flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None

    def _generate(self, request: Any, sender: Any, prompt: str, stream: bool, exclude: bool,
                  max_tokens: int) -> None:
        engine = self.engine
        sequence = engine.start(Request(prompt, "", "", max_tokens, 0.0))
        pieces = [] if exclude or stream else [prompt]
        try:
            while True:
                new = engine.take_output(sequence)
                if new:
                    pieces.append(new)
                if stream and pieces:
                    _respond(sender, "".join(pieces))
                    pieces = []
                if sequence.done or request.is_cancelled():
                    break
                engine.advance([sequence])
        finally:
            engine.release(sequence, keep=False)
        if not stream:
            _respond(sender, "".join(pieces))

    def finalize(self) -> None:
        return None
