"""``python -m training.train``: trains the fill-in-the-middle code model, seeded, on the
CPU here or on a lent accelerator (``--device cuda``, ``training/device_run.sh``).

A small decoder-only transformer (pre-norm, learned positions, tied embeddings, GELU) over the
BPE vocabulary, trained on FIM examples cut from the training split (``fim.sample``) in the
serving layout (``layout.prompt_ids``), with the loss on every token. The weights are exported as
float16 ``weights.npz`` beside ``model.py``, with ``card.json`` saying how they were made. One
seed fixes the examples, the initialization and the order, so a rerun with the same corpus and
thread count gives the same model. With ``--workers`` the examples are cut in other processes,
each batch from its own seed, so they do not depend on how many; ``--minutes`` makes the run's
length (and its learning-rate schedule) a time budget instead, which is not reproducible.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import random
import sys
import time
from collections import deque
from collections.abc import Generator
from dataclasses import asdict, dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from corpus import files as corpus_files
from training import fim, gguf_export, model_dir
from training.network import Shape, build_model, export, resume, shape_of
from training.open_files import OpenFiles

#: Share of examples that get context from other files of their package (as a session's other
#: open documents would give).
CROSS_FILE_SHARE = 0.5


@dataclass(frozen=True)
class Budget:
    steps: int = 4000
    batch: int = 32
    learning_rate: float = 3e-3
    warmup: int = 200
    weight_decay: float = 0.1
    seed: int = 1234
    threads: int = 2
    device: str = "cpu"
    workers: int = 0
    minutes: float | None = None


class Examples:
    """FIM examples from the training files, as padded id rows with their targets."""

    def __init__(self, files: list[corpus_files.SourceFile], seed: int, context: int) -> None:
        self.bpe = model_dir.import_module("bpe")
        self.layout = model_dir.import_module("layout")
        self.tokenizer = self.bpe.Tokenizer.load(model_dir.MODEL_DIR / "tokenizer.json")
        self.files = files
        self.weights = [math.sqrt(len(f.text)) for f in files]  # big files count, not dominate
        self.rng = random.Random(seed)  # noqa: S311 - reproducible examples, not secrets
        self.open_files = OpenFiles(files, self.rng)
        self.context = context
        self.eot = self.tokenizer.special[self.bpe.EOT]
        self.pad = self.tokenizer.special[self.bpe.PAD]

    def one(self, file: corpus_files.SourceFile) -> list[int] | None:
        split = fim.sample(file.text, self.rng)
        if split is None or not split.middle:
            return None
        layout = self.layout
        context = ""
        if self.rng.random() < CROSS_FILE_SHARE:
            context = self.open_files.context(file, split.prefix, layout.SCOPE_CHARS)
        ids: list[int] = layout.prompt_ids(self.tokenizer, split.prefix, split.suffix,
                                           file.language, context)
        middle = self.tokenizer.encode(split.middle[:800])
        ids += middle[:layout.MIDDLE_TOKENS]
        if len(middle) <= layout.MIDDLE_TOKENS:
            ids.append(self.eot)
        return ids[:self.context + 1]

    def reseed(self, seed: str) -> None:
        """Draws from here on from ``seed`` (a batch cut in another process gets its own)."""
        self.rng = random.Random(seed)  # noqa: S311 - reproducible examples, not secrets
        self.open_files.rng = self.rng

    def batch(self, size: int) -> tuple[list[list[int]], list[list[int]]]:
        inputs: list[list[int]] = []
        targets: list[list[int]] = []
        while len(inputs) < size:
            file = self.rng.choices(self.files, self.weights)[0]
            ids = self.one(file)
            if ids is None or len(ids) < 8:
                continue
            inputs.append(ids[:-1])
            targets.append(ids[1:])
        longest = max(len(row) for row in inputs)  # pad to the batch's longest, not the context
        return ([row + [self.pad] * (longest - len(row)) for row in inputs],
                [row + [-100] * (longest - len(row)) for row in targets])


#: Seconds to wait for a batch from the processes that cut them.
BATCH_TIMEOUT_S = 300
#: With ``--minutes``, the time kept for the last checkpoint (held-out loss, export, runtime
#: check), at most this share of the budget.
FINAL_RESERVE_S, FINAL_RESERVE_SHARE = 60.0, 0.25

_FEED: tuple[Examples, int, int] | None = None  # a worker process's examples, seed and batch size


def _cut(index: int) -> tuple[Any, Any]:
    import numpy as np

    assert _FEED is not None  # set before the pool forks
    examples, seed, size = _FEED
    examples.reseed(f"{seed}/{index}")
    inputs, targets = examples.batch(size)
    return np.asarray(inputs, dtype=np.int32), np.asarray(targets, dtype=np.int32)


def rate_share(step: int, budget: Budget, time_spent: float | None = None) -> float:
    """The learning rate at ``step`` as a share of the peak: linear warm-up over
    ``budget.warmup`` steps, then a cosine down to 10 % over the steps, or over the time budget
    when ``time_spent`` (its share spent so far) is given."""
    if step < budget.warmup:
        return (step + 1) / budget.warmup
    if time_spent is None:
        time_spent = (step - budget.warmup) / max(1, budget.steps - budget.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, time_spent))))


def cutters(examples: Examples, size: int, seed: int, workers: int) -> Pool | None:
    """``workers`` forked processes that cut batches of ``examples`` (None for 0). Started
    before the network moves to an accelerator: a process forked after that must not touch it."""
    global _FEED
    if workers <= 0:
        return None
    _FEED = (examples, seed, size)
    return multiprocessing.get_context("fork").Pool(workers)


def batches(examples: Examples, size: int, pool: Pool | None, ahead_at_most: int = 2
            ) -> Generator[tuple[Any, Any], None, None]:
    """Training batches (inputs, targets) without end: drawn in turn from ``examples`` (the
    examples' own seed), or with a pool of :func:`cutters` batch ``i`` from seed ``seed/i``, in
    order (the same batches whatever the number of processes, though not those drawn in turn),
    at most ``ahead_at_most`` ahead of the one taken. A batch lost with a killed process fails
    the run after ``BATCH_TIMEOUT_S`` instead of hanging it."""
    if pool is None:
        while True:
            yield examples.batch(size)
    ahead: deque[Any] = deque()
    for index in itertools.count():
        while len(ahead) < max(1, ahead_at_most):
            ahead.append(pool.apply_async(_cut, (index + len(ahead),)))
        yield ahead.popleft().get(timeout=BATCH_TIMEOUT_S)


def check_runtime(model: Any, directory: Path, ids: list[int]) -> float:
    """Largest difference between PyTorch's logits and the NumPy reference's (run from the
    exported float16 weights, prompt then token by token); fails if they disagree on the next
    token."""
    import numpy as np
    import torch

    from training.reference import Reference

    transformer = Reference.load(directory)
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        expected = model(torch.tensor([ids], device=device))[0].float().cpu().numpy()
    model.train()
    cache = transformer.new_cache()
    half = len(ids) // 2
    got = [transformer.prefill(ids[:half], cache)]
    got += [transformer.step(token, cache) for token in ids[half:]]
    worst = 0.0
    for row, logits in zip(range(half - 1, len(ids)), got, strict=False):
        worst = max(worst, float(np.abs(logits - expected[row]).max()))
        if int(logits.argmax()) != int(expected[row].argmax()) and worst > 0.5:
            raise SystemExit(f"train: the NumPy runtime disagrees with PyTorch at position {row}")
    return worst


def evaluate_loss(model: Any, examples: Examples, batches: int, batch: int) -> float:
    import torch
    from torch.nn import functional

    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for _ in range(batches):
            inputs, targets = examples.batch(batch)
            logits = model(torch.tensor(inputs, device=device)).float()
            target = torch.tensor(targets, device=device)
            loss = functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                            ignore_index=-100, reduction="sum")
            total += float(loss)
            count += int((target != -100).sum())
    model.train()
    return total / max(1, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train")
    parser.add_argument("--steps", type=int, default=Budget.steps)
    parser.add_argument("--batch", type=int, default=Budget.batch)
    parser.add_argument("--seed", type=int, default=None,
                        help=f"examples, initialization and order ({Budget.seed}; resumed: {Budget.seed} "
                             "plus the steps already done, so a continued run sees new examples)")
    parser.add_argument("--threads", type=int, default=Budget.threads)
    parser.add_argument("--out", type=Path, default=model_dir.MODEL_DIR)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--learning-rate", type=float, default=Budget.learning_rate)
    parser.add_argument("--warmup", type=int, default=Budget.warmup)
    parser.add_argument("--resume", type=Path, default=None, metavar="MODEL_DIR",
                        help="start from this directory's weights.npz and card.json (e.g. the "
                             "committed model) instead of a fresh initialization")
    parser.add_argument("--corpus", type=Path, default=corpus_files.MANIFEST,
                        help="the corpus manifest, or a pack of its files (corpus_files --pack)")
    parser.add_argument("--device", default=Budget.device, help="cpu, or cuda on an accelerator "
                        "(bfloat16 autocast there)")
    parser.add_argument("--workers", type=int, default=Budget.workers,
                        help="processes that cut the examples (0: this one)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="the whole run's length from its start, last checkpoint included; "
                             "the schedule follows the time spent (--steps is then an upper bound)")
    parser.add_argument("--width", type=int, default=Shape.width,
                        help="a fresh model's width (a resumed one keeps its card's shape)")
    parser.add_argument("--layers", type=int, default=Shape.layers)
    parser.add_argument("--heads", type=int, default=Shape.heads)
    parser.add_argument("--no-gguf", action="store_true",
                        help="skip the GGUF files at checkpoints (`python -m training.gguf_export` "
                             "afterwards)")
    args = parser.parse_args(argv)
    launched = time.perf_counter()

    import numpy as np
    import torch
    from torch.nn import functional
    from tqdm import tqdm

    seed = args.seed
    if seed is None:
        done = 0 if args.resume is None else \
            int(json.loads((args.resume / "card.json").read_text()).get("steps_done", 0))
        seed = Budget.seed + done
    budget = Budget(steps=args.steps, batch=args.batch, seed=seed, threads=args.threads,
                    learning_rate=args.learning_rate, warmup=args.warmup, device=args.device,
                    workers=args.workers, minutes=args.minutes)
    torch.manual_seed(budget.seed)
    np.random.seed(budget.seed)
    torch.set_num_threads(budget.threads)
    device = torch.device(budget.device)
    shape = Shape(width=args.width, layers=args.layers, heads=args.heads) if args.resume is None \
        else shape_of(args.resume)
    if shape.width % shape.heads:
        raise SystemExit(f"train: width {shape.width} is not a multiple of {shape.heads} heads")
    train_files = corpus_files.load("train", args.corpus)
    heldout_files = corpus_files.load("heldout", args.corpus)
    examples = Examples(train_files, budget.seed, shape.context)
    heldout = Examples(heldout_files, budget.seed + 1, shape.context)
    model = build_model(shape)
    earlier: dict[str, Any] = {}
    if args.resume is not None:
        earlier = resume(model, args.resume)
        print(f"train: resumed from {args.resume} after {earlier.get('steps_done', 0)} steps",
              file=sys.stderr)
    pool = cutters(examples, budget.batch, budget.seed, budget.workers)
    model.to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    parameters = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n
             and "position" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n
                                                               and "position" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": budget.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=budget.learning_rate, betas=(0.9, 0.95))

    stop_at = None
    if budget.minutes is not None:
        seconds = budget.minutes * 60
        stop_at = launched + seconds - min(FINAL_RESERVE_S, FINAL_RESERVE_SHARE * seconds)
    started = time.perf_counter()

    def rate(step: int) -> float:
        spent = None if stop_at is None else \
            (time.perf_counter() - started) / max(1e-6, stop_at - started)
        return rate_share(step, budget, spent)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    print(f"train: {parameters / 1e6:.2f}M parameters, {len(train_files)} training files, "
          f"{budget.steps} steps of {budget.batch} x {shape.context} tokens, {budget.threads} threads, "
          f"{budget.workers} example workers, on {device}"
          + ("" if stop_at is None else f", for {budget.minutes} minutes"), file=sys.stderr)
    history: list[dict[str, Any]] = [
        {**h, "run": h.get("run", 1)} for h in earlier.get("history", [])]
    run = (history[-1]["run"] + 1) if history else 1
    steps_before = int(earlier.get("steps_done", 0))
    runs = [*earlier.get("runs", [{"shape": earlier["shape"], "budget": earlier["budget"]}]
                         if earlier else []),
            {"shape": asdict(shape), "budget": asdict(budget), "resumed": args.resume is not None}]
    tokens_before = int(earlier.get("tokens_seen", 0))
    tokens_seen = 0
    progress = tqdm(range(budget.steps), desc="train", unit="step", file=sys.stderr,
                    mininterval=1.0 if device.type == "cpu" else 30.0)
    running = None
    feed = batches(examples, budget.batch, pool, 2 * budget.workers)
    for step in progress:
        inputs, targets = (torch.as_tensor(np.asarray(rows, dtype=np.int64)) for rows in next(feed))
        tokens_seen += int((targets != -100).sum())
        target = targets.to(device, non_blocking=True)
        with autocast:
            logits = model(inputs.to(device, non_blocking=True))
        loss = functional.cross_entropy(logits.float().reshape(-1, shape.vocab), target.reshape(-1),
                                        ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        value = loss.item()  # one wait for the accelerator a step
        running = value if running is None else 0.98 * running + 0.02 * value
        progress.set_postfix(loss=f"{running:.3f}", tokens=f"{tokens_seen / 1e6:.1f}M", refresh=False)
        out_of_time = stop_at is not None and time.perf_counter() >= stop_at
        last = step + 1 == budget.steps or out_of_time
        if (step + 1) % args.checkpoint_every == 0 or last:
            held = evaluate_loss(model, heldout, 4 if not last else 16, budget.batch)
            history.append({"run": run, "step": steps_before + step + 1, "train_loss": round(running, 4),
                            "heldout_loss": round(held, 4), "tokens": tokens_before + tokens_seen,
                            "seconds": round(time.perf_counter() - started, 1)})
            progress.write(f"step {step + 1}: train {running:.3f} held-out {held:.3f} nats/token")
            size = export(model, shape, args.out / "weights.npz")
            card = {
                "model": "code_fim", "shape": asdict(shape), "budget": asdict(budget),
                "parameters": parameters, "weights_bytes": size,
                "steps_done": steps_before + step + 1, "tokens_seen": tokens_before + tokens_seen,
                "runs": runs, "corpus_manifest_sha256": corpus_files.manifest_digest(args.corpus),
                "training_files": len(train_files), "history": history,
                "torch": torch.__version__,
            }
            partial = args.out / "card.json.partial"
            partial.write_text(json.dumps(card, indent=1) + "\n")
            partial.replace(args.out / "card.json")
            sample = (heldout.one(heldout_files[0]) or [1, 2, 3])[:shape.context]
            difference = check_runtime(model, args.out, sample)
            progress.write(f"  exported {size / 1e6:.1f} MB; NumPy reference within {difference:.3f} "
                           "of PyTorch")
            if not args.no_gguf:
                gguf_export.main([str(args.out)])  # what serving runs, from these weights
        if last:
            break
    feed.close()
    if pool is not None:
        pool.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
