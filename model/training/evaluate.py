"""``python -m model.training.evaluate``: the served model against baselines on held-out code.

On the held-out split (packages training never read), per language and task kind (``tasks``):
exact match, edit similarity and, for Python, whether the file still parses with the completion
in place, for three systems in one run: the trained model (``code_fim``'s own engine, in this
process), an n-gram model trained on the same training split (``code_ngram``'s code), and no
completion. Then the confidence trade-off: for each threshold, the share of requests answered
and the exact match of what is shown. ``--triton`` adds first-token latency and tokens per
second through a real tritonserver (``bench.model``).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.training import corpus_files, model_dir, tasks
from model.training.tasks import Task

THRESHOLDS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
NGRAM_DIR = model_dir.MODEL_DIR.parent.parent / "code_ngram" / "1"


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    #: The completion shown at each threshold (the model's only).
    by_threshold: dict[float, str] | None = None


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length (1.0 for two empty strings)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def exact(answer: str, target: str) -> bool:
    return answer.rstrip() == target.rstrip()


def parses(task: Task, completion: str) -> bool | None:
    """Whether the file with the completion in place parses (None: no parser for the language)."""
    if task.language != "python":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(task.prefix + completion + task.suffix)
        except (SyntaxError, ValueError):
            return False
    return True


def fim_answers(work: list[Task], copy_weight: float, batch: int = 8) -> list[Answer]:
    """The trained model's completions, generated ``batch`` at a time like the server does."""
    engine_module = model_dir.import_module("engine")
    rules_module = model_dir.import_module("rules")
    engine = load_engine(copy_weight)
    answers: list[Answer] = []
    for start in range(0, len(work), batch):
        group = work[start:start + batch]
        sequences = [engine.start(engine_module.Request(t.prefix, t.suffix, t.language, 64, 0.0))
                     for t in group]
        while not all(s.done for s in sequences):
            engine.advance(sequences)
        for sequence in sequences:
            engine.release(sequence)
            shown = {}
            for threshold in THRESHOLDS:
                passed = [end for end, confidence in sequence.line_ends if confidence >= threshold]
                raw = sequence.text[:passed[-1]] if passed else ""
                shown[threshold] = rules_module.finish(raw, sequence.context)
            answers.append(Answer(shown[0.0], shown))
    return answers


def load_engine(copy_weight: float) -> Any:
    return model_dir.import_module("engine").Engine.load(model_dir.MODEL_DIR, copy_weight=copy_weight)


def ngram_answers(work: list[Task], texts: list[str], max_tokens: int, always: bool) -> list[Answer]:
    if str(NGRAM_DIR) not in sys.path:
        sys.path.insert(0, str(NGRAM_DIR))
    import ngram  # type: ignore[import-not-found]

    model = ngram.NgramModel.train(texts, max_tokens, min_count=2)
    options = {"threshold": 0.0, "min_joint": 0.0} if always else {}
    return [Answer("".join(ngram.generate(model, t.prefix, t.suffix, 64, **options))) for t in work]


def summarize(work: list[Task], answers: list[Answer]) -> dict[str, float]:
    n = len(work)
    em = sum(exact(a.text, t.target) for t, a in zip(work, answers, strict=True))
    es = sum(edit_similarity(a.text.rstrip(), t.target.rstrip()) for t, a in zip(work, answers, strict=True))
    checked = [(t, a) for t, a in zip(work, answers, strict=True) if parses(t, t.target)]
    parsed = [parses(t, a.text) for t, a in checked]
    answered = sum(bool(a.text.strip()) for a in answers)
    return {"tasks": n, "exact_match": em / n, "edit_similarity": es / n,
            "parses": (sum(bool(p) for p in parsed) / len(parsed)) if parsed else float("nan"),
            "answered": answered / n}


def tradeoff(work: list[Task], answers: list[Answer]) -> list[dict[str, float]]:
    rows = []
    for threshold in THRESHOLDS:
        shown = [(t, (a.by_threshold or {}).get(threshold, "")) for t, a in zip(work, answers, strict=True)]
        answered = [(t, s) for t, s in shown if s.strip()]
        rows.append({
            "threshold": threshold, "answered": len(answered) / len(work),
            "exact_match_of_shown": (sum(exact(s, t.target) for t, s in answered) / len(answered)
                                     if answered else float("nan")),
            "prefix_of_target": (sum(t.target.startswith(s.rstrip()) for t, s in answered) / len(answered)
                                 if answered else float("nan")),
        })
    return rows


def grouped(work: list[Task]) -> dict[tuple[str, str], list[int]]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, task in enumerate(work):
        groups[(task.language, task.kind)].append(i)
        groups[("all", task.kind)].append(i)
    return groups


def build_tasks(per_language: int, seed: int, minimum_files: int) -> list[Task]:
    heldout = corpus_files.load("heldout")
    by_language: dict[str, list[corpus_files.SourceFile]] = defaultdict(list)
    for file in heldout:
        by_language[file.language].append(file)
    work: list[Task] = []
    for _, files in sorted(by_language.items()):
        if len(files) < minimum_files:
            continue
        for kind in ("line", "block"):
            work += tasks.build(files, kind, per_language, seed)
    return work


def timed(label: str, run: Callable[[], list[Answer]]) -> list[Answer]:
    started = time.perf_counter()
    out = run()
    print(f"  {label}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


Results = dict[str, dict[tuple[str, str], dict[str, float]]]


def table(results: Results, keys: Iterable[tuple[str, str]]) -> str:
    lines = ["| language | kind | tasks | system | exact match | edit similarity | parses | answered |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for key in keys:
        for system, by_group in results.items():
            r = by_group[key]
            parsed = "–" if r["parses"] != r["parses"] else f"{r['parses']:.3f}"
            lines.append(f"| {key[0]} | {key[1]} | {r['tasks']} | {system} | {r['exact_match']:.3f} | "
                         f"{r['edit_similarity']:.3f} | {parsed} | {r['answered']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.training.evaluate")
    parser.add_argument("--per-language", type=int, default=150, help="tasks per language and kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minimum-files", type=int, default=20,
                        help="languages with fewer held-out files are left out")
    parser.add_argument("--ngram-tokens", type=int, default=30_000_000,
                        help="training tokens for the n-gram baseline")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--triton", action="store_true", help="also measure serving through tritonserver")
    args = parser.parse_args(argv)

    work = build_tasks(args.per_language, args.seed, args.minimum_files)
    print(f"evaluate: {len(work)} held-out tasks", file=sys.stderr)
    texts = [f.text for f in corpus_files.load("train")]
    systems = {
        "code_fim": timed("code_fim",
                          lambda: fim_answers(work, model_dir.import_module("engine").COPY_WEIGHT)),
        "code_fim, no copy model": timed("code_fim without copy", lambda: fim_answers(work, 0.0)),
        "n-gram": timed("n-gram", lambda: ngram_answers(work, texts, args.ngram_tokens, always=False)),
        "n-gram, always answers": timed("n-gram always", lambda: ngram_answers(work, texts, args.ngram_tokens,
                                                                               always=True)),
        "no completion": [Answer("") for _ in work],
    }
    groups = grouped(work)
    results = {name: {key: summarize([work[i] for i in idx], [answers[i] for i in idx])
                      for key, idx in groups.items()} for name, answers in systems.items()}
    keys = sorted(groups, key=lambda k: (k[0] != "all", k))
    print(table(results, keys))
    print()
    for key in (("all", "line"), ("all", "block")):
        fim, base = results["code_fim"][key], results["n-gram"][key]
        ratios = {m: (fim[m] / base[m] if base[m] else float("inf"))
                  for m in ("exact_match", "edit_similarity", "parses")}
        print(f"{key[1]}: code_fim / n-gram: " + ", ".join(f"{m} {v:.2f}x" for m, v in ratios.items()))
    print()
    print("| kind | threshold | answered | exact match of shown | shown is a prefix of the truth |")
    print("|---|---:|---:|---:|---:|")
    trade = {}
    for kind in ("line", "block"):
        idx = groups[("all", kind)]
        trade[kind] = tradeoff([work[i] for i in idx], [systems["code_fim"][i] for i in idx])
        for row in trade[kind]:
            print(f"| {kind} | {row['threshold']:.2f} | {row['answered']:.2f} | "
                  f"{row['exact_match_of_shown']:.3f} | {row['prefix_of_target']:.3f} |")
    serving = None
    if args.triton:
        from bench import model as serving_bench

        serving = serving_bench.measure_all()
    if args.json:
        args.json.write_text(json.dumps({
            "results": {s: {f"{k[0]}/{k[1]}": v for k, v in r.items()} for s, r in results.items()},
            "tradeoff": trade, "serving": serving}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
