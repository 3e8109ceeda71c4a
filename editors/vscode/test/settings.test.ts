import assert from "node:assert/strict";
import { test } from "node:test";

import { documentSelector, expandHome, initOptions, serverCommand, Settings, SettingsError } from "../src/settings";

const base: Settings = { serverCommand: "code-assistant-ls", url: "", apiKeyFile: "", caFile: "", languages: [] };

test("only what is set goes to the server, so its environment fills the rest", () => {
  assert.deepEqual(initOptions(base, "/home/dev", "vscode"), { client: "vscode" });
  const all = { ...base, url: " wss://edge.example:8765 ", apiKeyFile: "~/.config/key", caFile: "/etc/ca.pem" };
  assert.deepEqual(initOptions(all, "/home/dev", "vscode"), {
    client: "vscode", url: "wss://edge.example:8765", apiKeyFile: "/home/dev/.config/key", caFile: "/etc/ca.pem",
  });
});

test("a URL that is not a WebSocket URL, or that carries a credential, is refused", () => {
  for (const url of ["http://edge:8765", "edge:8765", "ws://", "ws://user:secret@edge:8765", "ws://edge/?api_key=x", "wss://edge/?token=t"]) {
    assert.throws(() => initOptions({ ...base, url }, "/h", "vscode"), SettingsError, url);
  }
});

test("the server command expands ~ and must not be empty", () => {
  assert.equal(serverCommand({ ...base, serverCommand: "~/stack/editors/bin/code-assistant-ls" }, "/home/dev"),
    "/home/dev/stack/editors/bin/code-assistant-ls");
  assert.throws(() => serverCommand({ ...base, serverCommand: "  " }, "/h"), /serverCommand is empty/);
  assert.equal(expandHome("~user/x", "/h"), "~user/x", "only the user's own home is expanded");
});

test("documents: every file and untitled buffer, or the listed languages only", () => {
  assert.deepEqual(documentSelector(base), [{ scheme: "file" }, { scheme: "untitled" }]);
  assert.deepEqual(documentSelector({ ...base, languages: ["python", " python", "", "rust"] }), [
    { scheme: "file", language: "python" }, { scheme: "untitled", language: "python" },
    { scheme: "file", language: "rust" }, { scheme: "untitled", language: "rust" },
  ]);
});
