"""Context from the session's other open documents: similar windows and imported signatures.

Pure. What a developer has open beside the file is the best hint about the names and idioms the
next line uses (Copilot's "neighboring tabs"): each other document of the same language is cut
into windows of ``WINDOW_LINES`` lines, and the windows most like the lines just above the
cursor (Jaccard similarity of their identifier sets) are kept within a character budget; the
definitions of documents the file imports come first. The result is written as comments of the
language, so the model reads it as ordinary code comments (``render``).

The query is the complete lines above the cursor, not the line being typed, so the context stays
the same while the developer types and the server's cached prompt states are reused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

WINDOW_LINES = 20
WINDOW_STRIDE = 10
QUERY_LINES = 20
MIN_SIMILARITY = 0.15
BUDGET_CHARS = 700
#: A window cut shorter than this to fit the budget is left out.
MIN_WINDOW_CHARS = 80
SIGNATURE_CHARS = 300
MAX_SIGNATURES = 12
#: Only the start of a very large document is indexed (bounded work per document version).
MAX_CHARS = 100_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_IMPORT = re.compile(r"^\s*(?:import|from|#\s*include|use|require|using|open)\b.*$|"
                     r"\brequire\(.*\)|\bimport\(.*\)", re.MULTILINE)
_DEFINITION = re.compile(
    r"^\s*(?:export\s+|pub(?:\(\w+\))?\s+|public\s+|async\s+|static\s+|default\s+)*"
    r"(?:def|class|function|fn|func|interface|struct|trait|enum|type|object)\s+\w")


@dataclass(frozen=True, slots=True)
class Window:
    """Lines of one document and their identifiers."""

    uri: str
    text: str
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One other open document, cut into windows once per version."""

    uri: str
    windows: tuple[Window, ...]
    signatures: tuple[str, ...]

    @property
    def module(self) -> str:
        return PurePosixPath(self.uri.rsplit("/", 1)[-1]).stem


def names(text: str) -> frozenset[str]:
    return frozenset(_IDENTIFIER.findall(text))


def index(uri: str, text: str) -> Neighbour:
    """The windows and definition lines of one document (computed once per version)."""
    lines = text[:MAX_CHARS].split("\n")
    windows = []
    for start in range(0, max(1, len(lines) - WINDOW_LINES + WINDOW_STRIDE), WINDOW_STRIDE):
        chunk = "\n".join(lines[start:start + WINDOW_LINES]).strip("\n")
        if chunk.strip():
            windows.append(Window(uri, chunk, names(chunk)))
    signatures = tuple(line.rstrip() for line in lines if _DEFINITION.match(line))
    return Neighbour(uri, tuple(windows), signatures[:MAX_SIGNATURES])


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def query(prefix: str, lines: int = QUERY_LINES) -> frozenset[str]:
    """Identifiers of the complete lines just above the cursor."""
    complete = prefix[:prefix.rfind("\n") + 1]
    return names("\n".join(complete.split("\n")[-lines - 1:]))


def imported(prefix: str, neighbours: Sequence[Neighbour]) -> list[Neighbour]:
    """The neighbours whose module name an import line of ``prefix`` mentions (complete lines
    only: typing an import does not change the context until the line is done)."""
    complete = prefix[:prefix.rfind("\n") + 1]
    mentioned = names(" ".join(m.group(0) for m in _IMPORT.finditer(complete)))
    return [n for n in neighbours if n.module in mentioned and n.signatures]


def choose(prefix: str, neighbours: Sequence[Neighbour], budget: int = BUDGET_CHARS) -> list[Window]:
    """Signatures of imported neighbours, then the most similar windows, within ``budget``."""
    chosen: list[Window] = []
    used = 0
    for neighbour in imported(prefix, neighbours):
        text = "\n".join(neighbour.signatures)[:SIGNATURE_CHARS]
        if used + len(text) <= budget:
            chosen.append(Window(neighbour.uri, text, frozenset()))
            used += len(text)
    wanted = query(prefix)
    if not wanted:
        return chosen
    scored = []
    for neighbour in neighbours:
        for order, window in enumerate(neighbour.windows):
            common = len(wanted & window.names)
            score = common / (len(wanted) + len(window.names) - common) if common else 0.0
            if score >= MIN_SIMILARITY:
                scored.append((-score, order, window.uri, window))
    scored.sort(key=lambda item: item[:3])
    for _, _, _, window in scored:
        room = budget - used
        text = window.text if len(window.text) <= room else \
            window.text[:window.text.rfind("\n", 0, room) + 1].rstrip("\n")
        if text and (text is window.text or len(text) >= MIN_WINDOW_CHARS):  # cut at a line end
            chosen.append(Window(window.uri, text, window.names))
            used += len(text)
    return chosen


def render(windows: Sequence[Window], comment: str | None) -> str:
    """The chosen windows as comment lines: ``# From utils.py:`` then each line commented."""
    if not windows or not comment:
        return ""
    out: list[str] = []
    for window in windows:
        out.append(f"{comment} From {window.uri.rsplit('/', 1)[-1]}:")
        out.extend(f"{comment} {line}".rstrip() for line in window.text.split("\n"))
    return "\n".join(out) + "\n"
