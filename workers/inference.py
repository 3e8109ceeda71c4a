"""The worker's boundary to the model: an ``InferenceBackend`` protocol and its Triton adapter.

The Triton adapter speaks KServe v2 gRPC streaming (``ModelStreamInfer``) through the generated
stubs that ship with tritonclient, on its own channel. One stream per completion: the request
asks for an empty final response (``triton_enable_empty_final_response``), which is how a
decoupled model says "no more tokens" even when it produced none; cancelling the consuming task
cancels the call, which Triton passes on to the model. Strings travel as UINT8 tensors of UTF-8
bytes (BYTES tensors break in the python backend when its environment has numpy 2).
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator
from typing import Protocol

import grpc
import orjson
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from schemas.errors import AssistantError
from workers.core import StartTask
from workers.fim_templates import TEMPLATES, fim_prompt
from workers.prompt import Prompt


class InferenceError(AssistantError, RuntimeError):
    """The model failed a request; the message is safe to show (it contains no code)."""


class InferenceBackend(Protocol):
    """Anything that turns a prompt into a stream of text pieces."""

    def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


class TaskBackend(Protocol):
    """Anything that answers an assistant task: our task models with a stream of encoded
    items, an LLM backend with a stream of text."""

    def stream_task(self, model: str, task: StartTask, timeout_ms: int) -> AsyncIterator[bytes]: ...

    def stream_llm(self, model: str, interface: str, prompt: str, max_tokens: int,
                   request_id: str, timeout_ms: int, stop: tuple[str, ...] = (),
                   keep_stop: bool = False) -> AsyncIterator[str]: ...


def _uint8_tensor(request: pb.ModelInferRequest, name: str, data: bytes) -> None:
    tensor = request.inputs.add()
    tensor.name = name
    tensor.datatype = "UINT8"
    tensor.shape.extend((1, len(data)))  # a batch of one: Triton batches requests together
    request.raw_input_contents.append(data)


def triton_request(model: str, prompt: Prompt, max_tokens: int, request_id: str,
                   threshold: float | None = None) -> pb.ModelInferRequest:
    """The gRPC request for one completion (pure); ``threshold`` only for models that take one."""
    request = pb.ModelInferRequest(model_name=model, id=request_id)
    _uint8_tensor(request, "PREFIX", prompt.prefix.encode("utf-8"))
    _uint8_tensor(request, "SUFFIX", prompt.suffix.encode("utf-8"))
    _uint8_tensor(request, "LANGUAGE", prompt.language_id.encode("utf-8"))
    if prompt.context:
        _uint8_tensor(request, "CONTEXT", prompt.context.encode("utf-8"))
    limit = request.inputs.add()
    limit.name = "MAX_TOKENS"
    limit.datatype = "INT32"
    limit.shape.extend((1, 1))
    request.raw_input_contents.append(struct.pack("<i", max_tokens))
    if threshold is not None:
        confidence = request.inputs.add()
        confidence.name = "THRESHOLD"
        confidence.datatype = "FP32"
        confidence.shape.extend((1, 1))
        request.raw_input_contents.append(struct.pack("<f", threshold))
    request.outputs.add().name = "TEXT"
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    return request


def task_request(model: str, task: StartTask, timeout_ms: int) -> pb.ModelInferRequest:
    """The gRPC request for one task (pure): the document, its language, the range, the other
    open documents' heads; Triton rejects it if it queued past ``timeout_ms``."""
    request = pb.ModelInferRequest(model_name=model, id=task.request_id)
    _uint8_tensor(request, "TEXT", task.text.encode("utf-8"))
    _uint8_tensor(request, "LANGUAGE", task.language_id.encode("utf-8"))
    _uint8_tensor(request, "URI", task.uri.encode("utf-8"))
    if task.instruction:
        _uint8_tensor(request, "INSTRUCTION", task.instruction.encode("utf-8"))
    if task.neighbours:
        _uint8_tensor(request, "NEIGHBOURS", orjson.dumps([list(n) for n in task.neighbours]))
    span = request.inputs.add()
    span.name = "RANGE"
    span.datatype = "INT64"
    span.shape.extend((1, 2))
    request.raw_input_contents.append(struct.pack("<qq", task.start, task.end))
    request.outputs.add().name = "ITEM"
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    request.parameters["timeout"].int64_param = timeout_ms * 1000
    return request


def _bytes_tensor(request: pb.ModelInferRequest, name: str, value: bytes,
                  shape: tuple[int, ...]) -> None:
    """A BYTES tensor of one element (raw form: 4-byte little-endian length, then the bytes)."""
    _scalar(request, name, "BYTES", struct.pack("<I", len(value)) + value, shape)


def _scalar(request: pb.ModelInferRequest, name: str, datatype: str, packed: bytes,
            shape: tuple[int, ...]) -> None:
    tensor = request.inputs.add()
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape.extend(shape)
    request.raw_input_contents.append(packed)


def llm_request(model: str, interface: str, prompt: str, max_tokens: int, request_id: str,
                timeout_ms: int, stop: tuple[str, ...] = (), keep_stop: bool = False
                ) -> pb.ModelInferRequest:
    """The gRPC request for an LLM served by Triton's vLLM backend (``vllm``: no batch
    dimension, shape [1]) or TensorRT-LLM's ensemble (``trtllm``: batched, shape [1, 1]),
    streaming (pure). ``keep_stop``: the stop string that ended the answer stays in it (vLLM's
    ``include_stop_str_in_output``), so an answer the token limit cut short can be told apart."""
    if interface not in ("vllm", "trtllm"):
        raise ValueError(f"unknown LLM interface {interface!r}")
    shape = (1,) if interface == "vllm" else (1, 1)
    request = pb.ModelInferRequest(model_name=model, id=request_id)
    _bytes_tensor(request, "text_input", prompt.encode("utf-8"), shape)
    _scalar(request, "stream", "BOOL", b"\x01", shape)
    if interface == "vllm":
        sampling: dict[str, object] = {"max_tokens": max_tokens, "temperature": 0}
        if stop:
            sampling["stop"] = list(stop)
            if keep_stop:
                sampling["include_stop_str_in_output"] = True
        _bytes_tensor(request, "sampling_parameters", orjson.dumps(sampling), shape)
        _scalar(request, "exclude_input_in_output", "BOOL", b"\x01", shape)
    else:
        _scalar(request, "max_tokens", "INT32", struct.pack("<i", max_tokens), shape)
    request.outputs.add().name = "text_output"
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    request.parameters["timeout"].int64_param = timeout_ms * 1000
    return request


def bytes_element(data: bytes) -> bytes:
    """The first element of a raw BYTES output (its 4-byte length, then the bytes)."""
    if len(data) < 4:
        return b""
    (size,) = struct.unpack_from("<I", data)
    return data[4:4 + size]


def response_bytes(response: pb.ModelInferResponse, name: str) -> bytes:
    """Output ``name`` of one streamed response (b'' for the empty final one)."""
    for index, output in enumerate(response.outputs):
        if output.name == name and index < len(response.raw_output_contents):
            data: bytes = response.raw_output_contents[index]
            return data
    return b""


def response_text(response: pb.ModelInferResponse) -> str:
    """The TEXT output of one streamed response ('' for the empty final one)."""
    return response_bytes(response, "TEXT").decode("utf-8", errors="replace")


def is_final(response: pb.ModelInferResponse) -> bool:
    final = response.parameters.get("triton_final_response")
    return final is not None and final.bool_param


class TritonBackend:
    """Streams completions from a decoupled Triton model over gRPC."""

    def __init__(self, url: str, model: str, threshold: float | None = None) -> None:
        self._channel = grpc.aio.insecure_channel(url, options=[
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            # A restarted Triton is back in seconds: reconnect within a second or two of it,
            # not after gRPC's default backoff (up to 120 s), and without hammering it (jittered,
            # at most one attempt a second per worker).
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ])
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._model = model
        self._threshold = threshold

    async def config_digest(self) -> str:
        """A digest of the model's configuration and versions as Triton reports them."""
        try:
            config = await self._stub.ModelConfig(pb.ModelConfigRequest(name=self._model),
                                                  timeout=5)
            metadata = await self._stub.ModelMetadata(pb.ModelMetadataRequest(name=self._model),
                                                      timeout=5)
        except grpc.aio.AioRpcError as error:
            raise InferenceError(f"model {self._model}: {error.code().name}") from None
        digest = hashlib.sha256(config.config.SerializeToString(deterministic=True))
        digest.update(",".join(metadata.versions).encode())
        return digest.hexdigest()[:16]

    async def ready(self) -> bool:
        answer = await self._stub.ModelReady(pb.ModelReadyRequest(name=self._model), timeout=5)
        return bool(answer.ready)

    async def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]:
        request = triton_request(self._model, prompt, max_tokens, request_id, self._threshold)
        async for data in self._stream(self._model, request, "TEXT"):
            yield data.decode("utf-8", errors="replace")

    async def stream_task(self, model: str, task: StartTask, timeout_ms: int
                          ) -> AsyncIterator[bytes]:
        async for data in self._stream(model, task_request(model, task, timeout_ms), "ITEM"):
            yield data

    async def stream_llm(self, model: str, interface: str, prompt: str, max_tokens: int,
                         request_id: str, timeout_ms: int, stop: tuple[str, ...] = (),
                         keep_stop: bool = False) -> AsyncIterator[str]:
        request = llm_request(model, interface, prompt, max_tokens, request_id, timeout_ms, stop,
                              keep_stop)
        async for data in self._stream(model, request, "text_output"):
            text = bytes_element(data).decode("utf-8", errors="replace")
            if text:
                yield text

    async def _stream(self, model: str, request: pb.ModelInferRequest, output: str
                      ) -> AsyncIterator[bytes]:
        done = asyncio.Event()

        async def requests() -> AsyncIterator[pb.ModelInferRequest]:
            yield request
            await done.wait()  # keep our half of the stream open until the final response

        call = self._stub.ModelStreamInfer(requests())
        final = False
        try:
            async for message in call:
                if message.error_message:
                    raise InferenceError(f"model {model} failed: {message.error_message}")
                data = response_bytes(message.infer_response, output)
                final = is_final(message.infer_response)
                if data:
                    yield data
                if final:
                    return
            raise InferenceError(f"model {model} closed the stream without a final response")
        except grpc.aio.AioRpcError as error:
            raise InferenceError(
                f"model {model} failed: {error.code().name} {error.details()}") from None
        finally:
            done.set()  # our half closes, and Triton ends the call after its final response
            if not final:  # (cancelling a call that is ending costs a formatted traceback)
                call.cancel()

    async def close(self) -> None:
        await self._channel.close()


class LlmCompletions(TritonBackend):
    """Completions from a FIM-capable code LLM behind Triton's vLLM backend or TensorRT-LLM's
    ensemble: the prompt in the family's FIM format, its stop strings, the standard tensors.
    (TensorRT-LLM's ensemble takes its stop words as token ids: they are left to its config.)"""

    def __init__(self, url: str, model: str, interface: str, family: str,
                 timeout_ms: int = 30_000) -> None:
        super().__init__(url, model)
        self._interface = interface
        self._family = family
        self._timeout_ms = timeout_ms

    async def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]:
        # Other files' context goes before the prefix, as comments (how such models are prompted).
        text = fim_prompt(self._family, prompt.context + prompt.prefix, prompt.suffix)
        stop = TEMPLATES[self._family].stop if self._interface == "vllm" else ()
        async for piece in self.stream_llm(self._model, self._interface, text, max_tokens,
                                           request_id, self._timeout_ms, stop):
            yield piece
