"""``python -m evaluation.evaluate``: the served model against baselines on held-out code.

On the held-out split (packages training never read), per language and task kind (``tasks``):
exact match, edit similarity and whether the file still parses with the completion in place
(Python's parser, tree-sitter for the other languages), for these systems in one run: the
trained model (``code_fim``'s own engine, in this process), the same with context from other
files of the package "open" (as the worker sends it), an n-gram model trained on the same
training split (``code_ngram``'s code), and no completion. Then the confidence trade-off: for
each threshold, the share of requests answered and the exact match of what is shown.
``--triton`` adds first-token latency and tokens per second through a real tritonserver
(``bench.model``); the end prints each target of the model's issue with its figure.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from corpus import files as corpus_files
from corpus import infill_tasks as tasks
from corpus.infill_tasks import Task
from tasks.grammars import NO_SYNTAX_ERRORS
from tasks.syntax import parse
from training import model_dir
from training.open_files import OpenFiles

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
    """Whether the file with the completion in place parses (None: no parser for the language):
    Python's own parser for Python, tree-sitter's grammar (no error or missing node) for the
    other languages that have one."""
    if task.language != "python":
        if task.language in NO_SYNTAX_ERRORS:
            return None
        tree = parse(task.prefix + completion + task.suffix, task.language)
        return None if tree is None else not tree.root_node.has_error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(task.prefix + completion + task.suffix)
        except (SyntaxError, ValueError):
            return False
    return True


def fim_answers(work: list[Task], copy_weight: float, batch: int = 8,
                window: int | None = None, beam_width: int | None = None,
                network: str | None = None) -> list[Answer]:
    """The trained model's completions, generated ``batch`` at a time like the server does
    (``window``: prompt tokens at most, the model's context by default; ``beam_width``: the
    one-line search's, the served one by default; ``network``: the engine's network, its
    default or ``CODE_FIM_NETWORK``'s by default)."""
    engine_module = model_dir.import_module("engine")
    rules_module = model_dir.import_module("rules")
    engine = load_engine(copy_weight, window, beam_width, network)
    answers: list[Answer] = []
    for start in range(0, len(work), batch):
        group = work[start:start + batch]
        sequences = [engine.start(engine_module.Request(t.prefix, t.suffix, t.language, 64, 0.0,
                                                        t.context)) for t in group]
        while not all(s.done for s in sequences):
            engine.advance(sequences)
        for sequence in sequences:
            engine.release(sequence)
            shown = {threshold: rules_module.finish(engine.text_at(sequence, threshold), sequence.context)
                     for threshold in THRESHOLDS}
            answers.append(Answer(shown[0.0], shown))
    return answers


def load_engine(copy_weight: float, window: int | None = None, beam_width: int | None = None,
                network: str | None = None) -> Any:
    engine_module = model_dir.import_module("engine")
    return engine_module.Engine.load(model_dir.MODEL_DIR, network, copy_weight=copy_weight,
                                     window=window, beam_width=beam_width or engine_module.BEAM_WIDTH)


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


def with_open_files(work: list[Task], seed: int) -> list[Task]:
    """The same tasks with context from up to four other held-out files of the same package and
    language, chosen and written as the worker does (tasks without such files keep none)."""
    heldout = corpus_files.load("heldout")
    by_path = {f.path: f for f in heldout}
    open_files = OpenFiles(heldout, random.Random(seed))  # noqa: S311 - reproducible choice
    layout = model_dir.import_module("layout")
    return [replace(t, context=open_files.context(by_path[t.path], t.prefix, layout.SCOPE_CHARS))
            if t.path in by_path else t for t in work]


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


def verdicts(results: Results, keys: Iterable[tuple[str, str]], trade: dict[str, list[dict[str, float]]],
             serving: dict[str, Any] | None) -> list[str]:
    """Each target of the model's issue with its figure and whether it is met."""
    def said(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = []
    line_fim, line_base = results["code_fim"][("all", "line")], results["n-gram"][("all", "line")]
    ratio = line_fim["exact_match"] / line_base["exact_match"] if line_base["exact_match"] else 0.0
    out.append(f"target: one-line exact match >= 2x the n-gram's: {ratio:.2f}x -> {said(ratio >= 2)}")
    behind = [f"{k[0]}/{k[1]} {m}" for k in keys for m in ("exact_match", "edit_similarity", "parses")
              if k[0] != "all" and results["code_fim"][k][m] == results["code_fim"][k][m]
              and results["code_fim"][k][m] < results["n-gram"][k][m]]
    out.append(f"target: ahead of the n-gram on every metric and language: behind on {len(behind)}"
               f"{' (' + ', '.join(behind) + ')' if behind else ''} -> {said(not behind)}")
    default = model_dir.import_module("engine").DEFAULT_THRESHOLD
    row = next(r for r in trade["line"] if r["threshold"] == default)
    shown_ok = row["exact_match_of_shown"] == row["exact_match_of_shown"] and \
        row["exact_match_of_shown"] >= 0.4
    out.append(f"target: at the default threshold {default} one-line answered >= 25 % with >= 40 % "
               f"exactly right: {row['answered']:.0%} answered, {row['exact_match_of_shown']:.0%} "
               f"exact -> {said(row['answered'] >= 0.25 and shown_ok)}")
    if serving is not None:
        cold, typing = serving["batch1"]["cold_first_p50_ms"], serving["batch1"]["typing_first_p50_ms"]
        out.append(f"target: first token through Triton on one core, {serving['prompt_tokens_p50']}-"
                   f"token prompts: cold p50 {cold:.1f} ms (<= 30: {said(cold <= 30)}), typing p50 "
                   f"{typing:.1f} ms (<= 5: {said(typing <= 5)})")
    return out


def compare_networks(networks: list[str], per_language: int, seed: int, minimum_files: int) -> int:
    """Held-out quality of code_fim on each network, same tasks, same decoding: a quantized or
    re-implemented network is kept only if these hold."""
    work = build_tasks(per_language, seed, minimum_files)
    copy_weight = model_dir.import_module("engine").COPY_WEIGHT
    groups = grouped(work)
    keys = [("all", "line"), ("all", "block")]
    results = {}
    for network in networks:
        answers = timed(network, partial(fim_answers, work, copy_weight, network=network))
        results[f"code_fim on {network}"] = {key: summarize([work[i] for i in groups[key]],
                                                            [answers[i] for i in groups[key]])
                                             for key in keys}
    print(table(results, keys))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate")
    parser.add_argument("--per-language", type=int, default=100, help="tasks per language and kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minimum-files", type=int, default=20,
                        help="languages with fewer held-out files are left out")
    parser.add_argument("--ngram-tokens", type=int, default=30_000_000,
                        help="training tokens for the n-gram baseline")
    parser.add_argument("--ablations", action="store_true",
                        help="also run the model without its copy model, and with greedy lines")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--triton", action="store_true", help="also measure serving through tritonserver")
    parser.add_argument("--networks", default="",
                        help="only code_fim, once per network named (comma-separated: GGUF files "
                             "of code_fim or paths of brought GGUF models), side by side")
    args = parser.parse_args(argv)
    if args.networks:
        return compare_networks(args.networks.split(","), args.per_language, args.seed,
                                args.minimum_files)

    work = build_tasks(args.per_language, args.seed, args.minimum_files)
    print(f"evaluate: {len(work)} held-out tasks", file=sys.stderr)
    texts = [f.text for f in corpus_files.load("train")]
    copy_weight = model_dir.import_module("engine").COPY_WEIGHT
    opened = with_open_files(work, args.seed)
    print(f"evaluate: {sum(bool(t.context) for t in opened)} tasks get context from other files",
          file=sys.stderr)
    systems = {
        "code_fim": timed("code_fim", lambda: fim_answers(work, copy_weight)),
        "code_fim, other files open": timed("code_fim with open files",
                                            lambda: fim_answers(opened, copy_weight)),
        "code_fim, 512-token window": timed("code_fim, 512-token window",
                                            lambda: fim_answers(work, copy_weight, window=512)),
        "n-gram": timed("n-gram", lambda: ngram_answers(work, texts, args.ngram_tokens, always=False)),
        "n-gram, always answers": timed("n-gram always", lambda: ngram_answers(work, texts, args.ngram_tokens,
                                                                               always=True)),
        "no completion": [Answer("") for _ in work],
    }
    if args.ablations:
        systems["code_fim, no copy model"] = timed("code_fim without copy",
                                                   lambda: fim_answers(work, 0.0))
        systems["code_fim, greedy lines"] = timed("code_fim with greedy lines",
                                                  lambda: fim_answers(work, copy_weight, beam_width=1))
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
    print()
    for line in verdicts(results, keys, trade, serving):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({
            "results": {s: {f"{k[0]}/{k[1]}": v for k, v in r.items()} for s, r in results.items()},
            "tradeoff": trade, "serving": serving}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
