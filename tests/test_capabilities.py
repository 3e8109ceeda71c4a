"""The per-language task table the protocol states (``schemas.capabilities``, sent in welcome
when hello asks) is what the task engines do: their grammars, analyzers and test frameworks."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import capabilities
from schemas.capabilities import LANGUAGE_TASKS, markdown_table
from schemas.socket import Hello, Welcome
from schemas.tasks import TaskText
from tasks import errorprone, grammars, semantic
from tasks.compilers import COMPILERS
from tasks.engine import TaskInput, run_task
from tasks.linters import OXLINT_LANGUAGES, SHELL_LANGUAGES
from tasks.ruff import REFACTOR_RULES
from tasks.testgen import detect_framework
from tests.test_edge_session import frame, new_session

BY_LANGUAGE = {row.language: row for row in LANGUAGE_TASKS}


def test_the_languages_are_the_grammars() -> None:
    assert set(BY_LANGUAGE) == capabilities.PARSED == set(grammars.GRAMMARS)
    assert capabilities.NO_SYNTAX_ERRORS == grammars.NO_SYNTAX_ERRORS


def test_the_analyzers_are_the_engines() -> None:
    engines = {*COMPILERS, *OXLINT_LANGUAGES, *SHELL_LANGUAGES, "python"}
    assert set(capabilities.ANALYZERS) == engines
    assert capabilities.SEMANTIC == semantic.CHECKED


@pytest.mark.parametrize("language", sorted(capabilities.PARSED))
def test_test_frameworks_are_the_ones_written(language: str) -> None:
    stated = BY_LANGUAGE[language].test_frameworks
    assert detect_framework(language, []) == (stated[0] if stated else None)
    assert ("tests" in BY_LANGUAGE[language].kinds) == bool(stated)


@pytest.mark.parametrize(("language", "text"), [
    ("python", "def f(:\n"), ("go", "package m\n\nfunc f() int {\n}\n"),
    ("c", "int f(void) {\n}\n"), ("cpp", "int f() {\n}\n"),
    ("java", "class A { int f(int[] a) { return a.hashCode(); } }\n"),
    ("rust", "fn f() -> i32 {\n}\n"), ("javascript", "function f() { return; f(); }\n"),
    ("shellscript", "#!/bin/sh\necho $1\n"),
])
def test_find_bugs_names_the_stated_analyzer(language: str, text: str) -> None:
    """The answer's summary names the analyzer the table states (a missing return, an
    unreachable call, an array's identity hash, an unquoted variable, a syntax error)."""
    if language == "java":
        assert errorprone.warm_errorprone()  # javac's own process answers while it starts
    items = list(run_task(TaskInput("find_bugs", text, language, "file:///p/a", 0, 0), None))
    summary = "".join(i.text for i in items if isinstance(i, TaskText))
    stated = BY_LANGUAGE[language].analyzers
    said = summary[summary.index(" fix (") + 6:]
    assert said.startswith(stated[0]), summary
    assert all(name in said for name in stated if name != "tree-sitter"), summary


def test_only_python_refactors_beyond_rename() -> None:
    assert REFACTOR_RULES and {row.language for row in LANGUAGE_TASKS if row.refactorings} == \
        {"python"}


def test_formats_that_are_not_code_get_no_explanation() -> None:
    json_row = BY_LANGUAGE["json"]
    assert json_row.kinds == ("find_bugs", "fix") and json_row.analyzers == ("tree-sitter",)
    assert BY_LANGUAGE["markdown"].kinds == ()  # prose: its parse errors mean nothing


def test_welcome_carries_the_table_only_when_hello_asks() -> None:
    (plain,), _ = new_session().receive(frame(Hello(protocol=1, client="t")), 1)
    (asked,), _ = new_session().receive(frame(Hello(1, "t", capabilities=True)), 1)
    assert isinstance(plain, Welcome) and plain.languages == ()
    assert isinstance(asked, Welcome) and asked.languages == LANGUAGE_TASKS


def test_the_table_in_the_docs_is_this_one() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "TASKS.md").read_text()
    start = text.index("-->\n", text.index("<!-- capabilities")) + 4
    assert text[start:text.index("<!-- /capabilities -->")] == markdown_table(), \
        "docs/TASKS.md's table is stale: paste schemas.capabilities.markdown_table() there"
