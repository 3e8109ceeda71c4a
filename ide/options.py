"""Where the language server connects and with which key: ``initializationOptions`` from the
editor, else the environment, else the embedded stack's defaults.

The API key comes only from ``CODE_ASSISTANT_API_KEY`` or a file (``apiKeyFile`` /
``CODE_ASSISTANT_API_KEY_FILE``; by default the developer key ``make up`` writes), never from
``initializationOptions`` (editors log those) or a URL, and it is never logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from schemas.errors import AssistantError

DEFAULT_URL = "ws://127.0.0.1:8765"
CREDENTIAL_IN_QUERY = re.compile(r"[?&](key|token|api_?key|password)=", re.IGNORECASE)
#: The embedded stack's developer key, relative to the stack's home (``make up`` writes it).
DEV_KEY = Path("tenants") / "default.dev-key"
ROOT = Path(__file__).resolve().parent.parent
_OFF = ("off", "0", "false", "no")


class OptionsError(AssistantError, ValueError):
    """Settings the server cannot start a session with; the message says which and the fix."""


@dataclass(frozen=True, slots=True)
class Options:
    """A resolved configuration (``api_key`` is kept out of ``repr``)."""

    url: str
    api_key: str = field(repr=False)
    ca_file: str | None = None
    client: str = "code-assistant-ls"
    warnings: tuple[str, ...] = ()
    #: Ask the edge for next-edit suggestions (offered as an "Apply next edit" code action).
    next_edits: bool = True
    #: Also push each one as a ``codeAssistant/nextEdit`` notification (our editor packages
    #: draw them; an editor that does not know the method must not be sent it).
    next_edit_notifications: bool = False


def resolve(init: Mapping[str, Any] | None, env: Mapping[str, str]) -> Options:
    """Read ``initializationOptions`` (``url``, ``apiKeyFile``, ``caFile``, ``client``,
    ``nextEdits``, ``nextEditNotifications``) over the environment (``CODE_ASSISTANT_URL``,
    ``CODE_ASSISTANT_API_KEY``, ``CODE_ASSISTANT_API_KEY_FILE``, ``CODE_ASSISTANT_CA_FILE``,
    ``CODE_ASSISTANT_NEXT_EDITS=off``)."""
    init = init or {}
    warnings = []
    if "apiKey" in init or "api_key" in init:
        warnings.append("initializationOptions.apiKey is ignored: editors log their options; set "
                        "CODE_ASSISTANT_API_KEY or apiKeyFile instead")
    url = str(init.get("url") or env.get("CODE_ASSISTANT_URL") or DEFAULT_URL)
    if not url.startswith(("ws://", "wss://")):
        raise OptionsError(f"url {url!r} must start with ws:// or wss://")
    try:
        parsed = parse_uri(url)
    except (InvalidURI, ValueError) as error:
        raise OptionsError(f"url {url!r} is not a usable WebSocket URL: {error}") from None
    if parsed.username or parsed.password or CREDENTIAL_IN_QUERY.search(url):
        raise OptionsError("the url must not carry credentials; put the API key in "
                           "CODE_ASSISTANT_API_KEY or a key file")
    key = env.get("CODE_ASSISTANT_API_KEY", "").strip()
    if not key:
        key_file = init.get("apiKeyFile") or env.get("CODE_ASSISTANT_API_KEY_FILE")
        path = Path(str(key_file)).expanduser() if key_file else \
            Path(env.get("STACK_HOME") or ROOT / ".stack") / DEV_KEY
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise OptionsError(
                f"no API key: CODE_ASSISTANT_API_KEY is not set and {path} cannot be read "
                f"({error.strerror}); set one of them (`make up` writes a developer key)") from error
    if not key:
        raise OptionsError("the API key is empty")
    ca_file = init.get("caFile") or env.get("CODE_ASSISTANT_CA_FILE") or None
    client = str(init.get("client") or "code-assistant-ls")
    next_edits = init.get("nextEdits")
    if next_edits is None:
        next_edits = env.get("CODE_ASSISTANT_NEXT_EDITS", "on").strip().lower() not in _OFF
    notifications = init.get("nextEditNotifications") is True
    return Options(url, key, str(ca_file) if ca_file else None, client[:128], tuple(warnings),
                   next_edits=next_edits is True, next_edit_notifications=notifications)


def from_environment(init: Mapping[str, Any] | None = None) -> Options:
    """:func:`resolve` against this process's environment."""
    return resolve(init, os.environ)
