"""The type checkers and analyzers beside each language's compiler (mypy, tsc, staticcheck,
Error Prone, cppcheck, Clippy), run for real as the find_bugs route runs them: each finds the planted bug it
is there for with its own rule, stays quiet on what depends on files the server does not have,
reads no other file, leaves nothing in memory, and when missing is named while the others'
findings still come."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import capabilities
from schemas.tasks import TaskFinding, TaskText
from tasks import analyzers, compilers, errorprone, mypy, staticcheck, tsc
from tasks.cppcheck import run_cppcheck, without_file_names
from tasks.engine import TaskInput, run_task
from tasks.linters import LINT_PREFIX, MEMORY_DIR

PYTHON = '''import asyncio
import os


def area(width: int, height: int) -> int:
    if width > 0:
        return width * height


def report(path):
    if area(3) == "large":
        print(os.pth.join(path, "x"))
    asyncio.sleep(1)
'''
PYTHON_RELATIVE = '''from ..models import Thing
from .helpers import shape


def size(thing: Thing) -> int:
    if shape(thing):
        return 1
'''
TYPESCRIPT = '''import { Schema } from "./schema";

export function check(schema: Schema, name: string): boolean {
  if (name === 3) {
    return schema.unknownMember.ok;
  }
  return schema.parse(name, 1, 2, 3);
}
'''
JAVASCRIPT = '''const limit = 10;
function grow(n) {
  limit = n;
  return n;
  console.log(n);
}
/** @returns {ServerResponse} */
function respond() { return undefinedThing; }
'''
GO = '''package shapes

import (
\t"strings"
\t"time"
)

func Clean(s string, n int) string {
\tif n == n {
\t\tstrings.Replace(s, "a", "b", 0)
\t}
\ttime.Sleep(10)
\treturn s
}
'''
GO_OTHER_FILES = '''package shapes

func Area(s Square) int {
\treturn s.Side * s.Side
}
'''
C_WITH_PROJECT_HEADER = '''#include "lib.h"
#include <stdlib.h>

LIB_API(int) fill(int n) {
    int a[10];
    for (int i = 0; i <= 10; i++) a[i] = i;
    if (n == 1 || n == 1) return 2;
    return a[n] / 0;
}
'''
JAVA = '''package shapes;

public final class Checks {
  public boolean same(String a, String b) {
    return a == b;
  }

  public int hashOf(int[] values) {
    if (values.length == 0) {
      new IllegalArgumentException("empty");
    }
    return values.hashCode();
  }

  public boolean absent(Object value) {
    return value.equals(null);
  }
}
'''
JAVA_OTHER_FILES = '''package shapes;

public final class Area {
  public int of(Square square) {
    new IllegalStateException("never thrown");
    return square.side() * square.side();
  }
}
'''
RUST = '''#![deny(missing_docs)]
pub fn pick(a: i32, b: u8) -> bool {
    if a == a { return true; }
    b > 255
}
'''


def findings(text: str, language: str, uri: str, instruction: str | None = None
             ) -> tuple[list[TaskFinding], str]:
    items = list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0, instruction), None))
    summary = "".join(i.text for i in items if isinstance(i, TaskText))
    return [i for i in items if isinstance(i, TaskFinding)], summary


def lines_of(text: str, found: list[TaskFinding], prefix: str) -> dict[str, int]:
    return {f.rule: text.count("\n", 0, f.start) + 1 for f in found if f.rule.startswith(prefix)}


def private_dirs() -> set[Path]:
    return set(MEMORY_DIR.glob(f"{LINT_PREFIX}*"))


def test_mypy_finds_a_missing_return_a_wrong_call_and_a_misspelt_module_attribute() -> None:
    before = private_dirs()
    found, summary = findings(PYTHON, "python", "file:///p/shapes.py")
    rules = lines_of(PYTHON, found, "mypy/")
    assert rules == {"mypy/return": 5, "mypy/call-arg": 11, "mypy/comparison-overlap": 11,
                     "mypy/attr-defined": 12, "mypy/unused-coroutine": 13}, rules
    assert all(f.severity == "warning" for f in found if f.rule.startswith("mypy/"))
    assert "(ruff; mypy; semantic checks)" in summary
    assert private_dirs() <= before


def test_mypy_checks_a_file_with_relative_imports_and_trusts_what_it_cannot_see() -> None:
    """A package's module: its imports are unknown (Any), not errors; its own bug is found."""
    found, _ = findings(PYTHON_RELATIVE, "python", "file:///p/pkg/sub/size.py")
    assert lines_of(PYTHON_RELATIVE, found, "mypy/") == {"mypy/return": 5}


def test_mypy_keeps_the_users_module_out_of_its_warm_cache() -> None:
    assert mypy.warm_mypy()
    before = {p: p.stat().st_mtime_ns for p in mypy.WARM_CACHE.rglob("*")}
    findings(PYTHON, "python", "file:///p/secret_module.py")
    after = {p: p.stat().st_mtime_ns for p in mypy.WARM_CACHE.rglob("*")}
    assert after == before


def test_mypy_leaves_out_what_released_code_showed_to_be_noise() -> None:
    """Seen on click's fixed files: a variable that shadows a module, a platform's module
    attribute, a name reused for another type called, the old ``x and f or g`` idiom."""
    text = ("import ctypes\nimport locale\n\n\ndef f(hide: bool, callback: object) -> str:\n"
            "    locale = 'C.UTF-8'\n    print(ctypes.windll)\n    callback()\n"
            "    g = hide and f or str\n    return locale.lower()\n")
    assert mypy.run_mypy(text) == []


def test_mypys_resident_helper_comes_back_after_it_dies_and_is_replaced_in_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper that keeps mypy loaded: killed, the next check starts another; after
    RESIDENT_CHECKS checks it is replaced (what mypy keeps grows)."""
    expected = mypy.run_mypy(PYTHON)
    helper = mypy._RESIDENT._process
    assert helper is not None and helper.poll() is None
    limits = Path(f"/proc/{helper.pid}/limits").read_text()
    assert re.search(r"Max address space\s+2147483648\s", limits), limits
    os.kill(helper.pid, 9)
    helper.wait()
    assert mypy.run_mypy(PYTHON) == expected
    monkeypatch.setattr(mypy._RESIDENT, "limit", 1)
    mypy.run_mypy(PYTHON)
    assert mypy._RESIDENT._process is None


def test_tsc_reports_likely_bugs_and_not_what_other_files_declare() -> None:
    found, summary = findings(TYPESCRIPT, "typescript", "file:///p/check.ts")
    rules = lines_of(TYPESCRIPT, found, "TS")
    # The no-overlap comparison; not the import (not read), the member or the argument count
    # of a type declared in another file.
    assert rules == {"TS2367": 4}, rules
    assert "(oxlint; tsc; semantic checks)" in summary


def test_tsc_checks_javascript_without_guessing_jsdoc_types() -> None:
    found, _ = findings(JAVASCRIPT, "javascript", "file:///p/grow.js")
    rules = lines_of(JAVASCRIPT, found, "TS")
    # Not ServerResponse (a JSDoc type); the unreachable line keeps oxlint's words only.
    assert rules == {"TS2588": 3}, rules
    assert lines_of(JAVASCRIPT, found, "eslint(no-unreachable)") == {
        "eslint(no-unreachable)": 5}
    assert all(f.severity == "warning" for f in found if f.rule.startswith("TS"))


def test_tsc_reads_no_other_file() -> None:
    text = '/// <reference path="/etc/passwd" />\nimport data from "/etc/hostname";\n' \
           'export const n: number = data;\n'
    assert tsc.run_tsc(text, "typescript") == []


def test_staticcheck_finds_what_vet_does_not() -> None:
    assert staticcheck.warm_staticcheck()
    found, summary = findings(GO, "go", "file:///p/shapes.go")
    rules = lines_of(GO, found, "staticcheck/")
    assert rules == {"staticcheck/SA4000": 9, "staticcheck/SA4017": 10,
                     "staticcheck/SA1018": 10, "staticcheck/SA1004": 12}, rules
    assert "(go vet; staticcheck; semantic checks)" in summary


def test_staticcheck_says_why_it_cannot_check_a_file_of_a_larger_package() -> None:
    found, summary = findings(GO_OTHER_FILES, "go", "file:///p/area.go")
    assert not [f for f in found if f.rule.startswith("staticcheck/")]
    assert "staticcheck not run: the file does not type-check alone" in summary
    _, summary = findings('package p\n\nimport "github.com/x/y"\n\nvar _ = y.Z\n', "go",
                          "file:///p/y.go")
    assert "staticcheck not run: the file imports packages outside the standard library" \
        in summary


def test_error_prone_finds_the_bug_patterns_javac_does_not() -> None:
    assert errorprone.warm_errorprone() and errorprone.ready()
    found, summary = findings(JAVA, "java", "file:///p/Checks.java")
    rules = lines_of(JAVA, found, "errorprone/")
    assert rules == {"errorprone/DeadException": 10, "errorprone/ArrayHashCode": 12,
                     "errorprone/EqualsNull": 16}, rules
    assert "(javac + Error Prone; semantic checks)" in summary
    # Reference equality of strings is a warning pattern of Error Prone's: on request.
    every, _ = findings(JAVA, "java", "file:///p/Checks.java", "style")
    assert lines_of(JAVA, every, "errorprone/ReferenceEquality") == {
        "errorprone/ReferenceEquality": 5}


def test_error_prones_jars_are_not_the_documents_class_path() -> None:
    """Guava and protobuf are Error Prone's own dependencies: a file importing them is as
    unresolved in the resident javac as in javac's own process."""
    assert errorprone.warm_errorprone()
    text = ("import com.google.common.collect.ImmutableList;\n\npublic class G {\n"
            "  ImmutableList<String> names = ImmutableList.of();\n}\n")
    found, summary = findings(text, "java", "file:///p/G.java")
    assert found == [] and "Error Prone not run" in summary and "were not checked" in summary


def test_error_prone_says_why_it_cannot_check_a_file_of_a_larger_package() -> None:
    assert errorprone.warm_errorprone()
    found, summary = findings(JAVA_OTHER_FILES, "java", "file:///p/Area.java")
    assert not [f for f in found if f.rule.startswith("errorprone/")]
    assert ("javac; Error Prone not run: it checks only a file javac compiles without error "
            "(names from other files") in summary


def test_javac_runs_alone_while_error_prone_starts_and_when_it_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A request never waits for the JVM's start: javac's own process answers, the same
    compiler findings, and the summary says why Error Prone did not run."""
    text = "class Late {\n  int f(int x) {\n    if (x > 0) {\n      return 1;\n    }\n  }\n}\n"
    errorprone._RESIDENT.stop()
    found, summary = findings(text, "java", "file:///p/Late.java")
    assert [f.rule for f in found] == ["javac"] and "missing return" in found[0].message
    assert "javac; Error Prone not run: starting" in summary
    monkeypatch.setenv("ERRORPRONE_LIBS", "/nonexistent")
    assert not errorprone.ready()
    again, summary = findings(text, "java", "file:///p/Late.java")
    assert again == found
    assert "Error Prone not run: not installed (`make install`)" in summary
    monkeypatch.setenv("ERRORPRONE", "off")
    assert findings(text, "java", "file:///p/Late.java")[0] == found


def test_error_prone_is_pinned_where_make_install_resolves_it() -> None:
    pom = (Path(__file__).parent.parent / "infra" / "errorprone" / "pom.xml").read_text()
    assert f"<version>{errorprone.ERRORPRONE_VERSION}</version>" in pom


def test_error_prones_helper_comes_back_after_it_dies() -> None:
    assert errorprone.warm_errorprone()
    expected, _ = findings(JAVA, "java", "file:///p/Checks.java")
    helper = errorprone._RESIDENT._process
    assert helper is not None and helper.poll() is None
    os.kill(helper.pid, 9)
    helper.wait()
    assert errorprone.warm_errorprone()
    assert findings(JAVA, "java", "file:///p/Checks.java")[0] == expected


def test_cppcheck_checks_a_file_whose_project_header_is_missing() -> None:
    """gcc cannot run without lib.h; cppcheck reads LIB_API as its argument and finds the bugs."""
    found, summary = findings(C_WITH_PROJECT_HEADER, "c", "file:///p/fill.c")
    rules = lines_of(C_WITH_PROJECT_HEADER, found, "cppcheck/")
    assert rules == {"cppcheck/arrayIndexOutOfBounds": 6, "cppcheck/duplicateExpression": 7,
                     "cppcheck/zerodiv": 8}, rules
    assert "cppcheck (read LIB_API as the arguments it is given" in summary
    assert "gcc not run" in summary


def test_cppcheck_reads_no_other_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.h"
    secret.write_text("int leaked = 1 / 0;\n")
    text = f'#include "{secret}"\n#if __has_include("{secret}")\n#endif\nint f(void) {{ return 0; }}\n'
    found, _ = run_cppcheck(text, "c")
    assert found == []


@given(st.lists(st.sampled_from([
    "#include <a.h>", "#  include \\", "  \"b.h\"", "int x;", "%:include <c.h>", "#error no",
    "#define M(x) x", "_Pragma(\"once\")", "", "int include_count;", "/* include */ \\"]),
    max_size=12))
def test_cppcheck_sees_no_line_that_names_a_file(lines: list[str]) -> None:
    text = "\n".join(lines)
    seen = without_file_names(text)
    assert seen.count("\n") == text.count("\n")
    joined = seen.replace("\\\n", "")
    assert re.search(r"\binclude\b|_Pragma|#\s*error", joined) is None, joined


def test_clippy_runs_as_rusts_compiler_with_the_crates_lints_capped() -> None:
    found, summary = findings(RUST, "rust", "file:///p/lib.rs")
    rules = lines_of(RUST, found, "clippy::")
    assert rules == {"clippy::eq_op": 3, "clippy::absurd_extreme_comparisons": 4}, rules
    # `#![deny(missing_docs)]` is the crate's policy: a hint on request, never an error.
    assert not [f for f in found if f.severity == "error"]
    assert "(rustc + Clippy; semantic checks)" in summary


def test_a_missing_analyzer_is_named_and_the_compilers_findings_still_come(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATICCHECK_BIN", "/nonexistent/staticcheck")
    monkeypatch.setattr(staticcheck, "VENDOR_STATICCHECK", Path("/nonexistent/staticcheck"))
    monkeypatch.setenv("PATH", os.environ["PATH"].replace(str(Path.home() / "go" / "bin"), ""))
    if shutil.which("staticcheck"):
        pytest.skip("a staticcheck on PATH")
    text = 'package m\n\nimport "fmt"\n\nfunc F() {\n\tfmt.Printf("%d\\n", "x")\n}\n'
    found, summary = findings(text, "go", "file:///p/m.go")
    assert [f.rule for f in found] == ["vet/printf"]
    assert "staticcheck not run: staticcheck is not installed" in summary


def test_a_stuck_analyzer_is_named_and_nothing_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    before = private_dirs()
    monkeypatch.setattr(mypy, "MYPY_TIMEOUT_S", 0.01)
    found, summary = findings(PYTHON, "python", "file:///p/shapes.py")
    assert "mypy failed (mypy did not finish within 0.01 s)" in summary
    assert not [f for f in found if f.rule.startswith("mypy/")]
    assert private_dirs() <= before


def test_the_capabilities_table_names_every_analyzer_that_runs() -> None:
    for language, runs in analyzers.ANALYZERS.items():
        for name, _ in runs:
            assert name in capabilities.ANALYZERS[language], (language, name)
    assert compilers.CLIPPY_GROUPS and "rustc + Clippy" in capabilities.ANALYZERS["rust"]


def test_a_c_syntax_error_both_parsers_see_is_an_error() -> None:
    """gcc cannot run (a project header); tree-sitter alone would be a hint in C, cppcheck
    failing to parse the same line makes it an error, with tree-sitter's fix."""
    text = '#include "x.h"\nint f(int a) {\n  if (a > 1 {\n    return 2;\n  }\n  return 3;\n}\n'
    found, _ = findings(text, "c", "file:///p/f.c")
    [syntax] = [f for f in found if f.rule.startswith("syntax/")]
    assert syntax.severity == "error" and syntax.fix is not None
    assert not [f for f in found if f.rule == "cppcheck/syntaxError"]
    clean, _ = findings(C_WITH_PROJECT_HEADER, "c", "file:///p/fill.c")
    assert not [f for f in clean if f.rule.startswith("syntax/")]
