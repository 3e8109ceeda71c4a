"""What the task evaluation measures with, pure: summary overlap (BLEU-4, ROUGE-L) and bugs
injected into correct code, one kind at a time, at a known line."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass

BUG_KINDS = ("variable_misuse", "swapped_arguments", "wrong_operator", "off_by_one",
             "missing_return", "syntax_error")
_WORDS = re.compile(r"[a-z0-9]+")
_OPERATORS = {" < ": " <= ", " <= ": " < ", " > ": " >= ", " >= ": " > ", " == ": " != ",
              " != ": " == ", " + ": " - ", " - ": " + "}


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def bleu4(candidate: str, reference: str) -> float:
    """Sentence BLEU-4 with add-one smoothing of the n-gram precisions (Lin and Och 2004) and
    the brevity penalty; 0 for an empty candidate."""
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return 0.0
    logs = 0.0
    for n in range(1, 5):
        grams = Counter(tuple(cand[i:i + n]) for i in range(len(cand) - n + 1))
        ref_grams = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        matched = sum(min(count, ref_grams[gram]) for gram, count in grams.items())
        total = max(0, len(cand) - n + 1)
        if n == 1:
            if matched == 0:
                return 0.0
            logs += math.log(matched / total)
        else:
            logs += math.log((matched + 1) / (total + 1))
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return brevity * math.exp(logs / 4)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: the longest common subsequence of words against both lengths."""
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return 0.0
    previous = [0] * (len(ref) + 1)
    for word in cand:
        current = [0]
        for j, other in enumerate(ref, 1):
            current.append(previous[j - 1] + 1 if word == other else max(previous[j], current[-1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True, slots=True)
class Injected:
    kind: str
    text: str
    #: 0-based line of the change.
    line: int


def _code_lines(lines: list[str], first: int, last: int, language: str = "python") -> list[int]:
    """Body lines without strings or comments (so a change lands in code)."""
    marks = ("'", '"', "#") if language in ("python", "shellscript") else \
        ("'", '"', "#", "//", "/*", "`")
    return [i for i in range(first, min(last, len(lines) - 1) + 1)
            if lines[i].strip() and not any(q in lines[i] for q in marks)]


#: How a language declares a variable with its value (the name is group 1), for the
#: variable-misuse bug.
_ASSIGNED = {
    "python": r"^\s*(\w+) = ",
    "go": r"^\s*(\w+) :?= ",
    "rust": r"^\s*let (?:mut )?(\w+)(?:: [^=]+)? = ",
    "shellscript": r"^\s*(?:local )?(\w+)=",
}
_C_LIKE_ASSIGNED = (r"^\s*(?:(?:const|let|var|final|auto|int|long|short|char|double|float|"
                    r"size_t|bool|boolean|String|unsigned|signed|static|[A-Z]\w*(?:<[^=]*>)?)\s+"
                    r"\**)*(\w+) = ")


def inject(kind: str, text: str, first: int, last: int, rng: random.Random,
           language: str = "python") -> Injected | None:
    """One bug of ``kind`` in lines ``first..last`` (a function's body) of ``text`` in
    ``language``, or ``None`` when the body has no place for it."""
    lines = text.split("\n")
    candidates = _code_lines(lines, first, last, language)
    rng.shuffle(candidates)
    for index in candidates:
        line = lines[index]
        changed = _change(kind, line, lines, first, index, rng, language)
        if changed is not None and changed != line:
            return Injected(kind, "\n".join([*lines[:index], changed, *lines[index + 1:]]), index)
    return None


def _off_by_one(line: str, language: str) -> str | None:
    """A loop bound one further: ``range(n + 1)``, ``i <= n`` in a C-like ``for``, ``0..=n``."""
    if language == "python":
        match = re.search(r"\brange\(([^()]+)\)", line)
        if match:
            return line[:match.start(1)] + match.group(1) + " + 1" + line[match.end(1):]
        return None
    if language == "rust":
        match = re.search(r"\bfor .* in [\w.]+\.\.(?!=)", line)
        return line[:match.end()] + "=" + line[match.end():] if match else None
    if re.match(r"^\s*for\b", line):
        match = re.search(r" < ", line)
        return line[:match.start()] + " <= " + line[match.end():] if match else None
    return None


def _change(kind: str, line: str, lines: list[str], first: int, index: int,
            rng: random.Random, language: str = "python") -> str | None:
    if kind == "wrong_operator":
        found = [op for op in _OPERATORS if op in line]
        if found:
            op = rng.choice(found)
            return line.replace(op, _OPERATORS[op], 1)
    elif kind == "off_by_one":
        return _off_by_one(line, language)
    elif kind == "swapped_arguments":
        match = re.search(r"\b(\w+)\((\w+), (\w+)\)", line)
        if match and match.group(2) != match.group(3) and match.group(1) not in ("range",):
            return line[:match.start(2)] + f"{match.group(3)}, {match.group(2)}" + \
                line[match.end(3):]
    elif kind == "missing_return":
        match = re.match(r"^(\s*)return (.+)$", line)
        if match and language != "shellscript":
            return f"{match.group(1)}{match.group(2)}"
    elif kind == "syntax_error":
        if line.rstrip().endswith(")"):
            return line.rstrip()[:-1]
    elif kind == "variable_misuse":
        pattern = _ASSIGNED.get(language, _C_LIKE_ASSIGNED)
        assigned = {m.group(1) for text in lines[first:index]
                    for m in [re.match(pattern, text)] if m}
        used = [m for m in re.finditer(r"\b(\w+)\b", line) if m.group(1) in assigned]
        if used and len(assigned) > 1:
            target = rng.choice(used)
            other = rng.choice(sorted(assigned - {target.group(1)}))
            return line[:target.start(1)] + other + line[target.end(1):]
    return None
