"""The import rules that keep the folders honest (read from the source, with ``ast``).

- Layers run one way: ``schemas`` imports nothing of ours; ``config`` only schemas; the shared
  libraries (``quota``, ``streams``, ``documents``, ``sealing``, ``tenants``, ``runtime``)
  stand on those; the services
  (``ws_edge``, ``workers``, ``analytics``) on the libraries, never on each other; ``infra`` (the
  installer and supervisor) may use everything, and nothing but ``bench`` and tests use it;
  ``ide`` (the language server, on a developer's machine) only the message shapes.
- The model's serving code in ``model/repository`` imports nothing of ours (it is copied into
  any Triton repository as it is); its training and evaluation commands may use settings, the
  language table and the serving benchmark.
- Pure cores import no I/O library (asyncio, aiokafka, redis, tritonclient, websockets, aiohttp).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What each of our top-level packages may import of ours.
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "config": {"schemas"},
    "quota": set(),
    "streams": {"schemas", "config"},
    "documents": {"schemas"},
    "sealing": {"schemas"},
    "tenants": {"schemas", "config", "quota"},
    "runtime": {"config"},
    "ws_edge": {"schemas", "config", "streams", "documents", "sealing", "tenants", "runtime",
                "socket_client"},
    # The workers check an LLM route's edits with the tasks' engines (tasks/verify.py), and
    # propose next edits from the documents they hold (next_edits).
    "workers": {"schemas", "config", "quota", "streams", "documents", "sealing", "runtime",
                "tasks", "next_edits"},
    "analytics": {"schemas", "config", "quota", "streams", "tenants", "runtime"},
    # The served models (model/repository) import nothing of ours: see `violations`.
    "model": set(),
    # Offline commands over the code model: the corpus, its training, and its evaluation (which,
    # like the benchmarks, may use anything: `evaluate --triton` runs the serving bench).
    "corpus": {"config", "documents"},
    "training": {"corpus", "config", "documents"},
    "evaluation": {"corpus", "training", "config", "documents", "schemas", "tasks", "bench",
                   "next_edits"},
    "infra": {"schemas", "config", "quota", "streams", "documents", "sealing", "tenants",
              "runtime", "ws_edge",
              "workers", "analytics", "tasks", "next_edits"},
    # The language server runs on a developer's machine: it speaks the socket protocol and
    # needs nothing of the stack's internals.
    "ide": {"schemas", "socket_client"},
    # What every client of the socket shares.
    "socket_client": {"schemas"},
    # The assistant tasks' static engines, run inside the task routes' Triton models.
    "tasks": {"schemas", "documents"},
    # Next-edit suggestions from the edit just made: pure, over the tasks' syntax trees.
    "next_edits": {"schemas", "tasks"},
}
OURS = set(ALLOWED) | {"bench", "tests"}

PURE = [
    "schemas", "quota/arithmetic.py", "documents/document.py", "sealing/cipher.py",
    "documents/languages.py", "documents/redaction.py", "ws_edge/session.py", "ws_edge/pressure.py",
    "ws_edge/ratelimit.py", "workers/core.py", "workers/debounce.py", "workers/reuse.py",
    "workers/prompt.py", "workers/admission.py", "workers/answer_source.py",
    "documents/cross_file.py", "workers/persistence.py",
    "workers/tasks/items.py", "workers/tasks/prompts.py", "workers/tasks/llm_answers.py",
    "analytics/batcher.py", "analytics/usage_windows.py", "infra/restarts.py",
    "ide/positions.py", "ide/mirror.py", "ide/pacing.py", "ide/suggestions.py", "ide/verdicts.py",
    "ide/framing.py", "ide/envelope.py", "ide/lifecycle.py",
    "config/task_routes.py", "tasks/offsets.py", "tasks/docs.py", "tasks/explain.py",
    "tasks/testgen.py", "tasks/structure.py", "next_edits",
]
IO_LIBRARIES = {"asyncio", "aiokafka", "redis", "tritonclient", "websockets", "aiohttp",
                "socket", "subprocess", "clickhouse_connect"}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations(sources: dict[str, set[str]]) -> list[str]:
    """Broken rules, given each source file (relative path) and the modules it imports."""
    found = []
    for relative, imported in sorted(sources.items()):
        package = relative.split("/")[0]
        if package not in ALLOWED:
            continue
        ours = imported & OURS - {package}
        # A served model imports nothing of ours (it can be copied into any Triton repository),
        # except the task routes' entry points, which are the engines of tasks/ on Triton.
        allowed = ({"tasks"} if relative.startswith("model/repository/task_") else set()) \
            if relative.startswith("model/repository/") else ALLOWED[package]
        for name in sorted(ours - allowed):
            found.append(f"{relative} imports {name}")
        if any(relative == p or relative.startswith(p + "/") for p in PURE):
            for name in sorted(imported & IO_LIBRARIES):
                found.append(f"{relative} is a pure core but imports {name}")
    return found


def our_sources() -> dict[str, set[str]]:
    return {str(path.relative_to(ROOT)): imports_of(path)
            for package in ALLOWED for path in (ROOT / package).rglob("*.py")}


def test_the_tree_keeps_the_rules() -> None:
    sources = our_sources()
    assert len(sources) > 60, "the scan sees the packages"
    assert violations(sources) == []


def test_a_planted_violation_is_caught() -> None:
    sources = our_sources()
    planted = {
        **sources,
        "ws_edge/server.py": sources["ws_edge/server.py"] | {"infra"},
        "schemas/codec.py": sources["schemas/codec.py"] | {"streams"},
        "workers/core.py": sources["workers/core.py"] | {"asyncio"},
        "streams/kafka.py": sources["streams/kafka.py"] | {"workers"},
        "model/repository/code_fim/1/model.py": {"config"},
    }
    assert violations(planted) == [
        "model/repository/code_fim/1/model.py imports config",
        "schemas/codec.py imports streams",
        "streams/kafka.py imports workers",
        "workers/core.py is a pure core but imports asyncio",
        "ws_edge/server.py imports infra",
    ]
