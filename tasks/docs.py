"""Documentation comments in each language's convention, built from the parsed signature, with
the summary line written by the code model (a fill-in-the-middle question: the empty comment is
the gap) only where its line passes a check: prose that names a word of the definition and copies
no other definition's summary. Otherwise the summary is left out (a sentence read from the name,
"Find it.", says nothing), and a comment that would hold nothing else is not written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from documents.languages import by_id
from tasks.filler import Filler
from tasks.structure import Definition, definitions

#: Tokens the model may spend on a summary line.
SUMMARY_TOKENS = 32
_CODE_LIKE = re.compile(r"[(){};=<>\[\]`\"']|^\W*$|\b(def|return|self|import)\b")
_WORD = re.compile(r"[A-Za-z][a-z]+")
JSDOC = frozenset({"javascript", "javascriptreact", "typescript", "typescriptreact"})
JAVADOC = frozenset({"java", "kotlin", "scala", "groovy", "dart", "php", "swift", "objective-c",
                     "c", "cpp", "d", "haxe", "solidity"})


def name_words(name: str) -> list[str]:
    """``totalPrice`` / ``total_price`` / ``TotalPrice`` -> ``["total", "price"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.replace("_", " "))
    return [w.lower() for w in spaced.split() if w]


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


#: Keywords and builtin type names of the languages we parse: words every body has, which a
#: sentence naming them ("Return the ...") does not tie to this one.
KEYWORDS = frozenset({
    "def", "return", "function", "func", "fn", "for", "while", "if", "else", "elif", "class",
    "public", "private", "protected", "static", "void", "int", "string", "str", "bool",
    "boolean", "const", "let", "var", "self", "this", "new", "none", "null", "nil", "true",
    "false", "and", "not", "pass", "yield", "async", "await", "import", "from", "try",
    "except", "catch", "finally", "throw", "throws", "raise", "with", "lambda", "struct",
    "enum", "impl", "pub", "mut", "match", "case", "switch", "default", "break", "continue",
    "package", "interface", "type", "extends", "implements", "final", "long", "double",
    "float", "char", "byte", "auto", "unsigned", "signed", "sizeof", "typedef", "namespace",
    "using", "template", "virtual", "override", "mod", "use", "where", "dyn", "ref", "move",
    "loop", "range", "len", "list", "dict", "set", "tuple", "object", "any", "error", "array",
    "map", "make", "append", "print", "println", "printf",
})


def body_words(text: str, definition: Definition) -> set[str]:
    """The words of a definition's identifiers (``totalPrice`` -> total, price), keywords and
    builtin type names left out."""
    found: set[str] = set()
    for identifier in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text[definition.start:definition.end]):
        found.update(w for w in name_words(identifier) if len(w) >= 3 and w not in KEYWORDS)
    return found


def trusted(summary: str, text: str, definition: Definition, others: set[str]) -> bool:
    """Whether the model's summary may stand: it names a word of the definition's identifiers
    besides its own name (a sentence that restates the name, "Find it.", says nothing) and is
    not another definition's summary (``others``: their first sentences)."""
    said = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", summary)}
    used = body_words(text, definition) - set(name_words(definition.name))
    return bool(said & used) and summary not in others


def summaries(text: str, language: str, but: Definition | None = None) -> set[str]:
    """The first sentences of the doc comments of every definition in ``text`` (but ``but``)."""
    found: set[str] = set()
    stack = list(definitions(text, language, 0, len(text)))
    while stack:
        d = stack.pop()
        stack.extend(d.members)
        first = first_sentence(d.docstring) if d.docstring and (
            but is None or d.start != but.start) else None
        if first:
            found.add(first)
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
    """Where the comment goes (a code point offset at a line start) and its text (empty: nothing
    trustworthy to write, no summary and nothing else)."""

    offset: int
    text: str
    #: The model's summary line, where it passed the check.
    summary: str | None


def _python(d: Definition, body_indent: str, summary: str | None) -> str:
    """A Google-style docstring; without a summary its sections alone (``""`` if none)."""
    lines: list[str] = []
    if d.parameters:
        lines += ["", f"{body_indent}Args:"]
        for p in d.parameters:
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
    if summary is None:
        if not lines:
            return ""
        lines[0] = f'{body_indent}"""'
    else:
        lines.insert(0, f'{body_indent}"""{summary}')
    lines.append(f'{body_indent}"""')
    return "\n".join(lines) + "\n"


def _block(d: Definition, language: str, summary: str | None) -> str:
    """JSDoc, Javadoc/Doxygen, rustdoc, Go, C# XML or the language's line comments; without a
    summary only their tags and sections (``""`` where the comment would hold nothing else)."""
    ind = d.indent
    params = d.parameters
    if language in JSDOC or language in JAVADOC:
        typed = language in ("javascript", "javascriptreact")
        tags = []
        for p in params:
            kind = f" {{{p.type}}}" if typed and p.type else ""
            tags.append(f"{ind} * @param{kind} {p.name}")
        if d.kind == "function" and d.returns and d.returns != "void":
            tags.append(f"{ind} * @return{'s' if language in JSDOC else ''}")
        tags += [f"{ind} * @throws {raised}" for raised in d.raises]
        if summary is None and not tags:
            return ""
        head = [f"{ind} * {summary}"] + ([f"{ind} *"] if tags else []) if summary else []
        return "\n".join([f"{ind}/**", *head, *tags, f"{ind} */"]) + "\n"
    if language == "rust":
        sections: list[str] = []
        if d.returns and d.returns.startswith("Result"):
            sections += [f"{ind}/// # Errors", f"{ind}///",
                         f"{ind}/// Returns an error when the operation fails."]
        if any(c.startswith(("panic!", "unwrap", "expect")) or c.endswith((".unwrap", ".expect"))
               for c in d.calls):
            sections += [f"{ind}///"] if sections else []
            sections += [f"{ind}/// # Panics"]
        if summary is None:
            return "\n".join(sections) + "\n" if sections else ""
        return "\n".join([f"{ind}/// {summary}", *([f"{ind}///"] if sections else []),
                          *sections]) + "\n"
    if summary is None:
        return ""  # Go, line comments: the summary is all there would be
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


def doc_comment(text: str, language: str, definition: Definition, filler: Filler | None,
                others: set[str] | None = None) -> DocComment | None:
    """The documentation ``definition`` lacks, or ``None`` if it has some (or, in Python, its
    body shares the ``def`` line). ``others``: the other definitions' summaries, when the
    caller has them (read from ``text`` otherwise)."""
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

        def template(summary: str | None) -> str:
            return _python(definition, body_indent, summary)
    else:
        offset = _line_start(text, definition.start)

        def template(summary: str | None) -> str:
            return _block(definition, language, summary)
    summary = None
    if filler is not None:
        gapped = template(placeholder)
        cut = gapped.index(placeholder)
        written = filler.fill(text[:offset] + gapped[:cut], gapped[cut + 1:] + text[offset:],
                              language, SUMMARY_TOKENS)
        summary = clean_summary(written, gapped)
        if summary is not None and not trusted(
                summary, text, definition,
                summaries(text, language, definition) if others is None else others):
            summary = None
    if summary is not None and language == "go":
        summary = summary[0].lower() + summary[1:]
    return DocComment(offset, template(summary), summary)
