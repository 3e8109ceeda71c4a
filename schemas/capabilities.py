"""What each language gets from the assistant's tasks: a statement of the protocol, sent in
``welcome`` to a client that asks (``hello.capabilities``) and tabled in docs/TASKS.md.

Pure data. The task engines (``tasks/``) do the work; ``tests/test_capabilities.py`` holds this
table to what they do (their grammars, analyzers and test frameworks), so the two cannot drift.
"""

from __future__ import annotations

from schemas.socket import LanguageTasks, TaskKind

#: Languages with a tree-sitter grammar (``tasks.grammars.GRAMMARS``).
PARSED: frozenset[str] = frozenset({
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "java", "c",
    "cpp", "csharp", "go", "rust", "kotlin", "swift", "objective-c", "scala", "groovy", "dart",
    "php", "ruby", "perl", "lua", "r", "julia", "elixir", "erlang", "haskell", "ocaml",
    "fsharp", "clojure", "lisp", "scheme", "elm", "zig", "nim", "d", "fortran", "cobol",
    "pascal", "powershell", "shellscript", "sql", "html", "css", "scss", "xml", "json", "yaml",
    "toml", "ini", "markdown", "latex", "dockerfile", "makefile", "cmake", "terraform", "proto",
    "graphql", "vue", "svelte", "solidity", "verilog", "vhdl", "assembly", "matlab", "haxe",
    "vim", "emacs-lisp",
})
#: Parsed languages whose syntax errors are not reported (``tasks.grammars.NO_SYNTAX_ERRORS``):
#: prose, templates embedding other languages, languages of many dialects.
NO_SYNTAX_ERRORS: frozenset[str] = frozenset({"markdown", "latex", "html", "xml", "vue", "svelte",
                                              "sql", "cobol", "fortran", "matlab", "perl"})
#: Data, markup and build formats: no functions to explain, document, rename or test.
NOT_CODE: frozenset[str] = frozenset({
    "json", "yaml", "toml", "ini", "markdown", "latex", "html", "xml", "css", "scss",
    "dockerfile", "makefile", "cmake", "terraform", "proto", "graphql", "sql",
})
#: The analyzers ``find_bugs`` runs besides tree-sitter (the compiler, a linter).
ANALYZERS: dict[str, tuple[str, ...]] = {
    "python": ("ruff", "mypy"), "go": ("go vet", "staticcheck"), "c": ("gcc", "cppcheck"),
    "cpp": ("g++", "cppcheck"), "java": ("javac + Error Prone",), "rust": ("rustc + Clippy",),
    "javascript": ("oxlint", "tsc"), "javascriptreact": ("oxlint", "tsc"),
    "typescript": ("oxlint", "tsc"), "typescriptreact": ("oxlint", "tsc"),
    "shellscript": ("ShellCheck",),
}
#: Where ``tasks.semantic``'s checks run (swapped arguments, a repeated condition, a loop past
#: the end), after the analyzers above.
SEMANTIC: frozenset[str] = frozenset({
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "java",
    "c", "cpp", "rust",
})
#: Where an analyzer's own parser, not tree-sitter, reports the syntax errors.
OWN_PARSER: frozenset[str] = frozenset({"python"})
#: The test frameworks ``tests`` writes in, the default first.
TEST_FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "python": ("pytest", "unittest"), "go": ("go test",), "rust": ("cargo test",),
    "java": ("junit5",),
    **{js: ("node:test", "jest", "vitest") for js in
       ("javascript", "javascriptreact", "typescript", "typescriptreact")},
}
#: Languages whose refactorings go beyond rename (ruff's rules with fixes).
REFACTORED: frozenset[str] = frozenset({"python"})


def _kinds(language: str) -> tuple[TaskKind, ...]:
    code = language not in NOT_CODE
    checked = language in ANALYZERS or language not in NO_SYNTAX_ERRORS
    kinds: list[TaskKind] = []
    kinds += ["explain"] if code else []
    kinds += ["find_bugs", "fix"] if checked else []
    kinds += ["refactor"] if code else []
    kinds += ["tests"] if language in TEST_FRAMEWORKS else []
    kinds += ["docs"] if code else []
    return tuple(kinds)


def _analyzers(language: str) -> tuple[str, ...]:
    syntax = language not in OWN_PARSER and language not in NO_SYNTAX_ERRORS
    return (*ANALYZERS.get(language, ()), *(("semantic checks",) if language in SEMANTIC else ()),
            *(("tree-sitter",) if syntax else ()))


#: The table, one row per parsed language, by language id. Languages not in it (no grammar
#: here) get answers that say so.
LANGUAGE_TASKS: tuple[LanguageTasks, ...] = tuple(
    LanguageTasks(language, _kinds(language), _analyzers(language),
                  TEST_FRAMEWORKS.get(language, ()), language in REFACTORED)
    for language in sorted(PARSED))


def markdown_table() -> str:
    """The table as docs/TASKS.md prints it: languages that get the same, on one row."""
    rows: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool], list[str]] = {}
    for row in LANGUAGE_TASKS:
        key = (row.kinds, row.analyzers, row.test_frameworks, row.refactorings)
        rows.setdefault(key, []).append(row.language)
    lines = ["| Languages | Task kinds | Analyzers | Test frameworks |", "|---|---|---|---|"]
    for (kinds, analyzers, frameworks, refactorings), languages in rows.items():
        refactor = "refactor (ruff's rules and rename)" if refactorings else "refactor (rename)"
        said = ", ".join(refactor if k == "refactor" else k for k in kinds) or "none"
        lines.append(f"| {', '.join(languages)} | {said} | {', '.join(analyzers) or '-'} | "
                     f"{', '.join(frameworks) or '-'} |")
    return "\n".join(lines) + "\n"
