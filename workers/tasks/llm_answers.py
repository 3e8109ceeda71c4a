"""An LLM route's answer read for what can be applied: the code block of a ``fix`` or
``refactor`` answer as one edit of the code the prompt showed, and a ``find_bugs`` answer's
"line N: ..." entries as findings. Pure: the document, the prompt's region and the answer's
text in, candidates out; whether a candidate is sent is decided by checks of the edited text
(tasks/verify.py), never by the model.

A finding is kept only where it can be placed without trusting the model's counting: its line
must exist in the code the prompt showed, and the code it quotes (in backticks) must be on that
line or next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.socket import TextEdit

_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_LINE_ENTRY = re.compile(r"^\s*(?:[-*]|\d+\.)?\s*\**\s*(?:on\s+)?line\s+(\d+)\s*\**\s*[:.)\-—–]\s*"
                         r"(.+)$", re.IGNORECASE | re.MULTILINE)
_QUOTED = re.compile(r"`([^`\n]{2,})`")


@dataclass(frozen=True, slots=True)
class LineFinding:
    """A bug the answer names: the document's line (0-based) and its words."""

    line: int
    message: str


def code_blocks(answer: str) -> list[str]:
    """The fenced code blocks of a Markdown answer, in order, without blank lines around them
    (an unclosed last fence: none)."""
    return [block.strip("\n") for block in _FENCE.findall(answer)]


def region_edit(text: str, begin: int, finish: int, answer: str) -> TextEdit | None:
    """The edit that makes ``text[begin:finish]`` (the code the prompt showed) the answer's
    first code block, reduced to what changes; ``None`` without a block or a change."""
    blocks = code_blocks(answer)
    if not blocks:
        return None
    old = text[begin:finish]
    new = blocks[0]
    if old.endswith("\n") and not new.endswith("\n"):
        new += "\n"
    if new == old:
        return None
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(old), len(new)) - prefix
           and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]):
        suffix += 1
    return TextEdit(begin + prefix, finish - suffix, new[prefix:len(new) - suffix])


def line_findings(text: str, begin: int, finish: int, answer: str) -> list[LineFinding]:
    """The answer's "line N: why" entries that can be placed: N counts lines of the code the
    prompt showed (from 1), and a quoted fragment of code in the entry is on that line or next
    to it. Entries that quote no code, or quote code that is not there, are left out."""
    shown = text[begin:finish].split("\n")
    first_line = text.count("\n", 0, begin)
    found: list[LineFinding] = []
    for number, words in _LINE_ENTRY.findall(answer):
        index = int(number) - 1
        if not 0 <= index < len(shown):
            continue
        near = "\n".join(shown[max(0, index - 1):index + 2])
        quoted = _QUOTED.findall(words)
        if not quoted or not any(fragment in near for fragment in quoted):
            continue
        found.append(LineFinding(first_line + index, words.strip()[:2000]))
    return found
