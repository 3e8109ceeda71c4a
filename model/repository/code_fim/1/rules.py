"""Where a completion stops and how it meets the code after the cursor (pure).

Decided from context, per request:

* **line or block**: finish the current line when the cursor has code on its line (before it
  without a block opener, or after it); write a block (several lines) on a blank line or right
  after a line that opens one (``{``; ``:`` in indentation languages; ``=>``, ``do``, ``then``...).
  An open ``(`` or ``[`` at the end of the line asks for its arguments, on the same line.
* **end of block**: a block completion stops before a line indented less than its first line
  (Python and other indentation languages), or after the line that closes it (``}``, ``end``)
  unless the suffix already has that line; also at two blank lines in a row and at ``max_lines``.
* **never re-emit the suffix**: a line equal to the suffix's next line ends the completion before
  it, and closing brackets or quotes the rest of the cursor's line already has are removed.
* **never repeat a line**: a block ends before a line equal to the one just before it (of the
  completion, or the prefix's last one), when it is code of ``MIN_REPEATED_LINE`` characters or
  more (``}`` or ``end`` twice is ordinary); a network looping on a whole line does that.
* **balanced brackets**: brackets a one-line completion opens and neither it nor the rest of the
  line closes are closed at its end, innermost first, unless the line ends by opening one or
  with a comma (what it opened goes on below) or is in a comment. A block in a brace language
  is shown up to its last line after which all it opened is closed again (nothing if there is
  none), and before a line that closes a bracket opened before the cursor which the code after
  the cursor already closes: what it adds keeps the file's brackets as balanced as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Mode = Literal["line", "block"]
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
QUOTES = "\"'`"
CLOSERS_AND_QUOTES = ")]}" + QUOTES + ";,:"
#: Words that open a block at the end of a line in keyword-delimited languages.
BLOCK_WORDS = ("do", "then", "else", "begin", "->", "=>", "of", "in")
MAX_LINES = 8
#: Shorter lines may follow an equal one (``}``, ``end``, ``</div>``); longer ones do not.
MIN_REPEATED_LINE = 8
#: Characters either side of the cursor whose brackets are counted to know how many of those
#: open before it the code after it leaves open (a definition rarely spans more).
BRACKET_SCAN_CHARS = 4000


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """What the stop rules need to know about a language."""

    blocks: str = "braces"  # braces | indent | keyword | parens | none
    line_comment: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules read from around the cursor."""

    mode: Mode
    prefix_line: str  # the cursor's line up to the cursor
    suffix_line: str  # the cursor's line after the cursor
    next_line: str  # the suffix's next non-blank line, stripped ('' if none)
    rules: LanguageRules
    max_lines: int = MAX_LINES
    previous_line: str = ""  # the last non-blank line before the completion's, stripped
    closable: int = 0  # brackets open before the cursor that the code after it leaves open


def indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def opens_block(line: str, rules: LanguageRules) -> bool:
    """Whether ``line`` (code before the cursor) ends by opening a block."""
    code = strip_comment(line, rules).rstrip()
    if not code:
        return False
    if code[-1] == "{":
        return True
    if rules.blocks == "indent" and code.endswith(":"):
        return True
    words = code.split()
    return bool(words) and words[-1] in BLOCK_WORDS


def _characters(line: str, rules: LanguageRules) -> Iterator[tuple[int, str, bool]]:
    """(index, character, inside a string literal, its quotes included) for each character of
    ``line`` before its line comment."""
    marker = rules.line_comment
    quote = None
    escaped = False
    for i, char in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            yield i, char, True
        elif char in QUOTES:
            quote = char
            yield i, char, True
        elif marker and line.startswith(marker, i):
            return
        else:
            yield i, char, False


def strip_comment(line: str, rules: LanguageRules) -> str:
    """``line`` without a trailing line comment (outside of quotes)."""
    if not rules.line_comment or rules.line_comment not in line:
        return line
    end = 0
    for i, _, _ in _characters(line, rules):
        end = i + 1
    return line[:end]


def context_of(prefix: str, suffix: str, rules: LanguageRules, max_lines: int = MAX_LINES) -> Context:
    prefix_line = prefix[prefix.rfind("\n") + 1:]
    newline = suffix.find("\n")
    suffix_line = suffix if newline == -1 else suffix[:newline]
    next_line = ""
    if newline != -1:
        for line in suffix[newline + 1:].split("\n", 20)[:20]:
            if line.strip():
                next_line = line.strip()
                break
    previous_line = prefix_line.strip()  # an opener's line, else the last one above
    if not previous_line:
        above = [line.strip() for line in prefix[:len(prefix) - len(prefix_line)].rsplit("\n", 20)]
        previous_line = next((line for line in reversed(above) if line), "")
    if suffix_line.strip():
        mode: Mode = "line"
    elif not prefix_line.strip() or opens_block(prefix_line, rules):
        mode = "block"
    else:
        mode = "line"
    can_close = closable(prefix, suffix, rules) if mode == "block" and rules.blocks == "braces" else 0
    return Context(mode, prefix_line, suffix_line, next_line, rules, max_lines, previous_line,
                   can_close)


def closable(prefix: str, suffix: str, rules: LanguageRules) -> int:
    """How many brackets open before the cursor the code after it does not close (counted over
    ``BRACKET_SCAN_CHARS`` either side, from a line's start): how many a block may close. In a
    whole file that is none; at the end of code still being written, those it left open."""
    window = prefix[-BRACKET_SCAN_CHARS:]
    if len(prefix) > BRACKET_SCAN_CHARS:
        window = window[window.find("\n") + 1:]
    open_before, _ = _scan(window, rules)
    _, closed_after = _scan(suffix[:BRACKET_SCAN_CHARS], rules)
    return max(0, len(open_before) - closed_after)


def repeatable(line: str) -> bool:
    """Whether ``line`` (stripped) may not follow an equal line: code of ``MIN_REPEATED_LINE``
    characters or more."""
    return len(line) >= MIN_REPEATED_LINE and any(c.isalnum() for c in line)


def stop_point(text: str, context: Context) -> int | None:
    """Where the completion ``text`` (so far) must end, if it must: an index into ``text``."""
    if context.mode == "line":
        newline = text.find("\n")
        return None if newline == -1 else newline
    lines = text.split("\n")
    base: int | None = None
    blank_run = 0
    offset = 0
    previous = context.previous_line
    for number, piece in enumerate(lines[:-1]):  # the last piece may still grow
        line = context.prefix_line + piece if number == 0 else piece
        if not piece.strip():
            blank_run += 1 if number > 0 else 0
            if blank_run >= 2:
                return max(0, offset - 1)
            offset += len(piece) + 1
            continue
        blank_run = 0
        stripped = line.strip()
        if context.next_line and stripped == context.next_line:
            return max(0, offset - 1)
        if stripped == previous and repeatable(stripped):
            return max(0, offset - 1)
        previous = stripped
        width = indent_width(line)
        if base is None:
            base = width
        elif width < base:
            closes = context.rules.blocks in ("braces", "keyword")
            return offset + len(piece) if closes else max(0, offset - 1)
        if number + 1 >= context.max_lines:
            return offset + len(piece)
        offset += len(piece) + 1
    return None


def _block_base(text: str, context: Context) -> int | None:
    for number, piece in enumerate(text.split("\n")[:-1]):
        if piece.strip():
            return indent_width(context.prefix_line + piece if number == 0 else piece)
    return None


def _last_line(text: str, context: Context) -> str:
    """The last non-blank complete line of ``text`` (block mode), stripped, else the prefix's."""
    pieces = text.split("\n")
    for number in range(len(pieces) - 1, -1, -1):
        line = context.prefix_line + pieces[number] if number == 0 else pieces[number]
        if pieces[number].strip():
            return line.strip()
    return context.previous_line


def settled(text: str, context: Context) -> int:
    """How much of ``text`` (so far, not yet stopped) no later token can take back from what
    :func:`finish` shows: what may be streamed now."""
    if context.mode == "line":
        if not context.suffix_line.strip():
            return len(text)
        end = len(text)
        while end > 0 and text[end - 1] in CLOSERS_AND_QUOTES:
            end -= 1
        return end
    start = text.rfind("\n") + 1
    current = text[start:]
    line = context.prefix_line + current if start == 0 else current
    stripped = line.strip()
    base = _block_base(text, context)
    previous = _last_line(text[:start], context)
    growing_ok = (bool(stripped) and not context.next_line.startswith(stripped)
                  and not (repeatable(previous) and previous.startswith(stripped))
                  and (base is None or indent_width(line) >= base)
                  and (start > 0 or bool(current.strip())))
    end = len(text.rstrip(" \t")) if growing_ok else len(text[:start].rstrip(" \t\n"))
    if context.rules.blocks == "braces":  # only up to a complete line its brackets close
        end = min(end, balanced_end(text[:start].rstrip("\n"), context.rules, context.closable) or 0)
    return end


def _scan(text: str, rules: LanguageRules, stack: list[str] | None = None) -> tuple[list[str], int]:
    """Openers still open after ``text`` (starting from ``stack``, innermost last) and how many
    closers found no opener. Brackets in quotes and comments do not count."""
    stack = list(stack or [])
    stray = 0
    for line in text.split("\n"):
        for _, char, quoted in _characters(line, rules):
            if quoted:
                continue
            if char in OPENERS:
                stack.append(char)
            elif char in CLOSERS:
                if stack and stack[-1] == CLOSERS[char]:
                    stack.pop()
                else:
                    stray += 1
    return stack, stray


def balanced_end(text: str, rules: LanguageRules, closable: int = 0) -> int | None:
    """Where the last line of ``text`` ends after which every bracket ``text`` opened is closed
    again (``None``: after none), before any line that closes more brackets opened before
    ``text`` than ``closable``."""
    stack: list[str] = []
    found, offset, stray = None, 0, 0
    for line in text.split("\n"):
        stack, closed = _scan(line, rules, stack)
        stray += closed
        if stray > closable:
            break
        if not stack and line.strip():  # a blank line is no end: finish would strip it again
            found = offset + len(line.rstrip(" \t"))
        offset += len(line) + 1
    return found


def finish(text: str, context: Context) -> str:
    """The completion as shown: a block's last line judged by the block rules like the others,
    trailing blank lines dropped; a block in a brace language ends at its last line that closes
    every bracket it opened (a block cut at its length or mid-call would not parse; without such
    a line nothing is shown) and before a line closing more of the brackets open before it than
    the code after the cursor leaves open; for one line, closers and quotes the rest of the line
    already has not repeated, and brackets left open closed (unless the line ends by opening one
    or with a comma, or the cursor is in a comment)."""
    if context.mode == "block":
        cut = stop_point(text + "\n", context)  # the last line, ended by the end of the text
        if cut is not None:
            text = text[:cut]
        text = text.rstrip(" \t\n") if text.strip() else ""
        if context.rules.blocks == "braces":
            end = balanced_end(text, context.rules, context.closable)
            text = "" if end is None else text[:end].rstrip(" \t\n")
        return text
    rules = context.rules
    if strip_comment(context.prefix_line, rules) != context.prefix_line:
        return text  # the cursor is in a comment: prose, whose brackets are not code's
    rest = context.suffix_line.strip()
    if rest:
        _, stray = _scan(context.prefix_line + text + context.suffix_line, rules)
        while stray > 0 and text and text[-1] in CLOSERS and text[-1] in rest:
            text = text[:-1]
            stray -= 1
        for overlap in range(min(len(rest), len(text)), 0, -1):
            if rest[:overlap] == text[-overlap:] and all(c in QUOTES + ";,:" for c in rest[:overlap]):
                text = text[:-overlap]
                break
    # A line that ends by opening a bracket, or with a comma, goes on below it (a block's ``{``,
    # a call's arguments one per line): its closers belong on a later line, not on this one.
    if text.rstrip()[-1:] in (*OPENERS, ","):
        return text
    # Only brackets the completion opened are closed here; the rest of the line closes the
    # brackets that were open before the cursor (it did before the completion).
    before, _ = _scan(context.prefix_line, rules)
    after, _ = _scan(text, rules, before)
    own, _ = _scan(text, rules)
    _, closed_by_rest = _scan(context.suffix_line, rules)
    needed = min(len(own), len(after) - closed_by_rest)
    if needed > 0:
        text += "".join(OPENERS[o] for o in reversed(after[len(after) - needed:]))
    return text
