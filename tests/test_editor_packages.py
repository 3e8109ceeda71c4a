"""The editor packages build: the VS Code extension's own tests pass under Node's test runner
and it packages to a .vsix holding the bundled extension (VS Code itself cannot be downloaded
here; the language server it starts is tested with real LSP clients in test_ide_e2e and
test_ide_nvim)."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

VSCODE = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    npm_path = shutil.which("npm")
    assert npm_path, "Node.js 20 with npm is needed to build the VS Code extension"
    return subprocess.run([npm_path, *args], cwd=VSCODE, capture_output=True, text=True,
                          timeout=600, check=False)


def test_vscode_extension_tests_pass_and_it_packages_to_a_vsix() -> None:
    if not (VSCODE / "node_modules" / ".package-lock.json").exists():
        installed = npm("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stderr[-2000:]
    tested = npm("test")
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "# fail 0" in tested.stdout and "# pass 0" not in tested.stdout, tested.stdout
    packaged = npm("run", "package")
    assert packaged.returncode == 0, packaged.stdout[-2000:] + packaged.stderr[-2000:]
    with zipfile.ZipFile(VSCODE / "code-assistant.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
    assert "extension/dist/extension.js" in names
    assert not any("node_modules" in name for name in names), "the bundle is self-contained"
    assert manifest["main"] == "./dist/extension.js"
    assert "codeAssistant.serverCommand" in manifest["contributes"]["configuration"]["properties"]
