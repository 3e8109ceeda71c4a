"""Public code-evaluation sets that must never enter the training corpus.

Pure. A model trained on a benchmark's problems or solutions scores well on it and says nothing:
the corpus command refuses any package whose name, or any of whose files, is one of these sets
(their packages and their data files: ``HumanEval.jsonl.gz``, ``mbpp.jsonl``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Names of public code-evaluation sets as packages and data files spell them.
BENCHMARKS = (
    "humaneval", "human-eval", "humanevalplus", "humaneval-x", "mbpp", "mbppplus", "evalplus",
    "apps-dataset", "codexglue", "code-x-glue", "ds-1000", "ds1000", "multipl-e", "multiple-e",
    "crosscodeeval", "repobench", "santacoder-fim", "classeval", "bigcodebench", "livecodebench",
    "cruxeval", "swe-bench", "swebench", "codecontests", "conala", "odex", "defects4j",
    "bugsinpy", "quixbugs", "recode", "mceval", "codeeval", "safim", "execrepobench",
)
#: Extensions of the files benchmarks ship their problems in.
DATA_EXTENSIONS = frozenset({"jsonl", "json", "parquet", "arrow", "csv", "tsv", "gz", "zip",
                             "tar", "pkl", "pickle", "txt", "yaml", "yml"})
_NORMAL = re.compile(r"[\s_.]+")


def _normal(name: str) -> str:
    return _NORMAL.sub("-", name.lower())


def _matches(part: str) -> str | None:
    words = _normal(part)
    for benchmark in BENCHMARKS:
        if re.search(rf"(?:^|[^a-z0-9]){re.escape(benchmark)}(?:$|[^a-z0-9])", words) \
                or words.replace("-", "") == benchmark.replace("-", ""):
            return benchmark
    return None


def refusal(package: str, paths: Iterable[str] = ()) -> str | None:
    """Why ``package`` may not enter the corpus (a benchmark or a benchmark's data file among its
    ``paths``), or ``None``."""
    name = package.split(":", 1)[-1]
    for part in (name, *name.split("/")):
        found = _matches(part)
        if found is not None:
            return f"{package} is the evaluation set {found}"
    for path in paths:
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        stem, _, extension = name.partition(".")
        if extension.split(".")[0].lower() not in DATA_EXTENSIONS:
            continue  # a source file named like a benchmark (lib/odex.js) is not its data
        found = _matches(stem)
        if found is not None:
            return f"{package} carries {path}, data of the evaluation set {found}"
    return None
