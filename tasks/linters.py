"""Linters for languages other than Python, run on the document's text (never executing it):
oxlint for JavaScript and TypeScript, ShellCheck for shell scripts. Each is optional: without
it a language gets syntax errors only, and the answer says which linter to install.

ShellCheck reads the text from stdin. oxlint reads files only: the text is written to a
private directory in ``/dev/shm`` (memory, mode 0700, never a disk), linted, and removed at
once, so it is never at rest.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import AssistantError
from schemas.socket import Severity, TextEdit
from tasks.offsets import Offsets
from tasks.ruff import Diagnostic

LINT_TIMEOUT_S = 5.0
OXLINT_LANGUAGES = {"javascript": ".js", "javascriptreact": ".jsx", "typescript": ".ts",
                    "typescriptreact": ".tsx"}
SHELL_LANGUAGES = frozenset({"shellscript"})
#: Where ``make install`` puts oxlint (infra/install.py); ``OXLINT_BIN`` overrides it.
VENDOR_ANALYZERS = Path(__file__).resolve().parent.parent / ".stack" / "vendor" / "analyzers"
VENDOR_OXLINT = VENDOR_ANALYZERS / "node_modules" / ".bin" / "oxlint"
#: A memory file system: the private directory (mkdtemp: mode 0700, unguessable) lives in RAM.
MEMORY_DIR = Path("/dev/shm")  # noqa: S108 - see above
LINT_PREFIX = "code-assistant-lint-"
#: ShellCheck's levels: its errors and warnings are likely bugs, its notes and style are hints
#: (on request), as are the warnings below.
_SHELLCHECK_LEVELS: dict[str, Severity] = {"error": "error", "warning": "warning",
                                           "info": "hint", "style": "hint"}
#: Warnings that on released scripts (this machine's /usr/bin: 61 likely bugs per 1,000 lines
#: before, 4.4 with the first four) are choices, not slips: another shell's syntax in a `sh`
#: script (SC3xxx), an unused variable (SC2034, often read by a sourcing script), `[ p -a q ]`
#: (SC2166), word splitting of a command's output (SC2046, mostly meant), a multi-line string
#: (SC1078), a trap expanded when set (SC2064, usually meant), `local x=$(...)` (SC2155),
#: `var= cmd` (SC1007), signals by number (SC2172), `ls | grep` (SC2010), `cd` without `||
#: exit` (SC2164), an unquoted grep pattern (SC2062), `var=cmd` (SC2209).
SHELLCHECK_STYLE = frozenset({2034, 2166, 2046, 1078, 2064, 2155, 1007, 2172, 2010, 2164, 2062,
                              2209})


class LinterMissing(AssistantError, RuntimeError):
    """The language's linter is not installed (the message says how to install it)."""


class LinterError(AssistantError, RuntimeError):
    """A linter failed on the text (the message holds no code)."""


class NotRun(LinterError):
    """The analyzer cannot check this text alone (the message says why): no failure."""


@functools.cache
def oxlint_binary() -> str | None:
    configured = os.environ.get("OXLINT_BIN")
    if configured:
        return configured if Path(configured).exists() else None
    if VENDOR_OXLINT.exists():
        return str(VENDOR_OXLINT)
    return shutil.which("oxlint")


#: Address space an analyzer may take (the Go-built ones, tsc and staticcheck, reserve far
#: more than they use: they get ``GOMEMLIMIT`` instead).
ANALYZER_MEMORY_BYTES = 2 * 1024**3


def limit_memory() -> None:
    """In the child, before it runs: at most :data:`ANALYZER_MEMORY_BYTES` of address space."""
    resource.setrlimit(resource.RLIMIT_AS, (ANALYZER_MEMORY_BYTES, ANALYZER_MEMORY_BYTES))


def run_tool(argv: list[str], name: str, *, text: str | None = None, cwd: str | None = None,
             stream: str = "stdout", timeout_s: float = LINT_TIMEOUT_S,
             env: dict[str, str] | None = None, allow_silence: bool = False,
             cap_memory: bool = False) -> bytes:
    """Run an analyzer and return what it printed on ``stream``; a time-out, a failed start,
    or nothing printed (unless silence means no findings, and the tool says so by its status)
    raise :class:`LinterError` naming the tool. ``cap_memory``: under :func:`limit_memory`."""
    try:
        done = subprocess.run(argv, input=text.encode("utf-8") if text is not None else None,
                              capture_output=True, timeout=timeout_s, check=False, cwd=cwd,
                              env=env, preexec_fn=limit_memory if cap_memory else None)
    except subprocess.TimeoutExpired:
        raise LinterError(f"{name} did not finish within {timeout_s:g} s") from None
    except OSError as error:
        raise LinterError(f"{name} could not start: {error.strerror}") from None
    output = done.stdout if stream == "stdout" else done.stderr
    if allow_silence and done.returncode == 0:
        return output
    if not output.strip():
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise LinterError(f"{name} printed nothing (status {done.returncode}) {detail[0][:200]}"
                          .strip())
    return output


def is_private_dir(path: Path) -> bool:
    """Whether ``path`` is a directory of this user that no one else may read, and no link (a
    warm cache under a fixed name in a shared file system: another user could have made it)."""
    info = path.lstat()
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & 0o077)


def json_lines(output: str) -> Iterator[dict[str, Any]]:
    """The JSON objects a tool prints one to a line (other lines, and broken ones, skipped)."""
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(item, dict):
                yield item


def private_memory_dir(name: str) -> tempfile.TemporaryDirectory[str]:
    """A private directory in memory for a tool that reads files (removed when closed)."""
    if not MEMORY_DIR.is_dir():
        raise LinterMissing(f"no memory file system at {MEMORY_DIR}: {name} reads files, and the "
                            "text must never be written to a disk")
    return tempfile.TemporaryDirectory(prefix=LINT_PREFIX, dir=MEMORY_DIR)


#: oxlint's default rules that report style, not likely bugs (shown when asked for style):
#: unused names, needless escapes, catches and renames, and unicorn's idioms.
OXLINT_STYLE = frozenset({
    "eslint(no-unused-vars)", "eslint(no-useless-escape)", "eslint(no-unused-labels)",
    "eslint(no-useless-catch)", "eslint(no-useless-rename)", "eslint(no-empty)",
    "eslint(no-unused-private-class-members)", "typescript(no-unused-vars)",
    "eslint(no-useless-constructor)", "eslint(no-empty-file)",
})


#: JavaScript gets ESLint's ``no-undef`` besides the defaults: a name neither declared nor a
#: global of Node.js, browsers or the language (assigning to an undeclared variable, a typo)
#: is a likely bug. TypeScript checks its own names; its type checker is the tool for that.
UNDECLARED_CHECKED = frozenset({"javascript", "javascriptreact"})
JAVASCRIPT_CONFIG = {"env": {"browser": True, "node": True, "commonjs": True, "es2024": True,
                             "shared-node-browser": True, "worker": True},
                     "rules": {"no-undef": "error"}}


def oxlint_diagnostics(raw: Any, offsets: Offsets) -> list[Diagnostic]:
    """oxlint's JSON (spans in UTF-8 bytes) as diagnostics in code points."""
    found = []
    for item in raw.get("diagnostics", []):
        labels = item.get("labels") or [{}]
        span = labels[0].get("span") or {"offset": 0, "length": 0}
        start = offsets.from_byte(int(span["offset"]))
        end = offsets.from_byte(int(span["offset"]) + int(span["length"]))
        rule = str(item.get("code") or "oxlint")[:64]
        severity: Severity = ("hint" if rule in OXLINT_STYLE or rule.startswith("unicorn(") else
                              "error" if item.get("severity") == "error" else "warning")
        message = str(item.get("message") or rule)
        if item.get("help"):
            message += f" ({item['help']})"
        found.append(Diagnostic(rule, message, start, max(start, end), severity))
    return found


def run_oxlint(text: str, language: str) -> list[Diagnostic]:
    binary = oxlint_binary()
    if binary is None:
        raise LinterMissing("oxlint is not installed (`make install` puts it in .stack/vendor)")
    with private_memory_dir("oxlint") as private:
        path = Path(private) / f"document{OXLINT_LANGUAGES[language]}"
        path.write_text(text, encoding="utf-8")
        argv = [binary, "--format", "json"]
        if language in UNDECLARED_CHECKED:
            (Path(private) / "oxlintrc.json").write_bytes(orjson.dumps(JAVASCRIPT_CONFIG))
            argv += ["-c", "oxlintrc.json"]
        output = run_tool([*argv, path.name], "oxlint", cwd=private)
    return oxlint_diagnostics(orjson.loads(output), Offsets(text))


def remove_leftovers() -> int:
    """Remove private directories a killed process left in memory (at a route's start): those
    of this process's user, whoever owns the code (root, in an image)."""
    removed = 0
    if MEMORY_DIR.is_dir():
        for leftover in MEMORY_DIR.glob(f"{LINT_PREFIX}*"):
            if leftover.is_dir() and leftover.stat().st_uid == os.getuid():
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
    return removed


def shellcheck_diagnostics(raw: Any, offsets: Offsets) -> list[Diagnostic]:
    """ShellCheck's ``json1`` (1-based lines, columns of one character each) as diagnostics,
    with its fixes as edits."""
    found = []
    for item in raw.get("comments", []):
        start = offsets.from_line_column(int(item["line"]), int(item["column"]))
        end = offsets.from_line_column(int(item["endLine"]), int(item["endColumn"]))
        edits = []
        for change in (item.get("fix") or {}).get("replacements", []):
            at = offsets.from_line_column(int(change["line"]), int(change["column"]))
            to = offsets.from_line_column(int(change["endLine"]), int(change["endColumn"]))
            edits.append(TextEdit(at, max(at, to), str(change.get("replacement", ""))))
        edits.sort(key=lambda e: (e.start, e.end))
        code = int(item.get("code") or 0)
        level = _SHELLCHECK_LEVELS.get(item.get("level"), "hint")
        if level == "warning" and (code in SHELLCHECK_STYLE or 3000 <= code < 4000):
            level = "hint"
        found.append(Diagnostic(f"SC{code}", str(item.get("message") or ""), start,
                                max(start, end), level,
                                tuple(edits), "ShellCheck's fix" if edits else "", bool(edits)))
    return found


def run_shellcheck(text: str) -> list[Diagnostic]:
    binary = shutil.which("shellcheck")
    if binary is None:
        raise LinterMissing("ShellCheck is not installed (`apt-get install -y shellcheck`, "
                            "or `make install`)")
    shell = "bash" if not text.startswith("#!") else None
    argv = [binary, "--format", "json1", *(["--shell", shell] if shell else []), "-"]
    return shellcheck_diagnostics(orjson.loads(run_tool(argv, "ShellCheck", text=text)),
                                  Offsets(text))
