"""The token layout the model was trained on, built from prefix, suffix, language and context.

Pure. ::

    <|language|> lang <|fim_suffix|> suffix <|fim_prefix|> context scope prefix <|fim_middle|>

Suffix first ("SPM"): while a developer types, the prompt only changes at its end, so cached
states for the rest are reused. ``context`` is what the worker chose from other files (snippets
and signatures, already written as comments of the language); ``scope`` is the enclosing
definitions' headers (with a docstring or doc comment) when the prefix window no longer shows
them, so the signature of the function being written is always in the prompt. The prefix gets
every token the rest leaves, cut from its start in steps of ``PREFIX_STEP`` tokens, so its first
token stays put while the developer types up to that many more tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpe import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, LANGUAGE
from bpe import Tokenizing as Tokenizer
from gguf_tokenizer import FimMarkers

CONTEXT = 1024
LANGUAGE_TOKENS = 6
SUFFIX_TOKENS = 160
MIDDLE_TOKENS = 64
CROSS_FILE_TOKENS = 224
SCOPE_TOKENS = 96
CROSS_FILE_CHARS = 1200
#: How far back the enclosing definitions are looked for (the worker sends at least this much).
SCOPE_CHARS = 16_000
#: Three markers in the prompt and the end-of-text after the middle.
MARKERS = 4
PREFIX_TOKENS = CONTEXT - LANGUAGE_TOKENS - MARKERS - MIDDLE_TOKENS
PREFIX_STEP = 32
PREFIX_CHARS = 3200
PREFIX_CHARS_STEP = 256
SUFFIX_CHARS = 640
#: Lines of a header that continue its signature (parameters over several lines).
SIGNATURE_LINES = 6
DOC_LINES = 8
_COMMENT_STARTS = ("//", "/*", "*", "#", "--", ";")
_SIGNATURE_ENDS = (":", "{", "=>", ")", "->", "=", "where", "do", "then")


def language_ids(tokenizer: Tokenizer, language: str) -> list[int]:
    return [tokenizer.special[LANGUAGE], *tokenizer.encode(language)[:LANGUAGE_TOKENS - 1]]


def trim_prefix(ids: list[int], budget: int = PREFIX_TOKENS, step: int = PREFIX_STEP) -> list[int]:
    """The last tokens of the prefix within ``budget``, dropped from the front ``step`` at a time."""
    excess = len(ids) - budget
    if excess <= 0:
        return ids
    drop = -(-excess // step) * step
    return ids[drop:]


def prefix_window(prefix: str, chars: int = PREFIX_CHARS, step: int = PREFIX_CHARS_STEP) -> str:
    """The end of ``prefix`` that gets tokenized: at most ``chars`` plus ``step`` characters, cut
    at a point that moves only every ``step`` characters typed, then at the next line start."""
    excess = len(prefix) - chars
    if excess <= 0:
        return prefix
    cut = -(-excess // step) * step
    newline = prefix.find("\n", cut)
    return prefix[newline + 1:] if newline != -1 else prefix[cut:]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


@dataclass(frozen=True, slots=True)
class Header:
    """One enclosing definition: where its first line starts in the prefix, its signature lines
    and, for the innermost, its documentation (docstring below or comment lines above)."""

    offset: int
    signature: str
    doc: str = ""
    doc_above: bool = False

    def text(self, with_doc: bool) -> str:
        if not with_doc or not self.doc:
            return self.signature
        return f"{self.doc}\n{self.signature}" if self.doc_above else f"{self.signature}\n{self.doc}"


def scope_headers(prefix: str) -> list[Header]:
    """The enclosing definitions of the cursor, outermost first: each line above the cursor
    indented less than everything after it (what an editor's "sticky scroll" shows), with the
    lines that continue its signature; the innermost one with its docstring or doc comment. Only
    the last ``SCOPE_CHARS`` of the prefix are read, and complete lines only, so the result stays
    the same while the developer types on the cursor's line."""
    if len(prefix) > SCOPE_CHARS:
        start = prefix.find("\n", len(prefix) - SCOPE_CHARS)
        base = start + 1 if start != -1 else len(prefix) - SCOPE_CHARS
    else:
        base = 0
    lines = prefix[base:].split("\n")
    current = lines[-1]
    floor = _indent(current) if current.strip() else len(current)
    starts = [base]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    headers: list[Header] = []
    for number in range(len(lines) - 2, -1, -1):
        line = lines[number]
        if not line.strip() or _indent(line) >= floor:
            continue
        if line.lstrip().startswith(_COMMENT_STARTS) or line.strip() in ("}", ")", "]", "end"):
            continue
        floor = _indent(line)
        block = [line]
        more = number + 1
        while not line.rstrip().endswith(_SIGNATURE_ENDS) and len(block) < SIGNATURE_LINES \
                and more < len(lines) - 1:
            line = lines[more]
            block.append(line)
            more += 1
        header = Header(starts[number], "\n".join(block))
        if not headers:  # the innermost: its documentation too
            below = _docstring(lines[more:len(lines) - 1])
            above = number - 1
            comments: list[str] = []
            while above >= 0 and len(comments) < DOC_LINES and \
                    lines[above].strip().startswith(_COMMENT_STARTS):
                comments.insert(0, lines[above])
                above -= 1
            if below:
                header = Header(header.offset, header.signature, "\n".join(below))
            elif comments:
                header = Header(header.offset, header.signature, "\n".join(comments), True)
        headers.append(header)
        if floor == 0:
            break
    headers.reverse()
    return headers


def scope_ids(tokenizer: Tokenizer, headers: list[Header], hidden: int, budget: int) -> list[int]:
    """Whole lines of the headers that start before ``hidden`` (out of the prefix window),
    within ``budget`` tokens: the innermost signature first, then its documentation, then the
    outer signatures from the inside out; written in document order, ending with a newline."""
    missing = [h for h in headers if h.offset < hidden]
    if not missing or budget <= 0:
        return []
    innermost = missing[-1]
    wanted = [("sig", len(missing) - 1), ("doc", len(missing) - 1),
              *(("sig", i) for i in range(len(missing) - 2, -1, -1))]

    def render(chosen: list[tuple[str, int]]) -> list[int]:
        parts = []
        for i, header in enumerate(missing):
            if ("sig", i) in chosen:
                parts.append(header.text(with_doc=("doc", i) in chosen))
        return tokenizer.encode("\n".join(parts) + "\n") if parts else []

    chosen: list[tuple[str, int]] = []
    ids: list[int] = []
    for item in wanted:
        if item[0] == "doc" and not innermost.doc:
            continue
        trial = render([*chosen, item])
        if len(trial) <= budget:
            chosen.append(item)
            ids = trial
        elif item == wanted[0]:  # even the signature alone is too long: its first lines
            lines = innermost.signature.split("\n")
            while lines and len(tokenizer.encode("\n".join(lines) + "\n")) > budget:
                lines.pop()
            return tokenizer.encode("\n".join(lines) + "\n") if lines else []
    return ids


def _whole_lines(tokenizer: Tokenizer, text: str, limit: int) -> list[int]:
    """``text``'s tokens, cut to at most ``limit`` at the end of a line."""
    ids = tokenizer.encode(text)
    if len(ids) <= limit:
        return ids
    kept = tokenizer.decode(ids[:limit])
    end = kept.rfind("\n")
    return tokenizer.encode(kept[:end + 1]) if end != -1 else []


def _docstring(lines: list[str]) -> list[str]:
    """The docstring the lines start with (up to ``DOC_LINES``), or nothing."""
    first = lines[0].strip() if lines else ""
    quote = next((q for q in ('"""', "'''") if first.lstrip("rbuRBU").startswith(q)), None)
    if quote is None:
        return []
    if first.count(quote) >= 2:
        return lines[:1]
    for number, line in enumerate(lines[1:DOC_LINES], start=1):
        if quote in line:
            return lines[:number + 1]
    return lines[:DOC_LINES]


def _kept_start(tokenizer: Tokenizer, prefix: str, ids: list[int]) -> int:
    """Where in ``prefix`` the text of ``ids`` (its last tokens) starts."""
    kept = sum(map(tokenizer.byte_lengths.__getitem__, ids))
    return len(prefix.encode("utf-8")[:-kept or None].decode("utf-8", errors="ignore")) \
        if kept < len(prefix.encode("utf-8")) else 0


def prompt_ids(tokenizer: Tokenizer, prefix: str, suffix: str, language: str,
               context: str = "", step: int = PREFIX_STEP, window: int = CONTEXT,
               fim: FimMarkers | None = None) -> list[int]:
    """``<|language|> lang <|fim_suffix|> suffix <|fim_prefix|> context scope prefix
    <|fim_middle|>``, at most ``window - MIDDLE_TOKENS - 1`` tokens. A smaller ``window`` (at
    least 256) trades context for a faster cold prompt: the suffix, the other files' context and
    the scope shrink with it, the prefix gets the rest.

    With ``fim`` (a brought model's markers), the form it was trained on instead, prefix first
    and no language: ``head context scope prefix middle suffix tail``."""
    share = min(1.0, window / CONTEXT)
    suffix_ids = tokenizer.encode(suffix[:SUFFIX_CHARS])[:int(SUFFIX_TOKENS * share)]
    context_ids = _whole_lines(tokenizer, context[:CROSS_FILE_CHARS],
                               int(CROSS_FILE_TOKENS * share))
    lang = language_ids(tokenizer, language) if fim is None else []
    markers = MARKERS if fim is None else fim.count + 1
    budget = window - markers - MIDDLE_TOKENS - len(lang) - len(suffix_ids) - len(context_ids)
    text = prefix_window(prefix)
    text_ids = tokenizer.encode(text)
    prefix_ids = trim_prefix(text_ids, budget, step)
    scope: list[int] = []
    if len(prefix_ids) < len(text_ids) or len(text) < len(prefix):
        headers = scope_headers(prefix)
        for _ in range(4):  # more scope, shorter prefix, maybe more hidden: settles in a few
            hidden = len(prefix) - len(text) + _kept_start(tokenizer, text, prefix_ids)
            wanted = scope_ids(tokenizer, headers, hidden, int(SCOPE_TOKENS * share))
            if wanted == scope:
                break
            scope = wanted
            prefix_ids = trim_prefix(text_ids, budget - len(scope), step)
    if fim is not None:
        return [*fim.head, *context_ids, *scope, *prefix_ids, *fim.middle, *suffix_ids, *fim.tail]
    special = tokenizer.special
    return [*lang, special[FIM_SUFFIX], *suffix_ids, special[FIM_PREFIX], *context_ids,
            *scope, *prefix_ids, special[FIM_MIDDLE]]
