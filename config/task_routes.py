"""Each assistant task's route: the Triton model that serves it, its deadline and how many of
its requests one worker runs at once. Pure: parsed from settings, overridable per kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.socket import TASK_KINDS, TaskKind

#: How a route's model is spoken to: ``items`` (our task models: the document, its language and
#: a range in; answer items out), ``vllm`` (Triton's vLLM backend: ``text_input``, ``stream``,
#: ``sampling_parameters``, ``exclude_input_in_output`` -> ``text_output``) or ``trtllm``
#: (TensorRT-LLM's ``ensemble``: ``text_input``, ``max_tokens``, ``stream`` -> ``text_output``).
Interface = Literal["items", "vllm", "trtllm"]
INTERFACES: tuple[Interface, ...] = ("items", "vllm", "trtllm")

#: Default deadlines (ms from the worker receiving the request to the task's end): analyzers
#: answer in tens of milliseconds; the routes that ask the code model get longer.
DEFAULT_DEADLINES_MS: dict[TaskKind, int] = {
    # find_bugs and fix may run a compiler (javac: about 1 s) and verify fixes with it.
    "find_bugs": 3000, "fix": 4000, "refactor": 3000, "docs": 4000, "explain": 4000,
    "tests": 4000,
}


@dataclass(frozen=True, slots=True)
class TaskRoute:
    kind: TaskKind
    model: str
    deadline_ms: int
    slots: int
    interface: Interface = "items"


def _pairs(spec: str, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, sep, value = part.partition("=")
        if not sep or kind.strip() not in TASK_KINDS or not value.strip():
            raise ValueError(f"{what}: {part!r} is not <kind>=<value> with kind one of "
                             f"{', '.join(TASK_KINDS)}")
        found[kind.strip()] = value.strip()
    return found


def task_routes(models: str = "", deadlines_ms: str = "", slots: int = 4
                ) -> dict[TaskKind, TaskRoute]:
    """Routes from ``TASK_MODELS`` (``explain=vllm:qwen_coder,docs=my_model,...``: an optional
    interface, then the Triton model; default ``task_<kind>`` over ``items``) and
    ``TASK_DEADLINES_MS`` (``find_bugs=1500,...``)."""
    named = _pairs(models, "TASK_MODELS")
    deadlines = _pairs(deadlines_ms, "TASK_DEADLINES_MS")
    routes: dict[TaskKind, TaskRoute] = {}
    for kind in TASK_KINDS:
        raw = deadlines.get(kind)
        if raw is not None and (not raw.isdigit() or int(raw) <= 0):
            raise ValueError(f"TASK_DEADLINES_MS: {kind}={raw} is not a positive whole number")
        deadline = int(raw) if raw is not None else DEFAULT_DEADLINES_MS[kind]
        interface, _, model = named.get(kind, f"task_{kind}").rpartition(":")
        if interface and interface not in INTERFACES:
            raise ValueError(f"TASK_MODELS: {kind}={interface}:{model}: the interface is one of "
                             f"{', '.join(INTERFACES)}")
        if not model:
            raise ValueError(f"TASK_MODELS: {kind} names no model")
        routes[kind] = TaskRoute(kind, model, deadline, slots, interface or "items")
    return routes


def llm_route(spec: str, what: str) -> tuple[Interface, str] | None:
    """``<interface>:<model>`` for a route only an LLM serves (``vllm`` or ``trtllm``), or
    ``None`` for an empty spec; :class:`ValueError` naming ``what`` otherwise."""
    spec = spec.strip()
    if not spec:
        return None
    interface, _, model = spec.partition(":")
    if interface == "vllm" and model:
        return "vllm", model
    if interface == "trtllm" and model:
        return "trtllm", model
    raise ValueError(f"{what}={spec}: <interface>:<model> with the interface vllm or trtllm "
                     "(vllm:zeta)")
