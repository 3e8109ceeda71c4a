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
import struct
from collections.abc import AsyncIterator
from typing import Protocol

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from workers.prompt import Prompt


class InferenceError(RuntimeError):
    """The model failed a request; the message is safe to show (it contains no code)."""


class InferenceBackend(Protocol):
    """Anything that turns a prompt into a stream of text pieces."""

    def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


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


def response_text(response: pb.ModelInferResponse) -> str:
    """The TEXT output of one streamed response ('' for the empty final one)."""
    for index, output in enumerate(response.outputs):
        if output.name == "TEXT" and index < len(response.raw_output_contents):
            data: bytes = response.raw_output_contents[index]
            return data.decode("utf-8", errors="replace")
    return ""


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

    async def ready(self) -> bool:
        answer = await self._stub.ModelReady(pb.ModelReadyRequest(name=self._model), timeout=5)
        return bool(answer.ready)

    async def stream(self, prompt: Prompt, max_tokens: int, request_id: str) -> AsyncIterator[str]:
        done = asyncio.Event()
        request = triton_request(self._model, prompt, max_tokens, request_id, self._threshold)

        async def requests() -> AsyncIterator[pb.ModelInferRequest]:
            yield request
            await done.wait()  # keep our half of the stream open until the final response

        call = self._stub.ModelStreamInfer(requests())
        try:
            async for message in call:
                if message.error_message:
                    raise InferenceError(f"model {self._model} failed: {message.error_message}")
                text = response_text(message.infer_response)
                if text:
                    yield text
                if is_final(message.infer_response):
                    return
            raise InferenceError(f"model {self._model} closed the stream without a final response")
        except grpc.aio.AioRpcError as error:
            raise InferenceError(
                f"model {self._model} failed: {error.code().name} {error.details()}") from None
        finally:
            done.set()
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()
