"""``null_stream``, the load generator ``bench.capacity --null-model`` serves instead of a model:
in a real Triton it streams its fixed pieces at its pace, ``MAX_TOKENS`` caps them, a cancelled
request stops; and it is never part of the served model repository."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.capacity import NULL_MODEL
from bench.model import configure
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import forget_instance, private_settings, triton_spec
from workers.inference import TritonBackend
from workers.prompt import Prompt

PROMPT = Prompt("def f(x):\n    return ", "\n", "python")


@pytest.fixture(scope="module")
def null_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    repository = tmp_path_factory.mktemp("repository")
    shutil.copytree(NULL_MODEL, repository / NULL_MODEL.name)
    configure(repository / NULL_MODEL.name, {"TOKENS": 6, "TOKEN_MS": 40})
    settings = private_settings("null-model").replace(triton_model_repository=repository,
                                                      triton_model=NULL_MODEL.name)
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    supervisor.start(triton_spec(settings), 120)
    try:
        yield settings
    finally:
        supervisor.stop_all()
        forget_instance(settings)


def test_it_is_not_in_the_served_repository() -> None:
    assert not (Path(Settings().triton_model_repository) / NULL_MODEL.name).exists()
    assert "LOAD GENERATOR" in (NULL_MODEL / "config.pbtxt").read_text()


@pytest.mark.stack
async def test_it_streams_its_pieces_at_its_pace(null_triton: Settings) -> None:
    backend = TritonBackend(f"127.0.0.1:{null_triton.triton_grpc_port}", NULL_MODEL.name)
    try:
        started = time.perf_counter()
        arrivals, pieces = [], []
        async for piece in backend.stream(PROMPT, 64, "n1"):
            arrivals.append(time.perf_counter() - started)
            pieces.append(piece)
        assert pieces == [f" n{i}" for i in range(6)]
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) > 0.025, gaps  # 40 ms apart, give or take the machine
        assert [p async for p in backend.stream(PROMPT, 2, "n2")] == [" n0", " n1"]
    finally:
        await backend.close()


@pytest.mark.stack
async def test_a_cancelled_request_stops_and_the_next_is_served(null_triton: Settings) -> None:
    backend = TritonBackend(f"127.0.0.1:{null_triton.triton_grpc_port}", NULL_MODEL.name)
    try:
        async def first_only() -> list[str]:
            async for piece in backend.stream(PROMPT, 64, "n3"):
                return [piece]  # leaving the stream cancels the call
            return []

        assert await first_only() == [" n0"]
        await asyncio.sleep(0.1)
        assert len([p async for p in backend.stream(PROMPT, 64, "n4")]) == 6
    finally:
        await backend.close()
