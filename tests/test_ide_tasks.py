"""The assistant tasks from an editor: a real LSP client (pytest-lsp) asks the language server
for code actions, runs them as commands, and gets the edits applied through
``workspace/applyEdit`` and the findings as diagnostics with quick fixes, against the stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from config.settings import Settings
from ide.actions import TASK_COMMAND
from tests.real_editors import feedback_kinds_sql
from tests.test_analytics_e2e import until
from tests.test_ide_e2e import open_doc, start_editor

pytestmark = pytest.mark.stack
URI = "file:///work/stats.py"
# Astral characters before the bug: LSP counts them as two UTF-16 units, our protocol as one.
BUGGY = '''import os

LABEL = "\U0001f4ca stats"


def mean(values, weights=[]):
    if len(values) == None:
        return totl
    return sum(values) / len(values)
'''

DOCTESTED = 'def double(n):\n    """Twice n.\n\n    >>> double(2)\n    4\n    """\n    return 2 * n\n'


@pytest.fixture
async def editor(stack: Settings) -> AsyncIterator[LanguageClient]:
    client = await start_editor(stack)
    applied: list[types.WorkspaceEdit] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    client.applied = applied  # type: ignore[attr-defined]
    yield client
    await client.shutdown_session()
    await client.stop()


def whole(line: int, character: int) -> types.Range:
    here = types.Position(line=line, character=character)
    return types.Range(start=here, end=here)


async def run(editor: LanguageClient, kind: str, line: int = 0, character: int = 0,
              uri: str = URI) -> dict[str, Any]:
    actions = await editor.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=whole(line, character),
        context=types.CodeActionContext(diagnostics=[])))
    assert actions is not None
    [command] = [a for a in actions if isinstance(a, types.Command) and a.arguments
                 and a.arguments[0]["kind"] == kind]
    result = await editor.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command.command, arguments=command.arguments))
    assert isinstance(result, dict), result
    return result


def text_edits(edit: types.WorkspaceEdit) -> list[types.TextEdit]:
    assert edit.document_changes is not None
    return [e for change in edit.document_changes if isinstance(change, types.TextDocumentEdit)
            for e in change.edits if isinstance(e, types.TextEdit)]


async def test_find_bugs_publishes_diagnostics_in_utf16_with_quick_fixes(
        stack: Settings, editor: LanguageClient) -> None:
    open_doc(editor, BUGGY, URI)
    result = await run(editor, "find_bugs")
    assert result["reason"] == "stop" and result["findings"] >= 3
    diagnostics = editor.diagnostics[URI]
    by_code = {d.code: d for d in diagnostics}
    assert {"B006", "F821", "E711"} <= set(by_code) and "F401" not in by_code  # style: hidden
    undefined = by_code["F821"].range
    assert (undefined.start.line, undefined.start.character) == (7, 15)
    comparison = by_code["E711"].range
    assert comparison.start.line == 6
    # The quick fix for the comparison to None comes back with the diagnostic.
    actions = await editor.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), range=by_code["E711"].range,
        context=types.CodeActionContext(diagnostics=[by_code["E711"]])))
    assert actions is not None
    fixes = [a for a in actions if isinstance(a, types.CodeAction)
             and a.kind == types.CodeActionKind.QuickFix and a.edit is not None]
    assert fixes and fixes[0].title.startswith("Fix E711")
    [change] = text_edits(fixes[0].edit)  # type: ignore[arg-type]
    assert "is None" in change.new_text and change.range.start.line == 6


async def test_fix_and_docs_are_applied_through_workspace_edits(
        stack: Settings, editor: LanguageClient) -> None:
    open_doc(editor, BUGGY, URI)
    result = await run(editor, "fix")
    assert result["applied"] and result["edits"]
    # Shown and applied reach ClickHouse as the task's feedback, like a completion's.
    assert await until(stack, feedback_kinds_sql(result["requestId"]), "accepted,shown") == \
        "accepted,shown"
    [edit] = editor.applied  # type: ignore[attr-defined]
    assert edit.document_changes[0].text_document.version == 1
    docs = await run(editor, "docs", line=5, character=5)
    assert docs["applied"] and docs["edits"] == ["Document mean"]
    inserted = text_edits(editor.applied[-1])  # type: ignore[attr-defined]
    assert inserted[0].range.start == types.Position(line=6, character=0)
    assert inserted[0].new_text.startswith('    """')


async def test_tests_create_a_file_and_explain_returns_markdown(
        stack: Settings, editor: LanguageClient) -> None:
    open_doc(editor, BUGGY, URI)
    explained = await run(editor, "explain", line=5, character=5)
    assert explained["markdown"].startswith("### `mean(values, weights = [])`")
    tests = await run(editor, "tests", line=5, character=5)
    assert not tests["edits"] and "No test for `mean`" in tests["markdown"]  # nothing to assert
    open_doc(editor, DOCTESTED, "file:///work/calc.py")
    tests = await run(editor, "tests", line=0, character=5, uri="file:///work/calc.py")
    assert tests["edits"], tests
    created = editor.applied[-1]  # type: ignore[attr-defined]
    kinds = [type(change).__name__ for change in created.document_changes]
    assert kinds == ["CreateFile", "TextDocumentEdit"]
    assert created.document_changes[0].uri == "file:///work/test_calc.py"


async def test_bad_task_arguments_are_errors_and_the_server_lives(
        stack: Settings, editor: LanguageClient) -> None:
    open_doc(editor, BUGGY, URI)
    for argument in ({"kind": "poem", "uri": URI, "range": {}},
                     {"kind": "explain", "uri": URI, "range": {"start": 1}},
                     {"kind": "explain", "uri": "file:///nope.py",
                      "range": {"start": {"line": 0, "character": 0},
                                "end": {"line": 0, "character": 0}}},
                     {"kind": "explain", "uri": URI,
                      "range": {"start": {"line": 99, "character": 0},
                                "end": {"line": 99, "character": 0}}}):
        with pytest.raises(JsonRpcException):
            await editor.workspace_execute_command_async(types.ExecuteCommandParams(
                command=TASK_COMMAND, arguments=[argument]))
    still = await run(editor, "explain", line=5, character=5)
    assert still["reason"] == "stop"


async def test_a_language_is_offered_only_the_tasks_the_edge_says_it_gets(
        stack: Settings, editor: LanguageClient) -> None:
    """The server asks for the edge's per-language table at hello: a JSON file is offered
    find bugs and fix, not an explanation or tests."""
    open_doc(editor, BUGGY, URI)
    await run(editor, "find_bugs")  # connected: the welcome, and its table, have come
    editor.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri="file:///work/a.json", language_id="json",
                                             version=1, text='{"a": 1}\n')))
    actions = await editor.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri="file:///work/a.json"),
        range=whole(0, 0), context=types.CodeActionContext(diagnostics=[])))
    assert actions is not None
    kinds = [a.arguments[0]["kind"] for a in actions if isinstance(a, types.Command)
             and a.arguments]
    assert kinds == ["find_bugs", "fix"]
