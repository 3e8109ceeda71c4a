"""Zed's Zeta next-edit format, pure: the prompt's markers where Zed puts them, the model's
rewrite taken out of its answer, and turned into the few edits that differ."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from documents.document import apply_edits
from next_edits import zeta

TEXT = "import os\n\n\ndef area(w, h):\n    s = w * h\n    return s\n"


def test_the_excerpt_marks_the_region_and_the_cursor_as_zed_does() -> None:
    cursor = TEXT.index("w * h")
    shown = zeta.excerpt(TEXT, cursor, "geo.py")
    assert shown.prompt.startswith("```geo.py\n<|start_of_file|>\n")
    assert shown.prompt.endswith("\n```")
    inside = shown.prompt.split("<|editable_region_start|>\n")[1].split(
        "\n<|editable_region_end|>")[0]
    assert inside.replace("<|user_cursor_is_here|>", "") == TEXT[shown.start:shown.end]
    assert inside.index("<|user_cursor_is_here|>") == cursor - shown.start
    assert shown.prompt.count("<|editable_region_start|>") == 1


def test_a_small_budget_keeps_the_region_to_lines_around_the_cursor() -> None:
    long = "".join(f"line_{i} = {i}\n" for i in range(200))
    cursor = long.index("line_100")
    shown = zeta.excerpt(long, cursor, "big.py", rewrite_tokens=20, context_tokens=10)
    region = long[shown.start:shown.end]
    assert "line_100" in region and "line_90 " not in region and "line_110" not in region
    assert "<|start_of_file|>" not in shown.prompt
    assert region.startswith("line_") and long[shown.start - 1] == "\n"


def test_the_prompt_is_zetas_template() -> None:
    before = TEXT
    after = TEXT.replace("def area(w, h)", "def area(width, h)")
    asked = zeta.ask(before, after, "geo.py")
    assert asked is not None
    assert asked.prompt.startswith("### Instruction:\nYou are a code completion assistant")
    edits, rest = asked.prompt.split("### User Edits:\n\n")[1].split("\n\n### User Excerpt:\n\n")
    assert edits.startswith("User edited \"geo.py\":\n```diff\n@@ ")
    assert "-def area(w, h):\n+def area(width, h):" in edits
    assert rest.endswith("\n```\n\n### Response:\n\n")


def test_the_rewrite_is_taken_out_of_the_answer_or_refused() -> None:
    answer = "<|editable_region_start|>\ndef f(width):\n    return width<|user_cursor_is_here|>\n" \
             "<|editable_region_end|>\n```"
    assert zeta.rewritten_region(answer) == "def f(width):\n    return width"
    assert zeta.rewritten_region("def f(width):") is None  # no markers
    assert zeta.rewritten_region(answer + answer) is None  # two regions
    assert zeta.rewritten_region("<|editable_region_start|><|editable_region_end|>") is None


def test_changes_are_the_words_that_differ() -> None:
    old = "def f(w, h):\n    return w * h\n"
    new = "def f(width, h):\n    return width * h\n"
    found = zeta.changes(old, new, 100)
    # What the two words share is kept, as Zed trims its edits: `w` grows into `width`.
    assert [(e.start - 100, e.end - 100, e.text) for e in found] == [
        (7, 7, "idth"), (25, 25, "idth")]
    assert zeta.changes(old, old, 0) == ()


@given(st.text(alphabet="ab (),\n_x", max_size=40), st.text(alphabet="ab (),\n_x", max_size=40))
def test_the_changes_turn_the_old_region_into_the_new(old: str, new: str) -> None:
    assert apply_edits(old, tuple(reversed(zeta.changes(old, new, 0)))) == new


def test_a_model_rewrite_becomes_a_suggestion_on_the_document() -> None:
    before = TEXT
    after = TEXT.replace("def area(w, h)", "def area(width, h)")
    asked = zeta.ask(before, after, "geo.py")
    assert asked is not None
    region = after[asked.shown.start:asked.shown.end]
    rewrite = region.replace("s = w * h", "s = width * h")
    found = zeta.suggestion(f"<|editable_region_start|>\n{rewrite}\n<|editable_region_end|>",
                            after, asked)
    assert found is not None and found.rule == "model" and found.confidence == 0.0
    assert apply_edits(after, tuple(reversed(found.changes))) == after.replace("w * h", "width * h")
    assert found.label == "1 change from line 5 (model)"
    unchanged = f"<|editable_region_start|>\n{region}\n<|editable_region_end|>"
    assert zeta.suggestion(unchanged, after, asked) is None
