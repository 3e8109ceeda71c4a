"""Ruff, run on a document's text (never on a file, never executing it), as findings and edits.

Ruff reads the text on stdin with ``--isolated`` (no project configuration decides what runs on
the server) and prints JSON: each diagnostic's rule, message, range and, for many rules, a fix
(edits with 1-based line/column positions, and whether applying it is safe).
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.errors import AssistantError
from schemas.socket import Severity, TextEdit
from tasks.offsets import Offsets

#: Rules that find bugs: pyflakes (undefined and unused names, bad comparisons), syntax errors,
#: comparisons to None/True, bugbear, pylint's errors and some of its warnings, asyncio misuse.
BUG_RULES = ("F", "E9", "E711", "E712", "E721", "B", "PLE", "PLW0120", "PLW0127", "PLW0128",
             "PLW0211", "PLW0602", "PLW0603", "PLW0711", "PLW1501", "PLW1508", "PLW2101",
             "RUF006", "RUF013", "RUF015", "RUF016", "RUF017")
#: Rules whose fixes are refactorings: newer syntax, simpler expressions and control flow,
#: comprehensions, performance idioms, simpler returns.
REFACTOR_RULES = ("UP", "SIM", "C4", "PERF", "RET", "PIE", "FURB", "RUF005", "RUF010", "RUF019")
#: Bug rules whose findings are style, not likely bugs (shown when asked for style): unused
#: imports, variables and loop variables, redefinitions of unused names, star imports,
#: placeholder-less f-strings, bugbear's opinions (``raise ... from``, ``zip(strict=)``,
#: ``getattr`` with a constant, ``warn`` without ``stacklevel``), ``global`` statements.
STYLE_RULES = ("F401", "F403", "F405", "F541", "F811", "F841", "B007", "B009", "B010",
               "B028", "B904", "B905", "PLW0602", "PLW0603", "RUF013")
#: Rules whose findings are certain errors (the rest are warnings).
ERROR_RULES = ("invalid-syntax", "E9", "F821", "F822", "F823", "F632", "F701", "F702", "F704",
               "F706", "F707", "F631", "PLE", "B002", "B018", "B015")
RUFF_TIMEOUT_S = 5.0


class RuffError(AssistantError, RuntimeError):
    """Ruff could not check the text (the message holds no code)."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    rule: str
    message: str
    start: int
    end: int
    severity: Severity
    #: The fix's edits (non-overlapping, against the checked text), its description, and whether
    #: ruff calls it safe.
    edits: tuple[TextEdit, ...] = ()
    fix_title: str = ""
    safe: bool = False


@functools.cache
def ruff_binary() -> str:
    from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

    return str(find_ruff_bin())


def run_ruff(text: str, rules: tuple[str, ...], filename: str = "document.py") -> list[Any]:
    """Ruff's JSON diagnostics for ``text`` with only ``rules`` selected."""
    argv = [ruff_binary(), "check", "--isolated", "--no-cache", "--output-format", "json",
            "--unsafe-fixes", "--preview", "--exit-zero", "--select", ",".join(rules),
            "--stdin-filename", filename, "-"]
    try:
        done = subprocess.run(argv, input=text.encode("utf-8"), capture_output=True,
                              timeout=RUFF_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RuffError(f"ruff did not finish within {RUFF_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise RuffError(f"ruff exited with status {done.returncode}")
    value = orjson.loads(done.stdout)
    if not isinstance(value, list):
        raise RuffError("ruff printed something other than a list of diagnostics")
    return value


def _edit(offsets: Offsets, raw: dict[str, Any]) -> TextEdit:
    start = offsets.from_line_column(raw["location"]["row"], raw["location"]["column"])
    end = offsets.from_line_column(raw["end_location"]["row"], raw["end_location"]["column"])
    return TextEdit(start, max(start, end), str(raw.get("content") or ""))


def diagnostics(raw: list[Any], offsets: Offsets) -> list[Diagnostic]:
    """Ruff's JSON as diagnostics with code-point offsets into the checked text."""
    found: list[Diagnostic] = []
    for item in raw:
        rule = str(item.get("code") or "invalid-syntax")
        start = offsets.from_line_column(item["location"]["row"], item["location"]["column"])
        end = offsets.from_line_column(item["end_location"]["row"],
                                       item["end_location"]["column"])
        severity: Severity = ("error" if rule.startswith(ERROR_RULES) else
                              "hint" if rule.startswith(STYLE_RULES) else "warning")
        fix = item.get("fix") or {}
        edits = tuple(sorted((_edit(offsets, e) for e in fix.get("edits") or ()),
                             key=lambda e: (e.start, e.end)))
        found.append(Diagnostic(rule, str(item.get("message") or rule), start, max(start, end),
                                severity, edits, str(fix.get("message") or ""),
                                fix.get("applicability") == "safe"))
    return found
