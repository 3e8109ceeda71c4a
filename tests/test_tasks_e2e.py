"""The assistant tasks end to end: socket -> Kafka -> worker -> the task's own Triton route ->
socket, one test per kind, bad input, deadlines, and completions beside tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from config.settings import Settings
from documents.document import apply_edits
from schemas.socket import CompletionEnd, DocOpen, EditResult, ErrorFrame, FindingResult
from socket_client.answers import Answer
from tests.test_stack_e2e import finished, open_client
from ws_edge.client import EdgeClient

pytestmark = pytest.mark.stack

BUGGY = '''import os
import sys


def average(values, weights=[]):
    total = 0
    for value in values:
        total += value
    if len(values) == None:
        return totl
    print(sys.argv)
    return total / len(values)
'''

CLEAN = '''def clamp(value: int, low: int, high: int) -> int:
    """Bound value to [low, high].

    >>> clamp(5, 0, 3)
    3
    """
    if value < low:
        return low
    if value > high:
        return high
    return value


def scale(values: list, factor: float = 2.0) -> list:
    result = []
    for value in values:
        result.append(clamp(value, 0, 100) * factor)
    return result
'''

GO_BROKEN = '''package main

func add(a int, b int) int {
\treturn (a + b
}
'''

JAVA_BUGGY = '''public class Checks {
  public int hashOf(int[] values) {
    if (values.length == 0) {
      new IllegalArgumentException("empty");
    }
    return values.hashCode();
  }
}
'''


@pytest.fixture
async def client(stack: Settings) -> AsyncIterator[EdgeClient]:
    c = await open_client(stack)
    yield c
    await c.close()


async def run(client: EdgeClient, kind: str, text: str, uri: str = "file:///proj/stats.py",
              language: str = "python", start: int = 0, end: int = 0) -> Answer:
    await client.send(DocOpen(uri, language, 1, text))
    answer = await client.task(kind, uri, 1, start, end)  # type: ignore[arg-type]
    return await finished(answer, 30.0)


def edits_of(answer: Answer) -> list[EditResult]:
    return [r for r in answer.results if isinstance(r, EditResult)]


def findings_of(answer: Answer) -> list[FindingResult]:
    return [r for r in answer.results if isinstance(r, FindingResult)]


def ended_ok(answer: Answer) -> CompletionEnd:
    assert answer.end is not None and answer.error is None, (answer.end, answer.error)
    assert answer.end.reason == "stop", answer.end
    assert answer.end.chunks == len(answer.chunks) + len(answer.results)
    return answer.end


class TestEachKind:
    async def test_find_bugs_reports_ruff_findings_with_fixes(self, client: EdgeClient) -> None:
        answer = await run(client, "find_bugs", BUGGY)
        ended_ok(answer)
        rules = {f.rule: f for f in findings_of(answer)}
        assert {"B006", "F821", "E711"} <= set(rules), rules
        assert "F401" not in rules  # an unused import is style: shown when asked for
        undefined = rules["F821"]
        assert BUGGY[undefined.start:undefined.end] == "totl"
        assert undefined.severity == "error" and undefined.version == 1
        comparison = rules["E711"]
        assert comparison.fix is not None
        assert "is None" in apply_edits(BUGGY, comparison.fix)
        assert "problem(s)" in answer.text
        assert "(ruff; mypy; semantic checks)" in answer.text  # mypy runs inside the route

    async def test_find_bugs_on_go_reports_the_syntax_error(self, client: EdgeClient) -> None:
        answer = await run(client, "find_bugs", GO_BROKEN, "file:///proj/main.go", "go")
        ended_ok(answer)
        [finding] = findings_of(answer)
        assert finding.rule == "syntax/missing" and finding.fix is not None
        fixed = apply_edits(GO_BROKEN, finding.fix)
        assert "(a + b)" in fixed

    async def test_find_bugs_on_java_runs_error_prone_inside_the_route(
            self, client: EdgeClient) -> None:
        """The route starts Error Prone's JVM aside; until it is warm javac's own process
        answers and says so (the stack may have started a moment ago)."""
        for _ in range(40):
            answer = await run(client, "find_bugs", JAVA_BUGGY, "file:///proj/Checks.java",
                               "java")
            ended_ok(answer)
            if "(javac + Error Prone;" in answer.text:
                break
            assert "Error Prone not run: starting" in answer.text, answer.text
            await asyncio.sleep(1.0)
        rules = {f.rule for f in findings_of(answer)}
        assert {"errorprone/DeadException", "errorprone/ArrayHashCode"} <= rules, answer.text

    async def test_fix_returns_edits_that_apply_together(self, client: EdgeClient) -> None:
        answer = await run(client, "fix", BUGGY)
        ended_ok(answer)
        edits = [e for result in edits_of(answer) for e in result.edits]
        assert edits, answer.text
        fixed = apply_edits(BUGGY, tuple(sorted(edits, key=lambda e: e.start, reverse=True)))
        assert "import os" not in fixed and "== None" not in fixed

    async def test_refactor_offers_ruff_rewrites(self, client: EdgeClient) -> None:
        text = "from typing import List\n\n\ndef f(xs: List[int]) -> List[int]:\n" \
               "    return [x for x in xs]\n"
        answer = await run(client, "refactor", text)
        ended_ok(answer)
        titles = [e.title for e in edits_of(answer)]
        assert any(t.startswith("UP006") for t in titles), titles

    async def test_refactor_renames_by_instruction(self, client: EdgeClient) -> None:
        await client.send(DocOpen("file:///proj/r.py", "python", 1, CLEAN))
        at = CLEAN.index("result = []") + 1
        answer = await finished(await client.task("refactor", "file:///proj/r.py", 1, at, at,
                                                  "rename to scaled"), 30.0)
        ended_ok(answer)
        [edit] = edits_of(answer)
        assert edit.title == "Rename `result` to `scaled` (3 places in its function)"
        renamed = apply_edits(CLEAN, tuple(sorted(edit.edits, key=lambda e: -e.start)))
        assert "scaled.append(" in renamed and "return scaled" in renamed

    async def test_docs_writes_a_docstring_from_the_signature(self, client: EdgeClient) -> None:
        offset = CLEAN.index("scale")
        answer = await run(client, "docs", CLEAN, start=offset, end=offset)
        ended_ok(answer)
        [edit] = edits_of(answer)
        documented = apply_edits(CLEAN, edit.edits)
        assert '    """' in documented
        assert "Args:\n        values (list):\n        factor (float): Defaults to ``2.0``." \
            in documented
        assert documented.index('"""', documented.index("def scale")) < \
            documented.index("result = []")

    async def test_explain_streams_markdown(self, client: EdgeClient) -> None:
        offset = CLEAN.index("scale")
        answer = await run(client, "explain", CLEAN, start=offset, end=offset)
        ended_ok(answer)
        text = answer.text
        assert text.startswith("### `scale(values: list, factor: float = 2.0) -> list`")
        assert "`clamp`" in text and "one loop" in text

    async def test_tests_writes_a_pytest_file(self, client: EdgeClient) -> None:
        offset = CLEAN.index("clamp")
        answer = await run(client, "tests", CLEAN, start=offset, end=offset)
        ended_ok(answer)
        [edit] = edits_of(answer)  # from the documented example: nothing guessed
        assert edit.new_file and edit.uri == "file:///proj/test_stats.py"
        assert edit.edits[0].text.startswith("from stats import clamp\n")
        assert "assert clamp(5, 0, 3) == 3" in edit.edits[0].text
        assert "pytest" in answer.text


class TestBadInput:
    async def test_unknown_kind_is_refused_with_an_end(self, client: EdgeClient) -> None:
        await client.send(DocOpen("file:///a.py", "python", 1, "x = 1\n"))
        await client.connection.send('{"type": "task", "request_id": "bad-1", "kind": "poem", '
                                     '"uri": "file:///a.py", "version": 1, "start": 0, "end": 0}')
        error, end = await next_two(client)
        assert isinstance(error, ErrorFrame) and error.field == "kind"
        assert isinstance(end, CompletionEnd) and end.request_id == "bad-1"
        assert end.reason == "error"

    async def test_range_past_the_document_is_refused(self, client: EdgeClient) -> None:
        await client.send(DocOpen("file:///b.py", "python", 1, "x = 1\n"))
        answer = await client.task("explain", "file:///b.py", 1, 0, 99)
        await finished(answer)
        assert answer.error is not None and answer.error.code == "offset_out_of_range"
        assert answer.end is not None and answer.end.reason == "error"

    async def test_reversed_range_and_old_version(self, client: EdgeClient) -> None:
        await client.send(DocOpen("file:///c.py", "python", 3, "x = 1\ny = 2\n"))
        reversed_range = await finished(await client.task("docs", "file:///c.py", 3, 5, 2))
        assert reversed_range.error is not None and reversed_range.error.code == "invalid_range"
        old = await finished(await client.task("docs", "file:///c.py", 2, 0, 0))
        assert old.error is not None and old.error.code == "version_conflict"
        # The session still works.
        fine = await finished(await client.task("find_bugs", "file:///c.py", 3, 0, 0), 30.0)
        ended_ok(fine)


async def next_two(client: EdgeClient) -> tuple[object, object]:
    first = await asyncio.wait_for(client.frames.get(), 10)
    second = await asyncio.wait_for(client.frames.get(), 10)
    return first, second


class TestLanes:
    async def test_completions_are_answered_while_tasks_run(self, stack: Settings) -> None:
        tasker, typist = await open_client(stack), await open_client(stack)
        try:
            await tasker.send(DocOpen("file:///t.py", "python", 1, CLEAN))
            tasks = [await tasker.task("explain", "file:///t.py", 1, 0, len(CLEAN))
                     for _ in range(4)]
            await typist.send(DocOpen("file:///c.py", "python", 1, "def f(x):\n    return "))
            completion = await finished(await typist.complete("file:///c.py", 1, 21), 20.0)
            assert completion.end is not None and completion.end.reason in ("stop", "length")
            for task in tasks:
                ended_ok(await finished(task, 30.0))
        finally:
            await tasker.close()
            await typist.close()
