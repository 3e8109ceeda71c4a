"""Documentation comments in each language's convention, built from the parsed signature, with
the summary line written by the code model (a fill-in-the-middle question: the empty comment is
the gap). When the model's line is not prose, the summary comes from the name instead."""

from __future__ import annotations

import re
from dataclasses import dataclass

from documents.languages import by_id
from tasks.filler import Filler
from tasks.structure import Definition

#: Tokens the model may spend on a summary line.
SUMMARY_TOKENS = 32
_CODE_LIKE = re.compile(r"[(){};=<>\[\]`\"']|^\W*$|\b(def|return|self|import)\b")
_WORD = re.compile(r"[A-Za-z][a-z]+")
_VERBS = {"get", "set", "compute", "calculate", "make", "build", "create", "parse", "load",
          "save", "read", "write", "find", "check", "validate", "convert", "format", "update",
          "add", "remove", "delete", "send", "handle", "open", "close", "run", "start", "stop",
          "render", "apply", "reset", "merge", "split", "count", "sort", "filter", "map", "fetch",
          "encode", "decode", "normalize", "clean", "init", "register", "resolve", "collect"}
JSDOC = frozenset({"javascript", "javascriptreact", "typescript", "typescriptreact"})
JAVADOC = frozenset({"java", "kotlin", "scala", "groovy", "dart", "php", "swift", "objective-c",
                     "c", "cpp", "d", "haxe", "solidity"})


def name_words(name: str) -> list[str]:
    """``totalPrice`` / ``total_price`` / ``TotalPrice`` -> ``["total", "price"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.replace("_", " "))
    return [w.lower() for w in spaced.split() if w]


def summary_from_name(definition: Definition) -> str:
    """A summary sentence from the name and what the body does (no model)."""
    words = name_words(definition.name) or ["this"]
    if definition.kind == "class":
        return f"A {' '.join(words)}."
    head, rest = words[0], " ".join(words[1:])
    if head in ("is", "has", "can", "should", "contains"):
        return f"Return whether this {head} {rest}." if rest else "Return whether it holds."
    if head in _VERBS:
        return f"{head.capitalize()} the {rest}." if rest else f"{head.capitalize()} it."
    returns = any(v for v in definition.return_values)
    return f"Return the {' '.join(words)}." if returns else f"{' '.join(words).capitalize()}."


#: Comment markers a doc comment's lines start or end with, in the languages we parse.
_MARKERS = re.compile(r'^\s*(?:/\*\*+|/\*!?|\*+/|\*|///?!?|//|#+|"""|\'\'\'|--|;+)\s?')
#: Lines that start a doc comment's tags (where the summary has ended).
_TAGS = re.compile(r"^\s*(?:@\w+|:\w+|Args:|Arguments:|Returns?:|Raises:|Parameters)")


def first_sentence(comment: str) -> str | None:
    """The summary a doc comment opens with (its first sentence, by every language's convention:
    Javadoc, JSDoc, rustdoc, Go, docstrings), without its markers; ``None`` if it has none."""
    words: list[str] = []
    for raw in comment.strip().splitlines():
        line = raw
        while (stripped := _MARKERS.sub("", line, count=1)) != line:
            line = stripped
        line = re.sub(r"\s*\*+/\s*$", "", line).strip().strip('"').strip("'").strip()
        if not line:
            if words:
                break  # the first paragraph ended
            continue
        if _TAGS.match(line):
            break
        words.append(line)
    text = " ".join(words)
    text = re.sub(r"\{@\w+\s+([^}]*)\}", r"\1", text)  # {@code x} -> x
    text = re.sub(r"<[^>]+>", "", text).strip()  # <p>, <b>
    if not text:
        return None
    end = re.search(r"[.!?](?:\s|$)", text)
    return text[:end.end()].strip() if end else text


def body_words(text: str, definition: Definition) -> set[str]:
    """The words of a definition's identifiers (``totalPrice`` -> total, price)."""
    found: set[str] = set()
    for identifier in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text[definition.start:definition.end]):
        found.update(w for w in name_words(identifier) if len(w) >= 3)
    return found


def clean_summary(text: str, around: str = "") -> str | None:
    """The model's line as a sentence, or ``None`` when it is code, empty, not prose, or a copy
    of a line from ``around`` (the comment's other lines)."""
    line = text.strip().split("\n")[0].strip().strip("/*#-").strip()
    if len(_WORD.findall(line)) < 2 or _CODE_LIKE.search(line) or len(line) > 200:
        return None
    if not re.match(r"[A-Za-z]{2,}\b", line) or line.rstrip(".") in around:
        return None
    line = line[0].upper() + line[1:]
    return line if line.endswith((".", "!", "?")) else line + "."


@dataclass(frozen=True, slots=True)
class DocComment:
    """Where the comment goes (a code point offset at a line start) and its text."""

    offset: int
    text: str
    summary: str
    by_model: bool


def _python(d: Definition, body_indent: str, summary: str) -> str:
    lines = [f'{body_indent}"""{summary}']
    params = [p for p in d.parameters]
    if params:
        lines += ["", f"{body_indent}Args:"]
        for p in params:
            what = f" ({p.type})" if p.type else ""
            default = f" Defaults to ``{p.default}``." if p.default else ""
            lines.append(f"{body_indent}    {p.name.lstrip('*')}{what}:{default}".rstrip())
    if d.kind == "function" and any(d.return_values):
        value = d.return_values[-1]
        what = d.returns or (f"``{value}``" if len(value) <= 60 and "\n" not in value else "")
        lines += ["", f"{body_indent}Returns:", f"{body_indent}    {what}".rstrip()]
    if d.raises:
        lines += ["", f"{body_indent}Raises:"]
        lines += [f"{body_indent}    {r}:" for r in d.raises]
    lines.append(f'{body_indent}"""')
    return "\n".join(lines) + "\n"


def _block(d: Definition, language: str, summary: str) -> str:
    """JSDoc, Javadoc/Doxygen, rustdoc, Go, C# XML or the language's line comments."""
    ind = d.indent
    params = d.parameters
    if language in JSDOC or language in JAVADOC:
        typed = language in ("javascript", "javascriptreact")
        lines = [f"{ind}/**", f"{ind} * {summary}"]
        if params or d.returns or d.raises:
            lines.append(f"{ind} *")
        for p in params:
            kind = f" {{{p.type}}}" if typed and p.type else ""
            lines.append(f"{ind} * @param{kind} {p.name}")
        if d.kind == "function" and d.returns and d.returns != "void":
            lines.append(f"{ind} * @return{'s' if language in JSDOC else ''}")
        for raised in d.raises:
            lines.append(f"{ind} * @throws {raised}")
        lines.append(f"{ind} */")
        return "\n".join(lines) + "\n"
    if language == "rust":
        lines = [f"{ind}/// {summary}"]
        if d.returns and d.returns.startswith("Result"):
            lines += [f"{ind}///", f"{ind}/// # Errors", f"{ind}///",
                      f"{ind}/// Returns an error when the operation fails."]
        if any(c.startswith(("panic!", "unwrap", "expect")) or c.endswith((".unwrap", ".expect"))
               for c in d.calls):
            lines += [f"{ind}///", f"{ind}/// # Panics"]
        return "\n".join(lines) + "\n"
    if language == "go":
        return f"{ind}// {d.name} {summary[0].lower()}{summary[1:]}\n"
    if language == "csharp":
        lines = [f"{ind}/// <summary>", f"{ind}/// {summary}", f"{ind}/// </summary>"]
        lines += [f'{ind}/// <param name="{p.name}"></param>' for p in params]
        if d.returns and d.returns != "void":
            lines.append(f"{ind}/// <returns></returns>")
        return "\n".join(lines) + "\n"
    known = by_id(language)
    marker = (known.line_comment if known is not None else None) or "#"
    lines = [f"{ind}{marker} {summary}"]
    if language == "ruby":
        lines += [f"{ind}#"] + [f"{ind}# @param {p.name}" for p in params]
    return "\n".join(lines) + "\n"


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def doc_comment(text: str, language: str, definition: Definition, filler: Filler | None
                ) -> DocComment | None:
    """The documentation ``definition`` lacks, or ``None`` if it has some (or, in Python, its
    body shares the ``def`` line)."""
    if definition.docstring:
        return None
    placeholder = "\u2063"  # stands for the summary until the model has written it
    if language == "python":
        body_line = _line_start(text, definition.body_start)
        if body_line <= definition.start:
            return None
        body_indent = text[body_line:definition.body_start]
        if body_indent.strip():
            return None
        offset = body_line
        template = _python(definition, body_indent, placeholder)
    else:
        offset = _line_start(text, definition.start)
        template = _block(definition, language, placeholder)
    summary, by_model = None, False
    if filler is not None:
        cut = template.index(placeholder)
        prefix = text[:offset] + template[:cut]
        suffix = template[cut + 1:] + text[offset:]
        written = filler.fill(prefix, suffix, language, SUMMARY_TOKENS)
        summary = clean_summary(written, template)
        by_model = summary is not None
    summary = summary or summary_from_name(definition)
    if language == "go":
        summary = summary[0].lower() + summary[1:]
    return DocComment(offset, template.replace(placeholder, summary), summary, by_model)
