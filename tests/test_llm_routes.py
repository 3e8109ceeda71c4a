"""Task routes served by an LLM behind Triton's standard LLM backends: the worker's adapter for
the vLLM backend's and TensorRT-LLM ensemble's tensors, against ``code_lm`` (a model in the
repository with exactly those tensors) on the test stack's tritonserver. Switching a route is
configuration only (``TASK_MODELS``)."""

from __future__ import annotations

import pytest

from config.settings import Settings, SettingsError
from config.task_routes import task_routes
from schemas.socket import CompletionEnd, CompletionRequest, DocOpen, TaskRequest, TokenChunk
from schemas.topics import FrameBatch
from tests.test_worker_service import RecordingWorker, SlowModel, feed, until_idle
from workers.fim_templates import TEMPLATES, fim_prompt
from workers.inference import InferenceError, LlmCompletions, TritonBackend, llm_request
from workers.tasks.prompts import selected_code, task_prompt

pytestmark = pytest.mark.stack

CODE = "def area(width, height):\n    return width * height\n"


@pytest.mark.parametrize(("interface", "model"), [("vllm", "code_lm"),
                                                  ("trtllm", "code_lm_trtllm")])
async def test_code_lm_streams_text_through_each_interface(stack: Settings, interface: str,
                                                           model: str) -> None:
    backend = TritonBackend(stack.triton_grpc, model)
    try:
        pieces = [p async for p in backend.stream_llm(
            model, interface, "def area(width, height):\n    return ", 8, "r1", 5000)]
    finally:
        await backend.close()
    assert pieces and "".join(pieces).strip()
    assert not "".join(pieces).startswith("def area"), "a stream carries new text only"


async def test_bad_sampling_parameters_are_the_models_error(stack: Settings) -> None:
    backend = TritonBackend(stack.triton_grpc, "code_lm")
    request = llm_request("code_lm", "vllm", "x", 8, "r2", 5000)
    request.raw_input_contents[2] = b"\x06\x00\x00\x00[1, 2]"  # sampling_parameters: a list
    try:
        with pytest.raises(InferenceError, match="sampling_parameters must be a JSON object"):
            async for _ in backend._stream("code_lm", request, "text_output"):
                pass
    finally:
        await backend.close()


async def test_a_task_route_switched_to_the_vllm_interface_by_configuration(
        stack: Settings) -> None:
    settings = Settings(task_models="explain=vllm:code_lm")
    backend = TritonBackend(stack.triton_grpc, "code_fim")
    worker = RecordingWorker(SlowModel(), settings=settings)
    worker.tasks.backend = backend
    try:
        await feed(worker, DocOpen("a.py", "python", 1, CODE))
        await feed(worker, TaskRequest("t1", "explain", "a.py", 1, 0, len(CODE)))
        await until_idle(worker)
    finally:
        await backend.close()
    *chunks, end = worker.sent
    assert chunks, worker.sent
    texts = [f for c in chunks for f in (c.frames if isinstance(c, FrameBatch) else (c,))]
    assert all(isinstance(t, TokenChunk) for t in texts) and "".join(
        t.text for t in texts if isinstance(t, TokenChunk)).strip()
    assert isinstance(end, CompletionEnd) and end.reason == "stop", end
    frames = sum(len(c.frames) if hasattr(c, "frames") else 1 for c in chunks)
    assert end.chunks == frames


async def test_an_llm_fix_is_checked_before_anything_is_applied(stack: Settings) -> None:
    """The stand-in LLM writes no applicable code: its text comes, then the line that says
    nothing was applied (an edit is sent only if the edited document checks clean)."""
    settings = Settings(task_models="fix=vllm:code_lm")
    backend = TritonBackend(stack.triton_grpc, "code_fim")
    worker = RecordingWorker(SlowModel(), settings=settings)
    worker.tasks.backend = backend
    try:
        await feed(worker, DocOpen("a.py", "python", 1, CODE))
        await feed(worker, TaskRequest("t1", "fix", "a.py", 1, 0, len(CODE)))
        await until_idle(worker)
    finally:
        await backend.close()
    *chunks, end = worker.sent
    texts = [f for c in chunks for f in (c.frames if isinstance(c, FrameBatch) else (c,))]
    said = "".join(t.text for t in texts if isinstance(t, TokenChunk))
    assert "applied" in said.rsplit("\n", 2)[-2], (said[-300:], end)
    assert isinstance(end, CompletionEnd) and end.reason == "stop", end


@pytest.mark.parametrize(("interface", "model"), [("vllm", "code_lm"),
                                                  ("trtllm", "code_lm_trtllm")])
async def test_completions_from_an_llm_by_configuration(stack: Settings, interface: str,
                                                        model: str) -> None:
    """``TRITON_MODEL_INTERFACE`` + ``FIM_TEMPLATE``: the completion route through the same
    adapter; the worker streams the LLM's text as tokens and ends once."""
    settings = Settings(triton_model=model, triton_model_interface=interface,
                        fim_template="qwen")
    backend = LlmCompletions(stack.triton_grpc, model, interface, "qwen")
    worker = RecordingWorker(backend, settings=settings)  # type: ignore[arg-type]
    assert worker.model_identity.startswith(f"{model}[{interface}:qwen]@")
    try:
        await feed(worker, DocOpen("a.py", "python", 1, "def area(w, h):\n    return "))
        await feed(worker, CompletionRequest("c1", "a.py", 1, 27, 8))
        await until_idle(worker)
    finally:
        await backend.close()
    *tokens, end = worker.sent
    assert tokens and all(isinstance(t, TokenChunk) for t in tokens), worker.sent
    assert isinstance(end, CompletionEnd) and end.reason in ("stop", "length"), end


def test_fim_prompts_follow_each_family() -> None:
    assert fim_prompt("starcoder", "a", "b") == "<fim_prefix>a<fim_suffix>b<fim_middle>"
    assert fim_prompt("qwen", "a", "b") == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    assert fim_prompt("codellama", "a", "b") == "<PRE> a <SUF>b <MID>"
    assert fim_prompt("deepseek", "a", "b").startswith("<｜fim▁begin｜>a<｜fim▁hole｜>b")
    request = llm_request("m", "vllm", "p", 8, "r", 1000, TEMPLATES["starcoder"].stop)
    assert b'"stop":["<|endoftext|>"' in request.raw_input_contents[2]
    with pytest.raises(SettingsError, match="FIM_TEMPLATE"):
        Settings(fim_template="gpt").validate()
    with pytest.raises(SettingsError, match="TRITON_MODEL_INTERFACE"):
        Settings(triton_model_interface="openai").validate()


def test_routes_name_their_interface() -> None:
    routes = task_routes("explain=vllm:qwen,docs=trtllm:ensemble,tests=mine")
    assert (routes["explain"].interface, routes["explain"].model) == ("vllm", "qwen")
    assert (routes["docs"].interface, routes["docs"].model) == ("trtllm", "ensemble")
    assert (routes["tests"].interface, routes["tests"].model) == ("items", "mine")
    with pytest.raises(ValueError, match="interface"):
        task_routes("explain=openai:gpt")


def test_prompts_carry_the_task_the_instruction_and_the_code() -> None:
    prompt = task_prompt("docs", CODE, "python", 0, len(CODE), "mention units")
    assert prompt.startswith("Write the documentation comment for this python code")
    assert "The user adds: mention units" in prompt
    assert f"```python\n{CODE}\n```" in prompt
    lines = "\n".join(f"line {i}" for i in range(100))
    around = selected_code(lines, lines.index("line 50"), lines.index("line 50"))
    assert around.startswith("line 30\n") and around.endswith("line 70")
