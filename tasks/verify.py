"""Whether an edit that no analyzer proposed (an LLM route's code block) may be sent: the edited
document must get no error or likely bug that the document did not have, by the same checks
``find_bugs`` runs (the parser; the compiler, type checker and analyzers of the language).
"""

from __future__ import annotations

from collections import Counter

from schemas.socket import TextEdit
from schemas.tasks import TaskFinding
from tasks.engine import TaskInput, run_task


def _problems(text: str, language: str, uri: str) -> tuple[list[TaskFinding], str]:
    items = list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None))
    summary = "".join(getattr(i, "text", "") for i in items if getattr(i, "type", "") == "text")
    return [i for i in items if isinstance(i, TaskFinding)], summary


def applied(text: str, edit: TextEdit) -> str:
    return text[:edit.start] + edit.text + text[edit.end:]


def edit_problem(text: str, edit: TextEdit, language: str, uri: str) -> str | None:
    """Why the edit must not be sent (the first new problem, and what found it), or ``None``
    when the edited document has no problem the document did not have."""
    before, _ = _problems(text, language, uri)
    after, summary = _problems(applied(text, edit), language, uri)
    known = Counter((f.rule, f.message) for f in before)
    for finding in after:
        key = (finding.rule, finding.message)
        if known[key] > 0:
            known[key] -= 1
            continue
        checked = summary.split(" with a fix (", 1)[-1].rstrip(".\n").removesuffix(")")
        return f"{finding.rule}: {finding.message[:200]} (checked by {checked})"
    return None
