/**
 * The assistant tasks in VS Code, without VS Code: which commands exist, the argument the
 * language server's `codeAssistant.task` command takes, and what to tell the user about its
 * answer. extension.ts wires these to the palette, the editor's context menu and the server.
 */

export const TASK_COMMAND = "codeAssistant.task";

export type TaskKind = "explain" | "find_bugs" | "fix" | "refactor" | "tests" | "docs";

export interface TaskCommand {
  id: string;
  kind: TaskKind;
  title: string;
}

export const TASKS: TaskCommand[] = [
  { id: "codeAssistant.explain", kind: "explain", title: "Code Assistant: Explain this code" },
  { id: "codeAssistant.findBugs", kind: "find_bugs", title: "Code Assistant: Find bugs" },
  { id: "codeAssistant.fix", kind: "fix", title: "Code Assistant: Fix problems" },
  { id: "codeAssistant.refactor", kind: "refactor", title: "Code Assistant: Suggest refactorings" },
  { id: "codeAssistant.tests", kind: "tests", title: "Code Assistant: Write tests" },
  { id: "codeAssistant.docs", kind: "docs", title: "Code Assistant: Write documentation" },
];

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface TaskArgument {
  kind: TaskKind;
  uri: string;
  range: LspRange;
  instruction?: string;
}

/** What the server's `codeAssistant.task` answers. */
export interface TaskResult {
  markdown: string;
  edits: string[];
  findings: number;
  applied: boolean;
  reason: string;
}

export function taskArgument(kind: TaskKind, uri: string, range: LspRange, instruction?: string): TaskArgument {
  const argument: TaskArgument = { kind, uri, range };
  const text = instruction?.trim();
  if (text) {
    argument.instruction = text;
  }
  return argument;
}

export function isTaskResult(value: unknown): value is TaskResult {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return typeof v.markdown === "string" && Array.isArray(v.edits) && typeof v.findings === "number"
    && typeof v.applied === "boolean" && typeof v.reason === "string";
}

/**
 * How the answer reaches the user: a Markdown document to open (an explanation, or a task that
 * ended badly) and a one-line message.
 */
export function presentation(kind: TaskKind, result: TaskResult): { markdown?: string; message: string } {
  const failed = result.reason !== "stop";
  const message = failed
    ? `Code Assistant: the ${kind} task ended (${result.reason})`
    : kind === "find_bugs"
      ? `Code Assistant: ${result.findings} problem(s) found (see Problems)`
      : result.edits.length
        ? `Code Assistant: ${result.applied ? "applied" : "not applied"}: ${result.edits.join("; ")}`
        : `Code Assistant: ${result.markdown.split("\n")[0] || "nothing to do"}`;
  const markdown = kind === "explain" || kind === "tests" || failed ? result.markdown : undefined;
  return markdown ? { markdown, message } : { message };
}
