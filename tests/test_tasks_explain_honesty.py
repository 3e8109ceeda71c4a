"""explain says only what the code shows, or nothing: a cost only where a loop's shape shows it
(a binary search is not "linear"), the definition's own doc comment as its summary (Javadoc,
rustdoc, Go, docstrings), no sentence read from the name, and the code model's line only where
it names something of the definition and copies no other definition's summary."""

from __future__ import annotations

import pytest

from tasks.docs import first_sentence
from tasks.explain import explain

BINARY_SEARCH = {
    "python": "def search(xs, x):\n    lo, hi = 0, len(xs)\n    while lo < hi:\n"
              "        mid = (lo + hi) // 2\n        if xs[mid] < x:\n            lo = mid + 1\n"
              "        else:\n            hi = mid\n    return lo\n",
    "java": "class S {\n  static int search(int[] xs, int x) {\n    int lo = 0, hi = xs.length;\n"
            "    while (lo < hi) { int m = (lo + hi) >>> 1; if (xs[m] < x) lo = m + 1; "
            "else hi = m; }\n    return lo;\n  }\n}\n",
    "go": "package s\n\nfunc Search(xs []int, x int) int {\n\tlo, hi := 0, len(xs)\n"
          "\tfor lo < hi {\n\t\tm := (lo + hi) / 2\n\t\tif xs[m] < x {\n\t\t\tlo = m + 1\n"
          "\t\t} else {\n\t\t\thi = m\n\t\t}\n\t}\n\treturn lo\n}\n",
    "c": "int bits(int n) {\n  int c = 0;\n  for (int i = n; i > 0; i /= 2) c++;\n  return c;\n}\n",
}
LINEAR = {
    "python": "def total(xs):\n    s = 0\n    for v in xs:\n        s += v\n    return s\n",
    "java": "class T {\n  static int total(int[] xs) {\n    int s = 0;\n"
            "    for (int i = 0; i < xs.length; i++) s += xs[i];\n    return s;\n  }\n}\n",
    "go": "package t\n\nfunc Total(xs []int) int {\n\ts := 0\n\tfor _, v := range xs {\n"
          "\t\ts += v\n\t}\n\treturn s\n}\n",
    "rust": "fn total(xs: &[i32]) -> i32 {\n    let mut s = 0;\n    for v in xs {\n"
            "        s += v;\n    }\n    s\n}\n",
}


def explained(text: str, language: str, filler: object = None) -> str:
    at = text.index("(")
    return "".join(explain(text, language, at, at, filler))  # type: ignore[arg-type]


@pytest.mark.parametrize("language", sorted(BINARY_SEARCH))
def test_a_loop_whose_turns_do_not_show_gets_no_cost(language: str) -> None:
    said = explained(BINARY_SEARCH[language], language)
    assert "O(n" not in said and "linear" not in said, said
    assert "no cost is claimed" in said


@pytest.mark.parametrize("language", sorted(LINEAR))
def test_a_loop_over_a_collection_or_a_counter_stepping_by_one_is_linear(language: str) -> None:
    assert "linear in its size (O(n))" in explained(LINEAR[language], language)


@pytest.mark.parametrize(("comment", "sentence"), [
    ("/**\n * Returns the index of x, or -1.\n * @param xs sorted values\n */",
     "Returns the index of x, or -1."),
    ("/// Parses the header.\n/// Then the body.", "Parses the header."),
    ("// Search returns the first index. It is fast.", "Search returns the first index."),
    ('"""Compute a total.\n\n    Args:\n        xs: values\n    """', "Compute a total."),
    ("/** {@code true} when <b>empty</b> */", "true when empty"),
    ("/**\n * @param x only tags\n */", None),
    ("/* */", None),
])
def test_the_summary_is_the_doc_comments_first_sentence(comment: str, sentence: str | None
                                                        ) -> None:
    assert first_sentence(comment) == sentence


def test_an_existing_javadoc_is_the_summary_and_a_name_gives_none() -> None:
    text = ("class A {\n  /**\n   * Returns the position of x in the sorted values.\n"
            "   * @param xs the values\n   */\n  static int find(int[] xs, int x) { return 0; }\n"
            "  static int base64(int y) { return find(null, y); }\n}\n")
    documented = "".join(explain(text, "java", text.index("find("), text.index("find("), None))
    assert "Returns the position of x in the sorted values. *(summary from its documentation)*" \
        in documented
    bare = "".join(explain(text, "java", text.index("base64("), text.index("base64("), None))
    assert "summary from" not in bare and "The base64" not in bare
    assert "- `find`: Returns the position of x in the sorted values." in bare


class Scripted:
    """Stands in for the code model to test the check on its line (its text is the case)."""

    def __init__(self, line: str) -> None:
        self.line = line

    def fill(self, prefix: str, suffix: str, language: str, max_tokens: int) -> str:
        return self.line


@pytest.mark.parametrize(("line", "shown"), [
    ("Add up the price of each item in the cart.", True),  # names price, item, cart
    ("Open a connection to the remote database server.", False),  # names nothing of it
    ("Sum the prices of every item in the cart.", False),  # another function's summary
])
def test_the_models_line_is_shown_only_where_it_names_the_code(line: str, shown: bool) -> None:
    text = ('def cost(cart):\n    """Sum the prices of every item in the cart."""\n'
            "    return sum(item.price for item in cart.items)\n\n\n"
            "def total(cart):\n    return sum(item.price for item in cart.items)\n")
    said = "".join(explain(text, "python", text.index("total("), text.index("total("),
                           Scripted(line)))
    assert (line in said) is shown, said
    if shown:
        assert "a suggestion, not checked against the code" in said


# What a reading of 20 explanations of the standard libraries found false, each fixed here.

def test_a_call_of_another_objects_method_of_the_same_name_is_not_recursion() -> None:
    """``_Utils(Profile).run(...)`` inside ``run``: another object's method, neither recursion
    nor a place to show ``run``'s own documentation."""
    text = ('def run(statement):\n    """Run statement under profiler."""\n'
            "    return _Utils(Profile).run(statement)\n\n\n"
            "def again(n):\n    return again(n - 1) if n else 0\n\n\n"
            "class C:\n    def walk(self, n):\n        return self.walk(n - 1)\n")
    said = explained(text, "python")
    assert "recursive" not in said
    assert "- `_Utils(Profile).run`\n" in said  # no documentation attached to it
    at = text.index("again(n)")
    assert "recursive" in "".join(explain(text, "python", at, at, None))
    at = text.index("walk(self")
    assert "recursive" in "".join(explain(text, "python", at, at, None))


def test_go_parameters_declared_together_are_each_taken() -> None:
    text = "package s\n\nfunc TrimLeft(s, cutset string) string {\n\treturn s + cutset\n}\n"
    said = explained(text, "go")
    assert "- `s` (`string`)\n- `cutset` (`string`)" in said


@pytest.mark.parametrize(("language", "text", "summary"), [
    ("go", "package s\n\n// TrimLeft returns s without the leading code points in cutset.\n//\n"
           "// To remove a prefix, use [TrimPrefix] instead.\nfunc TrimLeft(s, cutset string) "
           "string {\n\treturn s\n}\n",
     "TrimLeft returns s without the leading code points in cutset."),
    ("rust", "/// Reads the header.\n///\n/// ```\n/// let h = 1;\n/// ```\n"
             "fn read(b: &[u8]) -> u8 {\n    b[0]\n}\n", "Reads the header."),
])
def test_a_doc_comment_of_line_comments_is_read_whole(language: str, text: str,
                                                      summary: str) -> None:
    """Each ``//`` line is its own node: the summary is the first sentence of them all, not
    the last line ("}" after a code example, "To remove a prefix ...")."""
    assert f"{summary} *(summary from its documentation)*" in explained(text, language)


def test_an_optional_typescript_parameter_is_said_to_be_optional() -> None:
    text = "function f(kind: string, instruction?: string): string {\n  return kind;\n}\n"
    assert "- `instruction` (`string`, default `undefined`)" in explained(text, "typescript")
