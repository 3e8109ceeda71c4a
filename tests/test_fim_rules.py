"""Stop rules, suffix handling and bracket balance of the served model (pure: ``rules.py``)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))
import rules  # noqa: E402

PY = rules.LanguageRules("indent", "#")
C = rules.LanguageRules("braces", "//")
RUBY = rules.LanguageRules("keyword", "#")


def complete(prefix: str, generated: str, suffix: str, language: rules.LanguageRules = PY) -> str:
    """What would be shown if the model generated ``generated`` token by token (one char each),
    checking that what was streamed early is never taken back."""
    context = rules.context_of(prefix, suffix, language)
    text = ""
    streamed = ""
    for char in generated:
        text += char
        cut = rules.stop_point(text, context)
        if cut is not None:
            text = text[:cut]
            break
        settled = text[:rules.settled(text, context)]
        assert settled.startswith(streamed), (settled, streamed)
        streamed = settled
    shown = rules.finish(text, context)
    assert shown.startswith(streamed), (shown, streamed)
    return shown


class TestMode:
    def test_code_after_the_cursor_means_one_line(self) -> None:
        assert rules.context_of("x = foo(", ")\nnext()\n", PY).mode == "line"

    def test_code_before_the_cursor_without_opener_means_one_line(self) -> None:
        assert rules.context_of("    total = ", "\n", PY).mode == "line"

    def test_blank_line_means_block(self) -> None:
        assert rules.context_of("def f(x):\n    ", "\n", PY).mode == "block"

    @pytest.mark.parametrize("line", ["def f(x):", "if (x) {", "x.each do", "let f = () =>"])
    def test_line_ending_in_an_opener_means_block(self, line: str) -> None:
        language = RUBY if line.endswith("do") else (C if "{" in line else PY)
        assert rules.context_of(line, "\n", language).mode == "block"

    @pytest.mark.parametrize("line", ["call(", "items = ["])
    def test_an_open_call_or_list_is_finished_on_its_line(self, line: str) -> None:
        assert rules.context_of(line, "\n", C).mode == "line"

    def test_opener_inside_a_comment_does_not_count(self) -> None:
        assert rules.context_of("x = 1  # note: {", "\n", PY).mode == "line"


class TestLineStops:
    def test_stops_at_the_end_of_the_line(self) -> None:
        assert complete("x = ", "compute(a)\ny = 2\n", "\n") == "compute(a)"

    def test_never_re_emits_the_closing_bracket_after_the_cursor(self) -> None:
        assert complete("print(", "value)", ")\n") == "value"

    def test_keeps_its_own_closer_when_the_suffix_closes_an_outer_bracket(self) -> None:
        assert complete("print(", "len(items))", ")\n") == "len(items)"

    def test_closes_brackets_it_opened(self) -> None:
        assert complete("x = ", "compute(a, [1, 2", "\n") == "compute(a, [1, 2])"

    def test_a_line_that_ends_by_opening_a_block_is_left_open(self) -> None:
        assert complete("    for (i = 0; i < n; i++) ", "{\n", "\n    }\n", C) == "{"

    @pytest.mark.parametrize("generated", ["foo(a, (", "foo(a,"])
    def test_a_call_whose_arguments_go_on_below_is_left_open(self, generated: str) -> None:
        assert complete("w = ", generated + "\n", "\n", C) == generated

    def test_closes_its_own_bracket_inside_an_outer_call(self) -> None:
        assert complete("x = print(", "foo(a", ")\n") == "foo(a)"

    def test_does_not_close_brackets_opened_before_the_cursor(self) -> None:
        assert complete("for i in range(", "", "\n") == ""
        assert complete("for i in range(", "limit", "\n") == "limit"

    def test_does_not_repeat_a_closing_quote(self) -> None:
        assert complete('name = "', 'hello"', '"\n') == "hello"

    def test_brackets_inside_strings_do_not_count(self) -> None:
        assert complete("x = ", 'f("(")', "\n") == 'f("(")'


class TestBlockStops:
    def test_python_block_stops_before_the_dedent(self) -> None:
        shown = complete("def f(x):\n", "    y = x + 1\n    return y\ndef g():\n    pass\n", "\n")
        assert shown == "    y = x + 1\n    return y"

    def test_two_blank_lines_end_the_block(self) -> None:
        shown = complete("def f(x):\n    ", "return x\n\n\nclass A:\n", "\n")
        assert shown == "return x"

    def test_brace_block_includes_its_missing_closer(self) -> None:
        shown = complete("int f(int x) {\n", "    return x;\n}\nint g() {\n", "\n", C)
        assert shown == "    return x;\n}"

    def test_brace_block_does_not_repeat_the_closer_the_suffix_has(self) -> None:
        shown = complete("int f(int x) {\n", "    return x;\n}\n", "\n}\n", C)
        assert shown == "    return x;"

    def test_keyword_block_includes_end(self) -> None:
        shown = complete("def f(x)\n", "  x + 1\nend\nputs 1\n", "\n", RUBY)
        assert shown == "  x + 1\nend"

    def test_a_line_equal_to_the_suffix_s_next_line_is_not_re_emitted(self) -> None:
        shown = complete("def f(x):\n    ", "y = x\n    return y\n", "\n    return y\n")
        assert shown == "y = x"

    def test_a_brace_block_cut_inside_a_call_ends_at_its_last_closed_line(self) -> None:
        shown = complete("void f() {\n", "    a(1);\n    b(2,\n      3", "\n}\n", C)
        assert shown == "    a(1);"

    def test_a_brace_block_that_never_closes_its_brackets_shows_nothing(self) -> None:
        shown = complete("void f() {\n", "    call(1,\n      2,", "\n}\n", C)
        assert shown == ""
        shown = complete("func f() {\n", "\tif err != nil {\n", "\n\treturn\n}\n", C)
        assert shown == ""

    def test_a_block_closes_only_what_the_code_after_the_cursor_leaves_open(self) -> None:
        shown = complete("void f() {\n", "  y();\n}\n", "\n  z();\n}\n", C)
        assert shown == "  y();"  # the suffix closes f: another `}` would not parse
        shown = complete("void f() {\n", "  y();\n}\n", "\n", C)
        assert shown == "  y();\n}"  # f is still open: closing it is the completion's job
        shown = complete("void f() {\n  if (x) {\n", "    y();\n  }\n", "\n  z();\n}\n", C)
        assert shown == "    y();\n  }"  # the suffix closes f, not the `if`

    def test_brackets_opened_before_the_block_may_be_closed_as_far_as_allowed(self) -> None:
        text = "    x = 1;\n  }) ;"
        assert rules.balanced_end(text, C, closable=2) == len(text)
        assert rules.balanced_end(text, C, closable=1) == len("    x = 1;")
        assert rules.balanced_end(text, C) == len("    x = 1;")

    @pytest.mark.parametrize(("prefix", "suffix", "expected"), [
        ("void f() {\n", "\n}\n", 0),
        ("void f() {\n", "\n", 1),
        ("void f() {\n  if (a(\"{\")) {  // {\n", "\n  }\n", 1),
        ("}\n", "\n", 0),
    ])
    def test_closable_counts_what_the_suffix_leaves_open(self, prefix: str, suffix: str,
                                                        expected: int) -> None:
        assert rules.closable(prefix, suffix, C) == expected
        assert rules.context_of(prefix, suffix, C).closable == expected

    def test_a_block_ends_before_it_repeats_a_line(self) -> None:
        loop = "    register(handler(w), r);\n"
        shown = complete("func f() {\n", loop * 3, "\n}\n", C)
        assert shown == loop.rstrip("\n")
        shown = complete("def f(x):\n    y = compute(x)\n    ", "y = compute(x)\n    return y\n", "\n")
        assert shown == ""  # the line above the cursor again is no completion
        shown = complete("def f(x):\n    y = compute(x)\n    ", "y = compute(x)", "\n")
        assert shown == ""  # nor as the block's last line

    def test_short_lines_may_repeat(self) -> None:
        shown = complete("def f(x)\n  if x\n", "    g\n  end\nend\nputs 1\n", "\n", RUBY)
        assert shown == "    g\n  end"
        shown = complete("int f() {\n  if (x) {\n", "    y();\n  }\n}\nint g() {\n", "\n", C)
        assert shown.endswith("  }\n}") or shown.endswith("  }")

    def test_at_most_max_lines(self) -> None:
        body = "".join(f"    x{i} = {i}\n" for i in range(20))
        shown = complete("def f():\n", body, "\n")
        assert shown.count("\n") == rules.MAX_LINES - 1


class TestComments:
    def test_brackets_in_a_comment_are_not_closed(self) -> None:
        shown = complete("// Licensed under the Apa", "che License, Version 2.0 (the", "\n", C)
        assert shown == "che License, Version 2.0 (the"
        shown = complete("x = f(1)  # see g(", "a, b", "\n")
        assert shown == "a, b"

    def test_a_comment_marker_in_a_string_is_no_comment(self) -> None:
        assert complete('url = "http://"; ', "call(x", "\n", C) == "call(x)"


class TestBalanceProperty:
    @given(st.text(alphabet="ab(),[] ", max_size=30))
    def test_one_line_completion_leaves_its_own_brackets_open_only_at_its_end(
            self, generated: str) -> None:
        shown = complete("x = ", generated, "\n")
        stack, _ = rules._scan(shown, PY)
        assert stack == [] or shown.rstrip()[-1] in (*rules.OPENERS, ",")

    @given(st.text(alphabet="ab()\n ", max_size=40), st.sampled_from([")\n", "\n", "):\n"]))
    def test_streamed_text_is_never_taken_back(self, generated: str, suffix: str) -> None:
        complete("f(", generated, suffix)  # the assertions are inside

    @given(st.lists(st.sampled_from(["call(arg);\n", "  call(arg);\n", "call(a", "rg);\n", "}\n",
                                     "\n", "value = 1\n"]), max_size=8),
           st.sampled_from(["\n}\n", "\n"]), st.sampled_from(["call(arg);\n", ""]))
    def test_a_repeated_line_is_never_streamed(self, pieces: list[str], suffix: str,
                                               above: str) -> None:
        shown = complete("void f() {\n" + above, "".join(pieces), suffix, C)  # asserts inside
        lines = [line.strip() for line in (above + shown).split("\n") if line.strip()]
        assert all(a != b or not rules.repeatable(a) for a, b in itertools.pairwise(lines))

    @given(st.text(alphabet="a(){};\n ", max_size=60), st.sampled_from(["\n}\n", "\n"]))
    @example(";\n\n(\n", "\n}\n")  # a blank line after a balanced one was streamed, then stripped
    def test_a_brace_block_streams_nothing_it_takes_back(self, generated: str, suffix: str) -> None:
        shown = complete("void f() {\n", generated, suffix, C)  # the assertions are inside
        closable = 0 if suffix.strip() else 1
        assert shown == "" or rules.balanced_end(shown, C, closable) == len(shown)
        _, stray = rules._scan(shown, C)
        assert stray <= closable

    @given(st.recursive(st.sampled_from(["x;", "\n", "f(a);\n"]),
                        lambda inner: st.tuples(st.sampled_from(["()", "[]", "{}"]),
                                                st.lists(inner, max_size=3)).map(
                            lambda t: t[0][0] + "".join(t[1]) + t[0][1]), max_leaves=20),
           st.data())
    def test_in_a_balanced_file_a_block_may_close_nothing(self, code: str, data: st.DataObject
                                                          ) -> None:
        starts = [0] + [i + 1 for i, char in enumerate(code) if char == "\n"]
        cut = data.draw(st.sampled_from(starts))
        assert rules.closable(code[:cut], code[cut:], C) == 0
