"""An explanation of a selection in Markdown: what it defines, takes, returns and raises, what it
calls (with the documentation of functions defined in the same document, and for Python that of
the library functions it imports, read from their installed source), its control flow and cost,
and a summary: the docstring, the model's line, or one read from the name."""

from __future__ import annotations

from collections.abc import Iterator

from tasks.docs import doc_comment, summary_from_name
from tasks.filler import Filler
from tasks.library_docs import library_doc, python_imports
from tasks.structure import Definition, definitions


def _cost(d: Definition) -> str:
    if d.recursive:
        return "recursive: its cost grows with the depth of the recursion"
    if d.loop_depth == 0:
        return "no loops: constant work apart from what it calls"
    if d.loop_depth == 1:
        return "one loop: linear in the size of what it iterates over (O(n))"
    return (f"loops nested {d.loop_depth} deep: up to O(n^{d.loop_depth}) in the size of what "
            "they iterate over")


def _signature(d: Definition) -> str:
    params = ", ".join(p.name + (f": {p.type}" if p.type else "")
                       + (f" = {p.default}" if p.default else "") for p in d.parameters)
    arrow = f" -> {d.returns}" if d.returns else ""
    return f"{d.name}({params}){arrow}" if d.kind == "function" else d.name


def _summary(text: str, language: str, d: Definition, filler: Filler | None) -> tuple[str, str]:
    """(summary, where it came from)."""
    if d.docstring:
        first = d.docstring.strip().lstrip("/*#! ").split("\n")[0].strip()
        if first:
            return first, "its documentation"
    comment = doc_comment(text, language, d, filler)  # the model fills the empty comment
    if comment is not None and comment.by_model:
        return comment.summary, "the model"
    return summary_from_name(d), "its name"


def explain(text: str, language: str, start: int, end: int, filler: Filler | None
            ) -> Iterator[str]:
    """Markdown pieces, one per definition the range selects."""
    found = definitions(text, language, start, end)
    if not found:
        yield ("The selection defines no function or class that the "
               f"{language} grammar finds here; select a definition or put the cursor inside "
               "one.\n")
        return
    local = {d.name: d for d in definitions(text, language, 0, len(text)) if d.name}
    for member_of in list(local.values()):
        for member in member_of.members:
            local.setdefault(member.name, member)
    for d in found:
        yield from _one(text, language, d, filler, local)
        for member in d.members:
            yield from _one(text, language, member, filler, local, level="####")


def _one(text: str, language: str, d: Definition, filler: Filler | None,
         local: dict[str, Definition], level: str = "###") -> Iterator[str]:
    first_line = text.count("\n", 0, d.start) + 1
    last_line = text.count("\n", 0, d.end) + 1
    summary, source = _summary(text, language, d, filler)
    parts = [f"{level} `{_signature(d)}`\n",
             f"A {d.kind} on lines {first_line}-{last_line}. {summary} *(summary from "
             f"{source})*\n"]
    if d.kind == "function":
        if d.parameters:
            parts.append("\n**Takes**\n")
            for p in d.parameters:
                extra = ", ".join(x for x in (f"`{p.type}`" if p.type else "",
                                              f"default `{p.default}`" if p.default else "") if x)
                parts.append(f"- `{p.name}`" + (f" ({extra})" if extra else "") + "\n")
        values = [v for v in d.return_values if v]
        if values or d.returns:
            shown = ", ".join(f"`{v}`" for v in dict.fromkeys(values) if len(v) <= 60)
            parts.append("\n**Returns** " + (f"`{d.returns}`" if d.returns else "")
                         + (f" ({len(values)} return statement(s): {shown})" if shown else "")
                         + "\n")
        else:
            parts.append("\n**Returns** nothing (no return with a value).\n")
    if d.raises:
        parts.append("\n**Raises** " + ", ".join(f"`{r}`" for r in d.raises) + "\n")
    if d.calls:
        parts.append("\n**Calls**\n")
        imports = python_imports(text) if language == "python" else {}
        for call in d.calls[:20]:
            target = local.get(call.rsplit(".", 1)[-1])
            doc = ""
            if target is not None and target is not d and target.docstring:
                doc = ": " + target.docstring.strip().lstrip("/*#! ").split("\n")[0]
            elif imports:
                found = library_doc(call, imports)
                doc = f": {found[:300]} *(library documentation)*" if found else ""
            parts.append(f"- `{call}`{doc}\n")
        if len(d.calls) > 20:
            parts.append(f"- ... and {len(d.calls) - 20} more\n")
    parts.append(f"\n**Control flow** {d.branches} branch(es); {_cost(d)}.\n\n")
    yield "".join(parts)
