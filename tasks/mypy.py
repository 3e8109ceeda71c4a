"""mypy on a Python document: the type checker's likely bugs (a missing return, a call with the
wrong arguments, an equality that can never hold, a coroutine never awaited), on the lone file.

The file is checked alone: its imports are not followed (what they name is ``Any``), and a
relative import gets empty packages above the file so that it is no error. What mypy infers
from the standard library's stubs is exact; what it would need another file of the project for
is not there, so only the codes in :data:`LIKELY_BUGS` are reported (other type errors may be
the missing context's, and are left out). Untyped functions are checked too
(``--check-untyped-defs``), as a reviewer reads them.

The text goes to a private directory in memory (``/dev/shm``), removed with the run; so does
mypy's cache, a copy of a warm one that holds the standard library only (built once, from a file
importing the modules most files import). mypy reads no configuration (none is in the directory
or its ``HOME``) and loads no plugin, so it executes nothing of the user's. It runs in a resident
helper process (``tasks/mypy_resident.py``), one check at a time: a new mypy process costs about
190 ms before it reads a line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

from tasks.linters import (
    MEMORY_DIR,
    LinterError,
    LinterMissing,
    is_private_dir,
    json_lines,
    limit_memory,
    private_memory_dir,
    run_tool,
)
from tasks.offsets import Offsets
from tasks.resident import Resident
from tasks.ruff import Diagnostic

#: mypy's error codes for likely bugs on a lone file (see the module's docstring), some only in
#: the words that proved precise on released code (:func:`_likely`).
LIKELY_BUGS = frozenset({
    "return", "call-arg", "comparison-overlap", "truthy-function", "func-returns-value",
    "unused-coroutine", "str-bytes-safe", "await-not-async", "attr-defined", "operator",
    "top-level-await", "truthy-iterable",
})
MYPY_TIMEOUT_S = 10.0
#: Checks the resident helper serves before it is replaced (what mypy keeps between runs grows).
RESIDENT_CHECKS = 500
#: The standard library modules the warm cache holds (besides builtins and what they import).
WARM_IMPORTS = (
    "abc", "argparse", "asyncio", "base64", "collections", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "enum", "functools", "glob", "hashlib", "http.client",
    "importlib", "inspect", "io", "itertools", "json", "logging", "math", "operator", "os",
    "pathlib", "pickle", "queue", "random", "re", "shlex", "shutil", "signal", "socket",
    "sqlite3", "string", "struct", "subprocess", "sys", "tempfile", "textwrap", "threading",
    "time", "traceback", "types", "typing", "unittest", "urllib.parse", "uuid", "warnings",
    "weakref", "zipfile",
)
RESIDENT = Path(__file__).with_name("mypy_resident.py")
#: The warm cache (the standard library's stubs, analysed once).
WARM_CACHE = MEMORY_DIR / "code-assistant-mypycache"
_FLAGS = ("--follow-imports=skip", "--ignore-missing-imports", "--no-site-packages",
          "--check-untyped-defs", "--strict-equality", "--show-error-codes",
          "--no-error-summary", "--show-column-numbers", "--show-error-end", "-O", "json")
_RELATIVE = re.compile(r"^\s*from\s+(\.+)", re.MULTILINE)


def mypy_binary() -> str:
    """The ``mypy`` of this interpreter's environment (the server's, never the user's)."""
    package = importlib.util.find_spec("mypy")
    # The environment holding the package: .../lib/python3.X/site-packages/mypy/__init__.py.
    beside = (Path(package.origin).parents[4] / "bin" if package and package.origin else None)
    found = (shutil.which("mypy", path=sysconfig.get_path("scripts"))
             or (shutil.which("mypy", path=str(beside)) if beside else None)
             or shutil.which("mypy"))
    if found is None:
        raise LinterMissing("mypy is not installed (`make install`)")
    return found


def relative_depth(text: str) -> int:
    """How many packages a relative import climbs (``from ..x import y``: 2)."""
    return max((len(dots) for dots in _RELATIVE.findall(text)), default=0)


def mypy_diagnostics(output: str, text: str, source: str, every: bool = False
                     ) -> list[Diagnostic]:
    """mypy's ``-O json`` lines, the likely bugs in the document only (``every``: all its
    errors, for the evaluation's count of what a type checker can see)."""
    offsets = Offsets(text)
    lines = text.splitlines()
    found: list[Diagnostic] = []
    for item in json_lines(output):
        code = str(item.get("code") or "")
        message = str(item.get("message") or "")
        if item.get("file") != source or item.get("severity") != "error":
            continue
        start = offsets.from_line_column(int(item["line"]), int(item.get("column", 0)) + 1)
        number = int(item["line"])
        if not every and not _likely(code, message,
                                     lines[number - 1] if 0 < number <= len(lines) else ""):
            continue
        end_line = int(item.get("end_line") or item["line"])
        end = offsets.from_line_column(end_line, int(item.get("end_column") or 0) + 1)
        if item.get("hint"):
            message += f" ({item['hint']})"
        found.append(Diagnostic(f"mypy/{code}", message, start, max(start, end), "warning"))
    return found


def _likely(code: str, message: str, line: str) -> bool:
    """Whether a mypy error is a likely bug on a lone file. A missing return, not other return
    errors; a module attribute only when misspelt (``os.pth``, "maybe path"; not a name that
    shadows a module, nor one another platform has); an operator only on types it cannot take
    (not "not callable": a name reused for another type); a function tested for truth only in
    a condition (not ``x and f or g``, the old conditional expression)."""
    if code not in LIKELY_BUGS:
        return False
    if code == "return":
        return message == "Missing return statement"
    if code == "attr-defined":
        return message.startswith("Module has no attribute") and '; maybe "' in message
    if code == "operator":
        return message.startswith(("Unsupported operand types", "Unsupported left operand"))
    if code == "truthy-function":
        return re.match(r"\s*(?:if|elif|while|assert)\b", line) is not None
    return True


def _environment(home: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _helper_command() -> tuple[list[str], dict[str, str]]:
    python = Path(mypy_binary()).with_name("python")
    interpreter = str(python) if python.exists() else sys.executable
    # -I: neither the script's directory (this package's mypy.py) nor the user's site-packages
    # on the path; HOME where no configuration can be.
    return [interpreter, "-I", str(RESIDENT)], _environment("/nonexistent")


_RESIDENT = Resident("mypy", _helper_command, RESIDENT_CHECKS, preexec=limit_memory)


def _warm_cache(binary: str) -> Path | None:
    """The standard library's cache, made on first use (in a private directory, then moved in
    place, so a concurrent run never sees half of it); ``None`` if it cannot be made."""
    if WARM_CACHE.is_dir():
        if not is_private_dir(WARM_CACHE):
            raise LinterError(f"{WARM_CACHE} is not a private directory of this user: remove it")
        return WARM_CACHE
    with private_memory_dir("mypy") as private:
        (Path(private) / "warm.py").write_text(
            "".join(f"import {name}\n" for name in WARM_IMPORTS), encoding="utf-8")
        cache = Path(private) / "cache"
        run_tool([binary, *_FLAGS, "--cache-dir", str(cache), "warm.py"], "mypy", cwd=private,
                 allow_silence=True, timeout_s=120.0, env=_environment(private),
                 cap_memory=True)
        os.chmod(cache, 0o700)
        with contextlib.suppress(OSError):  # another run made it first
            cache.rename(WARM_CACHE)
    return WARM_CACHE if WARM_CACHE.is_dir() else None


def warm_mypy() -> bool:
    """Make :data:`WARM_CACHE` and start the resident helper with one check of an empty file
    now, not in the first request (its start was that request's p99: 515 ms); whether both
    worked."""
    try:
        if _warm_cache(mypy_binary()) is None:
            return False
        run_mypy("")
    except (LinterError, OSError):
        return False
    return True


def run_mypy(text: str, every: bool = False) -> list[Diagnostic]:
    """mypy's likely bugs in ``text`` (see the module's docstring; ``every``: all errors)."""
    binary = mypy_binary()
    warm = _warm_cache(binary)
    with private_memory_dir("mypy") as private:
        root = Path(private)
        package = root
        for level in range(relative_depth(text)):
            package = package / f"package{level}"
            package.mkdir()
            (package / "__init__.py").write_text("", encoding="utf-8")
        source = package / "document.py"
        source.write_text(text, encoding="utf-8")
        cache = root / "cache"
        if warm is not None:
            shutil.copytree(warm, cache)
        name = str(source.relative_to(root))
        answer = _RESIDENT.ask({"argv": [*_FLAGS, "--cache-dir", str(cache), name], "cwd": private},
                               MYPY_TIMEOUT_S)
    if answer.get("error"):
        raise LinterError(f"mypy failed: {str(answer['error'])[:200]}")
    output = str(answer.get("stdout", ""))
    return mypy_diagnostics(output, text, name, every)
