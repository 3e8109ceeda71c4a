"""The TypeScript compiler as a type checker for TypeScript and JavaScript (``checkJs``): the
likely bugs it proves on a lone file (a comparison that can never hold, a condition that is
always true, a call with the wrong number of arguments, a name nothing declares, unreachable
code, a constant reassigned).

TypeScript 7's native ``tsc`` (npm, pinned in infra/analyzers) runs on the file alone:
``noResolve`` keeps it from reading any other file (imports and ``/// <reference>`` are not
followed; what they name is ``any``), and no ``tsconfig.json`` is read (the file is named on the
command line). Type errors that may be the missing context's (a property of an imported type,
an assignment between types declared elsewhere) are left out: only the codes in
:data:`LIKELY_BUGS` are reported. The text goes to a private directory in memory and is removed
with the run; tsc emits nothing and executes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from schemas.socket import Severity
from tasks.linters import VENDOR_ANALYZERS, LinterMissing, private_memory_dir, run_tool
from tasks.offsets import Offsets
from tasks.ruff import Diagnostic

TSC_LANGUAGES = {"typescript": ".ts", "typescriptreact": ".tsx", "javascript": ".js",
                 "javascriptreact": ".jsx"}
#: tsc's codes for likely bugs that need no other file: no-overlap comparisons (2367), always
#: truthy or nullish conditions (2872, 2873, 2869), an uncalled function or unawaited promise
#: tested (2774, 2801), objects compared by reference (2839), a void expression tested (1345),
#: unreachable code (7027), a constant assigned (2588), a variable used before its declaration
#: (2448, 2454), duplicate declarations (2451), a comma operator's unused left side (2695),
#: operators on the wrong types (2365, 2362, 2363), a function that does not return the type
#: it declares (2366, 2355);
#: and in TypeScript only, a name nothing declares (2304, 2552: in JavaScript oxlint checks
#: names, and JSDoc types name much that is elsewhere) and the wrong number of arguments (2554,
#: 2555: in JavaScript a JSDoc ``@param`` makes a parameter required that callers omit).
LIKELY_BUGS = frozenset({2367, 2872, 2873, 2869, 2774, 2801, 2839, 1345, 7027, 2588, 2448,
                         2454, 2451, 2695, 2365, 2362, 2363, 2366, 2355})
TYPESCRIPT_ONLY = frozenset({2304, 2552, 2554, 2555})
TSC_TIMEOUT_S = 5.0
_LINE = re.compile(r"^document\.[jt]sx?\((\d+),(\d+)\): error TS(\d+): (.*)$")
_FLAGS = ("--noEmit", "--noResolve", "--skipLibCheck", "--pretty", "false", "--target",
          "es2022", "--lib", "es2023,dom,dom.iterable", "--module", "preserve", "--strict",
          "false", "--allowUnreachableCode", "false", "--jsx", "preserve", "--types", "")


def tsc_binary() -> str:
    """TypeScript 7's native compiler (``TSC_BIN`` overrides where ``make install`` put it)."""
    configured = os.environ.get("TSC_BIN")
    if configured and Path(configured).exists():
        return configured
    found = sorted((VENDOR_ANALYZERS / "node_modules" / "@typescript").glob(
        "typescript-*/lib/tsc"))
    if not found:
        raise LinterMissing("tsc (TypeScript 7) is not installed (`make install` puts it in "
                            ".stack/vendor/analyzers)")
    return str(found[0])


def tsc_diagnostics(output: str, offsets: Offsets, language: str, every: bool = False
                    ) -> list[Diagnostic]:
    """tsc's ``--pretty false`` lines (``file(line,column): error TSn: message``; a message's
    further lines are indented and left out), the likely bugs only (``every``: all errors,
    for the evaluation's count of what a type checker can see)."""
    wanted = LIKELY_BUGS | (TYPESCRIPT_ONLY if language.startswith("typescript") else set())
    severity: Severity = "error" if language.startswith("typescript") else "warning"
    found: list[Diagnostic] = []
    for line in output.splitlines():
        match = _LINE.match(line)
        if match is None or (int(match[3]) not in wanted and not every):
            continue
        at = offsets.from_line_column(int(match[1]), int(match[2]))
        found.append(Diagnostic(f"TS{match[3]}", match[4], at, at, severity))
    return found


def run_tsc(text: str, language: str, every: bool = False) -> list[Diagnostic]:
    """tsc's likely bugs in ``text`` (see the module's docstring; ``every``: all errors)."""
    binary = tsc_binary()
    extension = TSC_LANGUAGES[language]
    javascript = ("--allowJs", "--checkJs") if language.startswith("javascript") else ()
    with private_memory_dir("tsc") as private:
        name = f"document{extension}"
        (Path(private) / name).write_text(text, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": private,
               "LANG": "C.UTF-8", "GOMEMLIMIT": "1GiB"}  # tsc 7 is a Go program
        output = run_tool([binary, *_FLAGS, *javascript, name], "tsc", cwd=private, env=env,
                          allow_silence=True, timeout_s=TSC_TIMEOUT_S)
    return tsc_diagnostics(output.decode("utf-8", "replace"), Offsets(text), language, every)
