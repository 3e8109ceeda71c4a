"""What of an LLM route's answer is applied: its code block as one minimal edit of the code the
prompt showed, sent only when the edited document gets no new problem from the language's own
checks (run for real); its "line N" entries as findings only where the code they quote is."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.tasks import TaskEdit, TaskFinding, TaskText
from workers.core import StartTask
from workers.tasks.answers import applicable
from workers.tasks.llm_answers import code_blocks, line_findings, region_edit
from workers.tasks.prompts import code_region

CODE = '''def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(value)
'''
GOOD_FIX = '''Here is the corrected code:

```python
def mean(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
```

- `len(value)` should be `len(values)`.
'''
BAD_FIX = '''```python
def mean(values):
    total = 0
    for value in values:
        total += value
    return totl / len(values)
```
'''
GO = '''package stats

func Mean(values []float64) float64 {
\ttotal := 0.0
\tfor _, v := range values {
\t\ttotal += v
\t}
\treturn total / float64(len(values))
}
'''
GO_BROKEN_FIX = '''```go
package stats

func Mean(values []float64) float64 {
\ttotal := 0.0
\tfor _, v := range values {
\t\ttotal += v
\t}
\treturn total / len(values)
}
```
'''
REVIEW = '''1. Line 5: `len(value)` uses the loop variable instead of the list.
2. Line 2: `total = 0` could be a float.
3. Line 9: `x` is undefined.
4. Line 3: the loop is fine but `while True` would hang.
- Line 1: no code quoted here.
'''


def start(kind: str, text: str, language: str = "python", uri: str = "file:///p/stats.py"
          ) -> StartTask:
    return StartTask(None, "r1", kind, uri, 1, language, text, 0, 0, None,  # type: ignore[arg-type]
                     (), 0, 0)


def test_code_blocks_are_read_from_fences() -> None:
    assert code_blocks("a\n```py\nx = 1\n```\nb\n```\ny\n```\n") == ["x = 1", "y"]
    assert code_blocks("```python\nunclosed\n") == []


def test_a_fix_that_checks_clean_is_one_minimal_edit() -> None:
    [item] = applicable(start("fix", CODE), GOOD_FIX)
    assert isinstance(item, TaskEdit)
    [edit] = item.edits
    assert (CODE[edit.start:edit.end], edit.text) == ("", "s")
    assert CODE[:edit.start].endswith("len(value")


def test_a_fix_that_adds_a_problem_is_not_sent_and_says_which() -> None:
    [item] = applicable(start("fix", CODE), BAD_FIX)
    assert isinstance(item, TaskText)
    assert "Not applied" in item.text and "F821" in item.text and "totl" in item.text


def test_a_go_fix_the_compiler_rejects_is_not_sent() -> None:
    [item] = applicable(start("fix", GO, "go", "file:///p/stats.go"), GO_BROKEN_FIX)
    assert isinstance(item, TaskText) and "Not applied" in item.text
    assert "go vet" in item.text and "mismatched types" in item.text


def test_an_answer_without_code_applies_nothing() -> None:
    [item] = applicable(start("refactor", CODE), "It looks fine to me.")
    assert isinstance(item, TaskText) and "Nothing applied" in item.text


def test_review_entries_are_placed_only_where_their_code_is() -> None:
    found = applicable(start("find_bugs", CODE), REVIEW)
    assert all(isinstance(f, TaskFinding) for f in found)
    placed = [(CODE.count("\n", 0, f.start), f.severity, f.rule) for f in found
              if isinstance(f, TaskFinding)]
    # Line 5 quotes len(value) (there); line 2 quotes total = 0 (there); line 9 is past the code;
    # line 3 quotes `while True` (not there); line 1 quotes nothing.
    assert placed == [(4, "information", "llm"), (1, "information", "llm")]
    assert all(isinstance(f, TaskFinding) and f.message.startswith("The model's, not checked")
               for f in found)


@given(st.text(alphabet="ab\n", max_size=30), st.text(alphabet="ab\n", max_size=30))
def test_a_region_edit_makes_the_region_the_block(old: str, new: str) -> None:
    text = f"head\n{old}\ntail"
    begin, finish = 5, 5 + len(old)
    edit = region_edit(text, begin, finish, f"```\n{new}\n```\n")
    block = new.strip("\n")  # the blank lines around a block are the fence's
    wanted = block + ("\n" if old.endswith("\n") else "")
    result = text if edit is None else text[:edit.start] + edit.text + text[edit.end:]
    assert result == text[:begin] + (old if edit is None and wanted == old else wanted) + \
        text[finish:]
    if edit is not None:
        assert begin <= edit.start <= edit.end <= finish


def test_line_findings_count_from_the_code_the_prompt_showed() -> None:
    text = "\n".join(f"x{i} = {i}" for i in range(100))
    begin, finish = code_region(text, text.index("x50"), text.index("x50"))
    [found] = line_findings(text, begin, finish, "Line 1: `x30 = 30` is wrong")
    assert found.line == 30
