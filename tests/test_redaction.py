"""Secrets never leave the redactor whole; masking keeps offsets; code stays readable."""

from __future__ import annotations

import random
import secrets
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from documents.redaction import HeadMemo, control_characters, find_secrets, redact, redact_prefix

_RNG = random.Random(20261123)


def _token(n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
           ) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


#: One of each kind, built from a seed so this file holds no literal secret-looking strings.
SEEDED = {
    "aws_access_key_id": "AKIA" + "QWERTYUIOPASDFGH",
    "github_token": "ghp_" + _token(36),
    "gitlab_token": "glpat-" + _token(20),
    "slack_token": "xoxb-" + _token(24),
    "stripe_key": "sk_live_" + _token(24),
    "google_api_key": "AIza" + _token(35),
    "openai_or_anthropic_key": "sk-ant-" + _token(32),
    "our_api_key": "ck_k" + _token(12, "0123456789abcdef") + "_" + _token(43),
    "jwt": "eyJ" + _token(16) + ".eyJ" + _token(16) + "." + _token(16),
    "high_entropy": _token(40),
}


def test_each_kind_is_found_and_masked_in_code() -> None:
    for kind, secret in SEEDED.items():
        text = f'def f():\n    client = Client("{secret}")\n    return client\n'
        masked = redact(text)
        assert secret not in masked, kind
        assert len(masked) == len(text)
        assert masked.replace("*", "") == text.replace(secret, "").replace("*", ""), kind
        assert kind in {f.kind for f in find_secrets(text)} or kind == "high_entropy"


def test_passwords_in_urls_and_assignments_keep_the_rest() -> None:
    text = 'DSN = "postgres://app:Tr0ub4dor@db:5432/main"\npassword = "hunter22"\n'
    assert redact(text) == 'DSN = "postgres://app:*********@db:5432/main"\npassword = "********"\n'


def test_private_key_blocks_keep_their_line_breaks() -> None:
    body = "\n".join(secrets.token_urlsafe(48) for _ in range(3))
    text = f"KEY = '''-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----'''"
    masked = redact(text)
    assert body.splitlines()[0] not in masked
    assert masked.count("\n") == text.count("\n")


def test_identifiers_urls_and_prose_are_left_alone() -> None:
    ordinary = Path(__file__).with_name("test_worker_core.py").read_text()
    ordinary += "\nhttps://docs.python.org/3/library/asyncio-task.html\nMAX_REMEMBERED_SUGGESTIONS\n"
    ordinary += "class AbstractSingletonProxyFactoryBean2: pass\nBSD-2-Clause-pkgconf-disclaimer\n"
    assert redact(ordinary) == ordinary


@given(st.text(max_size=300), st.sampled_from(sorted(SEEDED.values())), st.text(max_size=300))
def test_masking_keeps_offsets_and_hides_the_secret(before: str, secret: str, after: str) -> None:
    text = f"{before} {secret}\n{after}"
    masked = redact(text)
    assert len(masked) == len(text)
    assert [i for i, c in enumerate(masked) if c == "\n"] == [
        i for i, c in enumerate(text) if c == "\n"]
    assert secret not in masked
    assert redact(masked) == masked


def test_random_tokens_are_caught_by_entropy_alone() -> None:
    """The backstop for formats no rule knows: 32 random bytes, as most services issue them.
    Measured miss rate about 0.8 %; the bound leaves room for the sample's noise."""
    tokens = [secrets.token_urlsafe(32) for _ in range(2000)]
    missed = sum(redact(token) == token for token in tokens)
    assert missed <= 40, f"{missed} of 2000 random tokens were not masked"


def test_bidi_and_invisible_characters_are_reported_by_offset() -> None:
    text = "access = 'user\u202e \u2066// admin\u2069 \u2066'\u200b"
    assert list(control_characters(text)) == [14, 16, 25, 27, 29]
    assert list(control_characters("plain text")) == []


_PIECES = [*SEEDED.values(), "password", " = ", ":", '"', "'", "\n", "\n\n", "    ", "x = 1",
           "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "aws secret key=",
           "postgres://user:", "@db/x", "def f(a, b):", "return a + b", "api_key", "token"]


@given(st.lists(st.sampled_from(_PIECES), max_size=60), st.lists(st.sampled_from(_PIECES),
                                                                 min_size=1, max_size=8))
def test_the_prefix_redactor_masks_what_the_full_scan_masks(pieces: list[str],
                                                            typed: list[str]) -> None:
    """A prompt's prefix is masked from a memo of the lines above the cursor's (kept between
    keystrokes) and a scan of the cursor's line with the lines just above: at every keystroke
    it masks at least every character the full scan masks, and keeps the length."""
    memo = HeadMemo()
    text = "".join(pieces)
    for piece in typed:
        text += piece
        full, fast = redact(text), redact_prefix(text, memo)
        assert len(fast) == len(text)
        assert all(f == "*" for f, c in zip(fast, full, strict=True) if c == "*")


def test_a_secret_split_over_the_cursors_line_is_masked() -> None:
    memo = HeadMemo()
    head = "def connect():\n    password =\n"
    assert redact_prefix(head, memo) == head
    typed = head + '        "' + SEEDED["github_token"] + '"'
    assert SEEDED["github_token"] not in redact_prefix(typed, memo)
    assert memo.head == head, "the lines above the cursor's were scanned once"


def test_a_key_block_open_far_above_the_cursor_stays_masked_on_its_line() -> None:
    body = "\n".join(secrets.token_urlsafe(48) for _ in range(30))
    text = f"key = (\n-----BEGIN RSA PRIVATE KEY-----\n{body}\nMIIEow"
    fast, full = redact_prefix(text, HeadMemo()), redact(text)
    assert all(f == "*" for f, c in zip(fast, full, strict=True) if c == "*")
    assert fast.endswith("******")


def test_a_long_line_above_the_cursor_is_scanned_whole() -> None:
    head = "config = {" + "'a': 1, " * 100 + "'password':\n"
    text = head + '    "' + SEEDED["gitlab_token"] + '"'
    assert SEEDED["gitlab_token"] not in redact_prefix(text, HeadMemo())
