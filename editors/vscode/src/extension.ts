/**
 * The VS Code side: starts the code assistant's language server over stdio and lets
 * vscode-languageclient (LSP 3.18) turn its textDocument/inlineCompletion answers into ghost
 * text. Each suggestion carries the server's `codeAssistant.feedback` command, which VS Code runs
 * when the user accepts it, so acceptance reaches analytics.
 */
import * as os from "node:os";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";

import { documentSelector, initOptions, serverCommand, Settings, SettingsError } from "./settings";

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

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
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
