"""Triton python backend for ``code_ngram``: streams an n-gram model's completion token by token.

Decoupled: each request gets one response per generated token (its UTF-8 bytes in ``TEXT``),
then an empty response carrying the final flag. Bad input gets an error response, then the final
flag; nothing a client sends can take the model down. Code is private: logs carry sizes and
counts, never text.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

# The backend does not put the model's directory on sys.path in every Triton version.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import ngram  # noqa: E402

MAX_TOKENS_LIMIT = 512
_LANGUAGE_ID = re.compile(r"[a-z0-9_+#.-]{1,32}")
#: Languages the corpus (Python's standard library) speaks; for others the document counts more.
CORPUS_LANGUAGES = frozenset({"", "python", "unknown"})
OTHER_LANGUAGE_LOCAL_WEIGHT = 0.9
DEFAULT_MAX_FILES = 400
DEFAULT_MAX_BYTES = 3_000_000
MAX_TRAINING_TOKENS = 2_000_000


class BadRequest(ValueError):
    """The request cannot be served as sent; the message says why (and contains no code)."""


def _parameter(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get("parameters", {}).get(key, {}).get("string_value", "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"model parameter {key} must be an integer, got {value!r}") from None


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
        raise BadRequest(
            f"input {name} is not valid UTF-8 (byte {error.start} of {data.size})"
        ) from None
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


def _where(error: BaseException) -> str:
    """`` at file:line`` of the innermost frame of ``error``'s traceback."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return ""
    return f" at {os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}"


def _language_label(language: str) -> str:
    """The language id for logs, if it looks like one (it is client text, so never verbatim)."""
    return language if _LANGUAGE_ID.fullmatch(language) else "other"


class TritonPythonModel:
    """Trains the corpus model once at load, then serves completions one request at a time."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        max_files = _parameter(config, "CORPUS_MAX_FILES", DEFAULT_MAX_FILES)
        max_bytes = _parameter(config, "CORPUS_MAX_BYTES", DEFAULT_MAX_BYTES)
        started = time.perf_counter()
        texts = ngram.load_corpus(max_files, max_bytes)
        self.model = ngram.NgramModel.train(texts, MAX_TRAINING_TOKENS, min_count=2)
        pb_utils.Logger.log_info(
            f"code_ngram: trained on {len(texts)} stdlib files, {sum(map(len, texts))} chars, "
            f"{self.model.token_count} tokens, {len(self.model.counts)} contexts "
            f"in {time.perf_counter() - started:.2f}s"
        )

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            sender = request.get_response_sender()
            try:
                self._serve(request, sender)
            except BadRequest as error:
                pb_utils.Logger.log_warn(f"code_ngram: rejected a request: {error}")
                self._fail(sender, str(error))
            except Exception as error:  # noqa: BLE001 - one bad request must not take the model down
                # The exception's message could quote code: log its type and place only.
                pb_utils.Logger.log_error(f"code_ngram: {type(error).__name__}{_where(error)}")
                self._fail(sender, f"code_ngram internal error ({type(error).__name__})")
        return None

    def _serve(self, request: Any, sender: Any) -> None:
        started = time.perf_counter()
        prefix = _text(request, "PREFIX", required=True)
        suffix = _text(request, "SUFFIX", required=True)
        language = _text(request, "LANGUAGE", required=False).strip().lower()
        max_tokens = _max_tokens(request)
        weight = (
            ngram.LOCAL_WEIGHT if language in CORPUS_LANGUAGES else OTHER_LANGUAGE_LOCAL_WEIGHT
        )
        cancelled = getattr(request, "is_cancelled", None)
        local = ngram.build_local(prefix, suffix)
        sent = 0
        stopped = False
        for token in ngram.generate(
            self.model, prefix, suffix, max_tokens, local=local, local_weight=weight
        ):
            if cancelled is not None and cancelled():
                stopped = True
                break
            # One row: the model is batched (max_batch_size > 0), each request is a batch of 1.
            data = np.frombuffer(token.encode("utf-8"), dtype=np.uint8).reshape(1, -1)
            sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("TEXT", data)]))
            sent += 1
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        pb_utils.Logger.log_verbose(
            f"code_ngram: prefix {len(prefix)} chars, suffix {len(suffix)} chars, "
            f"language {_language_label(language or 'unknown')}, {sent}/{max_tokens} tokens"
            f"{' (cancelled)' if stopped else ''} in {1000 * (time.perf_counter() - started):.1f} ms"
        )

    @staticmethod
    def _fail(sender: Any, message: str) -> None:
        try:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(message)))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        except Exception as error:  # noqa: BLE001 - e.g. the final flag was already sent
            pb_utils.Logger.log_warn(f"code_ngram: could not report an error: {type(error).__name__}")

    def finalize(self) -> None:
        pb_utils.Logger.log_info("code_ngram: unloaded")
