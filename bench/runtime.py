"""``python -m bench.runtime``: the model's network on today's NumPy path against ONNX Runtime with
float32 and int8 weights, on one core, in one run.

The free tier needs cheap inference, so the question is whether a compiled runtime or int8
weights pay here. The committed weights are exported twice to ONNX (a prompt graph and a one-token
step graph over a cache of past keys and values, the same computation as ``transformer.py``);
the int8 model is ONNX Runtime's dynamic quantization of the float32 one (int8 weights, activations
quantized per call). Prints, per runtime: a full prompt (the layout's maximum) in ms, one decoding
step at batch 1 and 8 after such a prompt in ms and tokens/s, and the quality delta against the
float32 network on held-out FIM examples: loss in nats per token and how often the top token
agrees. Needs the training tools (``make train-tools``: PyTorch, onnx, onnxruntime).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS: one core

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corpus import files as corpus_files
from training import model_dir
from training.onnx_export import export

Array = NDArray[np.float32]


def quantize(path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.stem + ".int8.onnx")
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return out


def session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def timed(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def held_out_examples(count: int, seed: int = 11) -> list[list[int]]:
    from training import train

    files = corpus_files.load("heldout")
    examples = train.Examples(files, seed, model_dir.import_module("layout").CONTEXT)
    rows: list[list[int]] = []
    while len(rows) < count:
        ids = examples.one(examples.rng.choice(files))
        if ids is not None and len(ids) > 64:
            rows.append(ids)
    return rows


def quality(runner: Callable[[list[int]], Array], rows: list[list[int]], positions: int
            ) -> tuple[float, list[int]]:
    """Loss in nats/token of the last ``positions`` tokens of each row, and the top tokens."""
    loss, tops = 0.0, []
    for row in rows:
        for end in range(len(row) - positions, len(row)):
            logits = runner(row[:end]).astype(np.float64)
            top = float(logits.max())
            log_total = top + float(np.log(np.exp(logits - top).sum()))
            loss += log_total - float(logits[row[end]])
            tops.append(int(logits.argmax()))
    return loss / (len(rows) * positions), tops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runtime")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--positions", type=int, default=8, help="scored tokens per example")
    parser.add_argument("--model-dir", type=Path, default=model_dir.MODEL_DIR,
                        help="weights.npz and card.json to run (default: the committed model)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    directory = args.model_dir
    transformer = model_dir.import_module("transformer").Transformer.load(directory, runtime="numpy")
    full = transformer.context - model_dir.import_module("layout").MIDDLE_TOKENS
    rng = np.random.default_rng(3)
    prompt = rng.integers(1, transformer.vocab - 8, size=full).tolist()
    with tempfile.TemporaryDirectory() as scratch:
        prompt_fp32, step_fp32 = export(directory, Path(scratch))
        runtimes = {"onnxruntime float32": (session(prompt_fp32), session(step_fp32)),
                    "onnxruntime int8": (session(quantize(prompt_fp32)), session(quantize(step_fp32)))}
        sizes = {"onnxruntime float32": prompt_fp32.stat().st_size,
                 "onnxruntime int8": prompt_fp32.with_name("prompt.int8.onnx").stat().st_size}

        def numpy_prompt(ids: list[int]) -> Array:
            out: Array = transformer.prefill(ids, transformer.new_cache())
            return out

        def numpy_steps(batch: int) -> Callable[[], object]:
            slots = transformer.new_batch(batch)
            caches = [slots.take() for _ in range(batch)]
            for cache in caches:
                transformer.prefill(prompt, cache)

            def run() -> object:
                for cache in caches:
                    cache.length = full
                return transformer.step([5] * batch, caches, slots if batch > 1 else None)
            return run

        rows = held_out_examples(args.examples)
        reference_loss, reference_tops = quality(numpy_prompt, rows, args.positions)
        print(f"{'runtime':22s} {'prompt ms':>10s} {'step b1 ms':>11s} {'step b8 ms':>11s} "
              f"{'tok/s b1':>9s} {'tok/s b8':>9s} {'loss':>7s} {'top agrees':>10s} {'MB':>6s}")
        results = {"numpy float32": (
            timed(lambda: numpy_prompt(prompt), args.repeats),
            timed(numpy_steps(1), args.repeats * 5), timed(numpy_steps(8), args.repeats * 5),
            reference_loss, 1.0, (directory / "weights.npz").stat().st_size)}
        for name, (prompt_session, step_session) in runtimes.items():
            def run_prompt(ids: list[int], s: Any = prompt_session) -> Array:
                out: Array = s.run(["logits"], {"ids": np.asarray([ids], dtype=np.int64)})[0][0]
                return out

            _, keys, values = prompt_session.run(None, {"ids": np.asarray([prompt], dtype=np.int64)})

            def steps(batch: int, s: Any = step_session, k: Any = keys, v: Any = values
                      ) -> Callable[[], object]:
                past_k = np.ascontiguousarray(np.repeat(k, batch, axis=1))
                past_v = np.ascontiguousarray(np.repeat(v, batch, axis=1))
                feed = {"ids": np.full((batch, 1), 5, dtype=np.int64), "past_keys": past_k,
                        "past_values": past_v}
                return lambda: s.run(["logits"], feed)

            loss, tops = quality(run_prompt, rows, args.positions)
            agree = sum(a == b for a, b in zip(tops, reference_tops, strict=True)) / len(tops)
            results[name] = (timed(partial(run_prompt, prompt), args.repeats),
                             timed(steps(1), args.repeats * 5), timed(steps(8), args.repeats * 5),
                             loss, agree, sizes[name])
        for name, (prompt_ms, step1, step8, loss, agree, size) in results.items():
            print(f"{name:22s} {prompt_ms:10.1f} {step1:11.2f} {step8:11.2f} {1000 / step1:9.0f} "
                  f"{8000 / step8:9.0f} {loss:7.3f} {agree:10.3f} {size / 1e6:6.1f}")
        print(f"(prompt of {full} tokens; steps after a {full}-token prompt; quality on "
              f"{len(rows)} held-out examples x {args.positions} tokens; one thread each; served: "
              "onnxruntime float32 for cold prompts, numpy for steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
