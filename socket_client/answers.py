"""What a socket client keeps for each request in flight, and how a server frame lands in it.

Both clients of the edge (``ws_edge.client``, the demo client the tests and benchmarks drive,
and ``ide.edge_link``, the language server's session) route replies the same way: tokens and a
task's results are appended to their request's :class:`Answer`, its ``end`` finishes it, and an
error that names a request is that request's. What is left (errors about no request, notices,
``slow_down``) is the adapter's to handle. No I/O here: the adapters read and write the socket.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from schemas.socket import CompletionEnd, EditResult, ErrorFrame, FindingResult, TokenChunk


@dataclass(slots=True)
class Answer:
    """What came back for one ``complete`` or ``task`` request."""

    request_id: str
    #: When it was sent (``time.perf_counter()``).
    sent_s: float
    chunks: list[str] = field(default_factory=list)
    #: A task's edits and findings, in order.
    results: list[EditResult | FindingResult] = field(default_factory=list)
    #: Its ``end``: from the edge, or made by the client when it gives up (``error``).
    end: CompletionEnd | None = None
    error: ErrorFrame | None = None
    #: Seconds from sending to its first token, edit or finding.
    first_token_s: float | None = None
    #: Set once it has ended.
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def reason(self) -> str:
        """The end's reason, or ``""`` while it runs."""
        return self.end.reason if self.end is not None else ""

    @property
    def detail(self) -> str | None:
        return self.end.detail if self.end is not None else None

    def finish(self, end: CompletionEnd) -> None:
        """End it (once: a later end changes nothing)."""
        if self.end is None:
            self.end = end
            self.done.set()

    def give_up(self, detail: str) -> None:
        """The client ends it itself (not connected, timed out, disconnected)."""
        self.finish(CompletionEnd(self.request_id, "error", len(self.chunks), detail=detail))


def land(answers: dict[str, Answer], frame: object, now_s: float) -> Answer | None:
    """Put ``frame`` into the answer it belongs to and return that answer; ``None`` when it
    belongs to none in ``answers`` (the caller handles it)."""
    request_id = getattr(frame, "request_id", None)
    answer = answers.get(request_id) if isinstance(request_id, str) else None
    if answer is None:
        return None
    if isinstance(frame, TokenChunk | EditResult | FindingResult):
        if answer.first_token_s is None:
            answer.first_token_s = now_s - answer.sent_s
        if isinstance(frame, TokenChunk):
            answer.chunks.append(frame.text)
        else:
            answer.results.append(frame)
    elif isinstance(frame, CompletionEnd):
        answer.finish(frame)
    elif isinstance(frame, ErrorFrame):
        answer.error = frame
    else:
        return None
    return answer
