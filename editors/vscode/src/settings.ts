/**
 * What the extension derives from its settings (pure, so it is tested without VS Code): the
 * command that starts the language server, the initializationOptions it gets, and which
 * documents it serves. The API key never passes through here: the server reads it from the
 * environment or from the file named by `apiKeyFile`.
 */

export interface Settings {
  serverCommand: string;
  url: string;
  apiKeyFile: string;
  caFile: string;
  languages: string[];
}

export interface InitOptions {
  client: string;
  url?: string;
  apiKeyFile?: string;
  caFile?: string;
}

export interface DocumentFilter {
  scheme: string;
  language?: string;
}

export class SettingsError extends Error {}

/** `~/x` → the home directory's `x`; anything else as given, trimmed. */
export function expandHome(path: string, home: string): string {
  const trimmed = path.trim();
  return trimmed === "~" || trimmed.startsWith("~/") ? home + trimmed.slice(1) : trimmed;
}

/** The server's command line; a setting that cannot start anything is refused with why. */
export function serverCommand(settings: Settings, home: string): string {
  const command = expandHome(settings.serverCommand, home);
  if (!command) {
    throw new SettingsError(
      "codeAssistant.serverCommand is empty: set it to editors/bin/code-assistant-ls in a checkout of the stack");
  }
  return command;
}

/** initializationOptions: only what is set, so the server's environment fills the rest. */
export function initOptions(settings: Settings, home: string, editor: string): InitOptions {
  const options: InitOptions = { client: editor };
  const url = settings.url.trim();
  if (url) {
    if (!/^wss?:\/\/[^/?#\s]+/.test(url)) {
      throw new SettingsError(`codeAssistant.url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
    if (/^wss?:\/\/[^/]*@/.test(url) || /[?&](key|token|api_?key)=/i.test(url)) {
      throw new SettingsError("codeAssistant.url must not carry credentials: put the API key in a file (codeAssistant.apiKeyFile) or CODE_ASSISTANT_API_KEY");
    }
    options.url = url;
  }
  if (settings.apiKeyFile.trim()) {
    options.apiKeyFile = expandHome(settings.apiKeyFile, home);
  }
  if (settings.caFile.trim()) {
    options.caFile = expandHome(settings.caFile, home);
  }
  return options;
}

/** Which documents the client syncs and asks about. */
export function documentSelector(settings: Settings): DocumentFilter[] {
  const languages = [...new Set(settings.languages.map((l) => l.trim()).filter((l) => l))];
  if (languages.length === 0) {
    return [{ scheme: "file" }, { scheme: "untitled" }];
  }
  return languages.flatMap((language) => [
    { scheme: "file", language },
    { scheme: "untitled", language },
  ]);
}
