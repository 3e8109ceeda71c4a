"""Usage per tenant, user and time window, counted exactly once (pure: time is an argument).

Events (admitted completions, all completions, and feedback kinds) fall into tumbling windows of
their event time (``received_ms``, aligned to the epoch, so windows never straddle a UTC day or
month when the window divides a day). A window closes when the watermark (the newest event time
seen, minus ``grace_ms``; or the wall clock minus ``grace_ms`` when the input is caught up)
passes its end; its record then holds the window's full counts, and its ``record_id`` is
derived from tenant, user, plan, window and ``seq``.

Exactly once, across crashes and rebalances, without transactions:

- within a window, events are sets of event ids: a replayed event changes nothing;
- the input offsets committed never pass the first event of a window not yet emitted
  (:meth:`UsageWindows.committable`), so after a crash the replay rebuilds every open window
  whole;
- a window emitted twice (a crash between emitting and committing) is emitted with the same
  ``record_id`` and the same counts, and readers keep one record per ``record_id``.

An event later than its window's close goes into a correction record for that window
(``seq`` 1, 2, ...), emitted at the next close, unless that window already counted it: the ids
of emitted windows are kept for ``LATE_HORIZON_MS`` of event time, because a consumer can hand
the same record over twice (fetched before a rebalance, then again after the seek to the
committed offset), and a late copy must not be a second count.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from schemas.topics import UsageRecord

Kind = Literal["completion", "admitted", "shown", "accepted", "rejected"]
KINDS: tuple[Kind, ...] = ("completion", "admitted", "shown", "accepted", "rejected")
Position = tuple[str, int]  # (topic, partition)
Group = tuple[str, str, str, int]  # tenant, user, plan, window start
#: How long (event time, past a window's end) its counted ids are kept to refuse late copies.
LATE_HORIZON_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class _Bucket:
    tenant_id: str
    user_id: str
    plan: str
    window_start_ms: int
    seq: int


@dataclass
class _Counts:
    ids: dict[Kind, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Where this bucket's earliest event sits in each input partition.
    first_offsets: dict[Position, int] = field(default_factory=dict)


class UsageWindows:
    def __init__(self, window_ms: int, grace_ms: int) -> None:
        self.window_ms = window_ms
        self.grace_ms = grace_ms
        self._open: dict[_Bucket, _Counts] = {}
        self._closed_through_ms = -1  # every window ending at or before this has been emitted
        self._late_seq: dict[Group, int] = {}
        self._counted: dict[Group, dict[Kind, set[str]]] = {}
        self._newest_ms = 0
        self._next_offsets: dict[Position, int] = {}

    def add(self, position: Position, offset: int, event_id: str, tenant_id: str, user_id: str,
            plan: str, kind: Kind, at_ms: int) -> None:
        """Count one event (idempotent per ``event_id`` and ``kind`` within its window)."""
        start = at_ms - at_ms % self.window_ms
        group = (tenant_id, user_id, plan, start)
        self._newest_ms = max(self._newest_ms, at_ms)
        self._next_offsets[position] = max(self._next_offsets.get(position, 0), offset + 1)
        if event_id in self._counted.get(group, {}).get(kind, ()):
            return  # a second copy of an event an emitted record already counts
        seq = 0
        if start + self.window_ms <= self._closed_through_ms:
            seq = self._late_seq.get(group, 0) + 1
            self._late_seq[group] = seq
        bucket = _Bucket(tenant_id, user_id, plan, start, seq)
        counts = self._open.get(bucket)
        if counts is None:
            counts = self._open[bucket] = _Counts()
        counts.ids[kind].add(event_id)
        counts.first_offsets.setdefault(position, offset)

    def skipped(self, position: Position, offset: int) -> None:
        """A record that counts nothing (invalid, or not usage) still moves the position on."""
        self._next_offsets[position] = max(self._next_offsets.get(position, 0), offset + 1)

    def watermark(self, now_ms: int, caught_up: bool) -> int:
        newest = max(self._newest_ms, now_ms) if caught_up else self._newest_ms
        return newest - self.grace_ms

    def close(self, watermark_ms: int) -> list[UsageRecord]:
        """Records of every bucket whose window ended at or before ``watermark_ms``."""
        out = []
        for bucket in sorted(self._open, key=lambda b: (b.window_start_ms, b.tenant_id,
                                                        b.user_id, b.plan, b.seq)):
            if bucket.window_start_ms + self.window_ms > watermark_ms:
                continue
            counts = self._open.pop(bucket)
            out.append(self._record(bucket, counts))
            counted = self._counted.setdefault(
                (bucket.tenant_id, bucket.user_id, bucket.plan, bucket.window_start_ms), {})
            for kind, ids in counts.ids.items():
                counted.setdefault(kind, set()).update(ids)
        self._closed_through_ms = max(self._closed_through_ms,
                                      watermark_ms - watermark_ms % self.window_ms)
        horizon = watermark_ms - LATE_HORIZON_MS - self.window_ms
        self._late_seq = {g: s for g, s in self._late_seq.items() if g[3] >= horizon}
        self._counted = {g: c for g, c in self._counted.items() if g[3] >= horizon}
        return out

    def committable(self) -> dict[Position, int]:
        """Per input partition, the offset that may be committed: never past the first event
        of a bucket not yet emitted."""
        result = dict(self._next_offsets)
        for counts in self._open.values():
            for position, offset in counts.first_offsets.items():
                result[position] = min(result.get(position, offset), offset)
        return result

    def _record(self, bucket: _Bucket, counts: _Counts) -> UsageRecord:
        key = (f"{bucket.tenant_id}\n{bucket.user_id}\n{bucket.plan}\n"
               f"{bucket.window_start_ms}\n{bucket.seq}")
        return UsageRecord(
            record_id=hashlib.sha256(key.encode()).hexdigest()[:32],
            tenant_id=bucket.tenant_id, user_id=bucket.user_id,
            plan=bucket.plan,  # type: ignore[arg-type]
            window_start_ms=bucket.window_start_ms,
            window_end_ms=bucket.window_start_ms + self.window_ms, seq=bucket.seq,
            completions=len(counts.ids["admitted"]), requests=len(counts.ids["completion"]),
            shown=len(counts.ids["shown"]), accepted=len(counts.ids["accepted"]),
            rejected=len(counts.ids["rejected"]),
        )
