"""Where a completion's answer comes from, decided without I/O.

Cheapest first: the rest of the suggestion the user is typing into (live, then cached), a live
generation of the same prompt (shared), a cached one, and only then the model. The decision is a
pure function of what is known; what is not known yet is asked for (:class:`Lookup`), so the
service fetches from the cache only what the decision needs, in this order, and a test can walk
every path without an event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.socket import EndReason
from workers.reuse import chunks_after, continues

#: A cache answer: the generation's chunks and how it ended.
Cached = tuple[list[str], EndReason]
#: Not looked up yet (``None`` means looked up and absent).
UNKNOWN: Literal["unknown"] = "unknown"


@dataclass(frozen=True, slots=True)
class Live:
    """What a running (or lingering) generation has produced so far."""

    text: str
    finished: bool


@dataclass(frozen=True, slots=True)
class Known:
    """What the worker knows about a completion request so far."""

    #: Characters typed into the session's last suggestion since it was shown ('' if none).
    typed: str = ""
    #: The typed-into suggestion's generation, if it is still live.
    typed_live: Live | None = None
    typed_cached: Cached | Literal["unknown"] | None = UNKNOWN
    #: A live generation of this very prompt exists.
    live: bool = False
    cached: Cached | Literal["unknown"] | None = UNKNOWN


@dataclass(frozen=True, slots=True)
class Lookup:
    """Ask the cache for the typed-into suggestion's generation, or this prompt's."""

    which: Literal["typed", "prompt"]


@dataclass(frozen=True, slots=True)
class Choice:
    """The answer's source: a live generation to follow (from ``skip_chars``), ready chunks, or
    a new inference (``infer``)."""

    kind: Literal["typed_as_suggested", "shared", "cached", "infer"]
    #: Follow the typed-into suggestion's live generation (else this prompt's) when live.
    follow_typed: bool = False
    skip_chars: int = 0
    chunks: tuple[str, ...] = ()
    reason: EndReason = "stop"


def decide(known: Known) -> Choice | Lookup:
    """The cheapest source the facts allow, or the next fact needed to decide."""
    if known.typed:
        live = known.typed_live
        if live is not None and continues(live.text, known.typed, live.finished):
            return Choice("typed_as_suggested", follow_typed=True, skip_chars=len(known.typed))
        if known.typed_cached == UNKNOWN:
            return Lookup("typed")
        if known.typed_cached is not None:
            chunks, reason = known.typed_cached
            if continues("".join(chunks), known.typed, True):
                return Choice("typed_as_suggested",
                              chunks=tuple(chunks_after(chunks, len(known.typed))), reason=reason)
    if known.live:
        return Choice("shared")
    if known.cached == UNKNOWN:
        return Lookup("prompt")
    if known.cached is not None:
        return Choice("cached", chunks=tuple(known.cached[0]), reason=known.cached[1])
    return Choice("infer")
