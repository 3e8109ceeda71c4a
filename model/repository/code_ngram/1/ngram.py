"""A small, honest code-completion model: a token n-gram model mixed with the current document.

Pure standard library, so it runs unchanged inside Triton's python backend stub (ours or the one in
NVIDIA's containers) and in unit tests. The model predicts code token by token; nothing is canned.

Why an n-gram model: it trains in a couple of seconds on the interpreter's own standard library,
needs no weights on disk, and, mixed with counts from the file being edited and with the file's
own lines, it completes the identifiers and idioms a file already uses, which is most of what
short completions are. It counts ``units`` (tokens with their layout glued on) rather than raw
tokens so that three units of context reach three real tokens back.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from pathlib import Path

#: n-gram order: a prediction looks at up to ORDER - 1 previous tokens.
ORDER = 4
#: Weight of the document's own counts when both models know a context: what the file already
#: says (its identifiers, its repeated lines) predicts the next token better than a generic corpus.
LOCAL_WEIGHT = 0.75
#: Confidence calibration, measured on held-out stdlib files (the later parts of subpackage
#: modules, with the model trained on top-level modules). The document's own 3-token contexts are
#: right ~85% of the time even when seen once, so local counts get a small pseudo-count; corpus
#: estimates p are optimistic except near certainty (accuracy tracks p ** 1.5); and a shorter
#: context is much less trustworthy than its raw estimate (1 token: ~0.3 of it), so confidence
#: is scaled by the context length used.
LOCAL_SMOOTHING = 0.25
GLOBAL_SMOOTHING = 1.0
GLOBAL_SHARPEN = 1.5
LEVEL_TRUST = (0.3, 0.7, 1.0)  # for contexts of 1, 2, 3 tokens; partial-word fallback: first
#: Trust in continuing a line the way an earlier line of the document that starts the same way
#: continued: when that line also followed the same previous line (like a repeated block), and
#: when only the start matches (given at least LINE_MIN_MATCH characters of it).
LINE_TRUST_SAME_PREVIOUS = 0.9
LINE_TRUST = 0.6
LINE_MIN_MATCH = 4
#: Once a line is being copied, each next unit of it: whether to copy was judged at the first.
LINE_TRUST_COPYING = 0.98
#: A line that so far has the shape of one of the last few lines, with one identifier swapped
#: (``self.y = `` under ``self.x = x``), likely goes on like it (``y``): trust, per matched unit.
LINE_TRUST_ANALOGY = 0.6
ANALOGY_LINES = 3
#: Below this confidence generation stops: a short right answer beats a long wrong one.
DEFAULT_THRESHOLD = 0.1
#: Generation also stops once the line's estimated chance of being right (the product of its
#: tokens' confidences) would fall below this: each extra guess risks the useful part.
MIN_JOINT_CONFIDENCE = 0.4
#: Multi-line completions stop after this many lines (a block body, not a whole module).
MAX_LINES = 5
#: Only this much text around the cursor feeds the local model, to bound per-request work.
LOCAL_PREFIX_CHARS = 100_000
LOCAL_SUFFIX_CHARS = 30_000

_BODY = r"""
    [^\W\d]\w*                                  # identifier or keyword (unicode aware)
    |0[xXoObB][0-9a-fA-F_]+                     # prefixed integer
    |\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?[jJlLuUfF]?
    |\.\d+(?:[eE][+-]?\d+)?                     # .5
    |\"\"\"|'''|["'`]                           # string quotes
    |\*\*=|//=|>>=|<<=|\.\.\.|===|!==           # three-character operators
    |->|=>|==|!=|<=|>=|\+=|-=|\*=|/=|%=|&=|\|=|\^=|@=|:=|\*\*|//|<<|>>|&&|\|\||::|\+\+|--
"""
_TOKEN_RE = re.compile(
    rf"""
    \r\n|\n|\r                                  # a newline is always its own token
    |[ \t]+                                     # a run of blanks (indentation or spacing)
    |{_BODY}
    |[\s\S]                                     # anything else, one character at a time
    """,
    re.VERBOSE,
)
# The model's units (see ``units``), cut by one regex so that training stays fast.
_UNIT_RE = re.compile(
    rf"""
    (?:\r\n|\n|\r)[ \t]*                        # a newline and the next line's indentation
    |[ \t]*(?:\(\)|\[\]|\{{\}}|{_BODY}|[^\r\n \t])  # a token and the blanks before it
    |[ \t]+                                     # blanks with no token after them on the line
    """,
    re.VERBOSE,
)

_NEWLINES = frozenset({"\n", "\r\n", "\r"})
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_QUOTES = frozenset({'"', "'", '"""', "'''", "`"})
_COMMENT = "#"
_EMPTY: Mapping[str, int] = {}
_SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test",
     "pydoc_data", "encodings"}
)
_BLOCK_OPENER = re.compile(r"[:{][ \t]*(?:#[^\r\n]*)?(?:\r\n|\n|\r)([ \t]*)\Z")
_MAX_FILE_BYTES = 256_000


def tokenize(text: str) -> list[str]:
    """Split code into tokens losslessly: ``"".join(tokenize(t)) == t`` for every string.

    Losslessness is what lets generated tokens be streamed straight into the editor.
    """
    return _TOKEN_RE.findall(text)


def units(text: str) -> list[str]:
    """The model's units: tokens with layout glued on, so 3 units of context say more.

    A blank run inside a line joins the token after it (``x = foo()`` gives ``x``, `` =``,
    `` foo``, ``()``), indentation joins the newline before it (``"\\n    "``), and an empty
    bracket pair is one unit. Contexts then span real tokens, not spaces. Trailing blanks stay
    units of their own. Lossless: ``"".join(units(t)) == t``.
    """
    return _UNIT_RE.findall(text)


def context_key(unit: str) -> str:
    """A unit as context: spacing before a token says little about what follows it, and
    ignoring it lets `` logging`` and ``logging`` share their statistics."""
    return unit.lstrip(" \t")


def is_newline(unit: str) -> bool:
    """True for a newline unit (a newline, possibly with the next line's indentation)."""
    return unit[:1] in ("\n", "\r")


def is_word(token: str) -> bool:
    """True for identifier-like units (optionally after blanks): what a cursor can end inside."""
    token = token.lstrip(" \t")
    return bool(token) and (token[0].isalnum() or token[0] == "_")


def is_identifier(unit: str) -> bool:
    """True for identifier units (optionally after blanks): the words worth completing."""
    first = unit.lstrip(" \t")[:1]
    return first.isalpha() or first == "_"


def _is_blank(token: str) -> bool:
    return bool(token) and not token.strip(" \t")


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


class NgramModel:
    """Counts of which unit follows each context of 1..ORDER-1 units (as ``context_key``).

    ``counts`` maps a context tuple to a Counter of next tokens; ``totals`` keeps how often the
    context was seen before pruning, so pruned rare continuations still lower the confidence.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], Counter[str]] = {}
        self.totals: dict[tuple[str, ...], int] = {}
        self._best: dict[tuple[str, ...], tuple[str, int]] = {}
        self.unigrams: Counter[str] = Counter()
        self.token_count = 0
        self._words_index: tuple[list[str], Counter[str]] | None = None

    @classmethod
    def train(cls, texts: Iterable[str], max_tokens: int, *, min_count: int = 1) -> NgramModel:
        """Count n-grams over ``texts`` (never across two texts), using at most ``max_tokens``.

        ``min_count`` > 1 drops rare continuations of contexts longer than one token: they are
        most of the memory and rarely the confident answer. Deterministic for a given input.
        """
        streams: list[tuple[list[str], list[str]]] = []  # (units, their context keys)
        used = 0
        intern = sys.intern
        for text in texts:
            if used >= max_tokens:
                break
            found = list(map(intern, units(text)[: max_tokens - used]))
            used += len(found)
            keys = list(map(intern, map(str.lstrip, found, repeat(" \t", len(found)))))
            streams.append((found, keys))
        model = cls()
        model.token_count = used
        for found, _ in streams:
            model.unigrams.update(found)
        # Counting runs inside Counter's C loop; Python-level loops only see what survives.
        for n in range(1, ORDER):
            keep = 1 if n == 1 else min_count
            grams: Counter[tuple[str, ...]] = Counter()
            for found, keys in streams:
                grams.update(zip(*(keys[i:] for i in range(n)), found[n:], strict=False))
            totals: dict[tuple[str, ...], int] = {}
            get = totals.get
            for gram, count in grams.items():
                context = gram[:-1]
                totals[context] = get(context, 0) + count
            model.totals.update(
                totals if keep == 1 else {c: t for c, t in totals.items() if t >= keep}
            )
            kept = list(grams.items()) if keep == 1 else [x for x in grams.items() if x[1] >= keep]
            del grams, totals
            counts = model.counts
            new_counter = Counter.__new__  # an empty Counter without the cost of __init__
            for gram, count in kept:
                context = gram[:-1]
                counter = counts.get(context)
                if counter is None:
                    counts[context] = counter = new_counter(Counter)
                counter[gram[-1]] = count
            del kept
        return model

    def best(self, context: tuple[str, ...]) -> tuple[str, int] | None:
        """The most frequent continuation of ``context`` (cached: common contexts are big)."""
        found = self._best.get(context)
        if found is None:
            counter = self.counts.get(context)
            if not counter:
                return None
            # Ties broken by the token text so the choice never depends on insertion order.
            found = min(counter.items(), key=lambda item: (-item[1], item[0]))
            self._best[context] = found
        return found

    def _words(self) -> tuple[list[str], Counter[str]]:
        if self._words_index is None:
            counts: Counter[str] = Counter()
            for unit, count in self.unigrams.items():
                if is_identifier(unit):
                    counts[unit.lstrip(" \t")] += count
            self._words_index = (sorted(counts), counts)
        return self._words_index

    def words_starting_with(self, start: str) -> dict[str, int]:
        """Known identifiers (and keywords) beginning with ``start``, with their counts."""
        vocab, counts = self._words()
        lo = bisect_left(vocab, start)
        hi = bisect_left(vocab, start + "\U0010ffff")
        return {word: counts[word] for word in vocab[lo:hi]}

    def _candidates(
        self, context: tuple[str, ...], start: str
    ) -> tuple[Mapping[str, int], int] | None:
        """Continuations of ``context`` (restricted to those beginning with ``start``) and the
        count they are normalised by; None when the context is unknown."""
        total = self.totals.get(context)
        if total is None:
            return None
        counter = self.counts.get(context, _EMPTY)
        if not start:
            return counter, total
        chosen = {t: c for t, c in counter.items() if t.startswith(start)}
        if not chosen:
            return None
        return chosen, sum(chosen.values())

    def predict_next(
        self,
        context: Sequence[str],
        local: NgramModel | None = None,
        *,
        start: str = "",
        local_weight: float = LOCAL_WEIGHT,
    ) -> tuple[str, float] | None:
        """The most likely next token after ``context`` and a confidence in [0, 1].

        Backs off from the longest known context to shorter ones; at the first length either
        model knows, mixes the ``local`` (current document) model, weighted strongly, with this
        corpus model. ``start`` restricts answers to tokens beginning with it (completing a
        partially typed identifier). Confidence is a smoothed, calibrated probability (see
        LOCAL_SMOOTHING and friends): evidence seen once is never certainty.
        """
        for n in range(min(len(context), ORDER - 1), 0, -1):
            key = tuple(context_key(u) for u in context[-n:])
            glob = self._candidates(key, start)
            loc = local._candidates(key, start) if local is not None else None
            found = self._mix(glob, loc, self.best(key) if not start else None, local_weight)
            if found is not None:
                return found[0], found[1] * LEVEL_TRUST[n - 1]
        if start:
            found = self._predict_word(start, local, local_weight)
            if found is not None:
                return found[0], found[1] * LEVEL_TRUST[0]
        return None

    def _predict_word(
        self, start: str, local: NgramModel | None, local_weight: float
    ) -> tuple[str, float] | None:
        """Last resort for a partial word: how often each matching word occurs anywhere."""
        word = start.lstrip(" \t")
        lead = start[: len(start) - len(word)]
        glob = self.words_starting_with(word)
        loc = local.words_starting_with(word) if local is not None else {}
        found = self._mix(
            (glob, sum(glob.values())) if glob else None,
            (loc, sum(loc.values())) if loc else None,
            None,
            local_weight,
        )
        return None if found is None else (lead + found[0], found[1])

    @staticmethod
    def _mix(
        glob: tuple[Mapping[str, int], int] | None,
        loc: tuple[Mapping[str, int], int] | None,
        glob_best: tuple[str, int] | None,
        local_weight: float,
    ) -> tuple[str, float] | None:
        if glob is None and loc is None:
            return None
        w_loc = local_weight if glob is not None else 1.0
        w_glob = 1.0 - w_loc if loc is not None else 1.0
        scores: dict[str, float] = {}
        if glob is not None:
            counts, total = glob
            # Only the corpus's favourite can beat local candidates among corpus-only tokens.
            pool: dict[str, int] = (
                dict(counts) if glob_best is None else {glob_best[0]: glob_best[1]}
            )
            if loc is not None:
                pool.update((t, counts[t]) for t in loc[0] if t in counts)
            for token, count in pool.items():
                scores[token] = w_glob * (count / (total + GLOBAL_SMOOTHING)) ** GLOBAL_SHARPEN
        if loc is not None:
            counts, total = loc
            for token, count in counts.items():
                scores[token] = scores.get(token, 0.0) + w_loc * count / (total + LOCAL_SMOOTHING)
        if not scores:
            return None
        token, score = min(scores.items(), key=lambda item: (-item[1], item[0]))
        return token, max(0.0, min(1.0, score))


def _split_cursor(prefix: str) -> tuple[list[str], str]:
    """Units of the prefix's tail, and the unfinished unit at the cursor ('' if none).

    A unit is unfinished when the prefix ends in an identifier or after blanks within a line:
    the model then completes it instead of starting a new one. (Numbers count as finished.)
    """
    context = units(prefix[-2000:])
    if context and (
        is_identifier(context[-1]) or (_is_blank(context[-1]) and len(context) > 1)
    ):
        return context[:-1], context[-1]
    return context, ""


def build_local(prefix: str, suffix: str) -> NgramModel:
    """The model of the document being edited: prefix and suffix, counted separately.

    The unit being typed at the cursor is left out, or it would "predict" itself.
    """
    prefix = prefix[-LOCAL_PREFIX_CHARS:]
    suffix = suffix[:LOCAL_SUFFIX_CHARS]
    partial = _split_cursor(prefix)[1]
    return NgramModel.train([prefix[: len(prefix) - len(partial)], suffix], max_tokens=10**9)


def before_lines(lines: list[str], count: int) -> list[str]:
    """The last ``count`` non-blank lines, stripped, the most recent first."""
    found: list[str] = []
    for line in reversed(lines):
        if line.strip():
            found.append(line.strip())
            if len(found) == count:
                break
    return found


def _first_nonblank_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _line_start(text: str) -> int:
    return max(text.rfind("\n"), text.rfind("\r")) + 1


def _indent_unit(text: str) -> int | None:
    """The document's indentation step (the most common increase from one line to the next),
    or None while the document has no indented line to tell."""
    steps: Counter[int] = Counter()
    previous = None
    for line in text.splitlines()[-400:]:
        if not line.strip():
            continue
        width = _width(line[: len(line) - len(line.lstrip(" \t"))])
        if previous is not None and width > previous:
            steps[width - previous] += 1
        previous = width
    return min(steps.items(), key=lambda item: (-item[1], item[0]))[0] if steps else None


class _LineMemory:
    """The document's lines, each with the line before it: a line that starts like an earlier
    one, after the same line, is most likely a repeat of that pattern (fields, branches, calls)."""

    def __init__(self, prefix: str, suffix: str) -> None:
        self.by_previous: dict[str, list[str]] = {}  # previous non-blank line -> lines, stripped
        lines: list[str] = []
        before = prefix[: _line_start(prefix)].splitlines()[-3000:]
        after = suffix.splitlines()[1:1000]  # the first piece is the rest of the cursor's line
        for block in (before, after):
            previous = ""
            for line in block:
                line = line.strip()
                if line:
                    self.by_previous.setdefault(previous, []).append(line)
                    lines.append(line)
                    previous = line
        self.sorted_lines = sorted(lines)
        self.recent = [units(line) for line in before_lines(before, ANALOGY_LINES)]

    def push(self, line: str) -> None:
        """A generated line is finished: it is now the most recent line to draw analogies from."""
        if line.strip():
            self.recent = [units(line.strip()), *self.recent[: ANALOGY_LINES - 1]]

    def previous_line(self, prefix: str) -> str:
        """The last non-blank line of ``prefix`` before the cursor's line, stripped."""
        for line in reversed(prefix[: _line_start(prefix)].splitlines()[-50:]):
            if line.strip():
                return line.strip()
        return ""

    def suggest(
        self, previous: str, typed: str, start: str, copying: bool
    ) -> tuple[str, float] | None:
        """The next unit after ``typed`` (the current line so far, stripped, ending at a unit
        boundary) if earlier lines continue it, beginning with ``start``; and a confidence.

        ``copying`` says the line's last unit came from here too: whether the line repeats an
        earlier one was already judged then, so going on with it is charged little again.
        """
        trust = LINE_TRUST_SAME_PREVIOUS
        found = self._next_units(self.by_previous.get(previous, []), typed, start)
        if not found and len(typed) >= LINE_MIN_MATCH:
            trust = LINE_TRUST
            lo = bisect_left(self.sorted_lines, typed)
            hi = bisect_left(self.sorted_lines, typed + "\U0010ffff")
            found = self._next_units(self.sorted_lines[lo:hi], typed, start)
        if not found:
            return self._analogy(typed, start, copying)
        unit, count = min(found.items(), key=lambda item: (-item[1], item[0]))
        if copying:
            return unit, LINE_TRUST_COPYING * count / sum(found.values())
        return unit, trust * count / (sum(found.values()) + LOCAL_SMOOTHING)

    def _analogy(self, typed: str, start: str, copying: bool) -> tuple[str, float] | None:
        """The next unit by analogy with a recent line of the same shape, one identifier swapped."""
        written = units(typed)
        if len(written) < 2:
            return None
        for line in self.recent:
            if len(line) <= len(written):
                continue
            swaps: dict[str, str] = {}
            matched = 0
            for theirs, ours in zip(line, written, strict=False):
                if theirs == ours:
                    matched += 1
                elif is_identifier(theirs) and is_identifier(ours):
                    swaps[theirs.lstrip(" \t")] = ours.lstrip(" \t")
                else:
                    break
            else:
                if len(swaps) > 1 or not matched:
                    continue
                unit = line[len(written)]
                word = unit.lstrip(" \t")
                if word in swaps:
                    unit = unit[: len(unit) - len(word)] + swaps[word]
                if not unit.startswith(start) or len(unit) <= len(start):
                    continue
                if copying:
                    return unit, LINE_TRUST_COPYING
                return unit, LINE_TRUST_ANALOGY * matched / (matched + 1)
        return None

    def ends(self, previous: str, typed: str) -> bool:
        """Whether an earlier line after ``previous`` is exactly ``typed``: a finished copy."""
        return typed in self.by_previous.get(previous, ())

    @staticmethod
    def _next_units(lines: list[str], typed: str, start: str) -> Counter[str]:
        found: Counter[str] = Counter()
        for line in lines:
            if len(line) <= len(typed) or not line.startswith(typed):
                continue
            rest = line[len(typed) :]
            if typed and is_word(typed[-1]) and is_word(rest[0]):
                continue  # the line goes on with a longer word than the one written
            unit = units(rest)[0]
            if unit.startswith(start) and len(unit) > len(start):
                found[unit] += 1
        return found


class _LineState:
    """Bracket and string state of the text being completed, to keep brackets balanced."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, bool]] = []  # (opener, opened by generated text)
        self.quote: str | None = None
        self.quote_generated = False
        self.comment = False
        self.previous = ""

    def feed(self, unit: str, generated: bool) -> None:
        text = unit.lstrip(" \t")
        escaped = self.previous == "\\"
        self.previous = text
        if self.comment:
            return
        if self.quote is not None:
            if text == self.quote and not escaped:
                self.quote = None
            return
        if text in _QUOTES:
            self.quote, self.quote_generated = text, generated
        elif text == _COMMENT:
            self.comment = True
        elif text in _OPENERS:
            self.stack.append((text, generated))
        elif text in _CLOSERS and self.stack and self.stack[-1][0] == _CLOSERS[text]:
            self.stack.pop()

    def closer(self, unit: str) -> str:
        """For a closing bracket: 'bad' if nothing open matches it, else who opened it
        ('generated' or 'prefix'); 'text' for anything else, or inside a string or comment."""
        token = unit.lstrip(" \t")
        if self.quote is not None or self.comment or token not in _CLOSERS:
            return "text"
        if not self.stack or self.stack[-1][0] != _CLOSERS[token]:
            return "bad"
        return "generated" if self.stack[-1][1] else "prefix"

    @property
    def in_generated_string(self) -> bool:
        return self.quote is not None and self.quote_generated

    def new_line(self) -> None:
        # Strings and comments end with the line; open brackets carry on to the next one.
        self.quote = None
        self.comment = False
        self.previous = ""


def generate(
    model: NgramModel,
    prefix: str,
    suffix: str,
    max_tokens: int,
    *,
    local: NgramModel | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_joint: float = MIN_JOINT_CONFIDENCE,
    max_lines: int = MAX_LINES,
    local_weight: float = LOCAL_WEIGHT,
) -> Iterator[str]:
    """Greedily generate the completion at the cursor between ``prefix`` and ``suffix``.

    Yields tokens one by one (a token may be several characters; the first may finish a partly
    typed word). Single-line unless the cursor sits on a fresh line right after a line ending in
    ``:`` or ``{``; then up to ``max_lines`` lines, stopping at a dedent below the block. Stops
    rather than guessing: at low confidence (of a token, or of the line so far), at an unmatched
    closing bracket, before repeating the suffix, in a loop, or at ``max_tokens``.
    A string the completion opens is only shown once it is closed. May yield nothing.
    """
    if max_tokens <= 0:
        return
    if prefix and suffix and is_word(prefix[-1]) and is_word(suffix[0]):
        return  # the cursor is inside a word: any insertion would garble it
    line_before = prefix[_line_start(prefix) :]
    line_after = re.split(r"\r\n|\n|\r", suffix, maxsplit=1)[0]
    known_step = _indent_unit(prefix[-20_000:])
    step = known_step or 4
    block_indent = _width(line_before)
    if known_step and not line_before.strip(" \t") and block_indent % known_step:
        return  # the cursor is part way through indentation: the line has not started yet
    if local is None:
        local = build_local(prefix, suffix)

    context, partial = _split_cursor(prefix)
    mid_line = bool(line_after.strip())
    repeat_target = line_after.strip() if mid_line else _first_nonblank_line(suffix)
    multi_line = not mid_line and _BLOCK_OPENER.search(prefix) is not None
    indent_char = "\t" if line_before.startswith("\t") else " "

    state = _LineState()
    for unit in units(line_before[: len(line_before) - len(partial)]):
        state.feed(unit, generated=False)

    produced = 0  # tokens yielded
    line_text = line_before  # the line being completed, including what the prefix had of it
    line_units: list[str] = []  # units generated on this line
    line_indent = block_indent
    lines = 1
    held: list[str] = []  # generated but not shown yet: a new line or string still unproven
    memory = _LineMemory(prefix[-LOCAL_PREFIX_CHARS:], suffix[:LOCAL_SUFFIX_CHARS])
    previous_line = memory.previous_line(prefix)
    copying = False  # the last unit came from _LineMemory
    windows: Counter[tuple[str, ...]] = Counter()
    history: list[str] = []
    joint = 1.0

    def predict(start: str) -> tuple[str, float, bool] | None:
        """The n-gram models' guess, or the document's lines' when they are surer."""
        guess = model.predict_next(context, local, start=start, local_weight=local_weight)
        typed = line_text[: len(line_text) - len(start)].lstrip(" \t")
        copied = memory.suggest(previous_line, typed, start, copying)
        if copied is not None and (guess is None or copied[1] >= guess[1]):
            return copied[0], copied[1], True
        if guess is None:
            return None
        if is_newline(guess[0]) and copying and memory.ends(previous_line, typed):
            # The line just copied ends here too: the newline is as sure as the copy was.
            return guess[0], max(guess[1], LINE_TRUST_COPYING), False
        return guess[0], guess[1], copied is not None and copied[0] == guess[0]

    def repeats_suffix(piece: str) -> bool:
        """Would emitting ``piece`` start writing out again what follows the cursor?"""
        if not repeat_target:
            return False
        if mid_line and lines == 1:
            pieces = [*line_units, piece]
            for i in range(len(pieces)):
                tail = "".join(pieces[i:]).lstrip()
                if tail and repeat_target.startswith(tail):
                    return True
            return False
        whole = (line_text + piece).lstrip()
        return bool(whole) and repeat_target.startswith(whole)

    if partial:
        found = predict(partial)
        if found is None or found[1] < threshold:
            return
        word, joint, copying = found
        rest = word[len(partial) :]
        if state.closer(word) == "bad" or (rest and repeats_suffix(rest)):
            return
        state.feed(word, generated=True)
        if rest:
            if state.in_generated_string:
                held.append(rest)
            else:
                yield rest
                produced += 1
            line_text += rest
            line_units.append(rest)
        history.append(word)
        context.append(word)

    while produced + len(held) < max_tokens:
        found = predict("")
        if found is None:
            return
        token, confidence, copied = found
        # A block's new line is judged on its own, from its newline on.
        line_joint = confidence if is_newline(token) else joint * confidence
        if confidence < threshold or (history and line_joint < min_joint):
            return

        if is_newline(token):
            # A single-line completion never adds a line; a blank line or dedent ends a block.
            if not multi_line or lines >= max_lines or held or not line_text.strip():
                return
            indent = token.lstrip("\r\n")
            width = _width(indent)
            if width < block_indent:
                return
            opens_block = line_text.rstrip().endswith((":", "{"))
            width = min(width, line_indent + (step if opens_block else 0))
            indent = "\t" * (width // 4) if indent_char == "\t" else " " * width
            token = token[: len(token) - len(token.lstrip("\r\n"))] + indent
            state.new_line()
            lines += 1
            previous_line = line_text.strip()
            memory.push(line_text)
            line_text, line_units, line_indent = indent, [], width
            held.append(token)
            context.append(token)
            joint = line_joint
            copying = False
            continue

        verdict = state.closer(token)
        if verdict == "bad":
            return
        if verdict != "generated" and repeats_suffix(token):
            return
        window = (*history[-(ORDER - 1) :], token)
        if len(window) == ORDER:
            windows[window] += 1
            if windows[window] >= 3:
                return
        if produced + len(held) + 1 > max_tokens:
            return

        joint = line_joint
        copying = copied
        held.append(token)
        history.append(token)
        context.append(token)
        line_text += token
        line_units.append(token)
        state.feed(token, generated=True)
        if not state.in_generated_string:
            yield from held
            produced += len(held)
            held = []


def load_corpus(max_files: int, max_bytes: int) -> list[str]:
    """Python sources from this interpreter's standard library, in a fixed order.

    The stdlib is always present where the model runs, so the model needs no data files. Shallow
    files come first (sorted by depth, then path): top-level modules are the most varied code.
    Tests, vendored site-packages, generated tables and undecodable files are skipped.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    paths: list[tuple[int, str]] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in files:
            if name.endswith(".py") and not name.startswith(("test_", "_sysconfigdata")):
                path = os.path.join(directory, name)
                paths.append((path.count(os.sep), path))
    texts: list[str] = []
    used = 0
    for _, path in sorted(paths):
        if len(texts) >= max_files or used >= max_bytes:
            break
        try:
            size = os.path.getsize(path)
            if size > _MAX_FILE_BYTES or used + size > max_bytes:
                continue
            text = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        texts.append(text)
        used += size
    return texts
