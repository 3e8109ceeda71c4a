"""Fits the copy model's trust (``engine.COPY_TRUST``) on training files, by maximum likelihood.

Infilling tasks are cut from the training split (never the held-out one, which the evaluation
scores) and run through the served engine's own prompt; the hidden text is then fed token by
token (teacher forcing), and at each token the network's probability of the true token is
recorded beside the copy model's, with the length of the copy model's match and how often it
occurred. Each (seen once / more often, match length) bucket's trust is the weight that maximizes
the log-likelihood of the mixture there; half of the tasks fit, the other half checks the fit.

    python -m training.copy_calibration [--per-language 60]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from corpus import files as corpus_files
from corpus import infill_tasks as tasks
from training import model_dir
from training.open_files import OpenFiles

MAX_TARGET_TOKENS = 48
GRID = np.linspace(0.0, 0.98, 99)


@dataclass(frozen=True, slots=True)
class Observation:
    """One hidden token: the network's and the copy model's probability of it."""

    network: float
    copied: float
    length: int
    total: int


def target_ids(engine: Any, partial: str, task: tasks.Task) -> list[int]:
    """The hidden text's tokens as the engine would generate them: the part-typed word again,
    the hidden text, and the token that ends it (a line's end, with the next one's indent)."""
    hidden = len((partial + task.target).encode("utf-8"))
    ids = engine.tokenizer.encode(partial + task.target + task.suffix[:200])
    out, seen = [], 0
    for token in ids:
        out.append(token)
        seen += engine.tokenizer.byte_lengths[token]
        if seen >= hidden:
            break
    return out[:MAX_TARGET_TOKENS]


def observe(engine: Any, task: tasks.Task) -> list[Observation]:
    """Teacher-forces the task's hidden text through the engine's prompt. Tokens that only
    retype the part-typed word are not scored: serving constrains them to what was typed."""
    module = model_dir.import_module("engine")
    request = module.Request(task.prefix, task.suffix, task.language, MAX_TARGET_TOKENS, 0.0,
                             task.context)
    _, partial, prompt, history, copy = engine.prepare(request)
    target = target_ids(engine, partial, task)
    cache = engine.batch.take()
    out: list[Observation] = []
    retyped = 0
    try:
        logits = engine.transformer.prefill(prompt, cache)
        for token in target:
            copied = copy.predict(history)
            if copied is not None and retyped >= len(partial.encode("utf-8")):
                network = float(engine.vocabulary.network_distribution(logits)[token])
                out.append(Observation(network, copied.counts.get(token, 0) / copied.total,
                                       copied.length, copied.total))
            retyped += engine.tokenizer.byte_lengths[token]
            history.append(token)
            if cache.length >= engine.transformer.context:
                break
            logits = engine.transformer.step([token], [cache])[0]
    finally:
        engine.batch.give(cache)
    return out


def log_likelihood(observations: list[Observation], trust: float) -> float:
    return sum(math.log(max(1e-12, (1 - trust) * o.network + trust * o.copied))
               for o in observations)


def fit(observations: list[Observation]) -> float:
    """The weight in ``GRID`` with the highest mixture log-likelihood."""
    network = np.array([o.network for o in observations])
    copied = np.array([o.copied for o in observations])
    scores = [np.log(np.maximum(1e-12, (1 - w) * network + w * copied)).sum() for w in GRID]
    return float(GRID[int(np.argmax(scores))])


def training_tasks(per_language: int, seed: int, minimum_files: int) -> list[tasks.Task]:
    """Line and block tasks from training files of the languages the evaluation scores, every
    other one with other files of its package open (the context the worker would send)."""
    heldout: dict[str, int] = defaultdict(int)
    for file in corpus_files.load("heldout"):
        heldout[file.language] += 1
    by_language: dict[str, list[corpus_files.SourceFile]] = defaultdict(list)
    for file in corpus_files.load("train"):
        if heldout[file.language] >= minimum_files:
            by_language[file.language].append(file)
    work: list[tasks.Task] = []
    for _, files in sorted(by_language.items()):
        for kind in ("line", "block"):
            work += tasks.build(files, kind, per_language, seed)
    training = [f for files in by_language.values() for f in files]
    by_path = {f.path: f for f in training}
    open_files = OpenFiles(training, random.Random(seed))  # noqa: S311 - reproducible choice
    scope_chars = model_dir.import_module("layout").SCOPE_CHARS
    return [replace(t, context=open_files.context(by_path[t.path], t.prefix, scope_chars))
            if i % 2 else t for i, t in enumerate(work)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.copy_calibration")
    parser.add_argument("--per-language", type=int, default=60, help="tasks per language and kind")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--minimum-files", type=int, default=20)
    args = parser.parse_args(argv)

    module = model_dir.import_module("engine")
    engine = module.Engine.load(model_dir.MODEL_DIR)
    work = training_tasks(args.per_language, args.seed, args.minimum_files)
    started = time.perf_counter()
    halves: tuple[list[Observation], list[Observation]] = ([], [])
    for i, task in enumerate(work):
        halves[i % 2].extend(observe(engine, task))
    print(f"copy_calibration: {len(work)} training tasks, {sum(map(len, halves))} tokens with a "
          f"copy prediction, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    fitting, checking = halves
    buckets: dict[tuple[int, int], list[Observation]] = defaultdict(list)
    for observation in fitting:
        buckets[module.copy_bucket(observation.length, observation.total)].append(observation)
    bounds = module.COPY_MATCH_BOUNDS
    fitted = [[0.0] * len(bounds) for _ in range(2)]
    print("| seen | match length | tokens | copy right | trust |")
    print("|---|---:|---:|---:|---:|")
    for seen in range(2):
        for bucket in range(len(bounds)):
            found = buckets.get((seen, bucket), [])
            trust = fit(found) if found else (fitted[seen][bucket - 1] if bucket else 0.0)
            fitted[seen][bucket] = trust
            right = sum(o.copied for o in found) / len(found) if found else float("nan")
            print(f"| {'once' if seen == 0 else 'more'} | >= {bounds[bucket]} | {len(found)} | "
                  f"{right:.3f} | {trust:.2f} |")
    # The fitted table against the one in engine.py, on the half that did not fit it.
    current = sum(log_likelihood([o], module.copy_trust(o.length, o.total)) for o in checking)
    refit = 0.0
    for o in checking:
        seen, bucket = module.copy_bucket(o.length, o.total)
        refit += log_likelihood([o], fitted[seen][bucket])
    network = sum(log_likelihood([o], 0.0) for o in checking)
    n = max(1, len(checking))
    print(f"\nchecking half, {len(checking)} tokens, mean log-likelihood per token: network alone "
          f"{network / n:.4f}, engine.py's table {current / n:.4f}, fitted {refit / n:.4f}")
    print("COPY_TRUST = (")
    for seen, row in enumerate(fitted):
        print(f"    ({', '.join(f'{t:.2f}' for t in row)}),  # seen {'once' if seen == 0 else 'more often'}")
    print(")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
