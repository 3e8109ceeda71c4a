"""The assistant tasks as LSP: code actions that run them, the edits they return as one
``WorkspaceEdit``, their findings as diagnostics (with quick fixes). Pure: frames and the
document's text in, LSP values out, positions converted in the session's encoding."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

from ide.positions import Encoding, Position, line_starts, position_of
from ide.suggestions import lf_only
from schemas.socket import (
    TASK_KINDS,
    EditResult,
    FindingResult,
    LanguageTasks,
    TaskKind,
    TextEdit,
)

TASK_COMMAND = "codeAssistant.task"
SOURCE = "code-assistant"
TITLES: dict[TaskKind, str] = {
    "explain": "Explain this code", "find_bugs": "Find bugs", "fix": "Fix problems",
    "refactor": "Suggest refactorings", "tests": "Write tests", "docs": "Write documentation",
}
#: Kinds whose edits the editor is asked to apply when the command ends.
APPLIED: frozenset[TaskKind] = frozenset({"fix", "refactor", "docs", "tests"})
_SEVERITY = {"error": types.DiagnosticSeverity.Error,
             "warning": types.DiagnosticSeverity.Warning,
             "information": types.DiagnosticSeverity.Information,
             "hint": types.DiagnosticSeverity.Hint}


def _lsp(position: Position) -> types.Position:
    return types.Position(position.line, position.character)


def lsp_range(text: str, starts: list[int], start: int, end: int, encoding: Encoding
              ) -> types.Range:
    return types.Range(_lsp(position_of(text, starts, start, encoding)),
                       _lsp(position_of(text, starts, end, encoding)))


def offered_kinds(language_id: str, languages: Sequence[LanguageTasks]) -> tuple[TaskKind, ...]:
    """The task kinds worth offering in a document of ``language_id``: those the edge's table
    (``welcome``) gives it; all of them before the table came or for a language it does not
    name (the server then says what it can do)."""
    row = next((r for r in languages if r.language == language_id), None)
    return TASK_KINDS if row is None else tuple(k for k in TASK_KINDS if k in row.kinds)


def task_actions(uri: str, selection: types.Range, kinds: Sequence[TaskKind] = TASK_KINDS
                 ) -> list[types.Command]:
    """One command per task kind on the selection (or cursor). Commands, not code actions
    carrying a command: some clients' decoders read a code action that has both ``kind`` and
    ``command`` as a bare command and lose its arguments (lsprotocol's does)."""
    return [types.Command(
        title=f"Code assistant: {TITLES[kind]}", command=TASK_COMMAND, arguments=[
            {"kind": kind, "uri": uri,
             "range": {"start": {"line": selection.start.line,
                                 "character": selection.start.character},
                       "end": {"line": selection.end.line,
                               "character": selection.end.character}}}])
        for kind in kinds]


def _text_edits(text: str, starts: list[int], edits: Sequence[TextEdit], encoding: Encoding
                ) -> list[types.TextEdit]:
    """Each edit in the editor's terms; its text with ``\\n`` line breaks (eglot inserts a
    ``\\r`` literally), like suggestions."""
    return [types.TextEdit(lsp_range(text, starts, e.start, e.end, encoding), lf_only(e.text))
            for e in edits]


def _overlaps(edits: Sequence[TextEdit], taken: list[tuple[int, int]]) -> bool:
    return any(e.start < t_end and t_start < max(e.end, e.start + 1)
               for e in edits for t_start, t_end in taken)


def workspace_edit(uri: str, text: str, version: int | None, results: Sequence[EditResult],
                   encoding: Encoding) -> tuple[types.WorkspaceEdit | None, list[str]]:
    """The results' edits as one ``WorkspaceEdit`` against ``text`` at the editor's ``version``
    (``None``: unknown, so unchecked), with the
    titles of those taken; a result overlapping an earlier one is left out (it would conflict;
    running the task again after applying offers it again)."""
    starts = line_starts(text)
    changes: list[types.TextEdit] = []
    created: list[types.CreateFile | types.TextDocumentEdit] = []
    taken: list[tuple[int, int]] = []
    titles: list[str] = []
    for result in results:
        if result.new_file and result.uri is not None:
            # No ignore_if_exists: an existing file makes the editor refuse the edit instead of
            # getting a second file's text pasted at its top.
            created.append(types.CreateFile(uri=result.uri))
            created.append(types.TextDocumentEdit(
                types.OptionalVersionedTextDocumentIdentifier(uri=result.uri, version=None),
                [types.TextEdit(types.Range(types.Position(0, 0), types.Position(0, 0)),
                                lf_only(result.edits[0].text))]))
            titles.append(result.title)
            continue
        if _overlaps(result.edits, taken):
            continue
        taken += [(e.start, max(e.end, e.start + 1)) for e in result.edits]
        changes += _text_edits(text, starts, result.edits, encoding)
        titles.append(result.title)
    if not changes and not created:
        return None, []
    document_changes: list[types.TextDocumentEdit | types.CreateFile | types.RenameFile
                           | types.DeleteFile] = []
    if changes:
        document_changes.append(types.TextDocumentEdit(
            types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), changes))
    document_changes += created
    return types.WorkspaceEdit(document_changes=document_changes), titles


def diagnostics(text: str, findings: Sequence[FindingResult], encoding: Encoding
                ) -> list[types.Diagnostic]:
    """Findings as diagnostics; each keeps its finding's index in ``data`` for its quick fix."""
    starts = line_starts(text)
    return [types.Diagnostic(
        range=lsp_range(text, starts, f.start, f.end, encoding), message=f.message,
        severity=_SEVERITY[f.severity], code=f.rule, source=SOURCE, data={"finding": index})
        for index, f in enumerate(findings)]


def quick_fixes(uri: str, text: str, version: int | None, findings: Sequence[FindingResult],
                wanted: Sequence[types.Diagnostic], encoding: Encoding) -> list[types.CodeAction]:
    """The fixes of the findings behind the diagnostics the editor asks about."""
    starts = line_starts(text)
    actions: list[types.CodeAction] = []
    for diagnostic in wanted:
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        index = data.get("finding")
        if diagnostic.source != SOURCE or not isinstance(index, int) or \
                not 0 <= index < len(findings):
            continue
        finding = findings[index]
        if finding.fix is None:
            continue
        edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            list(_text_edits(text, starts, finding.fix, encoding)))])
        actions.append(types.CodeAction(title=f"Fix {finding.rule}: {finding.message}"[:120],
                                        kind=types.CodeActionKind.QuickFix,
                                        diagnostics=[diagnostic], edit=edit))
    return actions
