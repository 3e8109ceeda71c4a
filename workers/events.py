"""Identities of the events a worker derives from a session's traffic."""

from __future__ import annotations

import hashlib


def event_id(*parts: str) -> str:
    """A deterministic id for a derived event: a replay produces the same one, and the
    deduplicating sink keeps the first."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
