"""Code-bearing records sealed with AES-GCM under a per-session key (pure; no I/O).

The broker writes every record to disk. Editor events and replies carry code, so their values are
sealed with a key that belongs to one session and lives only in memory and in Redis with a TTL
(:mod:`sealing.session_keys`): once the key is gone, the session's records on the broker's disk
are unreadable, whatever the topic's retention did or did not delete yet. The additional data
binds a sealed value to its topic's role and its session, so a record cannot be replayed as a
reply or under another session's key.

Layout of a sealed value: version byte ``0x01``, 12-byte random nonce, ciphertext with its
16-byte tag.
"""

from __future__ import annotations

import os
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.errors import AssistantError

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = b"\x01"
#: Which topic a value was sealed for (part of the additional data).
Role = Literal["editor", "reply"]


class SealError(AssistantError, ValueError):
    """A value could not be opened: not sealed, sealed under another key, or tampered with."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


class Cipher(Protocol):
    """Seals and opens one session's record values."""

    def seal(self, value: bytes, role: Role, session_id: str) -> bytes: ...

    def open(self, value: bytes, role: Role, session_id: str) -> bytes: ...


class SessionCipher:
    """AES-256-GCM under one session's key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SealError(f"a session key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, value: bytes, role: Role, session_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, value, _aad(role, session_id))

    def open(self, value: bytes, role: Role, session_id: str) -> bytes:
        if len(value) < 1 + NONCE_BYTES + 16 or value[:1] != VERSION:
            raise SealError("the value is not a sealed record")
        nonce = value[1:1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, value[1 + NONCE_BYTES:], _aad(role, session_id))
        except InvalidTag:
            raise SealError("the value does not open under this session's key") from None


class PlainCipher:
    """Encryption off (``CODE_ENCRYPTION=0``): values pass as they are."""

    __slots__ = ()

    def seal(self, value: bytes, role: Role, session_id: str) -> bytes:
        return value

    def open(self, value: bytes, role: Role, session_id: str) -> bytes:
        return value


PLAIN = PlainCipher()


def _aad(role: Role, session_id: str) -> bytes:
    return f"{role}\n{session_id}".encode()
