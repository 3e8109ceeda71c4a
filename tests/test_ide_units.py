"""The language server's small pure parts: settings, pacing, reconnection delays, LSP items,
the stdin reader's choice and the verdicts reported for suggestions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lsprotocol import types

from ide.actions import offered_kinds, task_actions, workspace_edit
from ide.options import DEV_KEY, OptionsError, resolve
from ide.pacing import RECONNECT_FIRST_S, RECONNECT_MAX_S, Backoff, Pacing
from ide.positions import Encoding, Position
from ide.stdio import streamable
from ide.suggestions import FEEDBACK_COMMAND, completion_items, inline_items, word_start
from ide.verdicts import GRACE_S, TRACKED, Verdicts
from schemas.capabilities import LANGUAGE_TASKS
from schemas.socket import TASK_KINDS, EditResult
from schemas.socket import TextEdit as SocketEdit


class TestOptions:
    def test_initialization_options_win_over_the_environment(self, tmp_path: Path) -> None:
        key = tmp_path / "key"
        key.write_text("k-from-file\n")
        env = {"CODE_ASSISTANT_URL": "ws://env:1", "CODE_ASSISTANT_API_KEY_FILE": "/nope"}
        options = resolve({"url": "wss://init:2", "apiKeyFile": str(key), "caFile": "/ca.pem",
                           "client": "vim"}, env)
        assert (options.url, options.api_key, options.ca_file, options.client) == (
            "wss://init:2", "k-from-file", "/ca.pem", "vim")

    def test_the_key_from_the_environment_and_never_in_repr(self) -> None:
        options = resolve(None, {"CODE_ASSISTANT_API_KEY": "secret-key"})
        assert options.api_key == "secret-key" and options.url == "ws://127.0.0.1:8765"
        assert "secret-key" not in repr(options)

    def test_a_key_in_initialization_options_is_ignored_with_a_warning(self) -> None:
        options = resolve({"apiKey": "leaked"}, {"CODE_ASSISTANT_API_KEY": "real"})
        assert options.api_key == "real" and "ignored" in options.warnings[0]

    def test_the_stack_developer_key_is_the_default(self, tmp_path: Path) -> None:
        (tmp_path / DEV_KEY).parent.mkdir(parents=True)
        (tmp_path / DEV_KEY).write_text("dev\n")
        assert resolve(None, {"STACK_HOME": str(tmp_path)}).api_key == "dev"

    @pytest.mark.parametrize(("init", "env", "message"), [
        ({"url": "http://edge"}, {"CODE_ASSISTANT_API_KEY": "k"}, "ws:// or wss://"),
        ({"url": "ws://me:pw@edge"}, {"CODE_ASSISTANT_API_KEY": "k"}, "credentials"),
        ({"url": "wss://edge/?token=t"}, {"CODE_ASSISTANT_API_KEY": "k"}, "credentials"),
        ({"url": "ws://edge:99999"}, {"CODE_ASSISTANT_API_KEY": "k"}, "not a usable"),
        ({"url": "ws://"}, {"CODE_ASSISTANT_API_KEY": "k"}, "not a usable"),
        (None, {"STACK_HOME": "/nonexistent"}, "no API key"),
    ])
    def test_unusable_settings_say_what_to_fix(self, init: dict[str, str] | None,
                                               env: dict[str, str], message: str) -> None:
        with pytest.raises(OptionsError, match=message):
            resolve(init, env)


def test_slow_down_spaces_requests_until_lifted() -> None:
    pacing = Pacing()
    pacing.sent(10.0)
    assert pacing.wait_s(10.0) == 0.0, "no interval: no wait"
    pacing.interval_ms = 400
    assert pacing.wait_s(10.1) == pytest.approx(0.3)
    assert pacing.wait_s(10.5) == 0.0
    pacing.interval_ms = 0
    assert pacing.wait_s(10.0) == 0.0


def test_under_slow_down_the_newest_request_takes_the_waiting_ones_turn() -> None:
    """Requests do not queue ``interval`` apart behind each other (a burst of a thousand
    would wait 400 s): the newest takes the turn, the ones waiting for it are superseded."""
    pacing = Pacing(interval_ms=400)
    assert pacing.claim(10.0) == (10.0, 1)
    at, first = pacing.claim(10.1)
    assert at == pytest.approx(10.4)
    at_later, second = pacing.claim(10.2)
    assert at_later == pytest.approx(10.4), "the same turn, not one 400 ms after it"
    assert not pacing.current(first) and pacing.current(second)
    assert pacing.claim(10.5)[0] == pytest.approx(10.8), "after the turn was taken, the next"


def test_reconnection_backs_off_doubling_to_a_cap_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay_s() for _ in range(8)]
    assert delays[0] == RECONNECT_FIRST_S and delays[1] == 2 * RECONNECT_FIRST_S
    assert max(delays) == RECONNECT_MAX_S and delays == sorted(delays)
    backoff.reset()
    assert backoff.next_delay_s() == RECONNECT_FIRST_S


def test_inline_items_carry_the_accept_command() -> None:
    (item,) = inline_items("it)", "r1", Position(3, 5)).items
    assert item.insert_text == "it)" and item.command is not None
    assert item.command.command == FEEDBACK_COMMAND
    assert item.command.arguments == [{"requestId": "r1", "kind": "accepted"}]
    assert inline_items("", "r2", Position(0, 0)).items == []


def test_a_completion_item_replaces_the_word_before_the_cursor() -> None:
    text = "x = 1\nfor i in range(li"
    offset = len(text)
    assert text[word_start(text, offset):offset] == "li"
    (item,) = completion_items("mit):", "r1", text, offset, "utf-16").items
    edit = item.text_edit
    assert isinstance(edit, types.TextEdit)
    assert (edit.range.start.character, edit.range.end.character) == (15, 17)
    assert edit.new_text == "limit):" and item.filter_text == "limit):"


def test_the_word_start_counts_units_of_the_negotiated_encoding() -> None:
    text = "𠀀x = é𠀀b"  # the word before the cursor holds a character outside the BMP
    offset = len(text)
    assert text[word_start(text, offset):offset] == "é𠀀b"
    cases: list[tuple[Encoding, int]] = [("utf-16", 4), ("utf-8", 7), ("utf-32", 3)]
    for encoding, width in cases:
        (item,) = completion_items("c", "r", text, offset, encoding).items
        assert isinstance(item.text_edit, types.TextEdit)
        span = item.text_edit.range
        end = {"utf-16": 10, "utf-8": 15, "utf-32": 8}[encoding]
        assert (span.start.character, span.end.character) == (end - width, end), encoding


def test_the_pipe_reader_is_used_only_where_the_event_loop_can_watch_stdin(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", closefd=False) as pipe:
            assert streamable(pipe)
    finally:
        os.close(read_end)
        os.close(write_end)
    regular = tmp_path / "input"
    regular.write_bytes(b"")
    with regular.open("rb") as file, open(os.devnull, "rb") as null:
        assert not streamable(file) and not streamable(null)


class TestVerdicts:
    def test_a_superseded_suggestion_without_a_verdict_is_dismissed_after_the_grace(self) -> None:
        verdicts = Verdicts()
        verdicts.answered("r1", "a.py")
        verdicts.answered("r2", "b.py")
        verdicts.superseded("a.py", 10.0)
        assert verdicts.next_due_s() == 10.0 + GRACE_S
        assert verdicts.due(10.0 + GRACE_S - 0.01) == []
        assert verdicts.due(10.0 + GRACE_S) == ["r1"], "only the document's own suggestion"
        assert verdicts.due(100.0) == [], "reported once"

    def test_a_verdict_within_the_grace_wins(self) -> None:
        verdicts = Verdicts()
        verdicts.answered("r1", "a.py")
        verdicts.superseded("a.py", 10.0)
        verdicts.settled("r1")  # the editor ran the accept command after asking for more
        assert verdicts.due(100.0) == [] and verdicts.next_due_s() is None

    def test_a_later_request_does_not_push_the_deadline_back(self) -> None:
        verdicts = Verdicts()
        verdicts.answered("r1", "a.py")
        verdicts.superseded("a.py", 10.0)
        verdicts.superseded("a.py", 11.0)
        assert verdicts.due(10.0 + GRACE_S) == ["r1"]

    def test_tracking_is_bounded(self) -> None:
        verdicts = Verdicts()
        for n in range(TRACKED + 10):
            verdicts.answered(f"r{n}", "a.py")
        verdicts.superseded("a.py", 0.0)
        assert len(verdicts.due(GRACE_S)) == TRACKED


class TestCrlfDocuments:
    """Editors hold CRLF lines as lines (Neovim, Emacs) or normalise what they insert (VS Code):
    a suggestion for a CRLF document reaches them with ``\\n`` alone, never a stray ``\\r``
    (Neovim showed ``^M`` and inserted a literal CR). Positions are unchanged."""

    TEXT = "def f():\r\n    return 1\r\n\r\ndef g():\r\n    ret"
    SUGGESTION = "urn 2\r\n\r\ndef h():\r\n    pass\r"

    def test_inline_text(self) -> None:
        (item,) = inline_items(self.SUGGESTION, "r1", Position(4, 7)).items
        assert item.insert_text == "urn 2\n\ndef h():\n    pass"
        assert item.range == types.Range(types.Position(4, 7), types.Position(4, 7))

    def test_half_a_line_break_is_no_suggestion(self) -> None:
        """What the model answered at the start of a CRLF line: the ``\\r`` of a line break it
        was cut from (an LF document gets nothing there)."""
        assert inline_items("\r", "r1", Position(4, 0)).items == []
        assert inline_items("mit):\r", "r1", Position(4, 0)).items[0].insert_text == "mit):"

    def test_completion_item(self) -> None:
        (item,) = completion_items(self.SUGGESTION, "r1", self.TEXT, len(self.TEXT),
                                   "utf-16").items
        edit = item.text_edit
        assert isinstance(edit, types.TextEdit)
        assert edit.new_text == "return 2\n\ndef h():\n    pass"
        assert item.filter_text == edit.new_text and item.label == "return 2"
        assert (edit.range.start.character, edit.range.end.character) == (4, 7)

    def test_task_edits(self) -> None:
        """A task's edit (a fix copying the document's lines) goes to the editor's applyEdit,
        which eglot applies as is."""
        at = self.TEXT.rindex("    ret")
        fix = EditResult("r1", 0, 1, "Fix g", (SocketEdit(at, len(self.TEXT),
                                                          "    return 2\r\n    # done\r\n"),))
        edit, titles = workspace_edit("file:///a.py", self.TEXT, 3, [fix], "utf-16")
        assert edit is not None and edit.document_changes and titles == ["Fix g"]
        change = edit.document_changes[0]
        assert isinstance(change, types.TextDocumentEdit)
        (text_edit,) = change.edits
        assert isinstance(text_edit, types.TextEdit)
        assert text_edit.new_text == "    return 2\n    # done\n"
        assert text_edit.range == types.Range(types.Position(4, 0), types.Position(4, 7))


def test_code_actions_offer_the_kinds_the_edge_says_a_language_gets() -> None:
    """JSON gets find bugs and fix, Markdown nothing, Python all six; before the edge's table
    came, or for a language it does not name, all six (the server then says what it can do)."""
    assert offered_kinds("json", LANGUAGE_TASKS) == ("find_bugs", "fix")
    assert offered_kinds("markdown", LANGUAGE_TASKS) == ()
    assert offered_kinds("python", LANGUAGE_TASKS) == TASK_KINDS
    assert offered_kinds("json", ()) == TASK_KINDS
    assert offered_kinds("crystal", LANGUAGE_TASKS) == TASK_KINDS
    cursor = types.Range(types.Position(0, 0), types.Position(0, 0))
    titles = [c.title for c in task_actions("file:///a.json", cursor,
                                            offered_kinds("json", LANGUAGE_TASKS))]
    assert titles == ["Code assistant: Find bugs", "Code assistant: Fix problems"]
