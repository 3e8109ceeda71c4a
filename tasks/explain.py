"""An explanation of a selection in Markdown: what it defines, takes, returns and raises, what it
calls (with the documentation of functions defined in the same document, and for Python that of
the library functions it imports, read from their installed source), its control flow and cost,
and a summary: the definition's own doc comment's first sentence, or the model's line where it
passes a check (marked as a suggestion), or none: a sentence read from the name says nothing."""

from __future__ import annotations

from collections.abc import Iterator

from tasks.docs import doc_comment, first_sentence
from tasks.filler import Filler
from tasks.library_docs import library_doc, python_imports
from tasks.structure import Definition, definitions, own_calls


def _cost(d: Definition) -> str:
    """Only what the shape shows: a ``while`` (a binary search halving its range, a queue
    drained) says nothing about how often it turns, so no cost is claimed for it."""
    if d.recursive:
        return "recursive: its cost grows with the depth of the recursion"
    if d.loop_depth == 0:
        return "no loops: constant work apart from what it calls"
    if d.opaque_loops:
        return ("a loop whose number of turns its shape does not show (a `while` or a loop not "
                "stepping by one): no cost is claimed")
    if d.loop_depth == 1:
        return "one loop over a range or collection: linear in its size (O(n))"
    return (f"loops over ranges or collections nested {d.loop_depth} deep: up to "
            f"O(n^{d.loop_depth}) in their sizes")


def _signature(d: Definition) -> str:
    params = ", ".join(p.name + (f": {p.type}" if p.type else "")
                       + (f" = {p.default}" if p.default else "") for p in d.parameters)
    arrow = f" -> {d.returns}" if d.returns else ""
    return f"{d.name}({params}){arrow}" if d.kind == "function" else d.name


def _summary(text: str, language: str, d: Definition, filler: Filler | None,
             others: set[str]) -> tuple[str, str] | None:
    """(summary, where it came from), or ``None`` when no sentence can be trusted: a
    definition's own doc comment; else the code model's line where it passes the check of
    ``tasks.docs.trusted`` (marked as a suggestion). A sentence read from the name alone
    ("Find it.") says nothing and is left out."""
    if d.docstring:
        first = first_sentence(d.docstring)
        if first:
            return first, "its documentation"
    comment = doc_comment(text, language, d, filler, others)  # the model fills the gap
    if comment is None or comment.summary is None:
        return None
    return comment.summary, "the code model: a suggestion, not checked against the code"


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
    others = {first_sentence(o.docstring) or "" for o in local.values() if o.docstring}
    for d in found:
        yield from _one(text, language, d, filler, local, others)
        for member in d.members:
            yield from _one(text, language, member, filler, local, others, level="####")


def _one(text: str, language: str, d: Definition, filler: Filler | None,
         local: dict[str, Definition], others: set[str], level: str = "###"
         ) -> Iterator[str]:
    first_line = text.count("\n", 0, d.start) + 1
    last_line = text.count("\n", 0, d.end) + 1
    summary = _summary(text, language, d, filler, others)
    said = f" {summary[0]} *(summary from {summary[1]})*" if summary else ""
    parts = [f"{level} `{_signature(d)}`\n",
             f"A {d.kind} on lines {first_line}-{last_line}.{said}\n"]
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
                         + (f" ({len(values)} return statement(s)" if values else "")
                         + (f": {shown})" if shown else ")" if values else "") + "\n")
        else:
            parts.append("\n**Returns** nothing (no return with a value).\n")
    if d.raises:
        parts.append("\n**Raises** " + ", ".join(f"`{r}`" for r in d.raises) + "\n")
    if d.calls:
        parts.append("\n**Calls**\n")
        imports = python_imports(text) if language == "python" else {}
        for call in d.calls[:20]:
            # Only a call that surely means a definition here (bare, or on `self`) gets its
            # documentation: `other.run` may be any type's `run`.
            target = local.get(call.rsplit(".", 1)[-1].rsplit("::", 1)[-1]) if (
                ("." not in call and "::" not in call) or call in own_calls(
                    call.rsplit(".", 1)[-1].rsplit("::", 1)[-1])) else None
            doc = ""
            if target is not None and target is not d and target.docstring:
                doc = ": " + (first_sentence(target.docstring) or "")
                doc = "" if doc == ": " else doc
            elif imports:
                found = library_doc(call, imports)
                doc = f": {found[:300]} *(library documentation)*" if found else ""
            parts.append(f"- `{call}`{doc}\n")
        if len(d.calls) > 20:
            parts.append(f"- ... and {len(d.calls) - 20} more\n")
    parts.append(f"\n**Control flow** {d.branches} branch(es); {_cost(d)}.\n\n")
    yield "".join(parts)
