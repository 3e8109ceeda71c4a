"""Triton's dynamic batching for the completion model, measured against no batching in one run.

``python -m bench.batching [--requests 200] [--concurrency 1,8]`` starts one tritonserver on a
temporary model repository holding the project's model twice: ``code_ngram`` exactly as
configured (dynamic batching) and ``code_ngram_serial`` (the same, without the dynamic
batcher). For each concurrency it streams the same prompts through both, alternating, and
prints first-token latency p50/p99 and generated tokens per second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from bench.measure import percentile
from config.settings import Settings
from documents.document import Document
from infra.processes import Supervisor
from infra.stack import private_settings, triton_spec
from workers.inference import TritonBackend
from workers.prompt import Prompt, build_prompt

SERIAL = "code_ngram_serial"


def repository(settings: Settings, into: Path) -> Path:
    source = settings.triton_model_repository / "code_ngram"
    batched = into / "code_ngram"
    shutil.copytree(source, batched, ignore=shutil.ignore_patterns("__pycache__"))
    serial = into / SERIAL
    shutil.copytree(source, serial, ignore=shutil.ignore_patterns("__pycache__"))
    config = (serial / "config.pbtxt").read_text()
    start = config.index("dynamic_batching {")
    end = config.index("}", start) + 1
    config = config[:start] + config[end:]
    (serial / "config.pbtxt").write_text(config.replace('name: "code_ngram"',
                                                        f'name: "{SERIAL}"'))
    return into


def prompts(count: int, seed: int = 11) -> list[Prompt]:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "json" / "encoder.py").read_text()
    rng = random.Random(seed)  # noqa: S311 - reproducible prompts
    lines = [i + 1 for i, c in enumerate(source) if c == "\n" and 200 < i < len(source) - 200]
    out = []
    for _ in range(count):
        offset = rng.choice(lines)
        while source[offset] == " ":  # after the indentation: where a line is about to start
            offset += 1
        out.append(build_prompt(Document("bench.py", "python", 1, source), offset, 4000, 1000))
    return out


async def run(settings: Settings, model: str, work: list[Prompt], concurrency: int
              ) -> tuple[list[float], float]:
    backend = TritonBackend(settings.triton_grpc, model)
    queue: asyncio.Queue[tuple[int, Prompt]] = asyncio.Queue()
    for item in enumerate(work):
        queue.put_nowait(item)
    firsts: list[float] = []
    tokens = 0

    async def client() -> None:
        nonlocal tokens
        while not queue.empty():
            n, prompt = queue.get_nowait()
            started = time.perf_counter()
            first = None
            async for _ in backend.stream(prompt, 32, f"{model}-{concurrency}-{n}"):
                first = first or time.perf_counter()
                tokens += 1
            if first is not None:
                firsts.append((first - started) * 1000)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(concurrency)))
    finally:
        await backend.close()
    return firsts, tokens / (time.perf_counter() - began)


async def measure(settings: Settings, requests: int, levels: list[int]) -> None:
    work = prompts(requests)
    for concurrency in levels:
        for model in ("code_ngram", SERIAL, "code_ngram", SERIAL):  # alternated: noisy machine
            firsts, rate = await run(settings, model, work, concurrency)
            print(f"concurrency {concurrency:>2} {model:<18} first token p50 "
                  f"{statistics.median(firsts):6.2f} ms  p99 {percentile(firsts, 0.99):6.2f} ms  "
                  f"{rate:7.0f} tokens/s  ({len(firsts)} with tokens)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batching")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = private_settings("bench-batching").replace(
            triton_model_repository=repository(private_settings("x"), Path(scratch)))
        supervisor = Supervisor(settings.run_dir, settings.log_dir)
        supervisor.start(triton_spec(settings), 120)
        try:
            asyncio.run(measure(settings, args.requests,
                                [int(c) for c in args.concurrency.split(",")]))
        finally:
            supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
