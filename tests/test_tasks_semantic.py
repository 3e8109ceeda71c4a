"""The semantic checks over tree-sitter (``tasks.semantic``): each finds its bug in every
language it is written for, and leaves alone the deliberate shapes that released code has
(measured on 3.75 M lines: docs/TASKS.md)."""

from __future__ import annotations

import pytest

from tasks.semantic import semantic_findings

BUGGY = {
    "python": "def area(width, height):\n    return width * height\n\n\n"
              "def g(s, t, xs):\n    width, height = s, t\n    if width == 1:\n        pass\n"
              "    elif width == 1:\n        pass\n    for i in range(len(xs) + 1):\n"
              "        print(xs[i])\n    return area(height, width)\n",
    "javascript": "function area(w, h) { return w * h; }\nfunction g(s, t) {\n"
                  "  const w = s, h = t;\n  if (w === 1) { a(); } else if (w === 1) { b(); }\n"
                  "  return area(h, w);\n}\n",
    "go": "package m\n\nfunc area(w, h int) int { return w * h }\n\nfunc g(s, t int, xs []int) int {\n"
          "\tw, h := s, t\n\tif w == 1 {\n\t\ta()\n\t} else if w == 1 {\n\t\tb()\n\t}\n"
          "\tfor i := 0; i <= len(xs); i++ {\n\t\t_ = xs[i]\n\t}\n\treturn area(h, w)\n}\n",
    "java": "class A {\n  int area(int w, int h) { return w * h; }\n"
            "  int g(int s, int t, int[] xs) {\n    int w = s, h = t;\n"
            "    if (w == 1) { a(); } else if (w == 1) { b(); }\n"
            "    for (int i = 0; i <= xs.length; i++) { xs[i] = 0; }\n    return area(h, w);\n"
            "  }\n}\n",
    "rust": "fn area(w: i32, h: i32) -> i32 { w * h }\nfn g(s: i32, t: i32) -> i32 {\n"
            "    let (w, h) = (s, t);\n    if w == 1 { a() } else if w == 1 { b() }\n"
            "    area(h, w)\n}\n",
}
EXPECTED = {"python": 3, "javascript": 2, "go": 3, "java": 3, "rust": 2}


@pytest.mark.parametrize("language", sorted(BUGGY))
def test_each_check_finds_its_bug(language: str) -> None:
    text = BUGGY[language]
    found = semantic_findings(text, language)
    rules = {d.rule: text[d.start:d.end] for d in found}
    assert len(found) == EXPECTED[language], found
    assert rules["semantic/swapped-arguments"] == "h, w" or \
        rules["semantic/swapped-arguments"] == "height, width"
    assert rules["semantic/repeated-condition"].strip("()") in ("w == 1", "w === 1",
                                                                "width == 1")
    if "semantic/past-the-end" in rules:
        assert rules["semantic/past-the-end"] in ("range(len(xs) + 1)", "i <= len(xs)",
                                                  "i <= xs.length")
    assert {d.severity for d in found} == {"warning"}


@pytest.mark.parametrize("text", [
    # The caller passes its own parameters reversed, on purpose.
    "def compare(a, b):\n    return a < b\n\n\ndef rcompare(a, b):\n    return compare(b, a)\n",
    # Both ways in one function.
    "def similar(x, y):\n    return x == y\n\n\ndef both(p, q):\n    x, y = p, q\n"
    "    return similar(x, y) and similar(y, x)\n",
    # A rotation of many (a hash round), not a swap.
    "def rnd(a, b, c, d):\n    return a\n\n\ndef go(p):\n    a, b, c, d = p\n"
    "    return rnd(d, a, b, c)\n",
    # Recursion choosing its order.
    "def hanoi(n, src, via, dst):\n    if n:\n        hanoi(n - 1, src, dst, via)\n",
    # A repeated condition that calls something may differ the second time.
    "def f(it):\n    if next(it) == 1:\n        pass\n    elif next(it) == 1:\n        pass\n",
    # A loop to the length that handles the end itself.
    "def split(xs):\n    for i in range(len(xs) + 1):\n        if i == len(xs) or xs[i] == 0:\n"
    "            pass\n",
])
def test_deliberate_shapes_are_left_alone(text: str) -> None:
    assert semantic_findings(text, "python") == []


def test_go_conditions_after_different_statements_are_different() -> None:
    text = ("package m\n\nfunc f(x any) {\n\tif v, ok := x.(int); ok {\n\t\t_ = v\n"
            "\t} else if s, ok := x.(string); ok {\n\t\t_ = s\n\t}\n}\n")
    assert semantic_findings(text, "go") == []


def test_test_files_may_call_in_any_order() -> None:
    text = "def area(w, h):\n    return w * h\n\n\ndef test_area():\n    w, h = 2, 3\n" \
           "    assert area(h, w) == 6\n"
    assert semantic_findings(text, "python", "file:///p/tests/test_area.py") == []
    assert semantic_findings(text, "python", "file:///p/area.py") != []


def test_javascript_may_read_past_the_end_on_purpose() -> None:
    """`xs[xs.length]` is `undefined` in JavaScript, often a sentinel: not reported there."""
    text = "function f(xs) {\n  for (let i = 0; i <= xs.length; i++) { use(xs[i]); }\n}\n"
    assert semantic_findings(text, "javascript") == []
