import assert from "node:assert/strict";
import { test } from "node:test";

import { isTaskResult, presentation, TASKS, taskArgument } from "../src/tasks";

const range = { start: { line: 1, character: 0 }, end: { line: 4, character: 2 } };

test("one palette command per task kind, each kind once", () => {
  const kinds = TASKS.map((t) => t.kind).sort();
  assert.deepEqual(kinds, ["docs", "explain", "find_bugs", "fix", "refactor", "tests"]);
  assert.equal(new Set(TASKS.map((t) => t.id)).size, 6);
});

test("the argument carries an instruction only when there is one", () => {
  assert.deepEqual(taskArgument("explain", "file:///a.py", range), { kind: "explain", uri: "file:///a.py", range });
  assert.deepEqual(taskArgument("fix", "file:///a.py", range, "  keep it short "),
    { kind: "fix", uri: "file:///a.py", range, instruction: "keep it short" });
  assert.equal("instruction" in taskArgument("fix", "file:///a.py", range, "   "), false);
});

test("answers are recognised and presented by kind", () => {
  const base = { markdown: "### `mean(values)`\nA function.", edits: [], findings: 0, applied: false, reason: "stop" };
  assert.equal(isTaskResult(base), true);
  assert.equal(isTaskResult({ ...base, edits: "x" }), false);
  assert.equal(isTaskResult(null), false);
  assert.deepEqual(presentation("explain", base), { markdown: base.markdown, message: "Code Assistant: ### `mean(values)`" });
  assert.deepEqual(presentation("find_bugs", { ...base, findings: 3 }), { message: "Code Assistant: 3 problem(s) found (see Problems)" });
  assert.deepEqual(presentation("docs", { ...base, edits: ["Document mean"], applied: true }),
    { message: "Code Assistant: applied: Document mean" });
  const expired = presentation("docs", { ...base, reason: "expired" });
  assert.equal(expired.message, "Code Assistant: the docs task ended (expired)");
  assert.equal(expired.markdown, base.markdown);
});
