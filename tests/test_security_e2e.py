"""Who may connect and what they may see, over the real edge, workers and analytics engine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from analytics.query import QueryError, run_query
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import python_service
from schemas.codec import encode, parse_json
from schemas.socket import (
    CompletionEnd,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    Welcome,
    decode_server_message,
)
from tenants.directory import Tenant
from tests.conftest import AUTH_RELOAD_MS, KEYRING, add_key
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

SOURCE = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return "


async def refusal(url: str, api_key: str | None = None, **options: object) -> tuple[int, str]:
    """The close code and reason a socket gets after hello (or before, if refused at once)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with connect(url, additional_headers=headers, compression=None,
                       **options) as ws:  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(Hello(protocol=1, client="t")).decode())
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


class TestAdmission:
    """Keys at the handshake: missing, unknown, expired and revoked keys are refused clearly."""

    async def test_missing_and_unknown_keys_get_401_before_any_upgrade(self, stack: Settings
                                                                        ) -> None:
        for headers, why in (({}, b"missing API key"),
                             ({"Authorization": "Bearer ck_k000000000000_not-a-real-key"},
                              b"unknown API key"),
                             ({"Authorization": "Basic dXNlcjpwYXNz"}, b"missing API key")):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(stack.edge_url(0), additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
            assert why in refused.value.response.body

    async def test_key_in_query_string_is_not_accepted(self, stack: Settings) -> None:
        key = KEYRING.take("pro").api_key
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{stack.edge_url(0)}/?api_key={key}"):
                pass
        assert refused.value.response.status_code == 401

    async def test_expired_key(self, stack: Settings) -> None:
        key, _ = add_key(stack, Tenant("sec-expiry", "pro"), "late", expires_ms=1)
        assert await refusal(stack.edge_url(0), key) == (4403, "API key expired")

    async def test_revocation_closes_live_sessions_within_seconds(self, stack: Settings) -> None:
        key, key_id = add_key(stack, Tenant("sec-revoke", "pro"), "leaver")
        async with connect_edge(stack.edge_url(0), key) as ws:
            client = EdgeClient(ws)
            welcome = await client.start()
            assert (welcome.tenant_id, welcome.user_id) == ("sec-revoke", "leaver")
            revoked_at = time.monotonic()
            result = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "infra", "keys", "revoke", key_id],
                env={**os.environ, **stack.to_env()}, capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stderr
            await asyncio.wait_for(ws.wait_closed(), 10)
            took = time.monotonic() - revoked_at
            assert (ws.close_code, ws.close_reason) == (4403, "API key revoked")
            await client.close()
        assert took < 2 + 2 * AUTH_RELOAD_MS / 1000, f"revocation took {took:.1f} s"
        assert await refusal(stack.edge_url(0), key) == (4403, "API key revoked")

    async def test_origin_allowlist(self, stack: Settings) -> None:
        tenant = Tenant("sec-browser", "pro", origins=("https://ide.example",))
        key, _ = add_key(stack, tenant, "web")
        code, reason = await refusal(stack.edge_url(0), key, origin="https://evil.example")
        assert code == 4403 and "origin" in reason
        async with connect_edge(stack.edge_url(0), key, origin="https://ide.example") as ws:
            assert isinstance(await EdgeClient(ws).start(), Welcome)

    async def test_sessions_per_user_are_capped(self, stack: Settings) -> None:
        key, _ = add_key(stack, Tenant("sec-cap", "pro", max_sessions_per_user=2), "busy")
        async with connect_edge(stack.edge_url(0), key) as one, \
                connect_edge(stack.edge_url(0), key) as two:
            await EdgeClient(one).start()
            await EdgeClient(two).start()
            code, _ = await refusal(stack.edge_url(0), key)
            assert code == 4429
        # A slot is free again once the edge has seen the close (its handler ends just after
        # the close handshake the client waits for, so the first try may still be counted).
        deadline = time.monotonic() + 5
        while True:
            try:
                async with connect_edge(stack.edge_url(0), key) as again:
                    assert isinstance(await EdgeClient(again).start(), Welcome)
                break
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4429, closed
                assert time.monotonic() < deadline, "the closed sessions' slots never came back"
                await asyncio.sleep(0.05)

    async def test_no_hello_in_time_closes(self, stack: Settings) -> None:
        async with connect_edge(stack.edge_url(0), KEYRING.take("pro").api_key) as ws:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
            assert time.monotonic() - started < stack.hello_timeout_s + 2

    async def test_compression_is_never_negotiated(self, stack: Settings) -> None:
        """No per-message deflate: no decompression bomb, no per-socket compressor memory."""
        key = KEYRING.take("pro").api_key
        async with connect(stack.edge_url(0), additional_headers={"Authorization": f"Bearer {key}"},
                           compression="deflate") as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers


class TestIsolation:
    """Sessions only see their own; analysts only their tenant."""

    async def test_feedback_for_another_users_request_is_refused(self, stack: Settings) -> None:
        async with connect_edge(stack.edge_url(0), KEYRING.take("pro").api_key) as a_ws, \
                connect_edge(stack.edge_url(0), KEYRING.take("free").api_key) as b_ws:
            alice, mallory = EdgeClient(a_ws), EdgeClient(b_ws)
            await alice.start()
            await mallory.start()
            await alice.send(DocOpen("file:///a.py", "python", 1, SOURCE))
            completion = await alice.complete("file:///a.py", 1, len(SOURCE))
            await asyncio.wait_for(completion.done.wait(), 20)
            await mallory.send(Feedback(uuid.uuid4().hex, completion.request_id, "accepted"))
            frame = await asyncio.wait_for(mallory.frames.get(), 10)
            assert isinstance(frame, ErrorFrame) and frame.code == "unknown_request"
            await alice.close()
            await mallory.close()

    async def test_analyst_sees_only_their_tenant(self, stack: Settings) -> None:
        tenant = Tenant("sec-analytics", "pro")
        developer, _ = add_key(stack, tenant, "dev")
        analyst, _ = add_key(stack, tenant, "analyst", role="analyst")
        other = KEYRING.take("pro")
        for key in (developer, other.api_key):  # feedback rows of two tenants
            async with connect_edge(stack.edge_url(0), key) as ws:
                client = EdgeClient(ws)
                await client.start()
                await client.send(DocOpen("file:///b.py", "python", 1, SOURCE))
                completion = await client.complete("file:///b.py", 1, len(SOURCE))
                await asyncio.wait_for(completion.done.wait(), 20)
                await client.send(Feedback(uuid.uuid4().hex, completion.request_id, "rejected"))
                await client.close()
        sql = "SELECT DISTINCT tenant_id FROM feedback_events"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            operator = await asyncio.to_thread(run_query, stack, sql)
            if {"sec-analytics", other.tenant_id} <= {row[0] for row in operator["rows"]}:
                break
            await asyncio.sleep(0.3)
        assert {"sec-analytics", other.tenant_id} <= {row[0] for row in operator["rows"]}
        scoped = await asyncio.to_thread(run_query, stack, sql, analyst)
        assert scoped["rows"] == [["sec-analytics"]]
        for escape in ("SELECT count() FROM merge(currentDatabase(), '^feedback_events$')",
                       "SELECT count() FROM system.parts",
                       "SELECT * FROM feedback_events SETTINGS additional_table_filters = {}",
                       "SELECT * FROM (SELECT * FROM url('http://127.0.0.1:1/', CSV))"):
            with pytest.raises(QueryError):
                await asyncio.to_thread(run_query, stack, escape, analyst)
        with pytest.raises(QueryError, match="role"):
            await asyncio.to_thread(run_query, stack, sql, developer)

    async def test_excluded_paths_never_reach_a_prompt(self, stack: Settings) -> None:
        key, _ = add_key(stack, Tenant("sec-exclude", "pro", exclude_paths=("*/vault/*",)), "d")
        async with connect_edge(stack.edge_url(0), key) as ws:
            client = EdgeClient(ws)
            await client.start()
            await client.send(DocOpen("file:///repo/vault/keys.py", "python", 1, SOURCE))
            completion = await client.complete("file:///repo/vault/keys.py", 1, len(SOURCE))
            await asyncio.wait_for(completion.done.wait(), 10)
            assert completion.end == CompletionEnd(completion.request_id, "excluded", 0,
                                                   detail="content_exclusion")
            await client.close()


class TestTransport:
    async def test_metrics_apart_from_the_client_port(
        self, running_stack: tuple[Supervisor, Settings], unused_tcp_port: int
    ) -> None:
        """In a cluster the edge's client port faces everyone and a network policy cannot
        split it by path: with ``EDGE_METRICS_PORT`` the metrics leave it for a port of their
        own, and the probes' ``/healthz`` stays."""
        supervisor, stack = running_stack
        apart = stack.replace(edge_metrics_port=unused_tcp_port - 2)
        spec = python_service(apart, "edge-metrics", "ws_edge", "--index", "2")
        spec.ports = [apart.edge_port + 2, unused_tcp_port]
        await asyncio.to_thread(supervisor.start, spec, 60)
        try:
            client_port = f"http://127.0.0.1:{apart.edge_port + 2}"
            assert await asyncio.to_thread(http_status, f"{client_port}/healthz") == (200, "ok\n")
            status, body = await asyncio.to_thread(http_status, f"{client_port}/metrics")
            assert status == 404 and "edge_" not in body
            status, body = await asyncio.to_thread(
                http_status, f"http://127.0.0.1:{unused_tcp_port}/metrics")
            assert status == 200 and "edge_sessions" in body, body[:300]
        finally:
            proc = supervisor.procs.pop("edge-metrics")
            proc.terminate()
            proc.wait(timeout=10)
            (stack.run_dir / "edge-metrics.pid").unlink(missing_ok=True)

    async def test_wss_with_configured_certificate(
        self, running_stack: tuple[Supervisor, Settings], tmp_path: Path
    ) -> None:
        supervisor, stack = running_stack
        cert, key = tmp_path / "edge.pem", tmp_path / "edge.key"
        await asyncio.to_thread(
            subprocess.run, ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                             "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                             "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        tls = stack.replace(edge_tls_cert=str(cert), edge_tls_key=str(key))
        spec = python_service(tls, "edge-tls", "ws_edge", "--index", "3")
        spec.ports = [tls.edge_port + 3]
        await asyncio.to_thread(supervisor.start, spec, 60)
        try:
            url = tls.edge_url(3)
            assert url.startswith("wss://")
            trust = ssl.create_default_context(cafile=str(cert))
            async with connect_edge(url, KEYRING.take("pro").api_key, ssl=trust) as ws:
                await ws.send(encode(Hello(protocol=1, client="t")).decode())
                welcome = decode_server_message(parse_json(await ws.recv()))
                assert isinstance(welcome, Welcome)
            with pytest.raises((InvalidHandshake, ConnectionClosed, OSError)):
                async with connect_edge(url.replace("wss://", "ws://"),
                                        KEYRING.take("pro").api_key, open_timeout=5) as plain:
                    await plain.recv()
        finally:
            proc = supervisor.procs.pop("edge-tls")
            proc.terminate()
            proc.wait(timeout=10)
            (stack.run_dir / "edge-tls.pid").unlink(missing_ok=True)


def http_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
