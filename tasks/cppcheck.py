"""Cppcheck for C and C++: the data-flow bugs a compiler does not report (bounds, null
dereferences, leaks, uninitialised reads, division by zero, same-expression conditions), on a
lone file without its headers (cppcheck does not need them, unlike gcc).

Cppcheck reads files, so the text goes to a private directory in memory (``/dev/shm``) and is
removed at once. It is given no other file: every preprocessor line that could name one
(``#include``, ``__has_include``, ``#embed``, ``#pragma ... dependency``, ``_Pragma``; the word
anywhere in the logical line, continuations included) is blanked in the copy it reads, lines kept
in place. It executes nothing.

Severity: cppcheck's ``error`` and ``warning`` classes, and the style checks that name a likely
slip (the same expression on both sides, a condition repeated or contradicted), are likely
bugs (``warning``); the rest of style, performance and portability is ``hint``. What cppcheck
says about itself (an unknown macro, a configuration it gave up on) is no finding.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from schemas.socket import Severity
from tasks.linters import LinterError, LinterMissing, private_memory_dir, run_tool
from tasks.offsets import Offsets
from tasks.ruff import Diagnostic

#: Style checks that point at a slip rather than a taste (cppcheck's ids).
LIKELY_STYLE = frozenset({
    "duplicateExpression", "oppositeExpression", "duplicateCondition", "duplicateExpressionTernary",
    "identicalConditionAfterEarlyExit", "identicalInnerCondition", "oppositeInnerCondition",
    "selfAssignment", "incorrectLogicOperator", "badBitmaskCheck", "moduloAlwaysTrueFalse",
    "comparisonError", "duplicateAssignExpression", "sameIteratorExpression",
})
#: What cppcheck says about its own run, not the code.
ABOUT_ITSELF = frozenset({
    "unknownMacro", "internalAstError", "preprocessorErrorDirective",
    "missingInclude", "missingIncludeSystem", "checkersReport", "toomanyconfigs",
    "normalCheckLevelMaxBranches", "internalError", "cppcheckError", "noValidConfiguration",
    "unmatchedSuppression", "checkLevelNormal", "ConfigurationNotChecked", "templateRecursion",
    "valueFlowBailout", "valueFlowBailoutIncompleteVar", "autoNoType", "instantiationError",
    "unknownEvaluationOrder", "syntaxErrorNotAllowed",
})
#: Checks whose report says "either this condition is redundant or ...": on released code
#: mostly the former (14 on cJSON.c alone); and a parameter cleared before returning, an idiom.
NOISY = frozenset({"nullPointerRedundantCheck", "nullPointerArithmeticRedundantCheck",
                   "ctunullpointer", "uselessAssignmentPtrArg", "ctuuninitvar", "ctuArrayIndex"})
#: The rule of cppcheck's parse errors (see :func:`cppcheck_diagnostics`).
SYNTAX_ERROR = "cppcheck/syntaxError"
#: Any preprocessor way to name another file (see the module's docstring), and ``#error``
#: (in a lone file, mostly a check of its headers' versions or settings).
_NAMES_FILES = re.compile(r"\binclude(?:_next)?\b|has_include|\bembed\b|dependency|_Pragma|"
                          r"^\s*(?:#|%:)\s*error\b")
#: cppcheck's words for a macro it cannot see (a project header's): defined away and run again.
_UNKNOWN_MACRO = re.compile(r"If (\w+) is a macro")
MAX_MACRO_RUNS = 3
CPPCHECK_LANGUAGES = {"c": ("c", "document.c"), "cpp": ("c++", "document.cpp")}


def without_file_names(text: str) -> str:
    """The text with every logical line that could name a file blanked (its newlines kept)."""
    lines = text.split("\n")
    out: list[str] = []
    group: list[str] = []
    for line in lines:
        group.append(line)
        if line.endswith("\\"):
            continue
        logical = "".join(part[:-1] if part.endswith("\\") else part for part in group)
        out += [""] * len(group) if _NAMES_FILES.search(logical) else group
        group = []
    if group:
        joined = "".join(group)
        out += [""] * len(group) if _NAMES_FILES.search(joined) else group
    return "\n".join(out)


def cppcheck_diagnostics(xml: str, offsets: Offsets, source: str) -> list[Diagnostic]:
    """Cppcheck's ``--xml`` (version 2) report, the document's own locations only."""
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - cppcheck's own report, not user XML
    except ElementTree.ParseError as unreadable:
        raise LinterError(f"cppcheck's report could not be read ({unreadable})") from None
    found: list[Diagnostic] = []
    for error in root.iter("error"):
        rule = error.get("id", "")
        location = error.find("location")
        if rule in ABOUT_ITSELF or location is None or location.get("file") != source:
            continue
        kind = error.get("severity", "style")
        # A syntax error is cppcheck's parse of the text without its headers: on its own a hint
        # (6 on fmt's 16,677 clean lines); where tree-sitter's parse fails too, the engine
        # takes it as confirmation (SYNTAX_ERROR).
        severity: Severity = ("warning" if (kind in ("error", "warning") or rule in LIKELY_STYLE)
                              and rule not in NOISY and rule != "syntaxError" else "hint")
        at = offsets.from_line_byte(int(location.get("line", "1")),
                                    int(location.get("column", "1")))
        found.append(Diagnostic(f"cppcheck/{rule}", error.get("msg", ""), at, at, severity))
    return found


def unknown_macros(xml: str) -> list[str]:
    """The macros cppcheck stopped at (``unknownMacro``): a project header's, not here."""
    return _UNKNOWN_MACRO.findall(xml) if "unknownMacro" in xml else []


def run_cppcheck(text: str, language: str) -> tuple[list[Diagnostic], list[str]]:
    """Cppcheck's findings on ``text`` (``language``: ``c`` or ``cpp``), and the macros it was
    told to read as their arguments (a project header's ``API(type) name(...)``: without the
    header, cppcheck stops at the first such macro)."""
    binary = shutil.which("cppcheck")
    if binary is None:
        raise LinterMissing("cppcheck is not installed (`apt-get install -y cppcheck`, or "
                            "`make install`)")
    dialect, name = CPPCHECK_LANGUAGES[language]
    defined: list[str] = []
    with private_memory_dir("cppcheck") as private:
        (Path(private) / name).write_text(without_file_names(text), encoding="utf-8")
        for _ in range(MAX_MACRO_RUNS):
            argv = [binary, "--enable=warning,style,performance,portability", "--max-configs=1",
                    f"--language={dialect}", "--xml", "--quiet", "-j1",
                    *(f"-D{macro}(...)=__VA_ARGS__" for macro in defined), name]
            report = run_tool(argv, "cppcheck", cwd=private, stream="stderr",
                              cap_memory=True).decode(
                "utf-8", "replace")
            unknown = sorted(set(unknown_macros(report)) - set(defined))
            if not unknown:
                break
            defined += unknown
    return cppcheck_diagnostics(report, Offsets(text), name), defined
