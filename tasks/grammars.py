"""Which tree-sitter grammar parses each of our languages (``documents.languages`` ids).

The grammars come compiled inside ``tree-sitter-language-pack`` 0.13.0's wheel (its 1.x releases
download grammars at run time, which an air-gapped server cannot). Languages without a grammar
there (Crystal, Visual Basic, batch files, Prolog, Less, JSONC, Objective-C++) get no syntax
checks; every task still runs on them with what needs no parse.
"""

from __future__ import annotations

import functools

from tree_sitter import Language, Parser

#: Our canonical language id -> the language pack's grammar name.
GRAMMARS: dict[str, str] = {
    "python": "python", "javascript": "javascript", "javascriptreact": "javascript",
    "typescript": "typescript", "typescriptreact": "tsx", "java": "java", "c": "c", "cpp": "cpp",
    "csharp": "csharp", "go": "go", "rust": "rust", "kotlin": "kotlin", "swift": "swift",
    "objective-c": "objc", "scala": "scala", "groovy": "groovy", "dart": "dart", "php": "php",
    "ruby": "ruby", "perl": "perl", "lua": "lua", "r": "r", "julia": "julia", "elixir": "elixir",
    "erlang": "erlang", "haskell": "haskell", "ocaml": "ocaml", "fsharp": "fsharp",
    "clojure": "clojure", "lisp": "commonlisp", "scheme": "scheme", "elm": "elm", "zig": "zig",
    "nim": "nim", "d": "d", "fortran": "fortran", "cobol": "cobol", "pascal": "pascal",
    "powershell": "powershell", "shellscript": "bash", "sql": "sql", "html": "html",
    "css": "css", "scss": "scss", "xml": "xml", "json": "json", "yaml": "yaml", "toml": "toml",
    "ini": "ini", "markdown": "markdown", "latex": "latex", "dockerfile": "dockerfile",
    "makefile": "make", "cmake": "cmake", "terraform": "hcl", "proto": "proto",
    "graphql": "graphql", "vue": "vue", "svelte": "svelte", "solidity": "solidity",
    "verilog": "verilog", "vhdl": "vhdl", "assembly": "asm", "matlab": "matlab", "haxe": "haxe",
    "vim": "vim", "emacs-lisp": "elisp",
}

#: Languages where an ERROR node does not mean the file is wrong: prose formats, templates that
#: embed other languages, and languages with many dialects the grammar covers one of.
NO_SYNTAX_ERRORS: frozenset[str] = frozenset({"markdown", "latex", "html", "xml", "vue", "svelte",
                                              "sql", "cobol", "fortran", "matlab", "perl"})


@functools.cache
def language(language_id: str) -> Language | None:
    """The compiled grammar for ``language_id``, or ``None`` if there is none."""
    name = GRAMMARS.get(language_id)
    if name is None:
        return None
    from tree_sitter_language_pack import get_language

    return get_language(name)  # type: ignore[arg-type]


def parser(language_id: str) -> Parser | None:
    """A fresh parser (parsers are cheap; a shared one would not be thread-safe)."""
    grammar = language(language_id)
    return Parser(grammar) if grammar is not None else None
