"""Infilling tasks cut from held-out files, the same for every system compared (pure, seeded).

* ``line``: the cursor is inside a line of code; the rest of that line is hidden.
* ``block``: the cursor is on a new line right after a line that opens a block (``:`` in
  indentation languages, ``{`` in brace languages), indented like the block's first line; the
  block's body (up to eight lines) is hidden.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from corpus.files import SourceFile

MAX_BODY_LINES = 8
INDENT_LANGUAGES = frozenset({"python"})


@dataclass(frozen=True, slots=True)
class Task:
    kind: str  # line | block
    language: str
    path: str
    prefix: str
    suffix: str
    target: str
    #: Other files' context, as the worker would send it (see ``open_files``).
    context: str = ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def line_task(file: SourceFile, rng: random.Random) -> Task | None:
    lines = file.text.split("\n")
    candidates = [i for i, line in enumerate(lines) if len(line.strip()) >= 4]
    if not candidates:
        return None
    number = rng.choice(candidates)
    line = lines[number]
    start = sum(len(x) + 1 for x in lines[:number])
    content = line.rstrip()
    cursor = rng.randrange(_indent(line) + 1, len(content))
    prefix = file.text[:start + cursor]
    target = content[cursor:]
    suffix = file.text[start + len(content):]
    return Task("line", file.language, file.path, prefix, suffix, target)


def block_task(file: SourceFile, rng: random.Random) -> Task | None:
    lines = file.text.split("\n")
    opener = ":" if file.language in INDENT_LANGUAGES else "{"
    candidates = []
    for i, line in enumerate(lines[:-1]):
        if not line.rstrip().endswith(opener):
            continue
        body_start = i + 1
        if not lines[body_start].strip() or _indent(lines[body_start]) <= _indent(line):
            continue
        end = body_start
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > _indent(line)):
            end += 1
        while end > body_start and not lines[end - 1].strip():
            end -= 1
        if end - body_start <= MAX_BODY_LINES:
            candidates.append((i, body_start, end))
    if not candidates:
        return None
    _, body_start, end = rng.choice(candidates)
    head = "\n".join(lines[:body_start]) + "\n"
    indent = lines[body_start][:_indent(lines[body_start])]
    body = "\n".join(lines[body_start:end])
    return Task("block", file.language, file.path, head + indent, "\n" + "\n".join(lines[end:]),
                body[len(indent):])


def build(files: list[SourceFile], kind: str, count: int, seed: int) -> list[Task]:
    """``count`` tasks of ``kind``, at most one per file, from files in a seeded order."""
    rng = random.Random(seed)  # noqa: S311 - reproducible tasks, not secrets
    order = list(files)
    rng.shuffle(order)
    make = line_task if kind == "line" else block_task
    tasks: list[Task] = []
    for file in order:
        if len(tasks) >= count:
            break
        if not file.text.strip():
            continue
        task = make(file, rng)
        if task is not None and task.target.strip():
            tasks.append(task)
    return tasks
