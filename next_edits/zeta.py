"""The prompt and answer of Zed's open next-edit model, Zeta (``zed-industries/zeta`` on Hugging
Face), so a model trained on that format can be served through Triton's vLLM backend as the
``next_edit`` route.

Pure. The prompt is Zeta's: an instruction, the user's recent edits as unified-diff hunks
(``User edited "<name>":`` and a ```` ```diff ```` block), then an excerpt of the document in a
fence named by its path, with an *editable region* between ``<|editable_region_start|>`` and
``<|editable_region_end|>`` (each on its own line) and ``<|user_cursor_is_here|>`` at the cursor,
``<|start_of_file|>`` when the excerpt starts at the top. The model answers with the editable
region rewritten between the same two markers; :func:`rewritten_region` takes it out, and
:func:`changes` turns old and new region into the few edits that differ (a rewrite sent whole
would replace text the user is looking at with an equal copy, and race their typing).

The region grows by whole lines around the cursor within a budget of tokens, guessed as Zed
does (3 bytes a token): Zed first widens it to the largest syntax node that fits; here it is
lines only (the model reads the same markers either way).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from next_edits.engine import MAX_CHANGES, Suggestion
from next_edits.region import changed_region
from schemas.socket import TextEdit

CURSOR = "<|user_cursor_is_here|>"
START_OF_FILE = "<|start_of_file|>"
REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
INSTRUCTION = ("You are a code completion assistant and your task is to analyze user edits and "
               "then rewrite an excerpt that the user provides, suggesting the appropriate edits "
               "within the excerpt, taking into account the cursor location.")
#: Zed's budgets (tokens, at 3 bytes each): the rewritable region, the context around it, the
#: edit history.
REWRITE_TOKENS = 350
CONTEXT_TOKENS = 150
EVENT_TOKENS = 500
_WORDS = re.compile(r"\w+|\s+|[^\w\s]")
#: The rule name of the model's suggestions, and their confidence: not measured (no next-edit
#: model can be served on the machines this was built on), so 0.
RULE = "model"
UNMEASURED = 0.0


def guess_tokens(text: str) -> int:
    return len(text.encode("utf-8")) // 3


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The excerpt as the prompt shows it, and the editable region's code points in the text."""

    prompt: str
    start: int
    end: int


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's text, without its line break."""
    spans, at = [], 0
    for line in text.split("\n"):
        spans.append((at, at + len(line)))
        at += len(line) + 1
    return spans


def _expand(spans: list[tuple[int, int]], text: str, first: int, last: int, budget: int
            ) -> tuple[int, int]:
    """Whole lines ``first..last`` grown a line above and below at a time while the budget
    lasts (Zed's ``expand_range``)."""
    while True:
        grew = False
        if budget > 0 and first > 0:
            first -= 1
            budget -= guess_tokens(text[spans[first][0]:spans[first][1]])
            grew = True
        if budget > 0 and last < len(spans) - 1:
            last += 1
            budget -= guess_tokens(text[spans[last][0]:spans[last][1]])
            grew = True
        if not grew:
            return first, last


def excerpt(text: str, cursor: int, path: str, rewrite_tokens: int = REWRITE_TOKENS,
            context_tokens: int = CONTEXT_TOKENS) -> Excerpt:
    """The excerpt around ``cursor`` (a code-point offset in ``text``)."""
    spans = _lines(text)
    row = next(i for i, (start, end) in enumerate(spans) if start <= cursor <= end)
    line_tokens = guess_tokens(text[spans[row][0]:spans[row][1]])
    first, last = _expand(spans, text, row, row, max(0, rewrite_tokens - line_tokens))
    top, bottom = _expand(spans, text, first, last, context_tokens)
    start, end = spans[first][0], spans[last][1]
    parts = [f"```{path}\n"]
    if top == 0:
        parts.append(f"{START_OF_FILE}\n")
    parts += [text[spans[top][0]:start], f"{REGION_START}\n", text[start:cursor], CURSOR,
              text[cursor:end], f"\n{REGION_END}", text[end:spans[bottom][1]], "\n```"]
    return Excerpt("".join(parts), start, end)


def edit_event(name: str, before: str, after: str, budget: int = EVENT_TOKENS) -> str:
    """The user's edit as Zeta's history shows one (``User edited "<name>":``, the file's name
    quoted as in the edit histories Zeta was trained on, then the unified-diff hunks without a
    file header), whole hunks kept while they fit ``budget`` tokens; empty when nothing changed
    or not even the first hunk fits."""
    lines = list(difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=3))[2:]
    hunks: list[list[str]] = []
    for line in lines:
        if line.startswith("@@") or not hunks:
            hunks.append([])
        hunks[-1].append(line)
    kept: list[str] = []
    for hunk in hunks:
        if guess_tokens("\n".join(kept + hunk)) > budget:
            break
        kept += hunk
    if not kept:
        return ""
    return f'User edited "{name}":\n```diff\n' + "\n".join(kept) + "\n```"


def prompt(events: str, shown: Excerpt) -> str:
    """The whole prompt (the model answers after ``### Response:``)."""
    return (f"### Instruction:\n{INSTRUCTION}\n\n### User Edits:\n\n{events}\n\n"
            f"### User Excerpt:\n\n{shown.prompt}\n\n### Response:\n\n")


def rewritten_region(output: str) -> str | None:
    """The editable region as the model rewrote it: what lies between the line after its one
    start marker and the line break before its one end marker (the cursor marker removed);
    ``None`` for an answer that is not in the format."""
    content = output.replace(CURSOR, "")
    if content.count(REGION_START) != 1 or content.count(REGION_END) != 1 \
            or content.count(START_OF_FILE) > 1:
        return None
    content = content[content.index(REGION_START):]
    newline = content.find("\n")
    if newline < 0:
        return None
    content = content[newline + 1:]
    end = content.rfind(f"\n{REGION_END}")
    if end < 0:
        return None
    return content[:end]


def changes(old: str, new: str, offset: int) -> tuple[TextEdit, ...]:
    """The edits turning ``old`` (the region, at ``offset`` of the document) into ``new``: words,
    spaces and punctuation aligned, each run that differs one edit, trimmed of what it shares
    with the old text at its ends."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    starts = [0]
    for token in a:
        starts.append(starts[-1] + len(token))
    found: list[TextEdit] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        removed, added = old[starts[i1]:starts[i2]], "".join(b[j1:j2])
        head = 0
        while head < min(len(removed), len(added)) and removed[head] == added[head]:
            head += 1
        tail = 0
        while tail < min(len(removed), len(added)) - head \
                and removed[-1 - tail] == added[-1 - tail]:
            tail += 1
        found.append(TextEdit(offset + starts[i1] + head, offset + starts[i2] - tail,
                              added[head:len(added) - tail]))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Ask:
    """What the model is asked about one pause: the prompt, and where its region lies."""

    prompt: str
    shown: Excerpt


def ask(before: str, after: str, path: str) -> Ask | None:
    """The prompt for the pause that took ``before`` to ``after`` (the cursor where the edit
    ended); ``None`` when nothing changed."""
    region = changed_region(before, after)
    if region is None:
        return None
    shown = excerpt(after, region.after_end, path)
    return Ask(prompt(edit_event(path, before, after), shown), shown)


def suggestion(output: str, after: str, asked: Ask) -> Suggestion | None:
    """The model's answer as a suggestion on ``after``: ``None`` when it is not in the format
    (the caller counts it), when it changes nothing, or when it changes too much to show."""
    new = rewritten_region(output)
    if new is None:
        return None
    found = changes(after[asked.shown.start:asked.shown.end], new, asked.shown.start)
    if not found or len(found) > MAX_CHANGES:
        return None
    line = after.count("\n", 0, found[0].start) + 1
    label = f"{len(found)} change{'s' if len(found) > 1 else ''} from line {line} (model)"
    return Suggestion(RULE, label, found, UNMEASURED)
