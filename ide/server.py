"""The language server: LSP over stdio (pygls) on one side, one session to the edge on the other.

Editors start it as ``python -m ide``. Documents are kept by :class:`ide.bridge.Bridge` only (the
pygls workspace is not filled, so the text is held once). Requests about a document or position
that does not exist get an ``InvalidParams`` error; an edit that cannot be applied to a
notification is reported with ``window/showMessage`` and marks the document unsynced. Nothing an
editor sends ends the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from ide import logs
from ide.actions import (
    APPLIED,
    TASK_COMMAND,
    diagnostics,
    offered_kinds,
    quick_fixes,
    task_actions,
    workspace_edit,
)
from ide.bridge import Bridge, EdgeUnavailable, Suggestion
from ide.mirror import Change, DocumentError
from ide.next_edits import FEEDBACK_COMMAND as NEXT_EDIT_FEEDBACK
from ide.next_edits import NOTIFICATION as NEXT_EDIT
from ide.next_edits import announcement
from ide.next_edits import code_action as next_edit_action
from ide.options import OptionsError, from_environment
from ide.positions import ENCODINGS, Encoding, Position, PositionError, position_of
from ide.stdio import serve
from ide.suggestions import FEEDBACK_COMMAND, completion_items, inline_items
from schemas.socket import TASK_KINDS, EditResult, EditSuggestion, FindingResult, TaskKind

VERSION = "0.1.0"
#: Mirror versions remembered per document with the editor's version they correspond to.
EDITOR_VERSIONS_KEPT = 64
log = logging.getLogger("ide")


class _Protocol(LanguageServerProtocol):
    """pygls' protocol without its own copy of each document: the bridge's mirror is the only one
    (pygls' would fail first, with a less precise error, on an edit it cannot apply)."""

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams
                                    ) -> Generator[Any, Any, None]:
        yield self.fm.features[types.TEXT_DOCUMENT_DID_OPEN], (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> Generator[Any, Any, None]:
        yield self.fm.features[types.TEXT_DOCUMENT_DID_CHANGE], (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams
                                     ) -> Generator[Any, Any, None]:
        yield self.fm.features[types.TEXT_DOCUMENT_DID_CLOSE], (params,), None


class AssistantServer(LanguageServer):
    """The server, holding one :class:`Bridge` once the editor has initialized it."""

    def __init__(self) -> None:
        super().__init__("code-assistant-ls", VERSION, protocol_cls=_Protocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.bridge: Bridge | None = None
        self.problem = "the server is not initialized"
        self._link_task: asyncio.Task[None] | None = None
        #: Documents whose refused event the user has been told of (until they are re-opened).
        self.told: set[str] = set()
        #: The last find_bugs answer per document: (version, findings), for quick fixes.
        self.findings: dict[str, tuple[int, list[FindingResult]]] = {}
        #: Per document, the editor's version for each of the mirror's recent versions: edits
        #: and diagnostics go back stamped with the version the editor knows.
        self.editor_versions: dict[str, dict[int, int]] = {}
        #: Notifications the stdio loop calls without pygls' dispatch (the keystroke path).
        self.direct: dict[str, Callable[[Any], None]] = {}

    def saw_version(self, uri: str, editor_version: int) -> None:
        doc = self.bridge.mirror.find(uri) if self.bridge is not None else None
        if doc is None:
            return
        versions = self.editor_versions.setdefault(uri, {})
        versions[doc.version] = editor_version
        while len(versions) > EDITOR_VERSIONS_KEPT:
            del versions[next(iter(versions))]

    def editor_version(self, uri: str, mirror_version: int) -> int | None:
        return self.editor_versions.get(uri, {}).get(mirror_version)

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """No pop-up: a request's error already went back as its answer, and a notification's
        is nothing the user can act on. A bug (not an answered error) is one line in the log."""
        if not isinstance(error, JsonRpcException):
            log.error("%s: %s", getattr(source, "__name__", source), type(error).__name__)

    def require_bridge(self) -> Bridge:
        if self.bridge is None:
            raise JsonRpcException(code=-32002, message=self.problem)  # ServerNotInitialized
        return self.bridge


def _encoding(ls: AssistantServer) -> Encoding:
    chosen = str(ls.workspace.position_encoding or "utf-16")
    return next((encoding for encoding in ENCODINGS if encoding == chosen), "utf-16")


def _position(position: types.Position) -> Position:
    return Position(position.line, position.character)


def _changes(params: types.DidChangeTextDocumentParams) -> list[Change]:
    changes = []
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            changes.append(Change(change.text, _position(change.range.start),
                                  _position(change.range.end)))
        else:
            changes.append(Change(change.text))
    return changes


def build() -> AssistantServer:
    """A server with every feature registered (a new one per process or test)."""
    server = AssistantServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: AssistantServer, params: types.InitializeParams) -> None:
        init = params.initialization_options if isinstance(params.initialization_options, dict) \
            else None
        try:
            options = from_environment(init)
        except OptionsError as error:
            ls.problem = f"code assistant is not configured: {error}"
            return
        ls.bridge = Bridge(options, _encoding(ls), ls.tell)
        if options.next_edit_notifications:
            ls.bridge.on_next_edit = lambda suggestion: _announce(ls, suggestion)
        for warning in options.warnings:
            log.warning(warning)

    @server.feature(types.INITIALIZED)
    def initialized(ls: AssistantServer, _params: types.InitializedParams) -> None:
        if ls.bridge is None:
            ls.tell(ls.problem, types.MessageType.Error)
            return
        for warning in ls.bridge.link.options.warnings:
            ls.tell(warning)
        ls._link_task = asyncio.ensure_future(ls.bridge.link.run())

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: AssistantServer, _params: None) -> None:
        if ls.bridge is not None:
            ls.bridge.link.stop()
        if ls._link_task is not None:
            ls._link_task.cancel()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AssistantServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.told.discard(doc.uri)
        _document_event(ls, doc.uri,
                        lambda bridge: bridge.opened(doc.uri, doc.language_id, doc.text))
        ls.editor_versions.pop(doc.uri, None)
        ls.saw_version(doc.uri, doc.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AssistantServer, params: types.DidChangeTextDocumentParams) -> None:
        uri, changes = params.text_document.uri, _changes(params)
        _document_event(ls, uri, lambda bridge: bridge.changed(uri, changes))
        ls.saw_version(uri, params.text_document.version)

    server.direct[types.TEXT_DOCUMENT_DID_CHANGE] = lambda params: did_change(server, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AssistantServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        _document_event(ls, uri, lambda bridge: bridge.closed(uri))
        ls.told.discard(uri)
        ls.editor_versions.pop(uri, None)
        ls.findings.pop(uri, None)

    # With options: pygls 2.1 leaves a feature registered without them out of the capabilities,
    # and clients (VS Code's) then register no inline provider at all.
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: AssistantServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        found = await _complete(ls, params.text_document.uri, _position(params.position))
        if found is None:
            return types.InlineCompletionList(items=[])
        here = position_of(found.doc.text, found.doc.starts, found.offset,
                           ls.require_bridge().mirror.encoding)
        return inline_items(found.answer.text, found.answer.request_id, here)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", "(", " "]))
    async def completion(ls: AssistantServer, params: types.CompletionParams) -> types.CompletionList:
        found = await _complete(ls, params.text_document.uri, _position(params.position))
        if found is None:
            return types.CompletionList(is_incomplete=True, items=[])
        return completion_items(found.answer.text, found.answer.request_id, found.doc.text,
                                found.offset, ls.require_bridge().mirror.encoding)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor,
                           types.CodeActionKind.Source]))
    def code_action(ls: AssistantServer, params: types.CodeActionParams
                    ) -> list[types.CodeAction | types.Command]:
        uri = params.text_document.uri
        doc = ls.require_bridge().mirror.find(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"{uri} is not open")
        for end in (params.range.start, params.range.end):
            try:
                doc.offset(_position(end), _encoding(ls))
            except PositionError as error:
                raise JsonRpcInvalidParams(f"{uri}: {error}") from None
        actions: list[types.CodeAction | types.Command] = []
        bridge = ls.require_bridge()
        suggestion = bridge.offers.current(uri, doc.version)
        if suggestion is not None:
            actions.append(next_edit_action(doc.text, suggestion,
                                            ls.editor_version(uri, doc.version), _encoding(ls)))
            with contextlib.suppress(DocumentError):  # forgotten among newer ones: no matter
                bridge.next_edit_feedback(suggestion.suggestion_id, "shown")
        version_findings = ls.findings.get(uri)
        if version_findings is not None and version_findings[0] == doc.version:
            actions += quick_fixes(uri, doc.text, ls.editor_version(uri, doc.version),
                                   version_findings[1], params.context.diagnostics,
                                   _encoding(ls))
        welcome = ls.require_bridge().link.welcome
        kinds = offered_kinds(doc.language_id, welcome.languages if welcome else ())
        return actions + task_actions(uri, params.range, kinds)

    @server.command(TASK_COMMAND)
    async def run_task(ls: AssistantServer, *args: Any) -> dict[str, Any]:
        """``{"kind", "uri", "range": LSP range, "instruction"?}`` -> ``{"markdown", "edits",
        "findings", "applied", "reason", "requestId"}``: Markdown to show; edits are applied through
        ``workspace/applyEdit`` (fix, refactor, docs, tests); findings become diagnostics.
        A failure is one line in the log (the editor gets the same message as the error)."""
        what = "code assistant task"
        try:
            kind, uri, start, end, instruction = _task_arguments(args)
            what = f"code assistant task {kind} on {uri}"
            return await _run_task(ls, kind, uri, start, end, instruction)
        except JsonRpcException as error:
            log.warning("%s failed: %s", what, error.message)
            raise
        except Exception as error:  # a bug: one line; the traceback only at the debug level
            log.error("%s failed: %s: %s (a bug: please report it with the log of "
                      "CODE_ASSISTANT_LOG=debug)", what, type(error).__name__, error)
            log.debug("%s failed", what, exc_info=True)
            raise JsonRpcInternalError(f"{what} failed: {type(error).__name__}: {error}") from None

    @server.command(FEEDBACK_COMMAND)
    def feedback(ls: AssistantServer, *args: Any) -> bool:
        """``{"requestId", "kind": shown|accepted|partial|rejected|dismissed, "acceptedChars"?}``"""
        request_id, kind, accepted = _verdict(args, FEEDBACK_COMMAND, "requestId",
                                              "acceptedChars")
        try:
            return ls.require_bridge().feedback(request_id, kind, accepted)
        except DocumentError as error:
            raise JsonRpcInvalidParams(error.message) from None

    @server.command(NEXT_EDIT_FEEDBACK)
    def next_edit_feedback(ls: AssistantServer, *args: Any) -> bool:
        """``{"suggestionId", "kind": shown|accepted|partial|rejected|dismissed,
        "acceptedChanges"?}``: what became of a next-edit suggestion."""
        suggestion_id, kind, accepted = _verdict(args, NEXT_EDIT_FEEDBACK, "suggestionId",
                                                 "acceptedChanges")
        try:
            return ls.require_bridge().next_edit_feedback(suggestion_id, kind, accepted)
        except DocumentError as error:
            raise JsonRpcInvalidParams(error.message) from None

    return server


def _verdict(args: tuple[Any, ...], command: str, id_field: str, count_field: str
             ) -> tuple[str, str, int | None]:
    """A feedback command's one object argument: (the id, ``kind``, the optional count)."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f"{command} takes one object argument")
    argument: dict[str, Any] = args[0]
    named, kind, count = argument.get(id_field), argument.get("kind"), argument.get(count_field)
    if not isinstance(named, str) or not isinstance(kind, str) \
            or not (count is None or isinstance(count, int)):
        raise JsonRpcInvalidParams(f"{id_field} and kind must be strings, {count_field} an "
                                   "integer")
    return named, kind, count


def _announce(ls: AssistantServer, suggestion: EditSuggestion) -> None:
    """Push a kept next-edit suggestion to an editor package that asked for them."""
    doc = ls.require_bridge().mirror.find(suggestion.uri)
    if doc is None:
        return
    ls.protocol.notify(NEXT_EDIT, announcement(
        doc.text, suggestion, ls.editor_version(suggestion.uri, doc.version), _encoding(ls)))


def _task_arguments(args: tuple[Any, ...]
                    ) -> tuple[TaskKind, str, Position, Position, str | None]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f"{TASK_COMMAND} takes one object argument")
    argument: dict[str, Any] = args[0]
    kind, uri = argument.get("kind"), argument.get("uri")
    span: Any = argument.get("range")
    instruction = argument.get("instruction")
    if kind not in TASK_KINDS:
        raise JsonRpcInvalidParams(f"kind must be one of {', '.join(TASK_KINDS)}")
    if not isinstance(uri, str) or not (instruction is None or isinstance(instruction, str)):
        raise JsonRpcInvalidParams("uri and instruction must be strings")
    try:
        start = Position(int(span["start"]["line"]), int(span["start"]["character"]))
        end = Position(int(span["end"]["line"]), int(span["end"]["character"]))
    except (KeyError, TypeError, ValueError):
        raise JsonRpcInvalidParams("range must be an LSP range") from None
    return kind, uri, start, end, instruction


async def _run_task(ls: AssistantServer, kind: TaskKind, uri: str, start: Position, end: Position,
                    instruction: str | None) -> dict[str, Any]:
    """The task command's work; what fails is a ``JsonRpcException`` whose message says what
    to do (the editor shows it, :func:`build`'s ``run_task`` logs it)."""
    bridge = ls.require_bridge()
    try:
        found = await bridge.task(kind, uri, start, end, instruction)
    except DocumentError as error:
        raise JsonRpcInvalidParams(error.message) from None
    except EdgeUnavailable as error:
        raise JsonRpcException(code=-32803, message=str(error)) from None
    answer, doc = found.answer, found.doc
    encoding = bridge.mirror.encoding
    version = ls.editor_version(uri, doc.version)
    edits = [r for r in answer.results if isinstance(r, EditResult)]
    findings = [r for r in answer.results if isinstance(r, FindingResult)]
    applied = False
    if kind == "find_bugs":
        ls.findings[uri] = (doc.version, findings)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=diagnostics(doc.text, findings, encoding)))
    titles: list[str] = []
    if kind in APPLIED and edits:
        edit, titles = workspace_edit(uri, doc.text, version, edits, encoding)
        if edit is not None:
            try:
                result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
                    edit=edit, label=f"Code assistant: {kind}"))
            except JsonRpcException as error:  # eglot answers an edit it refuses with an error
                raise JsonRpcException(code=-32803, message=(
                    f"the editor refused the edits ({error.message}); run the task again"
                )) from None
            applied = bool(result.applied)
    if answer.results or answer.text:
        # Analytics of tasks as of completions: shown, then applied (accepted) or not.
        latency = int((time.perf_counter() - answer.sent_s) * 1000)
        bridge.link.feedback(answer.request_id, "shown", None, latency)
        if kind in APPLIED and titles:
            bridge.link.feedback(answer.request_id, "accepted" if applied else "rejected",
                                 None, latency)
    markdown = answer.text
    if answer.error is not None:
        markdown += f"\n\n*{answer.error.message}*"
    elif answer.reason not in ("stop", ""):
        markdown += f"\n\n*ended: {answer.reason} ({answer.detail or ''})*"
    return {"markdown": markdown, "edits": titles, "findings": len(findings),
            "applied": applied, "reason": answer.reason, "requestId": answer.request_id}


def _document_event(ls: AssistantServer, uri: str, apply: Any) -> None:
    """Apply a document notification; what cannot be applied is told to the user (a
    notification has no response to carry an error), once per document until it is re-opened,
    not on every keystroke."""
    if ls.bridge is None:
        return
    try:
        apply(ls.bridge)
    except DocumentError as error:
        log.warning("document event refused: %s", error.code)
        if uri not in ls.told:
            ls.told.add(uri)
            ls.tell(f"code assistant: {error.message}", types.MessageType.Error)


async def _complete(ls: AssistantServer, uri: str, position: Position) -> Suggestion | None:
    try:
        found = await ls.require_bridge().complete(uri, position)
        if not found.answer.text:
            log.info("completion %s: nothing to show (%s, %s)", found.answer.request_id,
                     found.answer.reason, found.answer.detail)
        return found
    except DocumentError as error:
        raise JsonRpcInvalidParams(error.message) from None
    except EdgeUnavailable:
        return None


def main() -> None:
    """Serve on stdio until the editor exits, with the exit code LSP gives."""
    logs.configure()
    server = build()
    sys.exit(serve(server, server.direct))
