"""One task request in, its answer's items out: the six kinds over the static engines.

Pure apart from the ruff subprocess (which reads the text from stdin and executes nothing) and
the code model behind ``filler``. Items use code point offsets into the text given.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from schemas.socket import TaskKind, TextEdit
from schemas.tasks import TaskEdit, TaskFinding, TaskItem, TaskText, short_title
from tasks.analyzers import ANALYZERS, analyzed
from tasks.compilers import COMPILERS, Checked, compile_check, go_imports
from tasks.cppcheck import SYNTAX_ERROR as CPPCHECK_SYNTAX
from tasks.docs import doc_comment, summaries
from tasks.explain import explain
from tasks.filler import Filler
from tasks.linters import (
    OXLINT_LANGUAGES,
    SHELL_LANGUAGES,
    LinterError,
    LinterMissing,
    run_oxlint,
    run_shellcheck,
)
from tasks.offsets import Offsets
from tasks.rename import new_name, rename
from tasks.ruff import BUG_RULES, REFACTOR_RULES, Diagnostic, diagnostics, run_ruff
from tasks.semantic import CHECKED as SEMANTIC_CHECKED
from tasks.semantic import semantic_findings
from tasks.structure import definitions
from tasks.syntax import syntax_findings
from tasks.testgen import NoTest, WrittenTests, write_tests

#: Functions one tests request writes for (the first ones the range selects).
MAX_TEST_FUNCTIONS = 2
#: Syntax fixes one fix request compiles to verify (each costs a compiler run), and the time
#: it may spend on them (within the route's deadline: javac takes about a second a run).
MAX_VERIFIED_FIXES = 3
VERIFY_BUDGET_S = 1.5
#: Grammars whose syntax errors on released code are often the parser's, not the code's (C and
#: C++ macros, TypeScript syntax newer than the grammar, shell's many dialects): without a
#: compiler to confirm them (ShellCheck reports its own parse errors) they are style-level
#: (shown on request), not likely bugs.
UNSURE_SYNTAX = frozenset({"c", "cpp", "typescript", "typescriptreact", "shellscript"})


@dataclass(frozen=True, slots=True)
class TaskInput:
    kind: TaskKind
    text: str
    language: str
    uri: str
    start: int
    end: int
    instruction: str | None = None
    #: The session's other open documents: (uri, first lines), for the test framework.
    neighbours: list[tuple[str, str]] = field(default_factory=list)


def _in_range(start: int, end: int, lo: int, hi: int) -> bool:
    """A finding at ``[start, end)`` concerns the requested range (a cursor: its line's
    neighbourhood is the caller's concern, so an empty range means the whole document)."""
    if hi <= lo:
        return True
    return start < hi and end >= lo


def _filename(uri: str) -> str:
    """The name ruff is told (it decides stub mode and per-file rules by it): the document's, in
    portable characters only, since it goes into a process's arguments (a NUL cannot, and outside
    a UTF-8 locale nothing but ASCII can)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", uri.rsplit("/", 1)[-1]).strip(".") or "document"
    return name if name.endswith((".py", ".pyi")) else f"{name}.py"


def _has_directory(uri: str) -> bool:
    """Whether the document sits in a directory (``file:///a/b.py``), where a new file can go
    beside it (an unsaved ``untitled:Untitled-1`` does not)."""
    return "/" in uri.split(":", 1)[-1]


def _ruff(task: TaskInput, rules: tuple[str, ...]) -> list[Diagnostic]:
    if task.language != "python":
        return []
    return diagnostics(run_ruff(task.text, rules, _filename(task.uri)),
                       Offsets(task.text))


def _finding(d: Diagnostic) -> TaskFinding:
    return TaskFinding(d.start, d.end, d.severity, d.rule, d.message[:2000], d.edits or None)


def _wants_style(task: TaskInput) -> bool:
    """Style findings too: the user asked (``instruction`` names style, or all)."""
    return bool(re.search(r"\b(style|all)\b", task.instruction or "", re.IGNORECASE))


def _findings(task: TaskInput) -> tuple[list[TaskFinding], str]:
    """Ruff's bug rules for Python (its parser reports syntax errors there); the compiler for
    languages that have one here (Go, C, C++, Java, Rust: likely bugs, style on request);
    tree-sitter's syntax errors and the language's linter otherwise; the language's type
    checker or data-flow analyzer beside them (run at the same time); with a note naming what
    ran."""
    if task.language not in ANALYZERS:
        return _findings_with(task, compile_check(task.text, task.language, task.uri))
    with ThreadPoolExecutor(max_workers=1) as pool:
        analysis = pool.submit(analyzed, task.text, task.language)
        checked = compile_check(task.text, task.language, task.uri)
        return _findings_with(task, checked, analysis.result())


def _findings_with(task: TaskInput, checked: Checked | None,
                   analysis: tuple[list[Diagnostic], list[str]] | None = None
                   ) -> tuple[list[TaskFinding], str]:
    """:func:`_findings`, given what the compiler said (``None``: the language has none) and
    what the analyzers said (``None``: not run)."""
    found: list[TaskFinding] = []
    note = "ruff"
    if checked is not None and checked.ran:
        found = [_finding(d) for d in checked.diagnostics]
        verified, _, _ = (_verified_syntax_fixes(task, checked) if checked.syntax_errors()
                          else ([], 0, 0))
        if verified:
            # A parse error with a fix the compiler accepts: the fix's finding instead of the
            # compiler's words for the same error (on the fix's line or the next).
            offsets = Offsets(task.text)
            lines = {offsets.line_of(f.start) + step for f in verified for step in (0, 1)}
            said = set(checked.syntax_errors())
            found = verified + [f for f in found if not (
                f.message in said and offsets.line_of(f.start) in lines)]
        note = checked.note
    elif task.language == "python":
        syntax_seen = False
        for d in _ruff(task, BUG_RULES):
            if d.rule == "invalid-syntax":
                if syntax_seen:
                    continue  # after the first, the parser's errors mostly follow from it
                syntax_seen = True
            found.append(_finding(d))
    else:
        found = syntax_findings(task.text, task.language)
        if task.language in UNSURE_SYNTAX:
            found = [replace(f, severity="hint") if f.severity == "error" else f for f in found]
        linted, note = _linted(task)
        found += [_finding(d) for d in linted]
        if checked is not None:
            note = f"syntax only: {checked.note}"
    if analysis is not None:
        offsets = Offsets(task.text)
        # In C, two parsers agreeing (tree-sitter's error unconfirmed by a compiler, cppcheck's
        # on the same line or the next) make a syntax error, not a hint: all 9 injected ones
        # found, none on clean files. Not in C++, where on fmt's headers they agreed 4 times on
        # valid templates and on none of 18 injected errors.
        broken = {offsets.line_of(d.start) + step for d in analysis[0]
                  if d.rule == CPPCHECK_SYNTAX and task.language == "c" for step in (-1, 0, 1)}
        found = [replace(f, severity="error") if f.severity == "hint" and f.rule.startswith(
            "syntax/") and offsets.line_of(f.start) in broken else f for f in found]
        # A line the compiler or linter already flags keeps their words (gcc and cppcheck
        # both see an index out of bounds).
        flagged = {offsets.line_of(f.start) for f in found if f.severity != "hint"}
        found += [_finding(d) for d in analysis[0] if offsets.line_of(d.start) not in flagged
                  and d.rule != CPPCHECK_SYNTAX]
        note = "; ".join((note, *analysis[1]))
    if task.language in SEMANTIC_CHECKED and task.kind != "fix":  # they come with no fix
        found += [_finding(d) for d in semantic_findings(task.text, task.language, task.uri)]
        note += "; semantic checks"
    # Style is shown when asked for; `fix` offers its fixes too (an unused import removed).
    style = _wants_style(task) or task.kind == "fix"
    return [f for f in found if _in_range(f.start, f.end, task.start, task.end)
            and (f.severity != "hint" or style)], note


def _compiler_fixes(task: TaskInput) -> tuple[list[TaskFinding], str]:
    """For a language with a compiler here: tree-sitter's missing tokens, each kept only if
    the compiler, run on the text with it applied, finds fewer parse errors and no new one
    (type errors the parse error hid may appear: find_bugs reports them next)."""
    if task.language in COMPILERS and not any(f.fix for f in syntax_findings(task.text,
                                                                             task.language)):
        return [], ""  # nothing to verify: no compiler run
    before = compile_check(task.text, task.language, task.uri)
    if before is None or not before.ran:
        return [f for f in _findings_with(task, before)[0] if f.fix], ""
    kept, rejected, unverified = _verified_syntax_fixes(task, before)
    note = "".join((
        f"{rejected} syntax fix(es) left out: {before.note} rejects the text they make.\n"
        if rejected else "",
        f"{unverified} syntax fix(es) left out: not verified in time; run fix again after "
        "applying these.\n" if unverified else ""))
    return kept, note


def _verified_syntax_fixes(task: TaskInput, before: Checked
                           ) -> tuple[list[TaskFinding], int, int]:
    """tree-sitter's missing tokens the compiler accepts (see :func:`_compiler_fixes`), how
    many it rejected, and how many were not tried (past the count or the time budget)."""
    errors = before.syntax_errors()
    kept: list[TaskFinding] = []
    rejected = unverified = 0
    budget = time.monotonic() + VERIFY_BUDGET_S
    for finding in [f for f in syntax_findings(task.text, task.language) if f.fix]:
        if not _in_range(finding.start, finding.end, task.start, task.end):
            continue
        if len(kept) + rejected >= MAX_VERIFIED_FIXES or time.monotonic() > budget:
            unverified += 1
            continue
        after = compile_check(_applied(task.text, finding.fix or ()), task.language, task.uri)
        if (after is not None and after.ran and len(after.syntax_errors()) < len(errors)
                and set(after.syntax_errors()) <= set(errors)):
            kept.append(finding)
        else:
            rejected += 1
    return kept, rejected, unverified


def _applied(text: str, edits: tuple[TextEdit, ...]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:edit.start] + edit.text + text[edit.end:]
    return text


def _linted(task: TaskInput) -> tuple[list[Diagnostic], str]:
    """The language's linter, if it has one here, and a note naming it; a missing or failing
    linter leaves the syntax errors and says so."""
    name = ("oxlint" if task.language in OXLINT_LANGUAGES else
            "ShellCheck" if task.language in SHELL_LANGUAGES else None)
    if name is None:
        return [], "syntax only"
    try:
        if name == "oxlint":
            return run_oxlint(task.text, task.language), name
        return run_shellcheck(task.text), name
    except LinterMissing:
        return [], f"syntax only: {name} is not installed"
    except (LinterError, ValueError) as error:  # ValueError: output that is not JSON
        return [], f"syntax only: {name} failed ({error})"


def _overlaps(edits: tuple[TextEdit, ...], taken: list[tuple[int, int]]) -> bool:
    return any(e.start < t_end and t_start < max(e.end, e.start + 1)
               for e in edits for t_start, t_end in taken)


def run_task(task: TaskInput, filler: Filler | None) -> Iterator[TaskItem]:
    """The items answering ``task``, in the order they should reach the user."""
    kind = task.kind
    if kind == "find_bugs":
        findings, note = _findings(task)
        yield from findings
        errors = sum(f.severity == "error" for f in findings)
        yield TaskText(f"{len(findings)} problem(s), {errors} error(s), "
                       f"{sum(f.fix is not None for f in findings)} with a fix ({note}).\n")
    elif kind == "fix":
        findings, verified = _compiler_fixes(task)
        if verified:
            yield TaskText(verified)
        taken: list[tuple[int, int]] = []
        for finding in findings:
            assert finding.fix is not None
            if _overlaps(finding.fix, taken):
                continue  # applied together they would conflict: fix again after applying
            taken += [(e.start, max(e.end, e.start + 1)) for e in finding.fix]
            yield TaskEdit(short_title(f"{finding.rule}: {finding.message}"), finding.fix)
        if not taken:
            yield TaskText("Nothing to fix automatically here.\n")
    elif kind == "refactor":
        count = 0
        target = new_name(task.instruction)
        if target is not None:
            renamed = rename(task.text, task.language, task.start, target)
            if renamed is not None:
                yield renamed  # what the user asked for, alone
                return
            yield TaskText(f"Nothing renamed to `{target}`: put the cursor on a variable's name, "
                           "and choose a name not already used in its scope.\n")
            return
        for diagnostic in _ruff(task, REFACTOR_RULES):
            if diagnostic.edits and _in_range(diagnostic.start, diagnostic.end, task.start,
                                              task.end):
                count += 1
                title = (f"{diagnostic.rule}: {diagnostic.fix_title or diagnostic.message}"
                         + ("" if diagnostic.safe else " (review)"))
                yield TaskEdit(short_title(title), diagnostic.edits)
        if not count:
            yield TaskText("No refactoring applies here"
                           + ("" if task.language == "python" else
                              f" (refactorings exist for Python only, not {task.language})")
                           + ".\n")
    elif kind == "docs":
        found = definitions(task.text, task.language, task.start, task.end)
        others = summaries(task.text, task.language)
        written = 0
        for d in found:
            comment = doc_comment(task.text, task.language, d, filler, others)
            if comment is None:
                continue
            if not comment.text:
                yield TaskText(f"No documentation written for `{d.name or d.kind}`: no summary "
                               "passed the check (prose naming what the code uses, copied from "
                               "no other definition), and the comment would hold nothing "
                               "else.\n")
                continue
            written += 1
            yield TaskEdit(short_title(f"Document {d.name or d.kind}"),
                           (TextEdit(comment.offset, comment.offset, comment.text),))
            if comment.summary is None:
                yield TaskText(f"`{d.name or d.kind}`: its parameters and results documented; "
                               "no summary line, since none passed the check (write it "
                               "yourself).\n")
        if not found:
            yield TaskText("Nothing to document here: put the cursor in a function or class.\n")
        elif not written and all(d.docstring for d in found):
            yield TaskText("Nothing to document here: the definitions selected are documented "
                           "already.\n")
    elif kind == "explain":
        for piece in explain(task.text, task.language, task.start, task.end, filler):
            yield TaskText(piece)
    elif kind == "tests":
        yield from _tests(task)


def _test_file_problem(task: TaskInput, tests: WrittenTests) -> str | None:
    """Why a generated test file must not be sent: it does not parse (a Rust test module is
    parsed with the document it is appended to)."""
    whole = tests.text if tests.new else task.text + tests.text
    problems = syntax_findings(whole, task.language)
    return problems[0].message if problems else None


_GO_TEST_IMPORTS = re.compile(r'^import \((.*?)\)\n', re.MULTILINE | re.DOTALL)


def _with_tests(task: TaskInput, tests: WrittenTests) -> tuple[str, int] | None:
    """The document with the tests in it, as one file a compiler can check, and where the
    tests start in it (``None``: not a language whose tests are compiled here). Go: the test
    functions after the document, their imports it lacks added after its package clause; Rust:
    the test module as plain code (``#[test]`` and ``#[cfg(test)]`` dropped: rustc without
    ``--test`` would leave it out)."""
    if task.language == "rust":
        module = re.sub(r"^[ \t]*#\[(?:cfg\()?test\)?\][ \t]*\n", "", tests.text, flags=re.MULTILINE)
        return task.text + module, len(task.text)
    if task.language != "go":
        return None
    imports = _GO_TEST_IMPORTS.search(tests.text)
    if imports is None:
        return None
    needed = [p for p in re.findall(r'"([^"]+)"', imports.group(1)) if p not in go_imports(
        task.text)]
    clause = re.search(r"^package\s+\w+[^\n]*\n", task.text, re.MULTILINE)
    if clause is None:
        return None
    head = "".join(f'import "{p}"\n' for p in needed)
    document = task.text[:clause.end()] + head + task.text[clause.end():]
    return f"{document}\n{tests.text[imports.end():]}", len(document) + 1


def _compiles(task: TaskInput, tests: WrittenTests) -> tuple[str | None, str]:
    """(why the tests must not be sent: the compiler's first error in them, or ``None``; what
    checked them, for the answer)."""
    merged = _with_tests(task, tests)
    if merged is None:
        return None, "parsed"
    text, start = merged
    checked = compile_check(text, task.language, task.uri)
    if checked is None or not checked.ran:
        return None, f"parsed, not compiled ({checked.note if checked else 'no compiler'})"
    errors = [d for d in checked.diagnostics if d.severity == "error" and d.end > start]
    if errors:
        return errors[0].message, ""
    return None, f"compiled with the document by {checked.note.split(' (')[0]}"


def _tests(task: TaskInput) -> Iterator[TaskItem]:
    found = [d for d in definitions(task.text, task.language, task.start, task.end)
             if d.kind == "function"]
    if not found:
        yield TaskText("No tests written: put the cursor in a function of Python, "
                       "JavaScript, TypeScript, Go, Rust or Java.\n")
        return
    for d in found[:MAX_TEST_FUNCTIONS]:
        tests = write_tests(task.text, task.uri, task.language, d, task.neighbours)
        if isinstance(tests, NoTest):
            yield TaskText(f"No test for `{d.name}`: {tests.reason}.\n")
            continue
        problem = _test_file_problem(task, tests)
        if problem is not None:
            yield TaskText(f"No test for `{d.name}`: the file written does not parse "
                           f"({problem}), so it is not sent.\n")
            continue
        problem, checked = _compiles(task, tests)
        if problem is not None:
            yield TaskText(f"No test for `{d.name}`: the file written does not compile with "
                           f"the document ({problem}), so it is not sent.\n")
            continue
        what = [f"{tests.examples} case(s) from its documented examples"] if tests.examples \
            else []
        what += ["a round trip through its inverse in this file"] if tests.round_trips else []
        yield TaskText(f"{tests.framework} test for `{d.name}`: {' and '.join(what)}; every "
                       f"expected value is stated by the code itself. {checked.capitalize()}, "
                       "not run.\n")
        if tests.new and not _has_directory(task.uri):
            # An unsaved buffer (``untitled:``) has no directory for a new file beside it:
            # the tests come as text to paste.
            yield TaskText(f"\n```{task.language}\n{tests.text.strip()}\n```\n")
        elif tests.new:
            yield TaskEdit(short_title(f"Tests for {d.name}"), (TextEdit(0, 0, tests.text),),
                           tests.uri)
        else:
            end = len(task.text)
            yield TaskEdit(short_title(f"Tests for {d.name}"), (TextEdit(end, end, tests.text),))
