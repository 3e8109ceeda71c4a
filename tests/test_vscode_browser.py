"""Our VS Code extension in real VS Code: code-server (``make install``) with the packaged
``.vsix`` installed, opened in headless chromium by Playwright, against the test stack. Type in
a Python file and the ghost text appears (screenshot), Tab accepts it, "Code Assistant: Write
documentation" applies its edit, and the feedback reaches ClickHouse, named ``vscode``."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics.query import run_query
from config.settings import REPO_ROOT, Settings
from infra.install import code_server_path
from infra.processes import free_port
from tenants.directory import Tenant
from tests.browser import chromium, needs_chromium, shot
from tests.conftest import add_key

pytestmark = [pytest.mark.stack, needs_chromium]
VSIX = REPO_ROOT / "editors" / "vscode" / "code-assistant.vsix"
SERVER = REPO_ROOT / "editors" / "bin" / "code-assistant-ls"
SOURCE = ("import os\n\n\ndef read_lines(path):\n    with open(path) as handle:\n"
          "        return handle.read().splitlines()\n\n\n")
#: The issue's target: ghost text on screen within this long after the keystroke.
GHOST_MS = 500


class CodeServer:
    """One code-server with a private profile, our extension and a workspace."""

    def __init__(self, binary: Path, home: Path, stack: Settings, key: str) -> None:
        self.home, self.port = home, free_port(1, set())
        self.workspace = home / "workspace"
        self.workspace.mkdir(parents=True)
        (self.workspace / "main.py").write_text(SOURCE)
        key_file = home / "api-key"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        settings = home / "user" / "User" / "settings.json"
        settings.parent.mkdir(parents=True)
        settings.write_bytes(orjson.dumps({
            "codeAssistant.serverCommand": str(SERVER),
            "codeAssistant.url": stack.edge_url(0),
            "codeAssistant.apiKeyFile": str(key_file),
            "editor.inlineSuggest.enabled": True,
            # Only our suggestions: no word-based completion list over the ghost text.
            "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
            "editor.suggestOnTriggerCharacters": False,
            # Typed text stays as typed (no closing bracket added ahead of the cursor).
            "editor.autoClosingBrackets": "never",
            "editor.autoClosingQuotes": "never",
            "workbench.startupEditor": "none",
            "security.workspace.trust.enabled": False,
            "telemetry.telemetryLevel": "off",
            "extensions.autoUpdate": False,
            "extensions.autoCheckUpdates": False,
            "workbench.tips.enabled": False,
        }))
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(home / "xdg-config"),
                    "XDG_DATA_HOME": str(home / "xdg-data")}
        self.common = [str(binary), "--user-data-dir", str(home / "user"),
                       "--extensions-dir", str(home / "extensions")]
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    def install_extension(self) -> None:
        done = subprocess.run([*self.common, "--install-extension", str(VSIX)], env=self.env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0 and "successfully installed" in done.stdout, (
            done.stdout + done.stderr)

    def start(self) -> None:
        self.log = (self.home / "code-server.log").open("wb")
        self.process = subprocess.Popen(
            [*self.common, "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             str(self.workspace)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError):
                assert self.process.poll() is None, (self.home / "code-server.log").read_text()
                time.sleep(0.3)
        raise AssertionError("code-server did not answer in 60 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.log is not None:
            self.log.close()


@pytest.fixture
def vscode(stack: Settings, tmp_path: Path) -> Iterator[tuple[CodeServer, str]]:
    binary = code_server_path(stack)
    if not binary.exists():
        pytest.skip(f"code-server is not installed at {binary}: `make install` brings it")
    tenant = Tenant(f"vsc-{uuid.uuid4().hex[:6]}", "pro")
    key, _ = add_key(stack, tenant, "vera")
    server = CodeServer(binary, tmp_path / "code-server", stack, key)
    server.install_extension()
    server.start()
    try:
        yield server, tenant.tenant_id
    finally:
        server.stop()


def editor_text(page: Any) -> str:
    text: str = page.inner_text(".monaco-editor .view-lines")
    return text.replace("\u00a0", " ")


def quick_input(page: Any, key: str, text: str) -> None:
    page.keyboard.press(key)
    page.wait_for_selector(".quick-input-widget input", state="visible")
    page.keyboard.type(text)
    page.wait_for_timeout(600)  # the list filters as one types
    page.keyboard.press("Enter")


def drive(server: CodeServer) -> dict[str, Any]:
    """Everything in the browser: what the test then checks."""
    seen: dict[str, Any] = {}
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{server.port}/?folder={server.workspace}")
        page.wait_for_selector(".monaco-workbench", timeout=60_000)
        # The workspace is open once the explorer lists the file; a click opens it.
        row = page.locator(".explorer-folders-view .monaco-list-row", has_text="main.py")
        row.wait_for(timeout=60_000)
        row.click()
        try:
            page.wait_for_selector(".monaco-editor .view-lines", timeout=30_000)
        except Exception:
            shot(page, "no-editor", prefix="vscode")
            raise
        page.click(".monaco-editor .view-lines")
        # A first completion warms the path (the extension starts its language server when
        # VS Code has started, and VS Code asks only as one types): not the one timed. Until it
        # comes, the last key is typed again.
        page.keyboard.press("Control+End")
        page.keyboard.type("def word_count(text):")
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 90
        while True:
            try:
                page.wait_for_selector(".ghost-text-decoration", timeout=3000)
                break
            except Exception:
                if time.monotonic() > deadline:
                    shot(page, "no-ghost", prefix="vscode")
                    raise
            page.keyboard.type(" ")
            page.keyboard.press("Backspace")
        page.keyboard.press("Escape")
        # The timed wait below must not find this suggestion still on the page.
        page.wait_for_selector(".ghost-text-decoration", state="detached", timeout=10_000)
        page.keyboard.press("Shift+Tab")  # back to the top level, under word_count
        page.keyboard.press("Enter")
        page.keyboard.type("def count_words(text):")
        page.keyboard.press("Enter")
        typed = time.perf_counter()
        try:
            page.wait_for_selector(".ghost-text-decoration", timeout=10_000)
        except Exception:
            shot(page, "no-ghost-timed", prefix="vscode")
            raise
        seen["ghost_ms"] = (time.perf_counter() - typed) * 1000
        seen["ghost"] = " ".join("".join(page.eval_on_selector_all(
            ".ghost-text-decoration", "els => els.map(e => e.textContent)")).split())
        shot(page, "ghost-text", prefix="vscode")
        page.keyboard.press("Tab")
        page.wait_for_timeout(500)
        seen["after_tab"] = editor_text(page)
        # Write documentation for read_lines: cursor on its def line, then the palette.
        page.keyboard.press("Control+Home")
        for _ in range(3):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("End")
        quick_input(page, "F1", "Code Assistant: Write documentation")
        page.wait_for_function(
            "() => document.querySelector('.monaco-editor .view-lines').innerText"
            ".includes('\"\"\"')", timeout=20_000)
        seen["after_docs"] = editor_text(page)
        shot(page, "docs-applied", prefix="vscode")
        page.close()
    return seen


def test_ghost_text_tab_and_a_task_in_real_vscode(vscode: tuple[CodeServer, str],
                                                   stack: Settings) -> None:
    server, tenant = vscode
    seen = drive(server)
    print(f"VS Code: ghost text {seen['ghost_ms']:.0f} ms after the keystroke: {seen['ghost']!r}")
    assert seen["ghost"], "no ghost text"
    assert seen["ghost_ms"] <= GHOST_MS, seen["ghost_ms"]
    first_word = seen["ghost"].split()[0]
    lines = seen["after_tab"].splitlines()
    count = next(i for i, line in enumerate(lines) if "def count_words" in line)
    assert first_word in lines[count + 1], (seen["ghost"], lines[count:count + 3])
    docs = seen["after_docs"].splitlines()
    read = next(i for i, line in enumerate(docs) if "def read_lines" in line)
    assert docs[read + 1].strip() == '"""', docs[read:read + 4]

    wanted = ("SELECT groupArray((kind, editor, request_kind)) FROM (SELECT DISTINCT kind, "
              f"editor, request_kind FROM feedback_events WHERE tenant_id = '{tenant}' "
              "ORDER BY ALL)")
    deadline = time.monotonic() + 30
    while True:
        found = {tuple(row) for row in run_query(stack, wanted)["rows"][0][0]}
        if ("accepted", "vscode", "completion") in found and ("accepted", "vscode",
                                                              "docs") in found:
            break
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    # The requests' own rows come through another topic and another batch of the sink: they
    # may land after the feedback that followed them.
    while True:
        kinds = run_query(stack, "SELECT DISTINCT kind, editor FROM completion_events WHERE "
                                 f"tenant_id = '{tenant}' ORDER BY ALL")["rows"]
        if ["docs", "vscode"] in kinds and ["completion", "vscode"] in kinds:
            break
        assert time.monotonic() < deadline, kinds
        time.sleep(0.5)
