"""Sealed code-bearing records: what opens, what does not, and the key store in real Redis."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealing.cipher import KEY_BYTES, PLAIN, SealError, SessionCipher, new_key
from sealing.session_keys import PREFIX, RETIRE_GRACE_MS, SessionKeyError, SessionKeys
from streams.redis_client import make_redis


class TestCipher:
    @given(st.binary(max_size=4096), st.sampled_from(["editor", "reply"]), st.text(max_size=64))
    def test_round_trip(self, value: bytes, role: str, session_id: str) -> None:
        cipher = SessionCipher(new_key())
        sealed = cipher.seal(value, role, session_id)  # type: ignore[arg-type]
        assert cipher.open(sealed, role, session_id) == value  # type: ignore[arg-type]
        assert len(value) < 8 or value not in sealed  # (a byte or two may occur by chance)

    def test_two_seals_of_one_value_differ(self) -> None:
        cipher = SessionCipher(new_key())
        assert cipher.seal(b"def f(): pass", "editor", "s") != cipher.seal(b"def f(): pass",
                                                                           "editor", "s")

    def test_another_key_role_or_session_does_not_open(self) -> None:
        key = new_key()
        sealed = SessionCipher(key).seal(b"secret code", "editor", "s1")
        with pytest.raises(SealError, match="does not open"):
            SessionCipher(new_key()).open(sealed, "editor", "s1")
        with pytest.raises(SealError, match="does not open"):
            SessionCipher(key).open(sealed, "reply", "s1")
        with pytest.raises(SealError, match="does not open"):
            SessionCipher(key).open(sealed, "editor", "s2")

    def test_tampered_and_plain_values_are_refused(self) -> None:
        cipher = SessionCipher(new_key())
        sealed = bytearray(cipher.seal(b"x = 1", "editor", "s"))
        sealed[-1] ^= 1
        with pytest.raises(SealError, match="does not open"):
            cipher.open(bytes(sealed), "editor", "s")
        with pytest.raises(SealError, match="not a sealed record"):
            cipher.open(b'{"v":1,"event_id":"e"}', "editor", "s")

    def test_key_length_is_checked(self) -> None:
        with pytest.raises(SealError, match=f"{KEY_BYTES} bytes"):
            SessionCipher(b"short")

    def test_plain_passes_values_through(self) -> None:
        assert PLAIN.open(PLAIN.seal(b"x", "reply", "s"), "reply", "s") == b"x"


class TestSessionKeys:
    """The edge makes and retires keys; a worker fetches them; Redis expires them."""

    async def test_made_fetched_refreshed_and_retired(self, redis_url: str) -> None:
        client = make_redis(redis_url)
        session = f"test-{uuid.uuid4().hex}"
        try:
            edge = SessionKeys(client, ttl_ms=60_000)
            cipher = await edge.create(session)
            sealed = cipher.seal(b"print(1)", "editor", session)

            worker = SessionKeys(client, ttl_ms=60_000)
            assert worker.known(session) is None
            await worker.fetch({session, "no-such-session"})
            opened = worker.known(session)
            assert opened is not None and opened.open(sealed, "editor", session) == b"print(1)"
            assert worker.known("no-such-session") is None

            # A Redis that lost the key (a restart) gets it back on the edge's next refresh.
            await client.delete(PREFIX + session)
            await edge.refresh()
            assert 59_000 < await client.pttl(PREFIX + session) <= 60_000

            await edge.retire(session)
            assert 0 < await client.pttl(PREFIX + session) <= RETIRE_GRACE_MS
            await client.delete(PREFIX + session)
            late = SessionKeys(client, ttl_ms=60_000)
            await late.fetch({session})
            assert late.known(session) is None  # gone: its records are unreadable now

            with pytest.raises(SessionKeyError, match="exists already"):
                await edge.create(session) and await edge.create(session)
        finally:
            await client.delete(PREFIX + session)
            await client.aclose()

    async def test_redis_unavailable_is_a_clear_error(self) -> None:
        from infra.processes import free_port

        client = make_redis(f"redis://127.0.0.1:{free_port()}/0")
        try:
            with pytest.raises(SessionKeyError, match="redis"):
                await SessionKeys(client, ttl_ms=1000).create("s")
        finally:
            await client.aclose()

    async def test_encryption_off_hands_out_plain(self) -> None:
        keys = SessionKeys(None, ttl_ms=1000)
        assert await keys.create("s") is PLAIN and keys.known("t") is PLAIN
