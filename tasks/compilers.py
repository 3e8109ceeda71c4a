"""Compilers as analyzers: what each language's own compiler or type checker says about the text.

Go gets ``go vet`` (the type checker, then vet's checks), C and C++ ``gcc`` at ``-O2`` (several
of its warnings need the optimiser's data flow) with assembly thrown away, Java ``javac -Xlint``
(with Error Prone's checks attached, in a resident JVM: tasks/errorprone.py), Rust ``rustc`` (or
Clippy's driver) emitting metadata only. A compiler reads the text and writes nothing we keep; none
runs the code: no build scripts, no tests, cgo and annotation processors off, no network (Go's
module proxy off), a minimal environment, a time limit, and the text in a private directory in
memory (``/dev/shm``) removed at once.

What a compiler cannot check here it does not guess about: a file that needs what the server
does not have (a Go module outside the standard library, a C header of the project, a Java
package outside the JDK, another Rust file) is not compiled, or its unresolved names are left
out, and the note says so. A file that could make the compiler read another file of the server
(``#include "/etc/..."``, ``include_str!``) is not compiled at all.

Each diagnostic carries the compiler's rule (gcc's ``-W`` option, vet's analyzer, javac's lint
category or Error Prone's bug pattern, rustc's error code or lint) and a severity: ``error`` for
what does not compile, ``warning`` for a likely bug, ``hint`` for style (on request only).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.errors import AssistantError
from schemas.socket import Severity
from tasks import errorprone
from tasks.linters import (
    LINT_PREFIX,
    MEMORY_DIR,
    LinterError,
    LinterMissing,
    is_private_dir,
    json_lines,
)
from tasks.offsets import Offsets
from tasks.ruff import Diagnostic

#: Each compiler run's limit (within find_bugs' 3 s deadline; javac takes about 1 s).
COMPILE_TIMEOUT_S = 2.5
#: Address space a compiler may take (not for the JVM and Go, which reserve far more than they
#: use: javac gets ``-Xmx``, Go's runtime ``GOMEMLIMIT``).
COMPILE_MEMORY_BYTES = 2 * 1024**3
#: Where Go keeps what it compiled of the standard library between runs (in memory, private);
#: each run works on a copy of hard links to it, removed with the run.
GO_CACHE = MEMORY_DIR / "code-assistant-gocache"

#: gcc warnings that point at likely bugs (the rest of -Wall -Wextra is style).
GCC_LIKELY_BUGS = frozenset({
    "-Wreturn-type", "-Wuninitialized", "-Wmaybe-uninitialized", "-Warray-bounds",
    "-Wformat", "-Wformat=", "-Wformat-overflow=", "-Wformat-truncation=", "-Wformat-security",
    "-Wsizeof-pointer-memaccess", "-Wsizeof-pointer-div", "-Wsizeof-array-argument",
    "-Wnonnull", "-Waddress", "-Wbool-compare", "-Wlogical-not-parentheses",
    "-Wtautological-compare", "-Wself-move", "-Wmisleading-indentation", "-Wint-in-bool-context",
    "-Wduplicated-cond", "-Wduplicated-branches", "-Wlogical-op", "-Wnull-dereference",
    "-Wstringop-overflow=", "-Wstringop-overread", "-Wstringop-truncation", "-Wrestrict",
    "-Wreturn-local-addr", "-Wdangling-pointer=", "-Wimplicit-function-declaration",
    "-Wincompatible-pointer-types", "-Wint-conversion", "-Wshift-count-overflow",
    "-Wshift-count-negative", "-Wdiv-by-zero", "-Wsequence-point", "-Wimplicit-fallthrough=",
    "-Wswitch", "-Wmismatched-new-delete", "-Wfree-nonheap-object", "-Wuse-after-free=",
    "-Wdelete-non-virtual-dtor", "-Wclass-memaccess", "-Wmemset-elt-size",
    "-Wmemset-transposed-args", "-Wsizeof-array-div", "-Wstring-compare", "-Wenum-compare",
    "-Wparentheses", "-Wempty-body", "-Wtype-limits", "-Woverflow", "-Wbuiltin-declaration-mismatch",
    "-Waggressive-loop-optimizations", "-Wanalyzer-null-dereference", "-Wcast-function-type",
    "-Wdangling-else", "-Wmissing-field-initializers", "-Wvla-larger-than=",
    "-Walloc-size-larger-than=", "-Wrange-loop-construct", "-Winfinite-recursion",
})
#: javac lint categories that point at likely bugs.
JAVAC_LIKELY_BUGS = frozenset({"divzero", "empty", "fallthrough", "finally", "overrides",
                               "static", "lossy-conversions"})
#: rustc lints that point at likely bugs (errors always count).
RUSTC_LIKELY_BUGS = frozenset({
    "unconditional_recursion", "unused_must_use", "unreachable_patterns", "overflowing_literals",
    "arithmetic_overflow", "unconditional_panic", "path_statements", "unused_comparisons",
    "invalid_value", "drop_bounds", "dropping_references", "dropping_copy_types",
    "forgetting_references", "forgetting_copy_types", "let_underscore_lock",
    "invalid_from_utf8", "unused_assignments", "unreachable_code", "while_true",
    "ambiguous_wide_pointer_comparisons", "invalid_nan_comparisons", "useless_ptr_null_checks",
    "suspicious_double_ref_op", "noop_method_call", "deref_nullptr", "unused_unsafe",
})


class CompilerMissing(AssistantError, RuntimeError):
    """The language's compiler is not on PATH."""


@dataclass(frozen=True, slots=True)
class Checked:
    """What a compiler said, and the note for the answer's summary (what ran, or why not)."""

    diagnostics: list[Diagnostic]
    note: str
    #: The compiler read the whole file (``False``: not run, or gave no answer).
    ran: bool = True

    def syntax_errors(self) -> list[str]:
        """What the compiler could not parse, by message (positions move when text is
        inserted); type errors a parse error hid are not among them."""
        return sorted(d.message for d in self.diagnostics
                      if d.severity == "error" and SYNTAX_MESSAGE.search(d.message))


#: How the compilers here word a parse error (go, gcc, javac, rustc).
SYNTAX_MESSAGE = re.compile(r"syntax error|\bexpected\b|unclosed|end of file|end of input|"
                            r"illegal start|unexpected|unterminated|mismatched closing|"
                            r"missing '[^']+'", re.I)


def _environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: what the compiler needs, nothing of the server's (a macro that
    reads the environment at compile time finds nothing worth reading)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", **(extra or {})}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (COMPILE_MEMORY_BYTES, COMPILE_MEMORY_BYTES))


def _run(argv: list[str], cwd: Path, env: dict[str, str], name: str,
         timeout_s: float | None = None, cap_memory: bool = True) -> tuple[int, str, str]:
    """Run a compiler in its own process group: past the limit the whole group is killed (gcc's
    cc1, go's compile and vet are children of the command)."""
    limit = COMPILE_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   start_new_session=True,
                                   preexec_fn=_limit_memory if cap_memory else None)
    except OSError as error:
        raise CompilerFailed(f"{name} could not start: {error.strerror}") from None
    try:
        stdout, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise CompilerFailed(f"{name} did not finish within {limit:g} s") from None
    return (process.returncode, stdout.decode("utf-8", "replace"),
            stderr.decode("utf-8", "replace"))


class CompilerFailed(AssistantError, RuntimeError):
    """The compiler ran but gave no usable answer (the message holds no code)."""


def _private_dir() -> tempfile.TemporaryDirectory[str]:
    if not MEMORY_DIR.is_dir():
        raise CompilerFailed(f"no memory file system at {MEMORY_DIR}: compilers read files, and "
                             "the text must never be written to a disk")
    return tempfile.TemporaryDirectory(prefix=LINT_PREFIX, dir=MEMORY_DIR)


@functools.cache
def _binary(name: str) -> str:
    """The compiler's own binary: for ``rustc``, the toolchain's (rustup's proxy on PATH needs
    the server's ``HOME`` to choose a toolchain, and the compiler runs with a private one)."""
    found = shutil.which(name)
    if found is None:
        raise CompilerMissing(name)
    if name in ("rustc", "clippy-driver"):
        try:
            sysroot = subprocess.run([found, "--print", "sysroot"], capture_output=True,
                                     text=True, timeout=COMPILE_TIMEOUT_S, check=True).stdout
        except (subprocess.SubprocessError, OSError):
            raise CompilerMissing("rustc (no toolchain: `rustup default stable`)") from None
        real = Path(sysroot.strip()) / "bin" / name
        if real.exists():
            return str(real)
    return found


# --- Go -------------------------------------------------------------------------------------

_GO_IMPORT = re.compile(r'^\s*(?:import\s+)?(?:[\w.]+\s+)?"([^"]+)"', re.MULTILINE)
_GO_IMPORT_BLOCK = re.compile(r"^import\s*\((.*?)\)", re.MULTILINE | re.DOTALL)
_GO_SINGLE_IMPORT = re.compile(r'^import\s+(?:[\w.]+\s+)?"([^"]+)"', re.MULTILINE)
_GO_POSITION = re.compile(r"^(?:vet: )?(?:\./)?document(?:_test)?\.go:(\d+):(\d+): (.+)$")


def go_imports(text: str) -> list[str]:
    """The import paths of a Go file (its import declarations only)."""
    paths = _GO_SINGLE_IMPORT.findall(text)
    for block in _GO_IMPORT_BLOCK.findall(text):
        paths += _GO_IMPORT.findall(block)
    return paths


def outside_std(path: str) -> bool:
    """Go's rule: a standard library path has no dot in its first element."""
    return "." in path.split("/", 1)[0] or path == "C"


def go_diagnostics(output: str, offsets: Offsets) -> list[Diagnostic]:
    """The type checker's errors (lines ``document.go:L:C: message``) and ``go vet -json``'s
    findings (one JSON object per package, each opening on a line of its own)."""
    found: list[Diagnostic] = []
    decoder = json.JSONDecoder()
    lines = output.splitlines(keepends=True)
    position = 0
    for line in lines:
        match = _GO_POSITION.match(line.strip())
        if match:
            at = offsets.from_line_byte(int(match[1]), int(match[2]))
            found.append(Diagnostic("go/types", match[3], at, at, "error"))
        elif line.strip() == "{":
            try:
                package, _ = decoder.raw_decode(output, position)
            except ValueError:
                package = None
            found += _vet_findings(package, offsets)
        position += len(line)
    return found


def _vet_findings(package: object, offsets: Offsets) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for results in package.values() if isinstance(package, dict) else ():
        for analyzer, items in (results.items() if isinstance(results, dict) else ()):
            for item in items if isinstance(items, list) else []:
                match = re.search(r":(\d+):(\d+)$", str(item.get("posn", "")))
                if match:
                    at = offsets.from_line_byte(int(match[1]), int(match[2]))
                    found.append(Diagnostic(f"vet/{analyzer}", str(item.get("message", "")),
                                            at, at, "warning"))
    return found


def private_go_cache() -> Path:
    """The warm cache, made if missing; refused if it is not a private directory of ours (a fixed
    name in a shared file system: another user could have made it, or a link)."""
    GO_CACHE.mkdir(mode=0o700, exist_ok=True)
    if not is_private_dir(GO_CACHE):
        raise CompilerFailed(f"{GO_CACHE} is not a private directory of this user: remove it")
    return GO_CACHE


def run_go_cache(root: Path) -> Path:
    """This run's cache: hard links to the warm cache's entries (the standard library, compiled
    once), so what Go derives from the user's file (export data, vet facts: its names, types and
    constants) goes with the run's private directory."""
    run_cache = root / "gocache"
    shutil.copytree(private_go_cache(), run_cache, copy_function=os.link)
    return run_cache


def go_environment(root: Path, cache: Path, extra: dict[str, str] | None = None
                   ) -> dict[str, str]:
    """Go offline in ``root``: no module proxy, no cgo, no toolchain download, no settings of
    the server's, ``cache`` as its build cache."""
    return _environment(root, {"GOCACHE": str(cache), "GOPATH": str(root / "gopath"),
                               "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
                               "CGO_ENABLED": "0", "GOTELEMETRY": "off", "GOENV": "off",
                               "GOWORK": "off", "GOMEMLIMIT": "1GiB", **(extra or {})})


def check_go(text: str, uri: str, timeout_s: float | None = None, warming: bool = False
             ) -> Checked:
    outside = sorted({p for p in go_imports(text) if outside_std(p)})
    if outside:
        return Checked([], "go vet not run: the file imports packages outside the standard "
                           f"library ({', '.join(outside[:3])}), which are not available offline",
                       ran=False)
    go = _binary("go")
    with _private_dir() as private:
        root = Path(private)
        name = "document_test.go" if uri.endswith("_test.go") else "document.go"
        (root / name).write_text(text, encoding="utf-8")
        (root / "go.mod").write_text("module document\n\ngo 1.21\n", encoding="utf-8")
        cache = private_go_cache() if warming else run_go_cache(root)
        env = go_environment(root, cache)
        _, stdout, stderr = _run([go, "vet", "-json", "."], root, env, "go vet", timeout_s,
                                 cap_memory=False)
    # Type errors come on stderr as lines; the analyzers' JSON on stdout (stderr before Go 1.25).
    offsets = Offsets(text)
    found = go_diagnostics(stderr, offsets) + go_diagnostics(stdout, offsets)
    # The file is one of its package's: a name or method another file declares is undefined
    # here, and that is no bug.
    kept = [d for d in found
            if "undefined" not in d.message and "use of internal package" not in d.message]
    if len(kept) < len(found):
        return Checked(kept, "go vet (names declared outside this file were not checked, nor "
                             "vet's analyzers, which need the whole package)")
    return Checked(kept, "go vet")


# --- C and C++ --------------------------------------------------------------------------------

_INCLUDE = re.compile(r'^\s*#\s*include(?:_next)?\s*([<"])([^>"]*)[>"]', re.MULTILINE)


def c_includes(text: str) -> tuple[list[str], list[str]]:
    """The ``"local"`` and ``<system>`` headers a C or C++ file includes."""
    local: list[str] = []
    system: list[str] = []
    for kind, path in _INCLUDE.findall(text):
        (local if kind == '"' else system).append(path)
    return local, system


def gcc_diagnostics(stderr: str, offsets: Offsets, source: str) -> list[Diagnostic]:
    """gcc's ``-fdiagnostics-format=json`` (lines and byte columns, 1-based), the document's
    own only (a header's warnings are not the user's)."""
    found: list[Diagnostic] = []
    try:
        items = orjson.loads(stderr.strip() or "[]")
    except orjson.JSONDecodeError:
        return found
    for item in items if isinstance(items, list) else []:
        kind = item.get("kind")
        locations = item.get("locations") or []
        caret = (locations[0] or {}).get("caret", {}) if locations else {}
        if kind not in ("error", "warning") or caret.get("file") != source:
            continue
        option = str(item.get("option") or "")
        line = int(caret.get("line", 1))
        column = int(caret.get("byte-column", caret.get("column", 1)))
        at = offsets.from_line_byte(line, column)
        finish = (locations[0] or {}).get("finish") or {}
        end = (offsets.from_line_byte(int(finish["line"]), int(finish.get(
            "byte-column", finish.get("column", column))) + 1)
               if finish.get("file") == source and "line" in finish else at)
        severity: Severity = ("error" if kind == "error" else
                              "warning" if option in GCC_LIKELY_BUGS else "hint")
        found.append(Diagnostic(option or ("gcc" if kind == "error" else "gcc-warning"),
                                str(item.get("message", "")), at, max(at, end), severity))
    return found


#: A plain ``#include <header>`` of a system header: the only way a file compiled here may name
#: another file.
_PLAIN_SYSTEM_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*<([A-Za-z0-9_+\-][\w+\-./]*)>[ \t]*"
                                   r"(?://.*)?$")
#: Every way to make the preprocessor read or probe a file (a macro as the operand, a line
#: continuation, ``%:`` and comments inside the directive, ``__has_include``, ``#embed``,
#: ``#pragma GCC dependency``, ``_Pragma``): the word anywhere outside a plain system include.
_READS_FILES = re.compile(r"\binclude(?:_next)?\b|has_include|\bembed\b|dependency|_Pragma")


def _reads_other_files(text: str) -> bool:
    for line in text.splitlines():
        if _READS_FILES.search(line):
            plain = _PLAIN_SYSTEM_INCLUDE.match(line)
            if plain is None or ".." in plain[1]:
                return True
    return False


def check_c(text: str, language: str) -> Checked:
    local, system = c_includes(text)
    unsafe = [p for p in local + system if p.startswith("/") or ".." in p]
    if local and not unsafe:
        return Checked([], "gcc not run: the file includes project headers "
                           f"({', '.join(repr(p) for p in local[:3])}) the server does not have",
                       ran=False)
    if unsafe or _reads_other_files(text):
        return Checked([], "gcc not run: the file includes by absolute or parent path, or names "
                           "a file to the preprocessor other than by a plain `#include <...>`, "
                           "which could read the server's files", ran=False)
    cpp = language == "cpp"
    compiler = _binary("g++" if cpp else "gcc")
    name = "document.cpp" if cpp else "document.c"
    with _private_dir() as private:
        root = Path(private)
        (root / name).write_text(text, encoding="utf-8")
        argv = [compiler, "-x", "c++" if cpp else "c", "-std=gnu++20" if cpp else "-std=gnu17",
                "-O2", "-S", "-o", os.devnull, "-Wall", "-Wextra", "-Wduplicated-cond",
                "-Wduplicated-branches", "-Wlogical-op", "-Wnull-dereference",
                "-fdiagnostics-format=json", "-fmax-errors=50", name]
        _, _, stderr = _run(argv, root, _environment(root), "gcc")
    found = gcc_diagnostics(stderr, Offsets(text), name)
    missing = [d for d in found if d.severity == "error" and "No such file" in d.message]
    if missing:
        return Checked([], f"gcc could not check the file: {missing[0].message[:120]}",
                       ran=False)
    return Checked(found, "g++" if cpp else "gcc")


# --- Java --------------------------------------------------------------------------------------

_PUBLIC_TYPE = re.compile(
    r"^\s*public\s+(?:(?:abstract|final|sealed|non-sealed|static|strictfp)\s+)*"
    r"(?:class|interface|enum|record|@interface)\s+([A-Za-z_$][\w$]*)", re.MULTILINE)
_JAVAC_LINE = re.compile(r"^(\w[\w$]*\.java):(\d+): (error|warning): (.*)$")
_JAVAC_LINT = re.compile(r"^\[([\w-]+)\] (.*)$")
#: Errors that mean a dependency is missing, not that the code is wrong.
_JAVA_UNRESOLVED = ("does not exist", "cannot find symbol", "cannot access", "is not visible",
                    "package exists in another module")


#: javac errors that hold whatever the types it could not resolve are.
_JAVA_SELF_CONTAINED = re.compile(
    r"missing return statement|unreachable statement|might not have been initialized|"
    r"might already have been assigned|is already defined|break outside|continue outside|"
    r"else without if|not a statement|(?<!not )expected$|illegal start|reached end of file|unclosed|"
    r"possible lossy conversion from (?:int|long|double|float|short|char|byte) to")


def javac_diagnostics(stderr: str, offsets: Offsets, lines: list[str]) -> list[Diagnostic]:
    """javac's plain output: ``File.java:LINE: kind: message``, the source line, then a caret
    under the column (Error Prone's findings among them, ``[Pattern] message``)."""
    found: list[Diagnostic] = []
    output = stderr.splitlines()
    for index, line in enumerate(output):
        match = _JAVAC_LINE.match(line)
        if not match:
            continue
        number, kind, message = int(match[2]), match[3], match[4]
        column = 1
        for follow in output[index + 1:index + 4]:
            if follow.strip() == "^":
                column = follow.index("^") + 1
                break
        rule, severity = "javac", "error"
        lint = _JAVAC_LINT.match(message)
        pattern = errorprone.pattern_of(message)
        if pattern is not None:
            # Error Prone's: its ERROR patterns are likely bugs, its WARNING ones taste.
            rule, message = f"errorprone/{pattern[0]}", pattern[1]
            severity = "warning" if kind == "error" else "hint"
        elif kind == "warning":
            rule = f"javac/{lint[1]}" if lint else "javac-warning"
            message = lint[2] if lint else message
            severity = "warning" if lint and lint[1] in JAVAC_LIKELY_BUGS else "hint"
        at = offsets.from_line_column(number, column) if number <= len(lines) else 0
        found.append(Diagnostic(rule, message, at, at, severity))  # type: ignore[arg-type]
    return found


def _javac_output(root: Path, name: str) -> tuple[str, str]:
    """What javac prints for ``root/name``, and which javac: the resident one with Error Prone
    when it is installed and warm (else started aside, and javac's own process meanwhile)."""
    if errorprone.ready():
        try:
            return errorprone.resident_javac(root / name, COMPILE_TIMEOUT_S), "javac + Error Prone"
        except LinterError as error:
            reason = f"Error Prone failed ({error})"
    else:
        try:
            errorprone.errorprone_libs()
            reason = "Error Prone not run: starting"
        except LinterMissing as missing:
            reason = f"Error Prone not run: {missing}"
    argv = [_binary("javac"), "-J-Xmx256m", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC",
            "-Xlint:all", "-Xmaxerrs", "50", "-proc:none", "-implicit:none",
            "-encoding", "UTF-8", "-d", str(root / "classes"), name]
    _, _, stderr = _run(argv, root, _environment(root), "javac", cap_memory=False)
    return stderr, f"javac; {reason}"


def check_java(text: str) -> Checked:
    public = _PUBLIC_TYPE.search(text)
    name = f"{public[1] if public else 'Document'}.java"
    with _private_dir() as private:
        root = Path(private)
        (root / name).write_text(text, encoding="utf-8")
        output, which = _javac_output(root, name)
    found = javac_diagnostics(output, Offsets(text), text.splitlines())
    plugin = which.endswith("Error Prone") and not any(d.severity == "error" for d in found)
    if which.endswith("Error Prone") and not plugin:
        which = ("javac; Error Prone not run: it checks only a file javac compiles without "
                 "error")
    # A class of the same package, or of a library, lives in another file: not finding it here
    # is no bug.
    kept = [d for d in found if not any(word in d.message for word in _JAVA_UNRESOLVED)]
    if len(kept) < len(found):
        # What javac says after an unresolved type can follow from it (an @Override of a method
        # it cannot see, ``<any>`` types): only errors that need no other type stay.
        kept = [d for d in kept if d.severity != "error" or _JAVA_SELF_CONTAINED.search(d.message)]
        return Checked(kept, f"{which} (names from other files and packages outside the JDK "
                             "were not checked)")
    return Checked(found, which)


# --- Rust --------------------------------------------------------------------------------------

#: What could make rustc read another file: the ``include`` macros by any spelling (``include_str
#: !``, a ``use std::include_str as f``: the word anywhere, comments and strings too, on the safe
#: side), ``#[path]``, and out-of-line modules.
_RUST_READS = re.compile(r"\binclude(?:_str|_bytes)?\b|#\s*!?\[\s*path\b|"
                         r"\bmod\s+(?:r#)?\w+\s*;")
#: Errors that follow from names another crate or module declares, once one is unresolved
#: (an associated type of an unknown trait, a type that cannot be inferred from one, types that
#: mismatch or lack a trait because one of them is unknown: seen in serde_json's files).
_RUST_EXTERNAL = ("E0432", "E0433", "E0463", "E0412", "E0425", "E0405", "E0599", "E0220",
                  "E0223", "E0282", "E0422", "E0308", "E0277", "E0369")
#: Errors that depend on the crate's edition, which a lone file does not say.
_RUST_EDITION = ("E0783",)


def rustc_diagnostics(stderr: str, offsets: Offsets, source: str) -> list[Diagnostic]:
    """rustc's ``--error-format=json`` (one object per line; spans in UTF-8 bytes of the file)."""
    found: list[Diagnostic] = []
    for item in json_lines(stderr):
        level = item.get("level")
        spans = [s for s in item.get("spans") or [] if s.get("file_name") == source]
        if level not in ("error", "warning") or not spans:
            continue
        span = next((s for s in spans if s.get("is_primary")), spans[0])
        code = (item.get("code") or {}).get("code") or ("rustc" if level == "error" else "warn")
        start = offsets.from_byte(int(span["byte_start"]))
        end = offsets.from_byte(int(span["byte_end"]))
        # Clippy runs only its likely-bug groups (see CLIPPY_GROUPS).
        severity: Severity = ("error" if level == "error" else
                              "warning" if code in RUSTC_LIKELY_BUGS
                              or str(code).startswith("clippy::") else "hint")
        found.append(Diagnostic(str(code), str(item.get("message", "")), start, max(start, end),
                                severity))
    return found


def check_rust(text: str) -> Checked:
    if _RUST_READS.search(text):
        return Checked([], "rustc not run: the file reads other files (`include!`, `mod x;`, "
                           "`#[path]`), which the server does not have or must not read",
                       ran=False)
    compiler, lints = _rust_compiler()
    with _private_dir() as private:
        root = Path(private)
        (root / "document.rs").write_text(text, encoding="utf-8")
        # A crate's root `fn main`, not one in a doc comment's example.
        kind = "bin" if re.search(r"^(?:pub\s+)?fn\s+main\s*\(", text, re.MULTILINE) else "lib"
        # Lints stay warnings whatever the file says (`#![deny(missing_docs)]` is the crate's
        # policy, not a compile error).
        argv = [compiler, "--edition", "2021", "--crate-type", kind, "--error-format=json",
                "--emit=metadata", "--cap-lints", "warn", *lints,
                "--out-dir", str(root / "out"), "document.rs"]
        _, _, stderr = _run(argv, root, _environment(root), "rustc")
    # `...` range patterns, `try!`: errors only in the edition we had to assume.
    found = [d for d in rustc_diagnostics(stderr, Offsets(text), "document.rs")
             if d.rule not in _RUST_EDITION and "deprecated `try` macro" not in d.message]
    external = [d for d in found if d.rule in ("E0432", "E0433", "E0463")
                or d.message.startswith("cannot find macro")]
    name = "rustc + Clippy" if lints else "rustc"
    if external:
        kept = [d for d in found if d.rule not in _RUST_EXTERNAL
                and not d.message.startswith("cannot find macro")]
        return Checked(kept, f"{name} (crates outside the standard library are not available: "
                             "names from them were not checked)")
    return Checked(found, name)


#: Clippy's lint groups for likely bugs (code that is wrong or very likely so); the rest of
#: Clippy (style, complexity, pedantic) is not run.
CLIPPY_GROUPS: tuple[str, ...] = ("-A", "clippy::all", "-W", "clippy::correctness", "-W",
                                  "clippy::suspicious")


def _rust_compiler() -> tuple[str, tuple[str, ...]]:
    """Clippy's driver (rustc with Clippy's lints, the same flags) when the toolchain has it,
    with the flags that choose its likely-bug groups; rustc alone otherwise."""
    try:
        return _binary("clippy-driver"), CLIPPY_GROUPS
    except CompilerMissing:
        return _binary("rustc"), ()


#: Standard library packages most Go files import: compiled once into :data:`GO_CACHE`.
WARM_GO = ("bufio", "bytes", "context", "encoding/json", "errors", "fmt", "io", "math", "os",
           "path/filepath", "regexp", "sort", "strconv", "strings", "sync", "testing", "time",
           "unicode")


def warm_go(timeout_s: float = 300.0) -> bool:
    """Fill :data:`GO_CACHE` with the packages of :data:`WARM_GO` (a cold cache makes the first
    ``go vet`` compile them: tens of seconds on one core); whether it worked."""
    imports = "\n".join(f'\t_ "{name}"' for name in WARM_GO)
    try:
        return check_go(f"package warm\n\nimport (\n{imports}\n)\n", "warm.go", timeout_s,
                        warming=True).ran
    except (CompilerMissing, CompilerFailed):
        return False


#: The compiler of each language that has one here.
COMPILERS: dict[str, Callable[[str, str, str], Checked]] = {
    "go": lambda text, language, uri: check_go(text, uri),
    "c": lambda text, language, uri: check_c(text, language),
    "cpp": lambda text, language, uri: check_c(text, language),
    "java": lambda text, language, uri: check_java(text),
    "rust": lambda text, language, uri: check_rust(text),
}


def compile_check(text: str, language: str, uri: str) -> Checked | None:
    """What the language's compiler says, or ``None`` when it has none here; a missing or
    failing compiler is said in the note, never raised."""
    check = COMPILERS.get(language)
    if check is None:
        return None
    try:
        return check(text, language, uri)
    except CompilerMissing as missing:
        return Checked([], f"{missing} is not installed", ran=False)
    except CompilerFailed as error:
        return Checked([], str(error), ran=False)
    except OSError as error:  # the private directory: full, or a name too long to write
        return Checked([], f"the text could not be written for the compiler: {error.strerror}",
                       ran=False)
