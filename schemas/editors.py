"""Which editor a session comes from: the ``editor`` dimension of the analytics store (pure).

``hello.client`` is free text a plugin chooses (``vscode``, ``neovim/0.3``, ``emacs``, a
language server's name). Analytics group by it and it lands in a low-cardinality column, so it
is folded onto a short fixed list here, at the edge: a client cannot invent new values, and the
column never carries anything a user typed.
"""

from __future__ import annotations

import re
from typing import Literal

Editor = Literal["vscode", "jetbrains", "neovim", "vim", "emacs", "visualstudio", "sublime",
                 "zed", "lsp", "other"]
EDITORS: tuple[Editor, ...] = ("vscode", "jetbrains", "neovim", "vim", "emacs", "visualstudio",
                               "sublime", "zed", "lsp", "other")
#: The first word of ``hello.client`` (lower-cased, up to ``/``, space or ``@``) -> its editor.
_ALIASES: dict[str, Editor] = {
    "vscode": "vscode", "code": "vscode", "code-oss": "vscode", "code-server": "vscode",
    "vscodium": "vscode", "cursor": "vscode", "visual-studio-code": "vscode",
    "jetbrains": "jetbrains", "intellij": "jetbrains", "idea": "jetbrains",
    "pycharm": "jetbrains", "webstorm": "jetbrains", "goland": "jetbrains", "clion": "jetbrains",
    "rider": "jetbrains", "rustrover": "jetbrains", "phpstorm": "jetbrains",
    "rubymine": "jetbrains", "android-studio": "jetbrains", "fleet": "jetbrains",
    "neovim": "neovim", "nvim": "neovim", "vim": "vim", "emacs": "emacs", "eglot": "emacs",
    "lsp-mode": "emacs", "visualstudio": "visualstudio", "visual-studio": "visualstudio",
    "vs": "visualstudio", "sublime": "sublime", "sublime-text": "sublime", "zed": "zed",
    "code-assistant-ls": "lsp", "lsp": "lsp",
}
_FIRST_WORD = re.compile(r"[^/\s@]+")


def editor_of(client: str) -> Editor:
    """The editor family of a ``hello.client`` string; ``other`` when it names none we know."""
    found = _FIRST_WORD.match(client.strip().lower())
    return _ALIASES.get(found[0], "other") if found else "other"
