"""A test file for a function, in the project's framework: cases from the docstring's examples
(their expected values are the documented ones) and from the signature (arguments chosen by
type, the expected value written by the code model). Nothing is run here: the server never
executes the user's code; the evaluation runs generated tests offline."""

from __future__ import annotations

import ast
import posixpath
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from tasks.filler import Filler
from tasks.structure import Definition

EXPECTED_TOKENS = 16
_DOCTEST = re.compile(r"^\s*>>> (.+)\n\s*(?!>>>)(\S.*)$", re.MULTILINE)
_EXPRESSION = re.compile(r"^[\w\s.,:+\-*/%()\[\]{}'\"<>=!]+$")


@dataclass(frozen=True, slots=True)
class TestFile:
    framework: str
    uri: str
    #: The whole file when ``new``; otherwise text appended to the document itself.
    text: str
    new: bool
    cases: int
    by_model: int


def detect_framework(language: str, neighbours: list[tuple[str, str]]) -> str | None:
    """The test framework from the open documents' names and first lines (``None``: none we
    write for this language)."""
    joined = "\n".join(f"{uri}\n{head}" for uri, head in neighbours)
    if language == "python":
        if "import unittest" in joined and "pytest" not in joined:
            return "unittest"
        return "pytest"
    if language in ("javascript", "javascriptreact", "typescript", "typescriptreact"):
        if "vitest" in joined:
            return "vitest"
        if "jest" in joined:
            return "jest"
        return "node:test"
    return {"go": "go test", "rust": "cargo test", "java": "junit5"}.get(language)


_SAMPLES: dict[str, tuple[str, str]] = {
    "int": ("0", "3"), "float": ("0.0", "2.5"), "str": ('""', '"abc"'), "bool": ("False", "True"),
    "list": ("[]", "[1, 2, 3]"), "dict": ("{}", '{"a": 1}'), "number": ("0", "3"),
    "string": ('""', '"abc"'), "boolean": ("false", "true"), "i32": ("0", "3"),
    "i64": ("0", "3"), "usize": ("0", "3"), "u32": ("0", "3"), "f64": ("0.0", "2.5"),
    "&str": ('""', '"abc"'), "String": ('""', '"abc"'), "long": ("0", "3"), "double": ("0.0", "2.5"),
}
_NAMES: dict[str, str] = {"n": "int", "i": "int", "count": "int", "size": "int", "k": "int",
                          "s": "str", "text": "str", "name": "str", "items": "list",
                          "xs": "list", "values": "list", "nums": "list", "numbers": "list"}


def _sample(language: str, type_: str | None, name: str, which: int) -> str:
    base = (type_ or _NAMES.get(name.lower(), "int")).split("[")[0].split("<")[0].strip()
    if base.startswith(("Vec", "[]")):
        return "vec![]" if language == "rust" else "nil"
    value = _SAMPLES.get(base, _SAMPLES["int"])[which]
    if language == "go" and value.startswith("["):
        return "nil"
    if language == "python" and value in ("false", "true"):
        return value.capitalize()
    if language in ("rust",) and value.startswith('"'):
        return value if base == "&str" else f"{value}.to_string()"
    return value


def _call(d: Definition, language: str, which: int) -> str:
    args = ", ".join(p.default if p.default and which == 0 else
                     _sample(language, p.type, p.name, which)
                     for p in d.parameters if not p.name.startswith("*"))
    return f"{d.name}({args})"


def _expected(filler: Filler | None, prefix: str, suffix: str, language: str) -> str | None:
    if filler is None:
        return None
    written = filler.fill(prefix, suffix, language, EXPECTED_TOKENS).strip().split("\n")[0]
    written = written.strip().rstrip(";").rstrip(")").strip() if language != "python" else \
        written.strip()
    if not written or len(written) > 80 or not _EXPRESSION.match(written) or \
            not re.search(r"\w", written):
        return None
    if language == "python":
        try:
            ast.parse(written, mode="eval")  # parsed, never evaluated
        except SyntaxError:
            return None
    return written


def _module_path(uri: str) -> tuple[str, str]:
    path = uri.split("://", 1)[-1]
    directory, file = posixpath.split(path)
    stem = file.rsplit(".", 1)[0]
    return directory, stem


def write_tests(text: str, uri: str, language: str, d: Definition,
                neighbours: list[tuple[str, str]], filler: Filler | None) -> TestFile | None:
    """Tests for function ``d`` of the document ``uri`` (``None``: no framework for the language
    or not a function)."""
    framework = detect_framework(language, neighbours)
    if framework is None or d.kind != "function" or not d.name:
        return None
    directory, stem = _module_path(uri)
    scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    cases: list[tuple[str, str]] = []
    by_model = 0
    for call, expected in _DOCTEST.findall(d.docstring or "") if language == "python" else ():
        # `module.name(...)` in an example: the test imports the name itself.
        call = re.sub(rf"^[\w.]+\.{re.escape(d.name)}\(", f"{d.name}(", call.strip())
        if not expected.startswith("Traceback") and call.startswith(f"{d.name}("):
            cases.append((call, expected.strip()))
    file_head, file_tail, assertion = _layout(framework, d, stem)
    for which in (0, 1):
        if len(cases) >= 3:
            break
        call = _call(d, language, which)
        before = f"{text}\n\n{file_head}" + "".join(assertion(c, e) for c, e in cases)
        lead = assertion(call, "\x00").split("\x00")[0]
        expected = _expected(filler, before + lead, assertion(call, "\x00").split("\x00")[1]
                             + file_tail, language)
        if expected is not None:
            cases.append((call, expected))
            by_model += 1
    if not cases:
        return None
    body = "".join(assertion(call, expected) for call, expected in cases)
    if framework == "cargo test":
        return TestFile(framework, uri, f"\n{file_head}{body}{file_tail}", False, len(cases),
                        by_model)
    name = {"pytest": f"test_{stem}.py", "unittest": f"test_{stem}.py",
            "go test": f"{stem}_test.go", "junit5": f"{stem}Test.java"}.get(
        framework, f"{stem}.test.{'ts' if language.startswith('typescript') else 'js'}")
    return TestFile(framework, scheme + posixpath.join(directory, name),
                    f"{file_head}{body}{file_tail}", True, len(cases), by_model)


def _tag(call: str) -> int:
    """A stable number that tells a function's test cases apart."""
    return zlib.crc32(call.encode("utf-8")) % 10_000


Case = Callable[[str, str], str]


def _layout(framework: str, d: Definition, stem: str) -> tuple[str, str, Case]:
    """(file head, file tail, one case's text from call and expected value)."""
    name = d.name
    if framework == "pytest":
        return (f"from {stem} import {name}\n\n\n",  "",
                lambda c, e: f"def test_{name}_{_tag(c)}():\n"
                             f"    assert {c} == {e}\n\n\n")
    if framework == "unittest":
        return (f"import unittest\n\nfrom {stem} import {name}\n\n\n"
                f"class Test{name.title().replace('_', '')}(unittest.TestCase):\n",
                "\n\nif __name__ == \"__main__\":\n    unittest.main()\n",
                lambda c, e: f"    def test_{_tag(c)}(self):\n"
                             f"        self.assertEqual({c}, {e})\n\n")
    if framework in ("jest", "vitest", "node:test"):
        imports = {"jest": "", "vitest": "import { expect, test } from 'vitest';\n",
                   "node:test": "import test from 'node:test';\nimport assert from "
                                "'node:assert/strict';\n"}[framework]
        check = ("assert.deepEqual({c}, {e});" if framework == "node:test"
                 else "expect({c}).toEqual({e});")
        return (f"{imports}import {{ {name} }} from './{stem}';\n\n", "",
                lambda c, e: f"test('{name}: {c}', () => {{\n  "
                             + check.format(c=c, e=e) + "\n});\n\n")
    if framework == "go test":
        return ("package main\n\nimport \"testing\"\n\n", "",
                lambda c, e: f"func Test{name}{_tag(c)}(t *testing.T) {{\n"
                             f"\tif got := {c}; got != {e} {{\n"
                             f"\t\tt.Errorf(\"{name}: got %v, want %v\", got, {e})\n\t}}\n}}\n\n")
    if framework == "cargo test":
        return ("#[cfg(test)]\nmod tests {\n    use super::*;\n\n", "}\n",
                lambda c, e: f"    #[test]\n    fn {name}_{_tag(c)}() {{\n"
                             f"        assert_eq!({c}, {e});\n    }}\n\n")
    return (f"import static org.junit.jupiter.api.Assertions.assertEquals;\n\n"
            f"import org.junit.jupiter.api.Test;\n\nclass {stem}Test {{\n", "}\n",
            lambda c, e: f"    @Test\n    void {name}{_tag(c)}() {{\n"
                         f"        assertEquals({e}, new {stem}().{c});\n    }}\n\n")
