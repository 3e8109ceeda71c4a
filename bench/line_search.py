"""``python -m bench.line_search [--tasks 60] [--widths 1,3]``: what the one-line search costs.

A one-line completion is shown whole, at its end (``engine.py``), so its latency is the time to
its last token. On held-out one-line tasks (cursor inside a line; ``corpus.infill_tasks``), in
this process on one core, the engine at the default threshold with greedy decoding (beam width
1, the baseline) and with the served beam width (or the ``--widths`` given), interleaved task by
task so all see the same machine: "cold" (a new document: nothing cached) and "typing" (the
same request after one more character of the true line was typed: the cached prompt is
reused). Prints p50/p95 of the time until the line is shown, how often a line was shown, and
its exact match. Needs the corpus (``make corpus``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS: one core

import argparse
import statistics
import time
from typing import Any

from bench.measure import percentile
from corpus import files as corpus_files
from corpus import infill_tasks as tasks
from corpus.infill_tasks import Task
from training import model_dir


def shown_after(engine: Any, request: Any) -> tuple[float, str]:
    """Milliseconds from the request's start until it is done, and the text shown."""
    started = time.perf_counter()
    sequence = engine.start(request)
    shown = engine.take_output(sequence)
    while not sequence.done:
        engine.advance([sequence])
        shown += engine.take_output(sequence)
    elapsed = (time.perf_counter() - started) * 1000
    engine.release(sequence)
    return elapsed, shown


def widths_of(text: str) -> list[int]:
    """``--widths``: positive beam widths, comma-separated."""
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated integers: {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"beam widths must be 1 or more: {text!r}")
    return widths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.line_search")
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--widths", type=widths_of, default=None,
                        help="beam widths to compare, comma-separated (default: 1 and the served one)")
    args = parser.parse_args(argv)
    engine_module = model_dir.import_module("engine")
    candidates = tasks.build(corpus_files.load("heldout"), "line", args.tasks * 2, args.seed)
    work: list[Task] = [t for t in candidates if len(t.target) >= 2][:args.tasks]
    widths = args.widths or [1, engine_module.BEAM_WIDTH]
    first = engine_module.Engine.load(model_dir.MODEL_DIR, beam_width=widths[0])
    engines = {("greedy (width 1)" if width == 1 else f"beam width {width}"):
               first if i == 0 else engine_module.Engine(first.transformer, first.tokenizer,
                                                         first.languages, beam_width=width)
               for i, width in enumerate(widths)}
    times: dict[str, dict[str, list[float]]] = {name: {"cold": [], "typing": []} for name in engines}
    right: dict[str, list[bool]] = {name: [] for name in engines}
    answered: dict[str, list[bool]] = {name: [] for name in engines}
    for task in work:
        for name, engine in engines.items():
            cold = engine_module.Request(task.prefix, task.suffix, task.language, 64)
            elapsed, shown = shown_after(engine, cold)
            times[name]["cold"].append(elapsed)
            answered[name].append(bool(shown.strip()))
            right[name].append(shown.rstrip() == task.target.rstrip())
            typing = engine_module.Request(task.prefix + task.target[0], task.suffix, task.language, 64)
            times[name]["typing"].append(shown_after(engine, typing)[0])
    print(f"{len(work)} held-out one-line tasks, default threshold "
          f"{engine_module.DEFAULT_THRESHOLD}, one core, in process")
    print("| decoding | cold p50 ms | cold p95 ms | typing p50 ms | typing p95 ms | shown | exact of shown |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in engines:
        cold, typing = times[name]["cold"], times[name]["typing"]
        count = sum(answered[name])
        exact = sum(r for r, a in zip(right[name], answered[name], strict=True) if a)
        print(f"| {name} | {statistics.median(cold):.1f} | {percentile(cold, 0.95):.1f} | "
              f"{statistics.median(typing):.1f} | {percentile(typing, 0.95):.1f} | "
              f"{count / len(work):.0%} | {exact / count if count else float('nan'):.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
