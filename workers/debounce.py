"""When to fire a completion request: a per-session debounce that follows the typist's rhythm.

Pure: keystroke times and ``now_ms`` in, decisions out. The wait is the time in which the
typist's next keystroke is likely to arrive (``gap_factor`` times their typical gap within a
burst), so a request that is about to be superseded is not sent to the model. Two cases fire at
once: a character after which a completion is clearly wanted (a newline, an opening bracket),
and a typist whose next keystroke would come later than ``ceiling_ms`` anyway (waiting would
only add latency; cancellation covers the rare overlap). No wait ever exceeds ``ceiling_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: After these the user is clearly waiting for a suggestion.
FIRE_AT_ONCE_AFTER = frozenset("\n([{:=,")


@dataclass(frozen=True)
class DebounceConfig:
    """The debounce's knobs (milliseconds)."""

    ceiling_ms: int = 60
    #: Gaps longer than this are pauses, not rhythm; they do not update the typical gap.
    pause_ms: int = 1000
    #: Multiple of the typical gap that covers most next keystrokes of a burst.
    gap_factor: float = 1.5
    #: Weight of the newest gap in the moving average.
    smoothing: float = 0.2
    #: Assumed typical gap before a session has typed enough to know.
    initial_gap_ms: float = 150.0
    #: The bounds of :meth:`TypingRhythm.idle_ms` (a proposal for the edit just made waits for
    #: the burst to end, unlike a completion, which a newer keystroke simply supersedes).
    idle_floor_ms: int = 120
    idle_ceiling_ms: int = 500


class TypingRhythm:
    """A session's typical inter-keystroke gap inside bursts (exponential moving average)."""

    def __init__(self, config: DebounceConfig) -> None:
        self._config = config
        self.typical_gap_ms = config.initial_gap_ms
        self._last_ms: int | None = None

    def keystroke(self, now_ms: int) -> None:
        if self._last_ms is not None:
            gap = now_ms - self._last_ms
            if 0 <= gap <= self._config.pause_ms:
                alpha = self._config.smoothing
                self.typical_gap_ms = (1 - alpha) * self.typical_gap_ms + alpha * gap
        self._last_ms = now_ms

    def idle_ms(self) -> int:
        """How long after a keystroke the typist has most likely stopped: the typical gap times
        ``gap_factor``, within ``idle_floor_ms`` and ``idle_ceiling_ms``. Proposing sooner would
        propose for each keystroke of a name being typed (``co``, ``cou``, ``coun``)."""
        config = self._config
        wait = config.gap_factor * self.typical_gap_ms
        return round(min(config.idle_ceiling_ms, max(config.idle_floor_ms, wait)))

    def wait_ms(self, last_char: str) -> int:
        """How long to hold a request made right after typing ``last_char``."""
        config = self._config
        if last_char in FIRE_AT_ONCE_AFTER:
            return 0
        wait = config.gap_factor * self.typical_gap_ms
        if wait > config.ceiling_ms:
            return 0  # the next key comes too late to be worth waiting for
        return round(wait)
