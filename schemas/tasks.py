"""What a task model streams back to the worker: one :data:`TaskItem` per Triton response.

A task route's model (``model/repository/task_*``, or any model with the same tensors) answers a
request with a decoupled stream of ``ITEM`` tensors, each one orjson object below, offsets in
code points of the document it was given. The worker validates every item as it would a
client's frame, checks its offsets against the document, and forwards it as a socket frame
(``token``, ``edit``, ``finding``) stamped with the request id, sequence and version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.codec import decode_as, encode, limit, parse_json
from schemas.socket import Severity, TextEdit

TITLE_CHARS = 200
_TITLE = limit(min_len=1, max_len=TITLE_CHARS)


def short_title(text: str) -> str:
    """``text`` as an edit's title: cut with an ellipsis past ``TITLE_CHARS`` (titles quote
    names and messages of any length)."""
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class TaskText:
    """Markdown for the user (an explanation, a summary of what was found)."""

    text: str = field(metadata=limit(min_len=1, max_len=65_536))
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class TaskEdit:
    """Edits applied together (non-overlapping, against the given text); ``uri`` names a new
    file to create instead (its whole text in one edit at 0)."""

    title: str = field(metadata=_TITLE)
    edits: tuple[TextEdit, ...] = field(metadata=limit(min_len=1, max_len=1000))
    uri: str | None = field(default=None, metadata=limit(min_len=1, max_len=2048))
    type: Literal["edit"] = "edit"


@dataclass(frozen=True, slots=True)
class TaskFinding:
    """A problem in ``[start, end)``, the rule that found it, and its fix when there is one."""

    start: int = field(metadata=limit(ge=0, le=2**31))
    end: int = field(metadata=limit(ge=0, le=2**31))
    severity: Severity
    rule: str = field(metadata=limit(min_len=1, max_len=64))
    message: str = field(metadata=limit(min_len=1, max_len=2000))
    fix: tuple[TextEdit, ...] | None = None
    type: Literal["finding"] = "finding"


TaskItem = TaskText | TaskEdit | TaskFinding


def read_item(data: bytes) -> TaskItem:
    """Validate one item a task model sent."""
    value: Any = parse_json(data)
    item: TaskItem = decode_as(TaskItem, value)  # type: ignore[arg-type]
    return item


def write_item(item: TaskItem) -> bytes:
    return encode(item)
