"""The trained model (``code_fim``) served by a real tritonserver: first token and tokens/s.

``python -m bench.model [--requests 40]`` starts one tritonserver on a temporary repository
holding only ``code_fim`` (one instance, one BLAS thread: one core), then streams held-out-like
prompts (the standard library's ``json/encoder.py``, cursor at line starts, multi-line
completions of up to 64 tokens, no confidence cut so every request generates):

* batch 1: one client; for each prompt, a request ("cold": no cached states to reuse), then two
  more as if a character and another were typed ("typing": the cached prompt is reused; the
  cursor is then inside a line, whose completion is searched for: without a confidence cut it
  streams what every hypothesis agrees on, ``--beam-width 1`` serves greedy decoding instead);
* batch 8: eight clients at once doing the same with other prompts (the model advances all
  active requests together).

Prints first-token p50/p99 and generated tokens per second (tokens counted by re-encoding the
streamed text with the model's tokenizer); also the engine's own cost of one decoding step at
batch 1 and 8, measured in this process without Triton, as a baseline.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from bench.measure import group_rss_kib, percentile
from bench.recorded import report
from config.settings import Settings
from documents.document import Document
from infra.processes import Supervisor
from infra.stack import private_settings, triton_spec
from training import model_dir
from workers.inference import is_final, response_text, triton_request
from workers.prompt import Prompt, build_prompt

MODEL = "code_fim"


def prompts(count: int, seed: int = 5) -> list[Prompt]:
    source = (Path(sysconfig.get_paths()["stdlib"]) / "json" / "encoder.py").read_text()
    rng = random.Random(seed)  # noqa: S311 - reproducible prompts
    # Far enough into the file that the prompt fills the model's window (about 1,000 tokens).
    starts = [i + 1 for i, c in enumerate(source) if c == "\n" and 4000 < i < len(source) - 700]
    out = []
    for offset in rng.sample(starts, count):
        while source[offset] == " ":
            offset += 1
        doc = Document("bench.py", "python", 1, source[:offset] + "\n" + source[offset:])
        out.append(build_prompt(doc, offset, 4000, 1000))
    return out


def typed(prompt: Prompt) -> Prompt:
    """The same prompt after typing one more character (a space would not change the line)."""
    return Prompt(prompt.prefix + "x", prompt.suffix, prompt.language_id, prompt.context)


def fim_request(prompt: Prompt, request_id: str, max_tokens: int = 64, threshold: float = 0.0
                ) -> pb.ModelInferRequest:
    """The worker's request for ``code_fim``, plus an explicit confidence threshold."""
    return triton_request(MODEL, prompt, max_tokens, request_id, threshold)


@dataclass
class Streamed:
    first_ms: float
    total_ms: float
    pieces: list[str]
    error: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class Client:
    """Streams requests to ``code_fim`` over Triton's gRPC API."""

    def __init__(self, url: str) -> None:
        self.channel = grpc.aio.insecure_channel(url)
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)

    async def stream(self, request: pb.ModelInferRequest, stop_after: int | None = None) -> Streamed:
        """Sends ``request`` and collects its responses (cancelling after ``stop_after`` pieces)."""
        done = asyncio.Event()

        async def requests() -> Any:
            yield request
            await done.wait()

        started = time.perf_counter()
        first = None
        out = Streamed(0.0, 0.0, [])
        call = self.stub.ModelStreamInfer(requests())
        try:
            async for message in call:
                if message.error_message:  # an error ends the request (no final flag follows)
                    out.error = message.error_message
                    break
                piece = response_text(message.infer_response)
                if piece:
                    first = first or time.perf_counter()
                    out.pieces.append(piece)
                if is_final(message.infer_response) or (stop_after and len(out.pieces) >= stop_after):
                    break
        finally:
            done.set()
            call.cancel()
        ended = time.perf_counter()
        out.first_ms, out.total_ms = ((first or ended) - started) * 1000, (ended - started) * 1000
        return out

    async def complete(self, prompt: Prompt, request_id: str, max_tokens: int = 64,
                       threshold: float = 0.0) -> Streamed:
        return await self.stream(fim_request(prompt, request_id, max_tokens, threshold))

    async def close(self) -> None:
        await self.channel.close()


async def run(settings: Settings, work: list[list[Prompt]], concurrency: int, label: str,
              tokenizer: Any) -> dict[str, float]:
    """Each of ``concurrency`` clients takes a list of prompts from ``work`` and sends them in
    order; the first prompt of each list counts as "cold", the rest as "typing" (they extend it)."""
    client = Client(settings.triton_grpc)
    queue: asyncio.Queue[tuple[int, list[Prompt]]] = asyncio.Queue()
    for item in enumerate(work):
        queue.put_nowait(item)
    firsts: dict[str, list[float]] = {"cold": [], "typing": []}
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while not queue.empty():
            n, prompts_in_order = queue.get_nowait()
            for step, prompt in enumerate(prompts_in_order):
                streamed = await client.complete(prompt, f"{label}-{n}-{step}")
                firsts["cold" if step == 0 else "typing"].append(streamed.first_ms)
                tokens += len(tokenizer.encode(streamed.text))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    await client.close()
    result: dict[str, float] = {"tokens_per_s": tokens / elapsed, "tokens": tokens}
    line = f"{label:<10} {tokens / elapsed:6.0f} tokens/s ({tokens} tokens in {elapsed:.1f} s)"
    for kind, values in firsts.items():
        if values:
            result[f"{kind}_first_p50_ms"] = statistics.median(values)
            result[f"{kind}_first_p99_ms"] = percentile(values, 0.99)
            line += (f"  {kind} first text p50 {statistics.median(values):5.1f} ms "
                     f"p99 {percentile(values, 0.99):5.1f} ms ({len(values)})")
    print(line)
    return result


def engine_steps(network: str | None = None, repeats: int = 200) -> dict[str, float]:
    """Milliseconds per decoding step at batch 1 and 8 and per full prompt, in this process (one
    thread), on ``network`` (the engine's default when ``None``)."""
    transformer = model_dir.import_module("engine").load_network(model_dir.MODEL_DIR, network)
    slots = transformer.new_batch(8)  # as the engine runs it: slots of one batch
    out: dict[str, float] = {}
    for batch in (1, 8):
        caches = [slots.take() for _ in range(batch)]
        for cache in caches:
            transformer.prefill(list(range(1, 200)), cache)
        times = []
        for _ in range(repeats):
            for cache in caches:
                transformer.rewind(cache, 199)
            started = time.perf_counter()
            transformer.step([5] * batch, caches)
            times.append((time.perf_counter() - started) * 1000)
        for cache in caches:
            slots.give(cache)
        step = statistics.median(times)
        out[f"step_ms_batch{batch}"] = step
        out[f"engine_tokens_per_s_batch{batch}"] = batch * 1000 / step
        print(f"engine step, batch {batch}: p50 {step:.2f} ms -> "
              f"{batch * 1000 / step:.0f} tokens/s (no Triton)")
    full = transformer.context - model_dir.import_module("layout").MIDDLE_TOKENS
    prompt = list(range(1, full + 1))
    times = []
    for _ in range(20):
        cache = slots.take()
        started = time.perf_counter()
        transformer.prefill(prompt, cache)
        times.append((time.perf_counter() - started) * 1000)
        slots.give(cache)
    out["prefill_ms"] = statistics.median(times)
    out["prefill_tokens"] = full
    print(f"engine prefill of a full {full}-token prompt: p50 {out['prefill_ms']:.1f} ms (no Triton)")
    return out


async def measure(settings: Settings, requests: int, window: int | None = None) -> dict[str, Any]:
    tokenizer = model_dir.import_module("bpe").Tokenizer.load(model_dir.MODEL_DIR / "tokenizer.json")
    work = prompts(3 * requests)
    layout = model_dir.import_module("layout")
    lengths = sorted(len(layout.prompt_ids(tokenizer, p.prefix, p.suffix, p.language_id, p.context,
                                           window=window or layout.CONTEXT)) for p in work)
    out_lengths = {"prompt_tokens_p50": lengths[len(lengths) // 2], "prompt_tokens_min": lengths[0]}
    print(f"prompts: {out_lengths['prompt_tokens_p50']} tokens (median), "
          f"{out_lengths['prompt_tokens_min']} at least")
    await run(settings, [[p] for p in work[:4]], 1, "warm-up", tokenizer)

    def typing(ps: list[Prompt]) -> list[list[Prompt]]:
        return [[p, typed(p), typed(typed(p))] for p in ps]

    out: dict[str, Any] = {
        "batch1": await run(settings, typing(work[:requests]), 1, "batch 1", tokenizer),
        "batch8": await run(settings, typing(work[requests:3 * requests]), 8, "batch 8", tokenizer)}
    ratio = out["batch8"]["tokens_per_s"] / out["batch1"]["tokens_per_s"]
    print(f"batch 8 / batch 1 tokens/s through Triton: {ratio:.2f}x")
    out["batch8_over_batch1"] = ratio
    out.update(out_lengths)
    return out


def configure(model: Path, parameters: dict[str, object]) -> None:
    """Sets the config parameters of a copied model directory (``None``: left as it is)."""
    config = model / "config.pbtxt"
    for name, value in parameters.items():
        if value is not None:  # served with this config parameter instead of the default
            config.write_text(config.read_text().replace(
                f'key: "{name}"\n  value: {{ string_value: "" }}',
                f'key: "{name}"\n  value: {{ string_value: "{value}" }}'))


def measure_all(requests: int = 40, window: int | None = None, beam_width: int | None = None,
                network: str | None = None) -> dict[str, Any]:
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch)
        shutil.copytree(model_dir.MODEL_DIR.parent, repository / MODEL,
                        ignore=shutil.ignore_patterns("__pycache__"))
        configure(repository / MODEL, {"PROMPT_WINDOW": window, "BEAM_WIDTH": beam_width,
                                       "NETWORK": network})
        settings = private_settings("bench-model").replace(triton_model_repository=repository,
                                                           triton_model=MODEL)
        supervisor = Supervisor(settings.run_dir, settings.log_dir)
        supervisor.start(triton_spec(settings), 120)
        try:
            served = asyncio.run(measure(settings, requests, window))
            pid = int((settings.run_dir / "triton.pid").read_text())
            stubs = group_rss_kib(pid, "triton_python_backend_stub")
            served["instance_rss_mib"] = max(stubs, default=0) / 1024
            print(f"the model instance's python stub: RSS {served['instance_rss_mib']:.0f} MiB "
                  "after the run")
        finally:
            supervisor.stop_all()
    return {**served, **engine_steps(network)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--window", type=int, default=None,
                        help="serve with this prompt window (PROMPT_WINDOW) instead of the config's")
    parser.add_argument("--beam-width", type=int, default=None,
                        help="serve with this one-line beam width (BEAM_WIDTH; 1 is greedy)")
    parser.add_argument("--record", action="store_true",
                        help="make this run's headline figures the recorded reference")
    parser.add_argument("--networks", default="",
                        help="serve on each of these networks in turn (comma-separated: GGUF files "
                             "of code_fim or paths of GGUF models; NETWORK), same prompts, one run")
    args = parser.parse_args()
    results = {}
    for network in args.networks.split(",") if args.networks else [None]:
        print(f"--- network: {network or 'the default'}")
        results[network or "default"] = measure_all(args.requests, args.window, args.beam_width,
                                                    network)
    if len(results) > 1:
        print("| network | cold first text p50 / p99 ms | typing p50 / p99 ms | prompt ms | "
              "step ms batch 1 / 8 | tokens/s batch 1 / 8 |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, out in results.items():
            one = out["batch1"]
            print(f"| {name} | {one.get('cold_first_p50_ms', 0):.0f} / "
                  f"{one.get('cold_first_p99_ms', 0):.0f} | "
                  f"{one.get('typing_first_p50_ms', 0):.0f} / {one.get('typing_first_p99_ms', 0):.0f} | "
                  f"{out['prefill_ms']:.0f} | {out['step_ms_batch1']:.2f} / {out['step_ms_batch8']:.2f} | "
                  f"{one['tokens_per_s']:.0f} / {out['batch8']['tokens_per_s']:.0f} |")
    for name, out in results.items():
        figures = {key: float(out["batch1"][key]) for key in ("cold_first_p50_ms", "typing_first_p50_ms")
                   if key in out["batch1"]}
        figures.update({key: float(out[key]) for key in ("prefill_ms", "step_ms_batch1", "step_ms_batch8",
                                                         "instance_rss_mib")})
        report(f"model on {name}", figures, args.record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
