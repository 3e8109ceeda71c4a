"""The analyzers that run beside a language's compiler or linter for ``find_bugs``: a type
checker or a data-flow analyzer, each reporting likely bugs only (see each module).

mypy for Python, TypeScript 7's tsc for TypeScript and JavaScript, staticcheck for Go, cppcheck
for C and C++ (Rust's Clippy and Java's Error Prone run inside their compilers,
tasks/compilers.py). Each
is optional and independent: one missing, failing or too slow is named in the answer's note and
the others' findings still come.
"""

from __future__ import annotations

from collections.abc import Callable

from tasks.compilers import warm_go
from tasks.cppcheck import CPPCHECK_LANGUAGES, run_cppcheck
from tasks.errorprone import warm_errorprone
from tasks.linters import LinterError, LinterMissing, NotRun
from tasks.mypy import run_mypy, warm_mypy
from tasks.ruff import Diagnostic
from tasks.staticcheck import run_staticcheck, warm_staticcheck
from tasks.tsc import TSC_LANGUAGES, run_tsc

#: An analyzer: the text and its language in, its likely bugs and a note naming it out.
Analyzer = Callable[[str, str], tuple[list[Diagnostic], str]]


def _mypy(text: str, language: str) -> tuple[list[Diagnostic], str]:
    return run_mypy(text), "mypy"


def _tsc(text: str, language: str) -> tuple[list[Diagnostic], str]:
    return run_tsc(text, language), "tsc"


def _staticcheck(text: str, language: str) -> tuple[list[Diagnostic], str]:
    return run_staticcheck(text), "staticcheck"


def _cppcheck(text: str, language: str) -> tuple[list[Diagnostic], str]:
    found, macros = run_cppcheck(text, language)
    if macros:
        return found, (f"cppcheck (read {', '.join(macros)} as the arguments it is given: "
                       "the header that defines it is not here)")
    return found, "cppcheck"


ANALYZERS: dict[str, tuple[tuple[str, Analyzer], ...]] = {
    "python": (("mypy", _mypy),),
    "go": (("staticcheck", _staticcheck),),
    **{language: (("tsc", _tsc),) for language in TSC_LANGUAGES},
    **{language: (("cppcheck", _cppcheck),) for language in CPPCHECK_LANGUAGES},
}


def analyzed(text: str, language: str) -> tuple[list[Diagnostic], list[str]]:
    """Every analyzer of ``language`` on ``text``: their findings, and a note for each (what
    ran, or which one is missing or failed and why)."""
    found: list[Diagnostic] = []
    notes: list[str] = []
    for name, analyzer in ANALYZERS.get(language, ()):
        try:
            diagnostics, note = analyzer(text, language)
        except LinterMissing as missing:
            notes.append(f"{name} not run: {missing}")
            continue
        except NotRun as why:
            notes.append(str(why))
            continue
        except (LinterError, ValueError, OSError) as error:  # ValueError: unreadable output
            notes.append(f"{name} failed ({error})")
            continue
        found += diagnostics
        notes.append(note)
    return found, notes


def warm() -> dict[str, bool]:
    """Fill the caches that make the first runs slow (Go's standard library, compiled; its
    staticcheck facts; mypy's view of typeshed; Error Prone's JVM): at install and at the route's
    start, aside. Whether each worked (a missing tool leaves its language unwarmed, not broken)."""
    go = warm_go()
    return {"go vet": go, "staticcheck": go and warm_staticcheck(), "mypy": warm_mypy(),
            "Error Prone": warm_errorprone()}
