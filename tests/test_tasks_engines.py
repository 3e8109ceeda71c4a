"""The tasks' static engines on real parsers, ruff and the committed code model (pure apart
from ruff's subprocess): offsets, syntax errors in many languages, signatures, doc comments,
explanations, test files, and the engine's per-kind answers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.task_routes import DEFAULT_DEADLINES_MS, task_routes
from documents.document import apply_edits
from schemas.errors import ValidationError
from schemas.socket import TextEdit
from schemas.tasks import TaskEdit, TaskFinding, TaskText, read_item, write_item
from tasks.docs import clean_summary, doc_comment, name_words
from tasks.engine import TaskInput, run_task
from tasks.explain import explain
from tasks.filler import ModelFiller
from tasks.grammars import GRAMMARS, parser
from tasks.library_docs import library_doc, python_imports
from tasks.offsets import Offsets
from tasks.rename import new_name, rename
from tasks.structure import definitions
from tasks.syntax import syntax_findings
from tasks.testgen import NoTest, WrittenTests, _inverse_names, detect_framework, write_tests
from workers.tasks.items import task_frame

MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "repository" / "code_fim" / "1"


@pytest.fixture(scope="module")
def filler() -> ModelFiller:
    return ModelFiller(MODEL_DIR)


class Written:
    """A model that answers every fill with the same line: the checks on its answer are logic
    over its text, tested here with the text chosen."""

    def __init__(self, line: str) -> None:
        self.line = line

    def fill(self, prefix: str, suffix: str, language: str, max_tokens: int) -> str:
        return self.line + "\n"


class TestOffsets:
    @given(st.text(alphabet=st.sampled_from("ab\n\r\u00e9\u4e2d\U0001f600\U00020000"),
                   max_size=60))
    def test_bytes_and_code_points_round_trip(self, text: str) -> None:
        offsets = Offsets(text)
        for index in range(len(text) + 1):
            byte = offsets.to_byte(index)
            assert byte == len(text[:index].encode("utf-8"))
            assert offsets.from_byte(byte) == index

    def test_line_and_column_are_one_based_code_points(self) -> None:
        offsets = Offsets("a\u00e9b\n\U0001f600x\n")
        assert offsets.from_line_column(1, 3) == 2
        assert offsets.from_line_column(2, 2) == 5
        assert offsets.from_line_column(2, 99) == 6  # clamped to the line's end
        assert offsets.from_line_column(9, 1) == 7


class TestGrammars:
    def test_every_mapped_language_loads_from_the_wheel(self) -> None:
        assert len(GRAMMARS) >= 60
        for language in GRAMMARS:
            assert parser(language) is not None, language

    @pytest.mark.parametrize(("language", "good", "bad"), [
        ("javascript", "function f(a) { return a; }\n", "function f(a) { return a;\n"),
        ("typescript", "const x: number = 1;\n", "const x: number = (1;\n"),
        ("go", "package m\nfunc f() int { return 1 }\n", "package m\nfunc f() int { return (1 }\n"),
        ("rust", "fn f() -> i32 { 1 }\n", "fn f() -> i32 { (1 }\n"),
        ("java", "class A { int f() { return 1; } }\n", "class A { int f() { return 1 } }\n"),
        ("c", "int f(void) { return 1; }\n", "int f(void) { return 1 }\n"),
        ("ruby", "def f\n  1\nend\n", "def f\n  (1\nend\n"),
    ])
    def test_syntax_errors_only_in_broken_code(self, language: str, good: str, bad: str) -> None:
        assert syntax_findings(good, language) == []
        found = syntax_findings(bad, language)
        assert found and all(f.severity == "error" for f in found)

    def test_a_missing_token_comes_with_its_fix(self) -> None:
        text = "int main() { return 1 }\n"
        [finding] = syntax_findings(text, "c")
        assert finding.fix is not None
        assert apply_edits(text, finding.fix) == "int main() { return 1; }\n"
        assert syntax_findings(apply_edits(text, finding.fix), "c") == []

    def test_offsets_count_code_points_past_non_ascii_text(self) -> None:
        text = 'const s = "\U0001f600\u00e9";\nlet y = (1;\n'
        [finding] = syntax_findings(text, "javascript")
        assert text[finding.start - 2:finding.start] == "(1"


class TestStructure:
    def test_python_signature_body_and_facts(self) -> None:
        text = ('def f(a: int, b=2, *args) -> int:\n    """Doc."""\n    for i in range(a):\n'
                '        for j in range(b):\n            if i:\n                raise ValueError(1)\n'
                '    return g(a) + f(a)\n')
        [d] = definitions(text, "python", 4, 4)
        assert (d.name, d.returns, d.docstring) == ("f", "int", "Doc.")
        assert [(p.name, p.type, p.default) for p in d.parameters] == [
            ("a", "int", None), ("b", None, "2"), ("*args", None, None)]
        assert d.loop_depth == 2 and d.branches == 1 and d.raises == ("ValueError",)
        assert d.recursive and "g" in d.calls

    @pytest.mark.parametrize(("language", "text", "name", "params", "returns"), [
        ("typescript", "function add(a: number, b?: string): number { return a; }\n", "add",
         ["a", "b"], "number"),
        ("go", "package m\nfunc Add(a int, b int) (int, error) { return a + b, nil }\n", "Add",
         ["a", "b"], "(int, error)"),
        ("rust", "fn add(a: i32, b: &str) -> Result<i32, E> { Ok(a) }\n", "add", ["a", "b"],
         "Result<i32, E>"),
        ("java", "class A { int add(int a, String b) throws IOException { return a; } }\n",
         "add", ["a", "b"], "int"),
        ("cpp", "int A::add(const std::string& a, int b = 2) { return b; }\n", "add",
         ["a", "b"], "int"),
        ("javascript", "const twice = (x) => x * 2;\n", "twice", ["x"], None),
    ])
    def test_signatures_across_languages(self, language: str, text: str, name: str,
                                         params: list[str], returns: str | None) -> None:
        at = text.index(name) + 1
        [d] = definitions(text, language, at, at)
        assert d.name == name and [p.name for p in d.parameters] == params
        assert d.returns == returns


class TestDocs:
    def test_names_become_words_and_sentences(self) -> None:
        assert name_words("totalPrice") == ["total", "price"]
        assert name_words("parse_HTTPHeader") == ["parse", "httpheader"]

    def test_only_prose_is_taken_from_the_model(self) -> None:
        assert clean_summary("compute the total price\n") == "Compute the total price."
        assert clean_summary('"""') is None
        assert clean_summary("return x + 1") is None
        assert clean_summary("the 2.") is None
        assert clean_summary("Returns an error.", around="/// Returns an error.\n") is None

    @pytest.mark.parametrize(("language", "text", "opener"), [
        ("typescript", "export function add(a: number): number {\n  return a;\n}\n", "/**\n * "),
        ("java", "class A {\n    int count(String s) {\n        return 0;\n    }\n}\n",
         "    /**\n     * "),
        ("go", "package m\n\nfunc Parse(p string) error {\n\treturn nil\n}\n", "// Parse "),
        ("rust", "fn read(p: &str) -> Result<u8, E> {\n    Ok(1)\n}\n", "/// "),
    ])
    def test_each_language_gets_its_convention(self, language: str, text: str, opener: str,
                                               filler: ModelFiller) -> None:
        """With the real model: whatever it writes, the comment (if any) parses; a summary
        only where it passed the check."""
        name = {"typescript": "add", "java": "count", "go": "Parse", "rust": "read"}[language]
        at = text.index(name) + 1
        [d] = definitions(text, language, at, at)
        comment = doc_comment(text, language, d, filler)
        assert comment is not None
        if comment.summary is not None or language != "go":
            assert comment.text.startswith(opener)
        documented = text[:comment.offset] + comment.text + text[comment.offset:]
        assert syntax_findings(documented, language) == []

    @pytest.mark.parametrize(("written", "kept"), [
        ("Count the words of text split on whitespace.", True),  # names `text`, `split`
        ("Count it.", False),  # restates the name
        ("Return the number of items in the basket.", False),  # names nothing it uses
        ("Parse the header.", False),  # another function's summary
        ("return s.split()", False),  # code, not prose
    ])
    def test_the_models_line_is_kept_only_where_it_passes_the_check(
            self, written: str, kept: bool) -> None:
        text = ('def parse(h):\n    """Parse the header."""\n    return h\n\n\n'
                "def count(text):\n    return len(text.split())\n")
        at = text.index("count") + 1
        [d] = definitions(text, "python", at, at)
        comment = doc_comment(text, "python", d, Written(written))
        assert comment is not None
        assert (comment.summary == written) is kept
        if kept:
            assert comment.text.startswith(f'    """{written}\n')
        else:  # the sections alone: no sentence from the name ("Count it.")
            assert comment.summary is None
            assert comment.text.startswith('    """\n    Args:\n        text:\n')

    def test_a_comment_with_nothing_but_a_failed_summary_is_not_written(self) -> None:
        text = "package m\n\nfunc Find() {\n}\n"
        at = text.index("Find") + 1
        [d] = definitions(text, "go", at, at)
        comment = doc_comment(text, "go", d, Written("Find it."))  # names nothing used
        assert comment is not None and comment.text == "" and comment.summary is None
        items = list(run_task(TaskInput("docs", text, "go", "file:///m.go", at, at),
                              Written("Find it.")))
        assert [type(i) for i in items] == [TaskText]
        assert "No documentation written for `Find`" in items[0].text  # type: ignore[union-attr]

    def test_documented_definitions_are_left_alone(self, filler: ModelFiller) -> None:
        text = 'def f():\n    """Already."""\n    return 1\n'
        [d] = definitions(text, "python", 4, 4)
        assert doc_comment(text, "python", d, filler) is None


class TestTestFiles:
    def test_frameworks_come_from_the_open_documents(self) -> None:
        assert detect_framework("python", []) == "pytest"
        assert detect_framework("python", [("file:///t/test_a.py", "import unittest\n")]) == \
            "unittest"
        assert detect_framework("typescript", [("file:///p/package.json",
                                                '{"devDependencies": {"vitest": "1"}}')]) == \
            "vitest"
        assert detect_framework("go", []) == "go test"
        assert detect_framework("haskell", []) is None

    def test_doctest_examples_become_cases_with_their_documented_values(self) -> None:
        text = ('def double(n):\n    """Twice n.\n\n    >>> double(2)\n    4\n    >>> double(0)\n'
                '    0\n    >>> double(x)\n    6\n    >>> double(1)\n    2\n    3\n    """\n'
                '    return 2 * n\n')
        [d] = definitions(text, "python", 5, 5)
        tests = write_tests(text, "file:///p/calc.py", "python", d, [])
        assert isinstance(tests, WrittenTests) and tests.uri == "file:///p/test_calc.py"
        assert "assert double(2) == 4" in tests.text and "assert double(0) == 0" in tests.text
        # `x` comes from an earlier line not shown; `double(1)`'s output goes on: neither taken.
        assert "double(x)" not in tests.text and "double(1)" not in tests.text
        assert tests.examples == 2 and not tests.round_trips
        compile(tests.text, "test_calc.py", "exec")  # parsed only, never run here

    def test_no_value_is_guessed(self) -> None:
        """A function whose code states no value gets no test, and the reason."""
        text = "def mean(values):\n    return sum(values) / len(values)\n"
        [d] = definitions(text, "python", 5, 5)
        answer = write_tests(text, "file:///p/stats.py", "python", d, [])
        assert isinstance(answer, NoTest) and "nothing in `mean` states a value" in answer.reason
        items = list(run_task(TaskInput("tests", text, "python", "file:///p/stats.py", 5, 5),
                              None))
        assert not any(isinstance(i, TaskEdit) for i in items)
        assert "No test for `mean`" in "".join(i.text for i in items if isinstance(i, TaskText))

    @pytest.mark.parametrize(("name", "inverse"), [
        ("b64encode", "b64decode"), ("EncodeToString", "DecodeToString"), ("unescape", "escape"),
        ("to_hex", "from_hex"), ("toJSON", "fromJSON"), ("decompress", "compress"),
        ("unquote", "quote"), ("serialize", "deserialize"), ("deserialize", "serialize"),
    ])
    def test_inverse_names(self, name: str, inverse: str) -> None:
        assert _inverse_names(name) == [inverse]

    CODECS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "python": ("file:///p/codec.py", "def encode(s: str) -> bytes:\n    return s.encode()\n"
                   "\n\ndef decode(b: bytes) -> str:\n    return b.decode()\n",
                   "assert decode(encode(value)) == value"),
        "go": ("file:///p/codec.go", "package codec\n\nimport \"encoding/hex\"\n\n"
               "func Encode(src []byte) string {\n\treturn hex.EncodeToString(src)\n}\n\n"
               "func Decode(s string) ([]byte, error) {\n\treturn hex.DecodeString(s)\n}\n",
               "got, err := Decode(encoded)"),
        "java": ("file:///p/Codec.java", "package a.b;\n\npublic class Codec {\n"
                 "    public static String encode(String s) {\n        return s;\n    }\n\n"
                 "    static String decode(String s) {\n        return s;\n    }\n}\n",
                 "assertEquals(value, Codec.decode(Codec.encode(value)));"),
        "typescript": ("file:///p/codec.ts", "export function encode(s: string): string {\n"
                       "  return s;\n}\n\nexport const decode = (s: string): string => s;\n",
                       "assert.deepEqual(decode(encode(value)), value);"),
        "rust": ("file:///p/lib.rs", "pub fn encode(input: &[u8]) -> String {\n    String::new()\n"
                 "}\n\npub fn decode(s: &str) -> Result<Vec<u8>, String> {\n    Ok(vec![])\n}\n",
                 "let decoded = decode(&encoded).unwrap();"),
    }

    @pytest.mark.parametrize("language", sorted(CODECS))
    def test_an_inverse_in_the_file_gives_a_round_trip_that_parses(self, language: str) -> None:
        uri, text, line = self.CODECS[language]
        at = text.index("ncode") + 1
        [d] = definitions(text, language, at, at)
        tests = write_tests(text, uri, language, d, [])
        assert isinstance(tests, WrittenTests) and tests.round_trips and tests.examples == 0
        assert line in tests.text
        whole = tests.text if tests.new else text + tests.text
        assert syntax_findings(whole, language) == []
        if language == "go":
            assert tests.text.startswith("package codec\n")  # the document's package
        if language == "java":
            assert tests.text.startswith("package a.b;\n")

    def test_types_that_do_not_chain_get_no_round_trip(self) -> None:
        text = ("def encode(s: str) -> bytes:\n    return s.encode()\n\n\n"
                "def decode(b: bytes, codec: str) -> str:\n    return b.decode(codec)\n")
        [d] = definitions(text, "python", 5, 5)
        assert isinstance(write_tests(text, "file:///p/c.py", "python", d, []), NoTest)
        private = ("class C {\n  private static String encode(String s) { return s; }\n"
                   "  static String decode(String s) { return s; }\n}\n")
        [c] = definitions(private, "java", 0, len(private))
        assert isinstance(write_tests(private, "file:///p/C.java", "java", c.members[0], []),
                          NoTest)

    def test_rustdoc_and_jsdoc_examples_with_literals_become_cases(self) -> None:
        rust = ('/// Twice.\n///\n/// ```\n/// assert_eq!(double(2), 4);\n'
                '/// assert_eq!(double(x), 6);\n/// ```\npub fn double(n: i32) -> i32 {\n'
                '    2 * n\n}\n')
        at = rust.index("double(n") + 1
        [d] = definitions(rust, "rust", at, at)
        tests = write_tests(rust, "file:///p/lib.rs", "rust", d, [])
        assert isinstance(tests, WrittenTests) and tests.examples == 1
        assert "assert_eq!(double(2), 4);" in tests.text and "double(x)" not in tests.text
        js = ("/**\n * Twice.\n * @example\n * double(2) // => 4\n * double(y) // => 6\n */\n"
              "export function double(n) {\n  return 2 * n;\n}\n")
        at = js.index("double(n") + 1
        [d] = definitions(js, "javascript", at, at)
        tests = write_tests(js, "file:///p/m.js", "javascript", d, [])
        assert isinstance(tests, WrittenTests) and tests.examples == 1
        assert "assert.deepEqual(double(2), 4);" in tests.text
        assert "from './m.js'" in tests.text  # node:test loads ES modules by full name


class TestEngine:
    def test_items_round_trip_through_their_encoding(self) -> None:
        for item in (TaskText("hi"), TaskFinding(0, 1, "warning", "F401", "unused"),
                     TaskEdit("t", ())):
            if isinstance(item, TaskEdit):
                continue  # an edit needs at least one change: refused by the schema
            assert read_item(write_item(item)) == item

    def test_refactor_outside_python_says_so(self, filler: ModelFiller) -> None:
        items = list(run_task(TaskInput("refactor", "let x = 1;\n", "javascript",
                                        "file:///a.js", 0, 0), filler))
        assert items == [TaskText("No refactoring applies here (refactorings exist for Python "
                                  "only, not javascript).\n")]

    def test_find_bugs_limits_findings_to_the_range(self) -> None:
        text = "import os\n\n\ndef f():\n    return undefined\n"
        start = text.index("def")
        items = list(run_task(TaskInput("find_bugs", text, "python", "file:///a.py", start,
                                        len(text)), None))
        rules = [i.rule for i in items if isinstance(i, TaskFinding)]
        assert rules == ["F821"]

    @pytest.mark.parametrize(("language", "text", "style_rule"), [
        ("python", "import os\n\n\ndef f(x):\n    if x == None:\n        return 1\n",
         "F401"),
        ("javascript", "function f(a) {\n  const unused = 1;\n  if (a === NaN) return 1;\n}\n"
         "f(1);\n", "eslint(no-unused-vars)"),
    ])
    def test_style_is_shown_only_when_asked_for(self, language: str, text: str,
                                                style_rule: str) -> None:
        """Likely bugs by default (a comparison to None, to NaN); style (an unused name) with
        an instruction naming it."""
        def rules(instruction: str | None) -> set[str]:
            items = run_task(TaskInput("find_bugs", text, language, "file:///a", 0, 0,
                                       instruction), None)
            return {i.rule for i in items if isinstance(i, TaskFinding)}

        default, styled = rules(None), rules("style too")
        assert style_rule not in default and style_rule in styled
        assert default and default < styled

    def test_unconfirmed_c_syntax_errors_are_not_likely_bugs(self) -> None:
        """gcc cannot compile a file with its project's headers; tree-sitter's errors on it,
        often the macros', are style-level until a compiler confirms them."""
        text = '#include "local.h"\nint f(void) { return 1 }\n'
        default = [i for i in run_task(TaskInput("find_bugs", text, "c", "file:///a.c", 0, 0),
                                       None) if isinstance(i, TaskFinding)]
        shown = [i for i in run_task(TaskInput("find_bugs", text, "c", "file:///a.c", 0, 0,
                                               "all"), None) if isinstance(i, TaskFinding)]
        assert default == [] and shown and {f.severity for f in shown} == {"hint"}


class TestRoutes:
    def test_defaults_and_overrides(self) -> None:
        routes = task_routes("explain=qwen_instruct", "find_bugs=150", 2)
        assert routes["explain"].model == "qwen_instruct"
        assert routes["docs"].model == "task_docs"
        assert routes["find_bugs"].deadline_ms == 150
        assert routes["tests"].deadline_ms == DEFAULT_DEADLINES_MS["tests"]
        assert routes["fix"].slots == 2

    @pytest.mark.parametrize("spec", ["poem=1", "explain", "explain=", "find_bugs=-3"])
    def test_bad_specs_name_the_variable(self, spec: str) -> None:
        with pytest.raises(ValueError, match="TASK_DEADLINES_MS"):
            task_routes("", spec)
        with pytest.raises(ValueError, match="TASK_MODELS"):
            task_routes("poem=my_model")


class TestLibraryDocs:
    def test_imports_map_names_to_what_they_stand_for(self) -> None:
        text = "import json\nimport numpy as np\nfrom os.path import join as j\n"
        assert python_imports(text) == {"json": "json", "np": "numpy", "j": "os.path.join"}
        assert python_imports("def broken(:\n") == {}

    def test_explain_quotes_the_installed_library_documentation(self) -> None:
        text = "import json\n\n\ndef load(raw):\n    return json.loads(raw)\n"
        [piece] = explain(text, "python", text.index("def") + 4, text.index("def") + 4, None)
        assert "- `json.loads`: Deserialize ``s``" in piece
        assert library_doc("json.nothing_here", {"json": "json"}) is None
        assert library_doc("os.getcwd", {}) is None  # not imported by the document


class TestRename:
    CODE = ("total = 0\n\ndef add(values, total=1):\n    count = 0\n    for v in values:\n"
            "        count = count + v + total\n    obj.count = count\n    f(count=count)\n"
            "    return count\n\nprint(count)\n")

    def test_a_local_is_renamed_in_its_function_only(self) -> None:
        edit = rename(self.CODE, "python", self.CODE.index("count = 0") + 1, "n")
        assert edit is not None and edit.title == "Rename `count` to `n` (6 places in its function)"
        renamed = apply_edits(self.CODE, tuple(sorted(edit.edits, key=lambda e: -e.start)))
        assert "obj.count = n" in renamed and "f(count=n)" in renamed  # attribute, keyword
        assert renamed.endswith("print(count)\n")  # another scope's name

    def test_javascript_and_instructions(self) -> None:
        js = "function f(a) { let x = a + 1; return x * obj.x; }\nconst x = 2;\n"
        edit = rename(js, "javascript", js.index("let x") + 4, "y")
        assert edit is not None
        renamed = apply_edits(js, tuple(sorted(edit.edits, key=lambda e: -e.start)))
        assert renamed == "function f(a) { let y = a + 1; return y * obj.x; }\nconst x = 2;\n"
        assert [new_name(i) for i in ("rename to total", "`n2`", "make it faster", None)] == \
            ["total", "n2", None, None]
        assert rename(js, "javascript", js.index("let x") + 4, "not a name") is None


    def test_a_long_new_name_still_makes_a_valid_edit(self) -> None:
        """The instruction may be 2,000 characters; the edit's title must stay within 200."""
        long_name = "n" * 300
        edit = rename(self.CODE, "python", self.CODE.index("count = 0") + 1, long_name)
        assert edit is not None and len(edit.title) == 200 and edit.title.endswith("…")
        assert read_item(write_item(edit)) == edit


class TestFileNames:
    """A document's name is the editor's: any character a file name can hold."""

    @pytest.mark.parametrize("name", ["café.py", "\U0001F600.py", "a\u2028b.py", "a\u202eb.py",
                                      "a\x00b.py", "..py", ""])
    def test_find_bugs_answers_for_any_name(self, name: str) -> None:
        items = list(run_task(TaskInput("find_bugs", "def f(:\n    pass\n", "python",
                                        f"file:///home/u/{name}", 0, 10), None))
        assert any(isinstance(i, TaskFinding) for i in items), items


class TestUnsavedBuffers:
    DOUBLE = 'def double(n):\n    """\n    >>> double(2)\n    4\n    """\n    return n * 2\n'

    def test_tests_for_a_buffer_with_no_directory_come_as_text(self) -> None:
        """No file can sit beside ``untitled:Untitled-1``: the tests are text to paste, and
        every item is one the worker accepts for that document."""
        items = list(run_task(TaskInput("tests", self.DOUBLE, "python", "untitled:Untitled-1",
                                        0, len(self.DOUBLE)), None))
        assert not any(isinstance(i, TaskEdit) for i in items)
        text = "".join(i.text for i in items if isinstance(i, TaskText))
        assert "```python" in text and "assert double(2) == 4" in text
        for seq, item in enumerate(items):
            task_frame(item, "t1", seq, 1, len(self.DOUBLE), "untitled:Untitled-1")

    def test_a_saved_file_gets_a_new_test_file_beside_it(self) -> None:
        items = list(run_task(TaskInput("tests", self.DOUBLE, "python", "file:///home/u/m.py",
                                        0, len(self.DOUBLE)), None))
        (edit,) = [i for i in items if isinstance(i, TaskEdit)]
        assert edit.uri == "file:///home/u/test_m.py"


class TestSecondReading:
    def test_doc_comments_above_exports_and_attributes_count(self) -> None:
        js = "/** Adds. */\nexport function add(a, b) { return a + b; }\n"
        [d] = definitions(js, "javascript", js.index("add") + 1, js.index("add") + 1)
        assert d.docstring is not None and "Adds" in d.docstring
        rs = "/// Reads.\n#[inline]\nfn read() -> u8 { 1 }\n"
        [r] = definitions(rs, "rust", rs.index("read()") + 1, rs.index("read()") + 1)
        assert r.docstring is not None and "Reads" in r.docstring

    def test_a_deeply_nested_expression_is_read_without_recursion(self) -> None:
        text = "def f():\n    return " + " + ".join(["1"] * 3000) + "\n"
        [d] = definitions(text, "python", 4, 4)
        assert d.name == "f" and len(d.return_values) == 1

    def test_rename_refuses_attributes_and_taken_names(self) -> None:
        code = "def f(total, n):\n    obj.total = total\n    return total + n\n"
        assert rename(code, "python", code.index("obj.total") + 5, "x") is None
        assert rename(code, "python", code.index("total"), "n") is None
        assert rename(code, "python", code.index("total"), "amount") is not None

    def test_a_new_file_must_sit_beside_its_document(self) -> None:
        item = TaskEdit("Tests", (TextEdit(0, 0, "x"),), "file:///p/test_a.py")
        assert task_frame(item, "t", 0, 1, 10, "file:///p/a.py").uri == "file:///p/test_a.py"
        for uri in ("file:///etc/test_a.py", "file:///p/../etc/x.py", "https://p/test_a.py"):
            with pytest.raises(ValidationError, match="beside"):
                task_frame(TaskEdit("Tests", (TextEdit(0, 0, "x"),), uri), "t", 0, 1, 10,
                           "file:///p/a.py")


class TestTestsCompileAndPass:
    """Go and Rust test files are compiled with the document before they are sent; here (not
    on the server, which never runs code) they are also run, on a codec written for the test."""

    GO = ("package codec\n\nimport \"encoding/hex\"\n\nfunc Encode(src []byte) string {\n"
          "\treturn hex.EncodeToString(src)\n}\n\nfunc Decode(s string) ([]byte, error) {\n"
          "\treturn hex.DecodeString(s)\n}\n")
    RUST = ("pub fn encode(input: &[u8]) -> String {\n"
            "    input.iter().map(|b| format!(\"{:02x}\", b)).collect()\n}\n\n"
            "pub fn decode(s: &str) -> Result<Vec<u8>, String> {\n"
            "    (0..s.len()).step_by(2)\n"
            "        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))\n"
            "        .collect()\n}\n")

    @staticmethod
    def answer(text: str, language: str, uri: str) -> tuple[str, list[TaskEdit]]:
        at = text.index("ncode") + 1
        items = list(run_task(TaskInput("tests", text, language, uri, at, at), None))
        said = "".join(i.text for i in items if isinstance(i, TaskText))
        return said, [i for i in items if isinstance(i, TaskEdit)]

    def test_a_go_round_trip_compiles_and_passes(self, tmp_path: Path) -> None:
        said, [edit] = self.answer(self.GO, "go", "file:///p/codec.go")
        assert "Compiled with the document by go vet" in said
        (tmp_path / "go.mod").write_text("module codec\n\ngo 1.21\n")
        (tmp_path / "codec.go").write_text(self.GO)
        (tmp_path / "codec_test.go").write_text(edit.edits[0].text)
        done = subprocess.run(["go", "test", "./..."], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, check=False,
                              env={**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"})
        assert done.returncode == 0, done.stdout + done.stderr

    def test_a_rust_round_trip_compiles_and_passes(self, tmp_path: Path) -> None:
        said, [edit] = self.answer(self.RUST, "rust", "file:///p/lib.rs")
        assert "Compiled with the document by rustc" in said
        source = tmp_path / "lib.rs"
        source.write_text(apply_edits(self.RUST, edit.edits))
        built = subprocess.run(["rustc", "--edition", "2021", "--test", "-o",
                                str(tmp_path / "tests"), str(source)], capture_output=True,
                               text=True, timeout=300, check=False)
        assert built.returncode == 0, built.stderr
        ran = subprocess.run([str(tmp_path / "tests")], capture_output=True, text=True,
                             timeout=60, check=False)
        assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout

    def test_a_rust_test_that_would_not_compile_is_not_sent(self) -> None:
        """`unwrap` needs the error to be printable: without `Debug` the test would not compile."""
        text = self.RUST.replace("Result<Vec<u8>, String>", "Result<Vec<u8>, Bad>").replace(
            ".map_err(|e| e.to_string())", ".map_err(|_| Bad)") + "\npub struct Bad;\n"
        said, edits = self.answer(text, "rust", "file:///p/lib.rs")
        assert edits == [] and "does not compile with the document" in said, said
