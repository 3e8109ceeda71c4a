"""The next-edit engine, pure: what one burst of typing changed, and the rename that follows
from renaming one use of a name, in several languages, and what it must leave alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from documents.document import apply_edits
from next_edits.engine import MIN_PRECISION, PRECISION, default_rules, propose
from next_edits.region import changed_region, replaced_identifier
from next_edits.rename import RULE as RENAME
from next_edits.repeat import RULE as REPEAT
from next_edits.signature import RULE as SIGNATURE
from schemas.socket import TextEdit

ALL = frozenset(PRECISION)

PYTHON = '''def mean(cnt, values):
    total = sum(values)
    if cnt == 0:
        return 0.0
    print("cnt is", cnt)
    return total / cnt


def other(cnt):
    return cnt
'''


def after_rename(text: str, old: str, new: str, nth: int = 0) -> str:
    """``text`` with the ``nth`` whole-word use of ``old`` spelled ``new`` (what a user typed)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(old, at + 1)
        while text[at - 1].isalnum() or text[at + len(old)].isalnum():
            at = text.index(old, at + 1)
    return text[:at] + new + text[at + len(old):]


def suggested(before: str, after: str, language: str) -> str | None:
    """The text once the one suggestion is applied (``None``: no suggestion)."""
    found = propose(before, after, language, ALL)
    if not found:
        return None
    [suggestion] = found
    return apply_edits(after, tuple(reversed(suggestion.changes)))


@given(st.text(alphabet="ab(c) \n", max_size=30), st.text(alphabet="ab(c) \n", max_size=30))
def test_the_changed_region_is_all_that_differs(before: str, after: str) -> None:
    region = changed_region(before, after)
    if before == after:
        assert region is None
        return
    assert region is not None
    rebuilt = before[:region.start] + after[region.start:region.after_end] + \
        before[region.before_end:]
    assert rebuilt == after
    assert region.delta == len(after) - len(before)


def test_the_replaced_identifier_is_the_whole_word_on_both_sides() -> None:
    before, after = "x = cnt + 1", "x = count + 1"
    replaced = replaced_identifier(before, after, changed_region(before, after))  # type: ignore[arg-type]
    assert replaced is not None and (replaced.start, replaced.old, replaced.new) == (4, "cnt", "count")
    two_words = "x = a + b + c"
    assert replaced_identifier("x = a + c", two_words,
                               changed_region("x = a + c", two_words)) is None  # type: ignore[arg-type]


def test_renaming_a_parameter_suggests_its_other_uses_in_its_function_only() -> None:
    after = after_rename(PYTHON, "cnt", "count")
    result = suggested(PYTHON, after, "python")
    assert result is not None
    head, tail = result.split("def other")
    assert "cnt" not in head.replace('"cnt is"', "")  # the string stays as it was
    assert '"cnt is"' in head and head.count("count") == 4
    assert tail == "(cnt):\n    return cnt\n"  # another function's own parameter
    [suggestion] = propose(PYTHON, after, "python", ALL)
    assert suggestion.rule == RENAME and suggestion.label == "rename 3 more uses of `cnt` to `count`"


def test_only_an_edit_where_the_name_is_declared_starts_a_rename() -> None:
    """Replayed on real commits, replacing one use was mostly choosing another name there."""
    assert suggested(PYTHON, after_rename(PYTHON, "cnt", "count", nth=1), "python") is None
    # An assignment declares `total`: renaming it there renames its uses.
    result = suggested(PYTHON, PYTHON.replace("total = sum", "acc = sum"), "python")
    assert result is not None and "return acc / cnt" in result
    # A name in a parameter's annotation or default is no declaration of it.
    typed = "def f(x: str, n=size):\n    return str(x) * size\n"
    assert suggested(typed, typed.replace("x: str", "x: text"), "python") is None
    assert suggested(typed, typed.replace("n=size", "n=count"), "python") is None


def test_a_name_used_inside_an_assignments_target_is_not_declared_there() -> None:
    text = "def f(arr, i, obj, v):\n    arr[i] = v\n    obj.x = v\n    return arr[i], obj\n"
    assert suggested(text, text.replace("arr[i] = v", "arr[k2] = v"), "python") is None
    assert suggested(text, text.replace("obj.x = v", "other.x = v"), "python") is None
    pair = "def f(v):\n    a, b = v\n    return a + b\n"
    assert suggested(pair, pair.replace("a, b = v", "first, b = v"), "python") == \
        pair.replace("a, b = v", "first, b = v").replace("return a", "return first")


def test_no_rename_into_a_keyword() -> None:
    go = "package m\n\nfunc f() int {\n\tx := g()\n\treturn x\n}\n"
    assert suggested(go, go.replace("\tx := g()", "\tvar := g()"), "go") is None


def test_no_suggestion_while_the_name_is_being_typed_or_when_it_picks_another_variable() -> None:
    # "c" -> "co" -> "count": the new name extends the old, or the old the new.
    assert suggested(PYTHON, after_rename(PYTHON, "cnt", "cnt_all"), "python") is None
    assert suggested(PYTHON, after_rename(PYTHON, "cnt", "cn"), "python") is None
    # `total` is already a name there: the edit chose another variable, it renamed nothing.
    assert suggested(PYTHON, after_rename(PYTHON, "cnt", "total", nth=2), "python") is None
    # An attribute of another object and an edit inside a string are no rename.
    text = "def f(cnt):\n    obj.cnt = cnt\n    return 'cnt'\n"
    assert suggested(text, text.replace("obj.cnt", "obj.count"), "python") is None
    assert suggested(text, text.replace("'cnt'", "'count'"), "python") is None
    # Nothing left to rename.
    lone = "def f():\n    x = 1\n"
    assert suggested(lone, lone.replace("x", "y"), "python") is None


def test_the_rename_rule_works_on_other_grammars() -> None:
    go = "package m\n\nfunc Sum(xs []int) int {\n\tn := 0\n\tfor _, x := range xs {\n" \
         "\t\tn += x\n\t}\n\treturn n\n}\n"
    result = suggested(go, go.replace("n := 0", "total := 0"), "go")
    assert result is not None and "n +=" not in result and result.count("total") == 3
    js = "function area(w, h) {\n  const s = w * h;\n  return s;\n}\n"
    result = suggested(js, js.replace("area(w,", "area(size,"), "javascript")
    assert result == js.replace("w,", "size,").replace("w *", "size *")
    java = "class A {\n  int f(int n) {\n    int k = n + 1;\n    return k * n;\n  }\n}\n"
    result = suggested(java, java.replace("int n)", "int size)"), "java")
    assert result is not None and " n" not in result and result.count("size") == 3


def test_a_prototypes_parameter_names_nothing_outside_it() -> None:
    """Seen replaying cJSON: renaming a parameter of a declaration without a body renamed 21
    uses of the name elsewhere in the file."""
    c = "int get(const int *array, int item);\nint item_count(int item) { return item; }\n" \
        "static int item;\nint f(void) { return item; }\n"
    assert suggested(c, c.replace("int item);", "int index);", 1), "c") is None
    pointer = "void (*on_item)(int item);\nint item = 3;\nint g(void) { return item; }\n"
    assert suggested(pointer, pointer.replace("(int item)", "(int x)"), "c") is None


def test_rules_under_the_precision_floor_are_off_by_default() -> None:
    assert default_rules() == {r for r, p in PRECISION.items() if p >= MIN_PRECISION}
    after = after_rename(PYTHON, "cnt", "count")
    assert bool(propose(PYTHON, after, "python")) == (RENAME in default_rules())


def apply_all(text: str, changes: tuple[TextEdit, ...]) -> str:
    for change in sorted(changes, key=lambda c: c.start, reverse=True):
        text = text[:change.start] + change.text + text[change.end:]
    return text


def signature_after(before: str, old: str, new: str, language: str) -> str | None:
    after = before.replace(old, new, 1)
    found = [s for s in propose(before, after, language, frozenset({SIGNATURE}))]
    return apply_all(after, found[0].changes) if found else None


def test_a_removed_parameter_leaves_the_calls_that_pass_it() -> None:
    py = "def area(w, h, scale=1):\n    return w * h * scale\n\n" \
         "a = area(1, 2, 3)\nb = area(4, 5)\nc = area(6, h=7)\nd = obj.area(8, 9, 10)\n"
    result = signature_after(py, "def area(w, h, scale=1):", "def area(w, h):", "python")
    # A call that stops before it keeps its default; keywords and another object's method stay.
    assert result == py.replace("def area(w, h, scale=1):", "def area(w, h):") \
        .replace("area(1, 2, 3)", "area(1, 2)")
    js = "function area(w, h) {\n  return w;\n}\nconst a = area(1, 2);\nconst b = area(...xs);\n"
    assert signature_after(js, "area(w, h)", "area(h)", "javascript") == js.replace(
        "area(w, h)", "area(h)").replace("area(1, 2)", "area(2)")


def test_reordered_parameters_reorder_the_arguments_of_calls_that_pass_all() -> None:
    py = "class Box:\n    def area(self, w, h):\n        return w * h\n\n" \
         "    def twice(self):\n        return self.area(1, 2) + self.area(3)\n"
    result = signature_after(py, "def area(self, w, h)", "def area(self, h, w)", "python")
    assert result is not None and "self.area(2, 1)" in result and "self.area(3)" in result
    go = "package m\n\nfunc area(w int, h int) int {\n\treturn w * h\n}\n\n" \
         "func f() int { return area(1, 2) }\n"
    assert signature_after(go, "area(w int, h int)", "area(h int, w int)", "go") == go.replace(
        "area(w int, h int)", "area(h int, w int)").replace("area(1, 2)", "area(2, 1)")


def test_no_signature_suggestion_for_an_added_or_renamed_parameter_or_an_overload() -> None:
    py = "def area(w, h):\n    return w * h\n\na = area(1, 2)\n"
    assert signature_after(py, "area(w, h)", "area(w, h, d)", "python") is None
    assert signature_after(py, "area(w, h)", "area(w, height)", "python") is None
    java = "class A {\n  int area(int w, int h) { return w * h; }\n" \
           "  int area(int w) { return w; }\n  int f() { return area(1, 2); }\n}\n"
    assert signature_after(java, "area(int w, int h)", "area(int h, int w)", "java") is None


def test_no_signature_change_for_calls_passing_fewer_or_through_another_object() -> None:
    """Seen by the second reading: a call already updated (``f(2, 3)``) lost another argument;
    ``Shape.area(s, 2)`` passes the receiver itself; a dict's ``get`` is not ``Cache.get``."""
    py = "def f(a, b, c):\n    pass\n\nf(1, 2, 3)\nf(2, 3)\n"
    assert signature_after(py, "def f(a, b, c)", "def f(b, c)", "python") == \
        "def f(b, c):\n    pass\n\nf(2, 3)\nf(2, 3)\n"
    cache = "class Cache:\n    def get(self, key, default):\n        return default\n\n" \
            "    def first(self):\n        return self.get('a', 1)\n\n" \
            "x = d.get('x', None)\ny = Cache.get(c, 'y', 2)\n"
    result = signature_after(cache, "get(self, key, default)", "get(self, key)", "python")
    assert result is not None and "self.get('a')" in result
    assert "d.get('x', None)" in result and "Cache.get(c, 'y', 2)" in result


def test_only_edits_in_what_reads_as_a_definitions_parameters_are_parsed() -> None:
    from next_edits.signature import in_definition_parameters

    def at(marked: str) -> bool:
        return in_definition_parameters(marked.replace("|", ""), marked.index("|"))

    assert all(at(text) for text in (
        "def area(w|, h):", "def area(w|) -> int:", "func area(w| int) (int, error) {",
        "fn area(&self, w|: u32) -> u32 {", "int area(int w|) throws IOException {",
        "function area(w|) {", "  area(w|: number): number {"))
    assert not any(at(text) for text in (
        "x = area(1|, 2)", "area(1|, 2);", "return area(1|)", "if (a|) {",
        "for (i = 0; i < n|; i++) {", "int area(int w|);", "no parentheses| here"))


def repeat_after(before: str, old: str, new: str, language: str) -> tuple[str, str] | None:
    after = before.replace(old, new, 1)
    found = propose(before, after, language, frozenset({REPEAT}))
    return (found[0].label, apply_all(after, found[0].changes)) if found else None


def test_an_argument_added_to_one_call_is_offered_to_the_calls_like_it() -> None:
    py = "r = requests.get(a)\ns = requests.get(b)\nt = requests.get(c, 1)\nu = other.get(d)\n"
    found = repeat_after(py, "requests.get(a)", "requests.get(a, timeout=5)", "python")
    assert found == ("add `timeout=5` to 1 more call of `requests.get`",
                     py.replace("get(a)", "get(a, timeout=5)").replace("get(b)",
                                                                       "get(b, timeout=5)"))
    java = 'class A { void t() { log.info("a"); log.info("b"); } }\n'
    found = repeat_after(java, 'log.info("a")', 'log.info("a", e)', "java")
    assert found is not None and found[1].count(", e)") == 2
    # In the middle: the same index; a call that already passes it is left alone.
    go = "package m\n\nfunc f() {\n\tg(a, b)\n\tg(c, d)\n\tg(ctx, e)\n}\n"
    found = repeat_after(go, "g(a, b)", "g(ctx, a, b)", "go")
    assert found is not None and "g(ctx, c, d)" in found[1] and "g(ctx, e)" in found[1]


def test_no_repeat_for_an_edited_or_removed_argument() -> None:
    py = "f(a, b)\nf(c, d)\n"
    assert repeat_after(py, "f(a, b)", "f(a, x)", "python") is None
    assert repeat_after(py, "f(a, b)", "f(a)", "python") is None
