"""Secrets out of prompts and out of the code topic: find them, mask them in place.

Masking keeps the length in code points (each secret character becomes ``*``; line breaks stay),
so the offsets the editor sends still point at the same places in the masked text: the edge can
mask each edit it forwards and the workers' copy of a document stays in step with the editor's.

What counts as a secret: the token formats of common providers, private key blocks, passwords in
connection strings and in ``password = "…"`` style assignments, and long strings whose character
entropy is that of random data rather than of words or identifiers. Also here: detection of
invisible and bidirectional control characters (the "Trojan Source" trick), which are flagged,
not masked (they can be legitimate in string literals).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

MASK = "*"



@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    #: The pattern only runs when one of these is in the text (lower-cased when ``folded``):
    #: substring tests run at memory speed, regular expressions at tens of MB/s.
    triggers: tuple[str, ...]
    folded: bool = False
    #: The group to mask (0: the whole match).
    group: int = 0


_RULES = (
    _Rule("private_key", re.compile(r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,8192}?"
                                    r"(?:-----END[A-Z ]{0,40}PRIVATE KEY-----|\Z)"),
          ("PRIVATE KEY",)),
    _Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
          ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")),
    _Rule("aws_secret_access_key",
          re.compile(r"(?i:aws.{0,20}?(?:secret|key).{0,20}?[=:]\s*[\"']?)"
                     r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), ("aws",), folded=True, group=1),
    _Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|"
                                     r"github_pat_[A-Za-z0-9_]{22,255})"),
          ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _Rule("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), ("glpat-",)),
    _Rule("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), ("xox",)),
    _Rule("stripe_key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
          ("k_live_", "k_test_")),
    _Rule("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), ("AIza",)),
    _Rule("openai_or_anthropic_key", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"),
          ("sk-",)),
    _Rule("our_api_key", re.compile(r"\bck_k[0-9a-f]{12}_[A-Za-z0-9_\-]{20,}"), ("ck_k",)),
    _Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
          ("eyJ",)),
    _Rule("url_password",
          re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"']{1,128}:([^\s@/\"']{1,256})@"),
          ("://",), group=1),
    _Rule("password_assignment",
          re.compile(r"(?i:\b(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token)"
                     r"[\"']?\s*[:=]\s*[\"'])([^\"'\s]{4,256})[\"']"),
          ("pass", "pwd", "secret", "key", "token"), folded=True, group=1),
)
#: Candidates for the entropy test: long runs of base64/hex-like characters.
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
#: Word-like runs (``Redis``, ``pkgconf``): identifiers and prose are mostly made of them.
_WORD = re.compile(r"[A-Z]?[a-z]{3,}")
_SEPARATOR = re.compile(r"[_\-./+]")
_CONSTANT_PART = re.compile(r"[A-Z][A-Z0-9]{2,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")

#: Zero-width and bidirectional formatting characters (Unicode Cf that reorder or hide text).
_CONTROL = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


def find_secrets(text: str) -> list[Finding]:
    """Spans of ``text`` that hold secrets (may overlap; masking handles that)."""
    found = []
    folded = text.lower()
    for rule in _RULES:
        haystack = folded if rule.folded else text
        if not any(trigger in haystack for trigger in rule.triggers):
            continue
        for match in rule.pattern.finditer(text):
            start, end = match.span(rule.group)
            if end > start:
                found.append(Finding(rule.kind, start, end))
    for match in _CANDIDATE.finditer(text):
        if looks_random(match.group()):
            found.append(Finding("high_entropy", *match.span()))
    return found


def looks_random(token: str) -> bool:
    """High entropy for its length, and the mix of character classes random data has.

    Identifiers (``MAX_REMEMBERED_SUGGESTIONS``, ``AbstractSingletonProxyFactory``) and words
    repeat letters; a 24+ character random token in base 62/64 rarely does.
    """
    if _HEX.fullmatch(token):
        return entropy(token) >= 3.3
    classes = (any(c.isdigit() for c in token) + any(c.isupper() for c in token)
               + any(c.islower() for c in token))
    if classes < 2:
        return False
    words = sum(len(word) for word in _WORD.findall(token))
    words += sum(len(part) for part in _SEPARATOR.split(token) if _CONSTANT_PART.fullmatch(part))
    if words * 2 > len(token):
        return False  # mostly words: an identifier, a path or a licence name
    return entropy(token) >= min(4.2, 0.85 * math.log2(len(token)))


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def redact(text: str) -> str:
    """``text`` with every secret character replaced by ``*`` (same length, line breaks kept)."""
    return _mask(text, find_secrets(text))


#: What is scanned again above the cursor's line with it: a secret that spans lines (a key
#: block, ``password =`` and its value a line below) is whole in it.
OVERLAP_CHARS = 512


class HeadMemo:
    """The secrets found in a document's text above the cursor's line, kept from one request to
    the next: typing changes the cursor's line, rarely what is above it (scanning 16,000
    characters costs about 2 ms)."""

    __slots__ = ("findings", "head")

    def __init__(self) -> None:
        self.head = ""
        self.findings: list[Finding] = []


def redact_prefix(text: str, memo: HeadMemo | None) -> str:
    """:func:`redact` for text that ends at a cursor, scanning only the cursor's line and the
    :data:`OVERLAP_CHARS` above it again when the text above is the memo's. Masks at least what
    :func:`redact` masks (the two scans' findings together)."""
    if memo is None:
        return redact(text)
    cut = text.rfind("\n") + 1
    head = text[:cut]
    if head != memo.head:
        memo.head, memo.findings = head, find_secrets(head)
    if any(f.kind == "private_key" and f.end == cut for f in memo.findings):
        return redact(text)  # a key block still open above the cursor runs on into its line
    # From the start of the line OVERLAP_CHARS above the cursor's (a long line is taken whole).
    start = text.rfind("\n", 0, max(0, cut - OVERLAP_CHARS)) + 1
    tail = [Finding(f.kind, f.start + start, f.end + start) for f in find_secrets(text[start:])]
    return _mask(text, memo.findings + tail)


def _mask(text: str, findings: list[Finding]) -> str:
    if not findings:
        return text
    chars = list(text)
    for finding in findings:
        for i in range(finding.start, finding.end):
            if chars[i] not in "\r\n":
                chars[i] = MASK
    return "".join(chars)


def control_characters(text: str) -> Iterator[int]:
    """Offsets (code points) of invisible or bidirectional control characters."""
    return (match.start() for match in _CONTROL.finditer(text))
