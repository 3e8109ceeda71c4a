"""``code_fim`` over a real tritonserver (the test stack's): streaming, batching, bad input,
cancellation and the confidence threshold, through Triton's own gRPC streaming API."""

from __future__ import annotations

import asyncio
import struct

import pytest

from bench.model import Client, fim_request
from config.settings import Settings
from tests.test_fim_model import SOURCE
from workers.prompt import Prompt

pytestmark = pytest.mark.stack

def prompt_at(marker: str, extra: int = 0) -> Prompt:
    cut = SOURCE.index(marker) + extra
    return Prompt(SOURCE[:cut], SOURCE[cut:], "python")


async def test_streams_completions_then_the_final_response(stack: Settings) -> None:
    """Without a threshold the model answers (almost) every prompt, token by token; with the
    cursor inside a line, the completion stays on it."""
    markers = ["return handle", "lines = read", "self.path =", "self.name", "return len", "with open"]
    client = Client(stack.triton_grpc)
    try:
        inside = [await client.complete(prompt_at(m, 3), f"fim-{i}", 32) for i, m in enumerate(markers)]
    finally:
        await client.close()
    assert [s.error for s in inside] == [""] * len(markers)
    assert sum(bool(s.pieces) for s in inside) >= len(markers) - 1, [s.text for s in inside]
    assert all("\n" not in s.text for s in inside)


async def test_concurrent_requests_get_what_they_get_alone(stack: Settings) -> None:
    """Eight requests generated together (continuous batching) give exactly what each gives
    alone: the batch rows do not leak into each other."""
    markers = ["return handle", "lines = read", "self.path =", "self.name", "def count", "return len",
               "with open", "class Config"]
    client = Client(stack.triton_grpc)
    try:
        alone = [await client.complete(prompt_at(m), f"alone-{i}", 24) for i, m in enumerate(markers)]
        together = await asyncio.gather(*(client.complete(prompt_at(m), f"together-{i}", 24)
                                          for i, m in enumerate(markers)))
    finally:
        await client.close()
    assert [s.error for s in together] == [""] * len(markers)
    assert [s.text for s in together] == [s.text for s in alone]


async def test_bad_input_gets_a_precise_error_and_the_model_keeps_serving(stack: Settings) -> None:
    client = Client(stack.triton_grpc)
    try:
        too_many = await client.stream(fim_request(prompt_at("self.name"), "bad-1", 1))
        request = fim_request(prompt_at("self.name"), "bad-2", 8)
        request.raw_input_contents[0] = b"\xff\xfe"
        del request.inputs[0].shape[:]
        request.inputs[0].shape.extend((1, 2))
        not_utf8 = await client.stream(request)
        request = fim_request(prompt_at("self.name"), "bad-3", 8)
        request.raw_input_contents[-1] = struct.pack("<f", 2.0)
        bad_threshold = await client.stream(request)
        request = fim_request(prompt_at("self.name"), "bad-4", 8)
        request.raw_input_contents[3] = struct.pack("<i", 0)
        zero_tokens = await client.stream(request)
        fine = await client.complete(prompt_at("self.path ="), "good", 16)
    finally:
        await client.close()
    assert too_many.error == ""  # one token is a valid limit
    assert "PREFIX is not valid UTF-8" in not_utf8.error
    assert "THRESHOLD must be between 0 and 1" in bad_threshold.error
    assert "MAX_TOKENS must be between 1 and 512" in zero_tokens.error
    assert fine.error == "" and fine.pieces


async def test_threshold_one_shows_nothing(stack: Settings) -> None:
    client = Client(stack.triton_grpc)
    try:
        streamed = await client.complete(prompt_at("self.name"), "sure", 32, threshold=1.0)
    finally:
        await client.close()
    assert streamed.error == "" and streamed.pieces == []


async def test_a_cancelled_request_leaves_and_others_go_on(stack: Settings) -> None:
    client = Client(stack.triton_grpc)
    try:
        prompt = Prompt(SOURCE + "\n\ndef main():\n", "\n", "python")
        cancelled = await client.stream(fim_request(prompt, "cancel-me", 64), stop_after=1)
        after = await asyncio.gather(*(client.complete(prompt_at("return len"), f"after-{i}", 16)
                                       for i in range(4)))
    finally:
        await client.close()
    assert len(cancelled.pieces) <= 1
    assert all(s.error == "" and s.pieces for s in after)


async def test_other_files_context_is_taken_and_bad_context_is_refused(stack: Settings) -> None:
    """The worker's CONTEXT input (other open files, as comments) is part of the prompt; bytes
    that are not UTF-8 get a precise error and the model keeps serving."""
    context = "# From helpers.py:\n# def read_lines(path):\n# def count_lines(path):\n"
    base = prompt_at("lines = read", 3)
    with_context = Prompt(base.prefix, base.suffix, base.language_id, context)
    client = Client(stack.triton_grpc)
    try:
        answered = await client.complete(with_context, "ctx-1", 16)
        bad = fim_request(with_context, "ctx-2", 8)
        position = next(i for i, t in enumerate(bad.inputs) if t.name == "CONTEXT")
        bad.raw_input_contents[position] = b"\xff\xfe"
        del bad.inputs[position].shape[:]
        bad.inputs[position].shape.extend((1, 2))
        refused = await client.stream(bad)
        after = await client.complete(base, "ctx-3", 8)
    finally:
        await client.close()
    assert answered.error == "" and answered.pieces
    assert "CONTEXT is not valid UTF-8" in refused.error
    assert after.error == ""
