/**
 * The VS Code side: starts the code assistant's language server over stdio and lets
 * vscode-languageclient (LSP 3.18) turn its textDocument/inlineCompletion answers into ghost
 * text. Each suggestion carries the server's `codeAssistant.feedback` command, which VS Code runs
 * when the user accepts it, so acceptance reaches analytics. The assistant tasks (explain, find
 * bugs, fix, refactor, tests, docs) are palette and context-menu commands and the server's code
 * actions; their edits and diagnostics come from the server, their Markdown opens beside the code.
 */
import * as os from "node:os";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";

import { documentSelector, initOptions, serverCommand, Settings, SettingsError } from "./settings";
import { isTaskResult, presentation, TASK_COMMAND, TASKS, TaskKind, taskArgument } from "./tasks";

let client: LanguageClient | undefined;

function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration("codeAssistant");
  return {
    serverCommand: config.get<string>("serverCommand", "code-assistant-ls"),
    url: config.get<string>("url", ""),
    apiKeyFile: config.get<string>("apiKeyFile", ""),
    caFile: config.get<string>("caFile", ""),
    languages: config.get<string[]>("languages", []),
  };
}

async function start(): Promise<void> {
  const settings = readSettings();
  let command: string;
  let clientOptions: LanguageClientOptions;
  try {
    command = serverCommand(settings, os.homedir());
    clientOptions = {
      documentSelector: documentSelector(settings),
      initializationOptions: initOptions(settings, os.homedir(), "vscode"),
      middleware: {
        // Tasks run from the light bulb or the palette alike: their edits arrive as
        // workspace/applyEdit and their findings as diagnostics; the rest is shown here.
        executeCommand: async (command, args, next) => {
          const result: unknown = await next(command, args);
          const kind = (args[0] as { kind?: TaskKind } | undefined)?.kind;
          if (command === TASK_COMMAND && kind && isTaskResult(result)) {
            await show(presentation(kind, result));
          }
          return result;
        },
      },
    };
  } catch (error) {
    if (error instanceof SettingsError) {
      void vscode.window.showErrorMessage(`Code Assistant: ${error.message}`);
      return;
    }
    throw error;
  }
  const serverOptions: ServerOptions = { command, args: [] };
  const starting = new LanguageClient("codeAssistant", "Code Assistant", serverOptions, clientOptions);
  try {
    await starting.start();
    client = starting;
  } catch (error) {
    // Not kept: a client that never ran cannot be stopped, and Restart must start a new one.
    void vscode.window.showErrorMessage(
      `Code Assistant: could not start ${command} (${String(error)}); check codeAssistant.serverCommand`);
  }
}

async function show(shown: { markdown?: string; message: string }): Promise<void> {
  void vscode.window.showInformationMessage(shown.message);
  if (shown.markdown) {
    const doc = await vscode.workspace.openTextDocument({ content: shown.markdown, language: "markdown" });
    await vscode.commands.executeCommand("markdown.showPreviewToSide", doc.uri);
  }
}

async function runTask(kind: TaskKind): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!client || !editor) {
    void vscode.window.showWarningMessage("Code Assistant: open a file, and check that the server runs");
    return;
  }
  const range = client.code2ProtocolConverter.asRange(editor.selection);
  const uri = editor.document.uri.toString();
  let instruction: string | undefined;
  if (kind === "refactor") {
    instruction = await vscode.window.showInputBox({
      prompt: "Rename the name at the cursor to (empty: the suggested refactorings)",
    });
    if (instruction === undefined) {
      return; // dismissed
    }
  }
  // Through the command the client registered for the server, so the middleware shows the answer.
  await vscode.commands.executeCommand(TASK_COMMAND, taskArgument(kind, uri, range, instruction));
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    ...TASKS.map((task) => vscode.commands.registerCommand(task.id, () => runTask(task.kind))),
    vscode.commands.registerCommand("codeAssistant.restart", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("codeAssistant")) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

export function deactivate(): Promise<void> {
  return stop();
}
