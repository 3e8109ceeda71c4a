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

from bpe import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, LANGUAGE, Tokenizer

CONTEXT = 1024
LANGUAGE_TOKENS = 6
SUFFIX_TOKENS = 160
MIDDLE_TOKENS = 64
CROSS_FILE_TOKENS = 224
SCOPE_TOKENS = 96
CROSS_FILE_CHARS = 1200
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


def scope_headers(prefix: str) -> list[tuple[int, str]]:
    """The enclosing definitions of the cursor, outermost first, as (offset in ``prefix``, text):
    each line above the cursor indented less than everything after it (what an editor's "sticky
    scroll" shows), with the lines that continue its signature, the docstring below the
    innermost one and the doc comment above it. Complete lines only, so the result stays the same
    while the developer types on the cursor's line."""
    lines = prefix.split("\n")
    current = lines[-1]
    floor = _indent(current) if current.strip() else len(current)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    headers: list[tuple[int, str]] = []
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
        if not headers:  # the innermost: its documentation too
            block += _docstring(lines[more:len(lines) - 1])
            above = number - 1
            comments: list[str] = []
            while above >= 0 and len(comments) < DOC_LINES and \
                    lines[above].strip().startswith(_COMMENT_STARTS):
                comments.insert(0, lines[above])
                above -= 1
            if comments:
                headers.append((starts[above + 1], "\n".join([*comments, *block])))
                if floor == 0:
                    break
                continue
        headers.append((starts[number], "\n".join(block)))
        if floor == 0:
            break
    headers.reverse()
    return headers


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
    kept = sum(len(tokenizer.token_bytes(i)) for i in ids)
    return len(prefix.encode("utf-8")[:-kept or None].decode("utf-8", errors="ignore")) \
        if kept < len(prefix.encode("utf-8")) else 0


def prompt_ids(tokenizer: Tokenizer, prefix: str, suffix: str, language: str,
               context: str = "", step: int = PREFIX_STEP) -> list[int]:
    """``<|language|> lang <|fim_suffix|> suffix <|fim_prefix|> context scope prefix
    <|fim_middle|>``, at most ``CONTEXT - MIDDLE_TOKENS - 1`` tokens."""
    suffix_ids = tokenizer.encode(suffix[:SUFFIX_CHARS])[:SUFFIX_TOKENS]
    context_ids = tokenizer.encode(context[:CROSS_FILE_CHARS])[:CROSS_FILE_TOKENS]
    lang = language_ids(tokenizer, language)
    budget = PREFIX_TOKENS - len(lang) + LANGUAGE_TOKENS - len(suffix_ids) - len(context_ids)
    window = prefix_window(prefix)
    window_ids = tokenizer.encode(window)
    prefix_ids = trim_prefix(window_ids, budget, step)
    scope_ids: list[int] = []
    if len(prefix_ids) < len(window_ids) or len(window) < len(prefix):
        hidden = len(prefix) - len(window) + _kept_start(tokenizer, window, prefix_ids)
        missing = [text for offset, text in scope_headers(prefix) if offset < hidden]
        if missing:
            scope_ids = tokenizer.encode("\n".join(missing) + "\n")[:SCOPE_TOKENS]
            prefix_ids = trim_prefix(window_ids, budget - len(scope_ids), step)
    special = tokenizer.special
    return [*lang, special[FIM_SUFFIX], *suffix_ids, special[FIM_PREFIX], *context_ids,
            *scope_ids, *prefix_ids, special[FIM_MIDDLE]]
