"""find_bugs and fix from each language's compiler, run for real on planted bugs: what the compiler
sees is found with its rule, a clean file gets no likely-bug finding, style waits to be asked for,
what cannot be checked here is said and not guessed, a fix the compiler rejects is not sent, and
nothing stays in the private directory."""

from __future__ import annotations

import shutil

import pytest

from schemas.tasks import TaskEdit, TaskFinding, TaskText
from tasks import compilers
from tasks.compilers import compile_check, warm_go
from tasks.engine import TaskInput, run_task
from tasks.linters import LINT_PREFIX, MEMORY_DIR

GO_MISSING_RETURN = """package main

func sign(x int) int {
\tif x > 0 {
\t\treturn 1
\t} else if x < 0 {
\t\treturn -1
\t}
}
"""
GO_PRINTF = """package main

import "fmt"

func main() {
\tfmt.Printf("%d\\n", "three")
}
"""
C_BUGS = """#include <stdio.h>

int sign(int x) {
    if (x > 0) return 1;
    else if (x < 0) return -1;
}

int main(void) {
    int n;
    if (n == 3) printf("%s\\n", 42);
    return sign(n);
}
"""
CPP_CLEAN = """#include <vector>

int total(const std::vector<int>& xs) {
    int sum = 0;
    for (int x : xs) sum += x;
    return sum;
}
"""
JAVA_BUGS = """public class Signs {
    static int sign(int x) {
        if (x > 0) return 1;
        else if (x < 0) return -1;
    }

    static int half(int x) {
        int y = x / 0;
        if (y > 1);
        return y;
    }
}
"""
RUST_BUGS = """fn sign(x: i32) -> i32 {
    if x > 0 { 1 } else if x < 0 { -1 }
}
"""
RUST_MUST_USE = """pub fn double(v: &[i32]) -> usize {
    let unused = 3;
    v.iter().map(|x| x * 2);
    v.len()
}
"""


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    """A cold Go cache compiles the standard library on the first vet (the route warms it at
    its start, aside)."""
    if shutil.which("go"):
        warm_go()


def findings(text: str, language: str, uri: str, instruction: str | None = None
             ) -> tuple[list[TaskFinding], str]:
    items = list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0, instruction), None))
    summary = items[-1]
    assert isinstance(summary, TaskText)
    return [i for i in items if isinstance(i, TaskFinding)], summary.text


def at(text: str, finding: TaskFinding) -> int:
    """1-based line of a finding."""
    return text.count("\n", 0, finding.start) + 1


@pytest.mark.parametrize(("text", "language", "uri", "rule", "line"), [
    (GO_MISSING_RETURN, "go", "file:///s.go", "go/types", 9),
    (GO_PRINTF, "go", "file:///p.go", "vet/printf", 6),
    (C_BUGS, "c", "file:///s.c", "-Wreturn-type", 6),
    (C_BUGS, "c", "file:///s.c", "-Wuninitialized", 10),
    (C_BUGS, "c", "file:///s.c", "-Wformat=", 10),
    (C_BUGS.replace("stdio.h", "cstdio"), "cpp", "file:///s.cpp", "-Wreturn-type", 6),
    (JAVA_BUGS, "java", "file:///Signs.java", "javac", 5),
    (JAVA_BUGS, "java", "file:///Signs.java", "javac/divzero", 8),
    (JAVA_BUGS, "java", "file:///Signs.java", "javac/empty", 9),
    (RUST_BUGS, "rust", "file:///s.rs", "E0317", 2),
    (RUST_MUST_USE, "rust", "file:///d.rs", "unused_must_use", 3),
])
def test_the_compiler_finds_the_planted_bug(text: str, language: str, uri: str, rule: str,
                                            line: int) -> None:
    found, summary = findings(text, language, uri)
    assert [at(text, f) for f in found if f.rule == rule] == [line], (found, summary)
    assert all(f.severity in ("error", "warning") for f in found)


def test_a_clean_file_gets_no_finding_and_style_only_on_request() -> None:
    assert findings(CPP_CLEAN, "cpp", "file:///t.cpp") == (
        [], "0 problem(s), 0 error(s), 0 with a fix (g++; cppcheck; semantic checks).\n")
    quiet, _ = findings(RUST_MUST_USE, "rust", "file:///d.rs")
    assert "unused_variables" not in {f.rule for f in quiet}
    asked, _ = findings(RUST_MUST_USE, "rust", "file:///d.rs", "show style too")
    assert {f.severity for f in asked if f.rule == "unused_variables"} == {"hint"}


@pytest.mark.parametrize(("text", "language", "says"), [
    ('package main\n\nimport "github.com/x/y"\n\nfunc f() int {}\n', "go",
     "go vet not run: the file imports packages outside the standard library (github.com/x/y)"),
    ('#include "config.h"\nint f(void) { }\n', "c", "project headers ('config.h')"),
    ('#include "/etc/hostname"\n', "c", "absolute or parent path"),
    ("#include <../../etc/hostname>\n", "cpp", "absolute or parent path"),
    ('const S: &str = include_str!("/etc/hostname");\n', "rust", "reads other files"),
    ("mod other;\nfn f() {}\n", "rust", "reads other files"),
    # Other spellings that would make a compiler read a server file (and print it in an error).
    ('const S: &str = include_str !("/etc/hostname");\n', "rust", "reads other files"),
    ('use std::include_str as f;\nconst S: &str = f!("/etc/hostname");\n', "rust",
     "reads other files"),
    ("mod r#other;\n", "rust", "reads other files"),
    ('#define F "/etc/hostname"\n#include F\n', "c", "plain `#include <...>`"),
    ('#include \\\n"/etc/hostname"\n', "c", "plain `#include <...>`"),
    ('%:include "/etc/hostname"\n', "c", "plain `#include <...>`"),
    ('#/**/include "/etc/hostname"\n', "cpp", "plain `#include <...>`"),
    ('#if __has_include("/root/.ssh/id_rsa")\nint k;\n#endif\n', "c", "plain `#include <...>`"),
    ('#pragma GCC dependency "/etc/hostname"\n', "c", "plain `#include <...>`"),
    ('_Pragma("GCC dependency \\"/etc/hostname\\"")\n', "c", "plain `#include <...>`"),
    ("#include <sys/../../etc/hostname>\n", "c", "absolute or parent path"),
])
def test_what_cannot_be_checked_here_is_said_not_guessed(text: str, language: str,
                                                         says: str) -> None:
    checked = compile_check(text, language, "file:///x")
    assert checked is not None and not checked.ran and says in checked.note, checked
    _, summary = findings(text, language, "file:///x")
    assert "syntax only: " in summary and says in summary


def test_names_from_a_missing_java_package_are_not_called_bugs() -> None:
    """Nor what follows from them: a lambda given to a type javac cannot see is "not expected
    here" (seen in commons-lang3), which is no parse error."""
    text = ("import com.acme.Thing;\n\npublic class Uses {\n    int f() {\n"
            "        return new Thing().size();\n    }\n    int g(int x) { return x / 0; }\n"
            "    private Thing t;\n    void h() { this.t = (a, b) -> a; }\n}\n")
    found, summary = findings(text, "java", "file:///Uses.java")
    assert [f.rule for f in found] == ["javac/divzero"], found
    assert "names from other files and packages outside the JDK were not checked" in summary


def test_a_syntax_fix_the_compiler_rejects_is_not_sent() -> None:
    """tree-sitter's missing `)` for Go's unfinished call lands after the next statement: the
    compiler still cannot parse the result, so the fix is left out and the answer says so."""
    text = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("a"\n\tfmt.Println("b")\n}\n'
    items = list(run_task(TaskInput("fix", text, "go", "file:///m.go", 0, 0), None))
    assert not any(isinstance(i, TaskEdit) for i in items), items
    assert "left out: go vet rejects the text they make" in str(items)
    good = "int main(void) {\n  int x = (1 + 2;\n  return x;\n}\n"
    (edit,) = [i for i in run_task(TaskInput("fix", good, "c", "file:///m.c", 0, 0), None)
               if isinstance(i, TaskEdit)]
    assert edit.edits[0].text == ")"


def test_a_missing_or_stuck_compiler_is_said_and_nothing_stays(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    compilers._binary.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    _, summary = findings(C_BUGS, "c", "file:///s.c")
    assert summary.endswith("(syntax only: gcc is not installed; cppcheck not run: cppcheck is "
                            "not installed (`apt-get install -y cppcheck`, or `make install`); "
                            "semantic checks).\n"), summary
    compilers._binary.cache_clear()
    monkeypatch.undo()
    monkeypatch.setattr(compilers, "COMPILE_TIMEOUT_S", 0.001)
    _, summary = findings(JAVA_BUGS, "java", "file:///Signs.java")
    assert "javac did not finish within 0.001 s" in summary
    assert not list(MEMORY_DIR.glob(f"{LINT_PREFIX}*")), "a private directory was left"


def test_what_go_derives_from_a_file_leaves_with_its_run() -> None:
    """Each run works on hard links to the warm cache: the export data and vet facts of the
    user's file (its names, types, constants) are not added to the shared cache."""
    before = sum(1 for _ in compilers.GO_CACHE.rglob("*"))
    text = 'package secret\n\nconst Token = "canary-7f3a"\n\nfunc Key() string { return Token }\n'
    checked = compile_check(text, "go", "file:///k.go")
    assert checked is not None and checked.ran, checked
    assert sum(1 for _ in compilers.GO_CACHE.rglob("*")) == before
    assert not [p for p in compilers.GO_CACHE.rglob("*") if p.is_file()
                and b"canary-7f3a" in p.read_bytes()]


def test_go_type_errors_and_vet_findings_survive_braces_in_messages() -> None:
    output = ("# document\nvet: ./document.go:4:2: x (variable of type struct{}) is not used\n"
              '{\n\t"document": {\n\t\t"printf": [\n\t\t\t{\n\t\t\t\t"posn": '
              '"/p/document.go:6:2",\n\t\t\t\t"message": "bad {} verb"\n\t\t\t}\n'
              "\t\t]\n\t}\n}\n")
    text = "package main\n\nfunc main() {\n\tx := struct{}{}\n\n\tprintln()\n}\n"
    found = compilers.go_diagnostics(output, compilers.Offsets(text))
    assert [(d.rule, d.message) for d in found] == [
        ("go/types", "x (variable of type struct{}) is not used"),
        ("vet/printf", "bad {} verb")]


def test_a_file_that_cannot_be_written_for_the_compiler_is_said() -> None:
    """A public class named past the file system's 255 bytes: no crash, the note says why."""
    name = "A" * 300
    checked = compile_check(f"public class {name} {{}}\n", "java", "file:///A.java")
    assert checked is not None and not checked.ran
    assert "could not be written for the compiler" in checked.note
    assert not list(MEMORY_DIR.glob(f"{LINT_PREFIX}*"))
