"""A task model's items as socket frames (pure): stamped with the request, its sequence and the
document version, and checked against the document so a faulty model cannot send an edit or a
finding outside it."""

from __future__ import annotations

from schemas.errors import ValidationError
from schemas.socket import EditResult, FindingResult, TextEdit, TokenChunk
from schemas.tasks import TaskEdit, TaskFinding, TaskItem, TaskText

TaskFrame = TokenChunk | EditResult | FindingResult


def _check_edits(edits: tuple[TextEdit, ...], length: int, where: str) -> None:
    last_end = -1
    for index, edit in enumerate(sorted(edits, key=lambda e: (e.start, e.end))):
        if not edit.start <= edit.end <= length:
            raise ValidationError(f"edit [{edit.start}, {edit.end}) is outside the document "
                                  f"(length {length})", f"{where}.{index}", "bad_item")
        if edit.start < last_end:
            raise ValidationError("edits overlap", f"{where}.{index}", "bad_item")
        last_end = edit.end


def _beside(uri: str, document: str) -> bool:
    """``uri`` names a file in the same directory (and scheme) as ``document``."""
    return uri.rsplit("/", 1)[0] == document.rsplit("/", 1)[0] and "/../" not in uri \
        and not uri.endswith(("/", "/.", "/.."))


def task_frame(item: TaskItem, request_id: str, seq: int, version: int, length: int,
               document: str = "") -> TaskFrame:
    """The frame for one item of a task on ``document`` of ``length`` code points."""
    if isinstance(item, TaskText):
        return TokenChunk(request_id, seq, item.text)
    if isinstance(item, TaskEdit):
        if item.uri is not None:
            if len(item.edits) != 1 or item.edits[0].start or item.edits[0].end:
                raise ValidationError("a new file is one edit at 0", "edits", "bad_item")
            if not _beside(item.uri, document):
                raise ValidationError("a new file must sit beside the document", "uri",
                                      "bad_item")
            return EditResult(request_id, seq, version, item.title, item.edits, item.uri, True)
        _check_edits(item.edits, length, "edits")
        return EditResult(request_id, seq, version, item.title, item.edits)
    if isinstance(item, TaskFinding):
        if not item.start <= item.end <= length:
            raise ValidationError(f"finding [{item.start}, {item.end}) is outside the document "
                                  f"(length {length})", "start", "bad_item")
        if item.fix is not None:
            _check_edits(item.fix, length, "fix")
        return FindingResult(request_id, seq, version, item.start, item.end, item.severity,
                             item.rule, item.message, item.fix)
    raise AssertionError(item)  # pragma: no cover - the union is exhaustive
