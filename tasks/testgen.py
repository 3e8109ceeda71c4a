"""A test file for a function that asserts only what the code itself states: the values of its
documented examples (Python doctests, JSDoc ``@example`` lines with their ``// =>`` result,
rustdoc ``assert_eq!`` lines) and round trips through its inverse in the same file
(``decode(encode(x)) == x``), with inputs chosen from the declared parameter type. A value the
code does not state is never guessed: without one no test is written, and the reason is said.

Nothing is run here (the server never executes the user's code); the evaluation runs the
generated tests offline. Each file is parsed before it is sent (``tasks.engine``)."""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from tasks.docs import name_words
from tasks.structure import Definition, definitions

#: Name pairs whose functions undo each other: one word of a name swapped for the other.
INVERSES: tuple[tuple[str, str], ...] = (
    ("encode", "decode"), ("encrypt", "decrypt"), ("compress", "decompress"),
    ("serialize", "deserialize"), ("marshal", "unmarshal"), ("escape", "unescape"),
    ("quote", "unquote"), ("pack", "unpack"), ("hexlify", "unhexlify"), ("encipher", "decipher"),
    ("obfuscate", "deobfuscate"), ("to", "from"),
)
_JS_EXAMPLE = re.compile(r"^\s*(?:\*\s*)?(\w+\(.*\))\s*;?\s*//\s*(?:=>|->|returns?:?)\s*(.+?)\s*$",
                         re.MULTILINE)
_JS_LITERAL = re.compile(r"""^(?:-?\d+(?:\.\d+)?|'[^'\\\n]*'|"[^"\\\n]*"|true|false|null)$""")
_RUST_EXAMPLE = re.compile(r"^\s*///\s*(assert_eq!\((\w+)\(.*\);)\s*$", re.MULTILINE)
_RUST_ALLOWED = frozenset({"true", "false", "Some", "None", "Ok", "vec", "to_string",
                           "to_owned", "String", "from", "Vec", "new"})


@dataclass(frozen=True, slots=True)
class WrittenTests:
    framework: str
    uri: str
    #: The whole file when ``new``; otherwise text appended to the document itself.
    text: str
    new: bool
    #: How many checks it makes, from the documented examples and from round trips.
    examples: int
    round_trips: int


@dataclass(frozen=True, slots=True)
class NoTest:
    """Why no test was written for a function."""

    reason: str


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


# Inputs for a round trip, by declared type: plain values every encoder of that type must take.
_PY_INPUTS = {"str": ['""', '"abc"', '"Hello, World! 123"'],
              "bytes": ['b""', 'b"abc"', 'b"\\x00\\xffdata"'],
              "int": ["0", "1", "42", "1000"], "bool": ["False", "True"],
              "list[int]": ["[]", "[1, 2, 3]"], "list[str]": ["[]", '["a", "bc"]'],
              "dict[str, int]": ["{}", '{"a": 1}']}
_GO_INPUTS = {"string": ['""', '"abc"', '"Hello, World! 123"'],
              "[]byte": ['[]byte("")', '[]byte("abc")', "[]byte{0, 255, 16}"],
              **{t: ["0", "1", "42", "1000"] for t in ("int", "int32", "int64", "uint",
                                                       "uint32", "uint64")},
              "bool": ["false", "true"], "[]int": ["[]int{1, 2, 3}"],
              "[]string": ['[]string{"a", "bc"}']}
_JAVA_INPUTS = {"String": ['""', '"abc"', '"Hello, World! 123"'],
                "byte[]": ["new byte[] {}", '"abc".getBytes(java.nio.charset.StandardCharsets.UTF_8)',
                           "new byte[] {0, -1, 16}"],
                "int": ["0", "1", "42", "1000"], "long": ["0L", "1L", "42L", "1000L"],
                "boolean": ["false", "true"]}
_TS_INPUTS = {"string": ["''", "'abc'", "'Hello, World! 123'"],
              "number": ["0", "1", "42", "1000"], "boolean": ["false", "true"],
              "number[]": ["[]", "[1, 2, 3]"], "string[]": ["[]", "['a', 'bc']"]}
_RUST_INPUTS = {"&str": ['""', '"abc"', '"Hello, World! 123"'],
                "String": ['String::new()', '"abc".to_string()', '"Hello, World! 123".to_string()'],
                "&[u8]": ['&b""[..]', '&b"abc"[..]', '&[0u8, 255, 16][..]'],
                "Vec<u8>": ["vec![]", 'b"abc".to_vec()', "vec![0u8, 255, 16]"],
                **{t: ["0", "1", "42", "1000"] for t in ("i32", "i64", "u32", "u64", "usize")},
                "bool": ["false", "true"]}


def _norm(type_: str | None) -> str:
    return re.sub(r"\s+", "", type_ or "").replace(",", ", ")


def _inverse_names(name: str) -> list[str]:
    """The names a function undoing ``name`` would have (``b64encode`` -> ``b64decode``,
    ``to_hex`` -> ``from_hex``, ``EncodeToString`` -> ``DecodeToString``)."""
    found: list[str] = []
    words = name_words(name)
    for a, b in INVERSES:
        for this, other in ((a, b), (b, a)):
            if this in ("to", "from"):
                if words[:1] == [this] and len(words) > 1:  # to_hex <-> from_hex
                    found.append(other + name[len(this):] if name[:1].islower()
                                 else other.capitalize() + name[len(this):])
                continue
            for spelled in (this, this.capitalize(), this.upper()):
                at = name.find(spelled)
                if at < 0:
                    continue
                swap = (other if spelled == this else other.capitalize() if spelled[0].isupper()
                        and not spelled.isupper() else other.upper())
                # `unquote` must not read as `un` + `quote` -> `ununquote`.
                if this in ("quote", "escape", "pack", "hexlify", "marshal") and \
                        name[max(0, at - 2):at].lower() == "un":
                    continue
                if this in ("compress", "serialize", "obfuscate") and \
                        name[max(0, at - 2):at].lower() == "de":
                    continue
                found.append(name[:at] + swap + name[at + len(spelled):])
    return [f for f in dict.fromkeys(found) if f != name]


@dataclass(frozen=True, slots=True)
class _Signature:
    """A one-argument function as the test calls it."""

    name: str
    argument: str  # the declared type of its one required parameter
    result: str  # its declared result, without the error / Option / Result around it
    fails: str | None  # "error" (Go's second result), "unwrap" (Rust Result/Option), or None
    exported: bool
    static: bool


_GO_FUNC = re.compile(r"^func\s+(\w+)\s*\(\s*\w+\s+([^,()]+?)\s*\)\s*(.*?)\s*\{", re.DOTALL)


def _signature(text: str, language: str, d: Definition) -> _Signature | None:
    source = text[d.start:d.body_start]
    if language == "go":
        match = _GO_FUNC.match(source + "{")
        if not match:
            return None  # a method, or not one parameter
        name, argument, result = match.groups()
        result = result.strip()
        fails = None
        pair = re.fullmatch(r"\(\s*([^,()]+?)\s*,\s*error\s*\)", result)
        if pair:
            result, fails = pair.group(1), "error"
        elif result.startswith("(") or not result:
            return None
        return _Signature(name, _norm(argument), _norm(result), fails, True, True)
    required = [p for p in d.parameters if not p.default and not p.name.startswith(("*", "&"))]
    if len(required) != 1 or any(p.name.startswith("*") and not p.default
                                 for p in d.parameters[1:]):
        return None
    argument = _norm(required[0].type)
    result = _norm(d.returns)
    if language in ("javascript", "javascriptreact") and d.docstring:
        typed = re.search(rf"@param\s+\{{([^}}]+)\}}\s+{re.escape(required[0].name)}\b",
                          d.docstring)
        returned = re.search(r"@returns?\s+\{([^}]+)\}", d.docstring)
        argument = _norm(typed.group(1)) if typed else ""
        result = _norm(returned.group(1)) if returned else ""
    fails = None
    if language == "rust":
        wrapped = re.fullmatch(r"(?:Result|Option)<(.+?)(?:, [^<>]+)?>", result)
        if wrapped:
            result, fails = wrapped.group(1), "unwrap"
    modifiers = text[d.start:text.find(d.name, d.start)] if d.name in source else ""
    return _Signature(d.name, argument, result, fails, importable(text, language, d),
                      "static" in modifiers)


def importable(text: str, language: str, d: Definition) -> bool:
    """Whether a test file beside the document can reach ``d``: Python's top level, JavaScript's
    exports, Java's non-private members (Go and Rust tests sit in the same package or module)."""
    line = text[text.rfind("\n", 0, d.start) + 1:d.start + 1]
    if language == "python":
        return not d.indent
    if language == "java":
        return "private" not in text[d.start:text.find(d.name, d.start)]
    if language in ("go", "rust"):
        return True
    return line.lstrip().startswith("export")


def _inputs(language: str, type_: str) -> list[str] | None:
    table = {"python": _PY_INPUTS, "go": _GO_INPUTS, "java": _JAVA_INPUTS, "rust": _RUST_INPUTS
             }.get(language, _TS_INPUTS)
    return table.get(type_)


def _peers(text: str, language: str, d: Definition) -> list[Definition]:
    """The functions beside ``d``: the document's top level, or the members of its class."""
    top = definitions(text, language, 0, len(text))
    for outer in top:
        if outer.kind == "class" and any(m.start == d.start for m in outer.members):
            return [m for m in outer.members if m.kind == "function"]
    return [t for t in top if t.kind == "function"]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    encoder: _Signature
    decoder: _Signature
    inputs: tuple[str, ...]


def round_trip(text: str, language: str, d: Definition) -> RoundTrip | None:
    """``d`` and its inverse in the same file, when each takes one argument of the type the other
    returns and that type has known inputs; ``None`` otherwise."""
    this = _signature(text, language, d)
    if this is None:
        return None
    wanted = set(_inverse_names(d.name))
    for peer in _peers(text, language, d):
        if peer.name not in wanted:
            continue
        other = _signature(text, language, peer)
        if other is None:
            continue
        for encoder, decoder in ((this, other), (other, this)):
            if _fits(language, encoder.result, decoder.argument) and \
                    _same(language, decoder.result, encoder.argument) and \
                    encoder.exported and decoder.exported and \
                    (language != "java" or (encoder.static and decoder.static)):
                inputs = _inputs(language, encoder.argument)
                if inputs:
                    return RoundTrip(encoder, decoder, tuple(inputs))
    return None


def _fits(language: str, produced: str, taken: str) -> bool:
    """Whether ``decoder(encoder(x))`` type-checks: equal types, or Rust's owned value lent."""
    if not produced or not taken:
        return False
    if produced == taken:
        return True
    return language == "rust" and (produced, taken) in (("String", "&str"), ("Vec<u8>", "&[u8]"))


def _same(language: str, result: str, argument: str) -> bool:
    """Whether a decoder's result compares equal to the encoder's input type."""
    return _fits(language, argument, result) or _fits(language, result, argument)


def _python_literal(source: str) -> bool:
    try:
        ast.literal_eval(source)  # parsed and folded, never executed
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


#: Builtins a doctest may wrap the call in (``list(merge(...))``, ``round(mean(...), 2)``).
_WRAPPERS = frozenset({"list", "tuple", "sorted", "set", "frozenset", "round", "len", "str",
                       "repr", "int", "float", "abs", "bool", "dict"})
_DOCTEST_NODES = (ast.Expression, ast.Call, ast.Name, ast.Constant, ast.List, ast.Tuple,
                  ast.Dict, ast.Set, ast.UnaryOp, ast.USub, ast.UAdd, ast.keyword, ast.Load)


def _doctest_blocks(doc: str) -> Iterator[tuple[str, list[str]]]:
    """(source, output lines) of each ``>>>`` example, continuation lines joined."""
    lines = doc.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith(">>> "):
            i += 1
            continue
        source = [line[4:]]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source.append(lines[i].strip()[4:])
            i += 1
        output: list[str] = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            output.append(lines[i].strip())
            i += 1
        yield "\n".join(source), output


def _doctests(doc: str, name: str, stem: str) -> list[tuple[str, str, str]]:
    """Python examples whose call and expected value are literals, or names an earlier example
    bound to a literal (``>>> data = [1, 2]``: written into the test before the call)."""
    bound: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []
    for source, output in _doctest_blocks(doc):
        # `textwrap.shorten(...)` in textwrap's own docs: the test imports the name itself.
        source = re.sub(rf"\b(?:[\w.]+\.)?{re.escape(stem)}\.{re.escape(name)}\(", f"{name}(",
                        source)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        if len(tree.body) != 1:
            continue
        statement = tree.body[0]
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and \
                isinstance(statement.targets[0], ast.Name) and not output:
            value = ast.get_source_segment(source, statement.value) or ""
            if _python_literal(value):
                bound[statement.targets[0].id] = f"{statement.targets[0].id} = {value}"
            else:
                bound.pop(statement.targets[0].id, None)
            continue
        if not isinstance(statement, ast.Expr) or len(output) != 1 or "#" in source or \
                not _python_literal(output[0]):
            continue
        nodes = list(ast.walk(ast.Expression(statement.value)))
        names = [n.id for n in nodes if isinstance(n, ast.Name)]
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        if not all(isinstance(n, _DOCTEST_NODES) for n in nodes) or \
                not any(isinstance(c.func, ast.Name) and c.func.id == name for c in calls) or \
                not all(isinstance(c.func, ast.Name) and c.func.id in _WRAPPERS | {name}
                        for c in calls) or \
                not all(n in bound or n in _WRAPPERS or n == name for n in names):
            continue
        setup = "\n".join(bound[n] for n in dict.fromkeys(names) if n in bound)
        found.append((setup, source, output[0]))
    return found


def examples(language: str, d: Definition, stem: str = ""
             ) -> list[tuple[str, str, str]]:
    """(setup, call, expected) the function's documentation states, with literal arguments
    and values only (an example that needs a variable the examples did not bind to a literal
    is not taken)."""
    doc = d.docstring or ""  # every `///` line above a Rust item (``tasks.structure``)
    found: list[tuple[str, str, str]] = []
    if language == "python":
        found = _doctests(doc, d.name, stem)
    elif language in ("javascript", "javascriptreact", "typescript", "typescriptreact"):
        if "@example" not in doc:
            return []
        for call, expected in _JS_EXAMPLE.findall(doc[doc.index("@example"):]):
            inside = call[len(d.name) + 1:-1] if call.startswith(f"{d.name}(") else None
            if inside is None or not _JS_LITERAL.match(expected):
                continue
            parts = [p.strip() for p in inside.split(",")] if inside.strip() else []
            if all(_JS_LITERAL.match(p) for p in parts):
                found.append(("", call, expected))
    elif language == "rust":
        for line, name in _RUST_EXAMPLE.findall(doc):
            bare = re.sub(r'b?"(?:[^"\\]|\\.)*"', '""', line)
            words = set(re.findall(r"(?<![\w.])[A-Za-z_]\w*", bare[len("assert_eq!("):]))
            if name == d.name and words <= _RUST_ALLOWED | {d.name}:
                found.append(("", line, ""))
    return found[:8]


def _module_path(uri: str) -> tuple[str, str]:
    """(directory, file name without its extension), of ``file:///a/b.py`` and of an unsaved
    ``untitled:Untitled-1`` alike."""
    path = uri.split("://", 1)[-1] if "://" in uri else uri.split(":", 1)[-1]
    directory, file = posixpath.split(path)
    stem = file.rsplit(".", 1)[0] if "." in file[1:] else file
    return directory, stem


def write_tests(text: str, uri: str, language: str, d: Definition,
                neighbours: list[tuple[str, str]]) -> WrittenTests | NoTest:
    """Tests for function ``d`` of the document ``uri``, or why there are none."""
    framework = detect_framework(language, neighbours)
    if framework is None:
        return NoTest(f"no test framework is written for {language}")
    if d.kind != "function" or not d.name:
        return NoTest("not a named function")
    directory, stem = _module_path(uri)
    scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    if not importable(text, language, d):
        return NoTest(f"a test file cannot reach `{d.name}` (" + (
            "a method or nested function: only module-level functions are tested"
            if language == "python" else "not exported" if language != "java" else "private")
            + ")")
    if language == "java" and not re.search(rf"\bclass\s+{re.escape(stem)}\b", text):
        return NoTest(f"the file declares no class `{stem}` (its name) whose methods a test "
                      "could call")
    found = examples(language, d, stem)
    trip = round_trip(text, language, d)
    if not found and trip is None:
        return NoTest(f"nothing in `{d.name}` states a value to assert (no example with "
                      "literal values in its documentation, no inverse function such as "
                      "encode/decode in this file taking a type with known inputs), and a "
                      "guessed value is not written")
    # Python imports and Java classes by identifier (an unsaved `Untitled-1` is not one).
    named = re.sub(r"\W", "_", stem) if language in ("python", "java") else stem
    body = _render(framework, language, text, d, named, found, trip)
    if framework == "cargo test":
        return WrittenTests(framework, uri, body, False, len(found), trip is not None)
    name = {"pytest": f"test_{stem}.py", "unittest": f"test_{stem}.py",
            "go test": f"{stem}_test.go", "junit5": f"{stem}Test.java"}.get(
        framework, f"{stem}.test.{'ts' if language.startswith('typescript') else 'js'}")
    return WrittenTests(framework, scheme + posixpath.join(directory, name), body, True, len(found),
                    trip is not None)


def _snake(name: str) -> str:
    return "_".join(name_words(name)) or "it"


def _render(framework: str, language: str, text: str, d: Definition, stem: str,
            found: list[tuple[str, str, str]], trip: RoundTrip | None) -> str:
    if framework in ("pytest", "unittest"):
        return _python(framework, d, stem, found, trip)
    if framework in ("jest", "vitest", "node:test"):
        return _javascript(framework, language, d, stem, found, trip)
    if framework == "go test":
        return _go(text, trip)
    if framework == "cargo test":
        return _rust(d, found, trip)
    return _java(text, stem, trip)


def _python(framework: str, d: Definition, stem: str, found: list[tuple[str, str, str]],
            trip: RoundTrip | None) -> str:
    names = [d.name] + ([n for n in (trip.encoder.name, trip.decoder.name) if n != d.name]
                        if trip else [])
    head = f"from {stem} import {', '.join(names)}\n\n\n"
    unit = framework == "unittest"
    pad = "    " if unit else ""
    parts = [f"import unittest\n\n{head}class Test{stem.title().replace('_', '')}"
             "(unittest.TestCase):\n" if unit else head]
    for i, (setup, call, expected) in enumerate(found):
        check = (f"self.assertEqual({call}, {expected})" if unit
                 else f"assert {call} == {expected}")
        lines = "".join(f"{pad}    {line}\n" for line in [*setup.split("\n"), check] if line)
        parts.append(f"{pad}def test_{_snake(d.name)}_example_{i + 1}({'self' if unit else ''}):\n"
                     f"{lines}\n" + ("" if unit else "\n"))
    if trip:
        enc, dec = trip.encoder.name, trip.decoder.name
        check = (f"self.assertEqual({dec}({enc}(value)), value)" if unit
                 else f"assert {dec}({enc}(value)) == value")
        parts.append(f"{pad}def test_{_snake(dec)}_inverts_{_snake(enc)}"
                     f"({'self' if unit else ''}):\n"
                     f"{pad}    for value in [{', '.join(trip.inputs)}]:\n"
                     f"{pad}        {check}\n\n")
    text = "".join(parts).rstrip("\n") + "\n"
    return text + ("\n\nif __name__ == \"__main__\":\n    unittest.main()\n" if unit else "")


def _javascript(framework: str, language: str, d: Definition, stem: str,
                found: list[tuple[str, str, str]], trip: RoundTrip | None) -> str:
    names = [d.name] + ([n for n in (trip.encoder.name, trip.decoder.name) if n != d.name]
                        if trip else [])
    imports = {"jest": "", "vitest": "import { expect, test } from 'vitest';\n",
               "node:test": "import test from 'node:test';\nimport assert from "
                            "'node:assert/strict';\n"}[framework]

    def check(actual: str, expected: str) -> str:
        return (f"assert.deepEqual({actual}, {expected});" if framework == "node:test"
                else f"expect({actual}).toEqual({expected});")

    # Node's own test runner loads ES modules by their file's full name.
    module = f"./{stem}.js" if framework == "node:test" and "ts" not in language else f"./{stem}"
    parts = [f"{imports}import {{ {', '.join(names)} }} from '{module}';\n\n"]
    for _, call, expected in found:
        parts.append(f"test({_js_string(f'{call} returns {expected} (its @example)')}, () => {{\n"
                     f"  {check(call, expected)}\n}});\n\n")
    if trip:
        parts.append(f"test('{trip.decoder.name} inverts {trip.encoder.name}', () => {{\n"
                     f"  for (const value of [{', '.join(trip.inputs)}]) {{\n"
                     f"    {check(f'{trip.decoder.name}({trip.encoder.name}(value))', 'value')}\n"
                     "  }\n});\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def _js_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def go_package(text: str) -> str:
    """The package clause's name (``main`` when the file has none)."""
    match = re.search(r"^package\s+(\w+)", text, re.MULTILINE)
    return match.group(1) if match else "main"


def _go(text: str, trip: RoundTrip | None) -> str:
    assert trip is not None  # Go examples are not read from comments
    enc, dec = trip.encoder, trip.decoder
    compare = {"[]byte": ("bytes", "!bytes.Equal(got, value)")}.get(
        enc.argument, ("reflect", "!reflect.DeepEqual(got, value)") if enc.argument.startswith(
            "[]") else ("", "got != value"))
    imports = sorted(i for i in (compare[0], "testing") if i)
    lines = [f"package {go_package(text)}", "", "import ("]
    lines += [f'\t"{i}"' for i in imports] + [")", "",
              f"func Test{dec.name}Inverts{enc.name}(t *testing.T) {{",
              f"\tfor _, value := range []{enc.argument}{{{', '.join(trip.inputs)}}} {{"]
    if enc.fails:
        lines += [f"\t\tencoded, err := {enc.name}(value)", "\t\tif err != nil {",
                  f'\t\t\tt.Fatalf("{enc.name}(%#v): %v", value, err)', "\t\t}"]
    else:
        lines.append(f"\t\tencoded := {enc.name}(value)")
    if dec.fails:
        lines += [f"\t\tgot, err := {dec.name}(encoded)", "\t\tif err != nil {",
                  f'\t\t\tt.Fatalf("{dec.name}({enc.name}(%#v)): %v", value, err)', "\t\t}"]
    else:
        lines.append(f"\t\tgot := {dec.name}(encoded)")
    lines += [f"\t\tif {compare[1]} {{",
              f'\t\t\tt.Errorf("{dec.name}({enc.name}(%#v)) = %#v, want the input back", '
              "value, got)", "\t\t}", "\t}", "}"]
    return "\n".join(lines) + "\n"


def _rust(d: Definition, found: list[tuple[str, str, str]], trip: RoundTrip | None) -> str:
    lines = ["", "#[cfg(test)]", "mod tests {", "    use super::*;", ""]
    for i, (_, line, _) in enumerate(found):
        lines += ["    #[test]", f"    fn {_snake(d.name)}_example_{i + 1}() {{",
                  f"        {line}", "    }", ""]
    if trip:
        enc, dec = trip.encoder, trip.decoder
        lend = "&" if (enc.result, dec.argument) in (("String", "&str"), ("Vec<u8>", "&[u8]")) \
            else ""
        lines += ["    #[test]", f"    fn {_snake(dec.name)}_inverts_{_snake(enc.name)}() {{",
                  f"        for value in [{', '.join(trip.inputs)}] {{",
                  f"            let encoded = {enc.name}(value.clone())"
                  f"{'.unwrap()' if enc.fails else ''};",
                  f"            let decoded = {dec.name}({lend}encoded)"
                  f"{'.unwrap()' if dec.fails else ''};",
                  "            assert_eq!(decoded, value);", "        }", "    }", ""]
    return "\n".join(lines[:-1]) + "\n}\n"


def _java(text: str, stem: str, trip: RoundTrip | None) -> str:
    assert trip is not None  # Javadoc examples are not read
    enc, dec = trip.encoder, trip.decoder
    package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.MULTILINE)
    array = enc.argument.endswith("[]")
    assertion = "assertArrayEquals" if array else "assertEquals"
    head = f"package {package.group(1)};\n\n" if package else ""
    return (f"{head}import static org.junit.jupiter.api.Assertions.{assertion};\n\n"
            "import org.junit.jupiter.api.Test;\n\n"
            f"class {stem}Test {{\n    @Test\n"
            f"    void {dec.name}Inverts{enc.name[:1].upper()}{enc.name[1:]}() throws Exception {{\n"
            f"        for ({enc.argument} value : new {enc.argument}[] {{{', '.join(trip.inputs)}}}) {{\n"
            f"            {assertion}(value, {stem}.{dec.name}({stem}.{enc.name}(value)));\n"
            "        }\n    }\n}\n")
