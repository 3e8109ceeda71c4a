"""The LSP session's lifecycle: which messages each state admits, and the exit code.

Pure. Before ``initialize`` a request is answered ``-32002`` and a notification dropped; a second
``initialize`` is refused (it would switch the position encoding mid-session and forget every
open document); after ``shutdown`` a request is answered ``-32600`` and a notification dropped;
``exit`` is always admitted and ends the process with 0 after ``shutdown``, 1 without.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ide.envelope import INVALID_REQUEST, SERVER_NOT_INITIALIZED

State = Literal["new", "running", "shut_down"]


@dataclass(frozen=True, slots=True)
class Admit:
    """Handle the message."""


@dataclass(frozen=True, slots=True)
class Drop:
    """A notification the state ignores (no reply)."""

    why: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """A request the state answers with an error."""

    code: int
    message: str


Verdict = Admit | Drop | Refuse


@dataclass(slots=True)
class Lifecycle:
    state: State = "new"

    def admit(self, method: str, is_request: bool) -> Verdict:
        """What to do with ``method`` now; ``initialize`` and ``shutdown`` move the state."""
        if method == "exit":
            return Admit()
        if self.state == "shut_down":
            return Refuse(INVALID_REQUEST, "the server is shutting down; send exit") \
                if is_request else Drop("after shutdown")
        if method == "initialize" and is_request:
            if self.state == "running":
                return Refuse(INVALID_REQUEST, "the server is already initialized")
            self.state = "running"
            return Admit()
        if self.state == "new":
            return Refuse(SERVER_NOT_INITIALIZED, "the server is not initialized") \
                if is_request else Drop("before initialize")
        if method == "shutdown" and is_request:
            self.state = "shut_down"
        return Admit()

    @property
    def exit_code(self) -> int:
        return 0 if self.state == "shut_down" else 1
