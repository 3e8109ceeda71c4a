"""Staticcheck for Go: the bugs ``go vet`` does not look for (an expression compared with
itself, a result of a pure function thrown away, ``strings.Replace`` with ``n == 0``, a sleep
of nanoseconds, an infinite recursion, a value assigned and never read).

It runs as ``go vet`` does (tasks/compilers.py): the file alone as a package in a private
directory in memory, offline, with a copy of hard links of the warm build cache; and its own
analysis cache likewise (a copy of a warm one holding the standard library's facts), so what it
derives from the user's file goes with the run. It needs a package that type-checks: a file
that uses names declared in other files of its package, or imports outside the standard
library, is not analysed, and the note says so.

Severity: its ``SA`` checks (bugs) are likely bugs, except deprecations (``SA1019``); the
simple, style and quick-fix checks (``S``, ``ST``, ``QF``) are hints.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from schemas.socket import Severity
from tasks.compilers import (
    WARM_GO,
    go_environment,
    go_imports,
    outside_std,
    private_go_cache,
    run_go_cache,
)
from tasks.linters import (
    MEMORY_DIR,
    LinterError,
    LinterMissing,
    NotRun,
    is_private_dir,
    json_lines,
    private_memory_dir,
    run_tool,
)
from tasks.offsets import Offsets
from tasks.ruff import Diagnostic

#: Where ``make install`` builds it (``go install``, pinned); ``STATICCHECK_BIN`` overrides it.
VENDOR_STATICCHECK = (Path(__file__).resolve().parent.parent / ".stack" / "vendor" / "bin"
                      / "staticcheck")
STATICCHECK_VERSION = "v0.8.2"
#: The warm analysis cache (the standard library's facts, computed once).
WARM_CACHE = MEMORY_DIR / "code-assistant-staticcheck"
STATICCHECK_TIMEOUT_S = 5.0
NOT_LIKELY = frozenset({"SA1019"})


def staticcheck_binary() -> str:
    configured = os.environ.get("STATICCHECK_BIN")
    if configured and Path(configured).exists():
        return configured
    if VENDOR_STATICCHECK.exists():
        return str(VENDOR_STATICCHECK)
    found = shutil.which("staticcheck")
    if found is None:
        raise LinterMissing("staticcheck is not installed (`make install` builds it into "
                            ".stack/vendor/bin)")
    return found


def staticcheck_diagnostics(output: str, offsets: Offsets) -> list[Diagnostic]:
    """Staticcheck's ``-f json`` lines for the document (``compile`` errors are not its
    findings: the package did not type-check)."""
    found: list[Diagnostic] = []
    for item in json_lines(output):
        code = str(item.get("code") or "")
        location = item.get("location") or {}
        if code == "compile" or not str(location.get("file", "")).endswith("/document.go"):
            continue
        start = offsets.from_line_byte(int(location.get("line", 1)),
                                       int(location.get("column", 1)))
        end_at = item.get("end") or {}
        end = (offsets.from_line_byte(int(end_at["line"]), int(end_at.get("column", 1)))
               if end_at.get("line") else start)
        severity: Severity = ("warning" if code.startswith("SA") and code not in NOT_LIKELY
                              else "hint")
        found.append(Diagnostic(f"staticcheck/{code}", str(item.get("message") or ""), start,
                                max(start, end), severity))
    return found


def _checked_cache() -> Path | None:
    if not WARM_CACHE.is_dir():
        return None
    if not is_private_dir(WARM_CACHE):
        raise LinterError(f"{WARM_CACHE} is not a private directory of this user: remove it")
    return WARM_CACHE


def _run(text: str, binary: str, warming: bool, timeout_s: float) -> str:
    with private_memory_dir("staticcheck") as private:
        root = Path(private)
        (root / "document.go").write_text(text, encoding="utf-8")
        (root / "go.mod").write_text("module document\n\ngo 1.21\n", encoding="utf-8")
        if warming:
            go_cache = private_go_cache()
            WARM_CACHE.mkdir(mode=0o700, exist_ok=True)
            analysis = _checked_cache() or WARM_CACHE
        else:
            go_cache = run_go_cache(root)
            analysis = root / "staticcheck-cache"
            warm = _checked_cache()
            if warm is not None:
                shutil.copytree(warm, analysis, copy_function=os.link)
        env = go_environment(root, go_cache, {"STATICCHECK_CACHE": str(analysis),
                                               "XDG_CACHE_HOME": str(root / "cache")})
        output = run_tool([binary, "-f", "json", "-tests=false", "."], "staticcheck", cwd=private,
                          env=env, allow_silence=True, timeout_s=timeout_s)
    return output.decode("utf-8", "replace")


def run_staticcheck(text: str) -> list[Diagnostic]:
    """Staticcheck's findings on a Go document (see the module's docstring)."""
    outside = sorted({p for p in go_imports(text) if outside_std(p)})
    if outside:
        raise NotRun("staticcheck not run: the file imports packages outside the "
                          f"standard library ({', '.join(outside[:3])})")
    output = _run(text, staticcheck_binary(), warming=False, timeout_s=STATICCHECK_TIMEOUT_S)
    if '"code":"compile"' in output:
        raise NotRun("staticcheck not run: the file does not type-check alone (an error, or "
                     "names declared in other files of its package)")
    return staticcheck_diagnostics(output, Offsets(text))


def warm_staticcheck(timeout_s: float = 300.0) -> bool:
    """Fill :data:`WARM_CACHE` with the facts of the standard library packages most files
    import (:data:`tasks.compilers.WARM_GO`); whether it worked."""
    imports = "\n".join(f'\t_ "{name}"' for name in WARM_GO)
    try:
        _run(f"package warm\n\nimport (\n{imports}\n)\n", staticcheck_binary(), warming=True,
             timeout_s=timeout_s)
    except (LinterError, OSError):
        return False
    return True
