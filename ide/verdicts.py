"""What became of each suggestion the server handed out, for the acceptance analytics.

Pure (times are arguments). Editors run a suggestion's command when the user accepts it (VS Code,
LSP4IJ, our Neovim and Emacs packages), but most say nothing when a suggestion is typed past or
replaced, and analytics would then see every answered suggestion accepted. So the server reports
``shown`` when it answers with a suggestion, and ``dismissed`` for one that got no verdict from
the editor by ``GRACE_S`` after a newer request for its document (or the document's close). The
grace covers editors that apply an accepted suggestion's edit, ask for the next one and only
then run its command.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

GRACE_S = 2.0
#: Suggestions tracked at once; the oldest are forgotten (no verdict is reported for them).
TRACKED = 256


@dataclass
class Verdicts:
    """Suggestions answered and not yet given a verdict, and those to report as dismissed."""

    _open: OrderedDict[str, str] = field(default_factory=OrderedDict)  # request id -> uri
    _doomed: dict[str, float] = field(default_factory=dict)  # request id -> when to report

    def answered(self, request_id: str, uri: str) -> None:
        self._open[request_id] = uri
        while len(self._open) > TRACKED:
            forgotten, _ = self._open.popitem(last=False)
            self._doomed.pop(forgotten, None)

    def settled(self, request_id: str) -> None:
        """The editor said what became of it (accepted, rejected, ...)."""
        self._open.pop(request_id, None)
        self._doomed.pop(request_id, None)

    def forget(self, uri: str) -> None:
        """Every suggestion of ``uri`` was ended elsewhere (the edge ends a document's open
        next edits when it sends a newer one or the document closes): nothing to report."""
        for request_id in [r for r, where in self._open.items() if where == uri]:
            self.settled(request_id)

    def superseded(self, uri: str, now_s: float) -> None:
        """A newer request for ``uri``, or its close: its open suggestions are on notice."""
        for request_id, where in self._open.items():
            if where == uri and request_id not in self._doomed:
                self._doomed[request_id] = now_s + GRACE_S

    def due(self, now_s: float) -> list[str]:
        """Suggestions to report as dismissed now (each once)."""
        found = [request_id for request_id, at in self._doomed.items() if at <= now_s]
        for request_id in found:
            self.settled(request_id)
        return found

    def next_due_s(self) -> float | None:
        return min(self._doomed.values(), default=None)
