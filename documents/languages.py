"""The languages the assistant knows: LSP language ids, file extensions, comment syntax and how
blocks are delimited (pure data and lookup).

Plugins send LSP ``languageId``s, but not always the canonical one (``py``, ``golang``,
``plaintext`` for a file the editor does not recognise); :func:`resolve` maps an id and the
document's URI to one :class:`Language`, trying the id, then its aliases, then the extension.
``blocks`` tells a model how a block ends: ``braces`` (a closing ``}`` at the opening line's
indentation), ``indent`` (the next line at a lower indentation), ``keyword`` (``end`` and kin),
``parens`` (Lisps) or ``none`` (markup and data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Blocks = Literal["braces", "indent", "keyword", "parens", "none"]


@dataclass(frozen=True, slots=True)
class Language:
    id: str
    extensions: tuple[str, ...]
    line_comment: str | None
    block_comment: tuple[str, str] | None
    blocks: Blocks
    aliases: tuple[str, ...] = ()


C_BLOCK = ("/*", "*/")

LANGUAGES: tuple[Language, ...] = (
    Language("python", (".py", ".pyi", ".pyw"), "#", None, "indent", ("py", "python3")),
    Language("javascript", (".js", ".mjs", ".cjs"), "//", C_BLOCK, "braces", ("js", "node")),
    Language("javascriptreact", (".jsx",), "//", C_BLOCK, "braces", ("jsx",)),
    Language("typescript", (".ts", ".mts", ".cts"), "//", C_BLOCK, "braces", ("ts",)),
    Language("typescriptreact", (".tsx",), "//", C_BLOCK, "braces", ("tsx",)),
    Language("java", (".java",), "//", C_BLOCK, "braces"),
    Language("c", (".c", ".h"), "//", C_BLOCK, "braces"),
    Language("cpp", (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".ino"), "//", C_BLOCK,
             "braces", ("c++",)),
    Language("csharp", (".cs",), "//", C_BLOCK, "braces", ("c#", "cs")),
    Language("go", (".go",), "//", C_BLOCK, "braces", ("golang",)),
    Language("rust", (".rs",), "//", C_BLOCK, "braces", ("rs",)),
    Language("kotlin", (".kt", ".kts"), "//", C_BLOCK, "braces", ("kt",)),
    Language("swift", (".swift",), "//", C_BLOCK, "braces"),
    Language("objective-c", (".m",), "//", C_BLOCK, "braces", ("objc",)),
    Language("objective-cpp", (".mm",), "//", C_BLOCK, "braces", ("objcpp",)),
    Language("scala", (".scala", ".sc"), "//", C_BLOCK, "braces"),
    Language("groovy", (".groovy", ".gradle"), "//", C_BLOCK, "braces"),
    Language("dart", (".dart",), "//", C_BLOCK, "braces"),
    Language("php", (".php", ".phtml"), "//", C_BLOCK, "braces"),
    Language("ruby", (".rb", ".rake", ".gemspec"), "#", ("=begin", "=end"), "keyword", ("rb",)),
    Language("perl", (".pl", ".pm", ".t"), "#", None, "braces"),
    Language("lua", (".lua",), "--", ("--[[", "]]"), "keyword"),
    Language("r", (".r", ".R"), "#", None, "braces"),
    Language("julia", (".jl",), "#", ("#=", "=#"), "keyword"),
    Language("elixir", (".ex", ".exs"), "#", None, "keyword"),
    Language("erlang", (".erl", ".hrl"), "%", None, "keyword"),
    Language("haskell", (".hs", ".lhs"), "--", ("{-", "-}"), "indent"),
    Language("ocaml", (".ml", ".mli"), None, ("(*", "*)"), "keyword"),
    Language("fsharp", (".fs", ".fsi", ".fsx"), "//", ("(*", "*)"), "indent", ("f#",)),
    Language("clojure", (".clj", ".cljs", ".cljc", ".edn"), ";", None, "parens"),
    Language("lisp", (".lisp", ".lsp", ".cl"), ";", ("#|", "|#"), "parens", ("commonlisp",)),
    Language("scheme", (".scm", ".ss", ".rkt"), ";", ("#|", "|#"), "parens", ("racket",)),
    Language("elm", (".elm",), "--", ("{-", "-}"), "indent"),
    Language("zig", (".zig",), "//", None, "braces"),
    Language("nim", (".nim",), "#", ("#[", "]#"), "indent"),
    Language("crystal", (".cr",), "#", None, "keyword"),
    Language("d", (".d",), "//", C_BLOCK, "braces"),
    Language("fortran", (".f", ".f90", ".f95", ".f03", ".for"), "!", None, "keyword",
             ("fortran-modern",)),
    Language("cobol", (".cob", ".cbl"), "*>", None, "keyword"),
    Language("pascal", (".pas", ".pp"), "//", ("{", "}"), "keyword", ("delphi",)),
    Language("vb", (".vb", ".bas"), "'", None, "keyword", ("vbnet",)),
    Language("powershell", (".ps1", ".psm1", ".psd1"), "#", ("<#", "#>"), "braces", ("ps1",)),
    Language("shellscript", (".sh", ".bash", ".zsh", ".ksh"), "#", None, "keyword",
             ("sh", "bash", "zsh", "shell")),
    Language("bat", (".bat", ".cmd"), "REM", None, "none", ("batch",)),
    Language("sql", (".sql",), "--", C_BLOCK, "none", ("mysql", "postgres", "plsql", "tsql")),
    Language("html", (".html", ".htm", ".xhtml"), None, ("<!--", "-->"), "none"),
    Language("css", (".css",), None, C_BLOCK, "braces"),
    Language("scss", (".scss",), "//", C_BLOCK, "braces", ("sass",)),
    Language("less", (".less",), "//", C_BLOCK, "braces"),
    Language("xml", (".xml", ".xsd", ".xsl", ".svg", ".plist"), None, ("<!--", "-->"), "none"),
    Language("json", (".json",), None, None, "braces"),
    Language("jsonc", (".jsonc",), "//", C_BLOCK, "braces"),
    Language("yaml", (".yaml", ".yml"), "#", None, "indent"),
    Language("toml", (".toml",), "#", None, "none"),
    Language("ini", (".ini", ".cfg", ".conf"), ";", None, "none"),
    Language("markdown", (".md", ".markdown"), None, ("<!--", "-->"), "none", ("md",)),
    Language("latex", (".tex", ".sty", ".cls"), "%", None, "keyword", ("tex",)),
    Language("dockerfile", (".dockerfile",), "#", None, "none", ("docker",)),
    Language("makefile", (".mk", ".mak"), "#", None, "indent", ("make",)),
    Language("cmake", (".cmake",), "#", ("#[[", "]]"), "keyword"),
    Language("terraform", (".tf", ".tfvars", ".hcl"), "#", C_BLOCK, "braces", ("hcl",)),
    Language("proto", (".proto",), "//", C_BLOCK, "braces", ("protobuf",)),
    Language("graphql", (".graphql", ".gql"), "#", None, "braces"),
    Language("vue", (".vue",), "//", C_BLOCK, "braces"),
    Language("svelte", (".svelte",), "//", C_BLOCK, "braces"),
    Language("solidity", (".sol",), "//", C_BLOCK, "braces"),
    Language("verilog", (".v", ".sv", ".svh"), "//", C_BLOCK, "keyword", ("systemverilog",)),
    Language("vhdl", (".vhd", ".vhdl"), "--", None, "keyword"),
    Language("assembly", (".asm", ".s"), ";", None, "none", ("asm", "nasm")),
    Language("matlab", (), "%", ("%{", "%}"), "keyword", ("octave",)),
    Language("prolog", (".pro",), "%", C_BLOCK, "none"),
    Language("haxe", (".hx",), "//", C_BLOCK, "braces"),
    Language("vim", (".vim",), '"', None, "keyword", ("viml", "vimscript")),
    Language("emacs-lisp", (".el",), ";", None, "parens", ("elisp",)),
)

#: Files known by name rather than by extension.
FILE_NAMES = {"dockerfile": "dockerfile", "makefile": "makefile", "gnumakefile": "makefile",
              "cmakelists.txt": "cmake", "rakefile": "ruby", "gemfile": "ruby",
              "jenkinsfile": "groovy", ".bashrc": "shellscript", ".zshrc": "shellscript"}

_BY_ID = {language.id: language for language in LANGUAGES}
_BY_ALIAS = {alias: language for language in LANGUAGES for alias in language.aliases}
_BY_EXTENSION = {ext: language for language in LANGUAGES for ext in language.extensions}


def by_id(language_id: str) -> Language | None:
    key = language_id.strip().lower()
    return _BY_ID.get(key) or _BY_ALIAS.get(key)


def by_path(uri: str) -> Language | None:
    name = uri.rsplit("/", 1)[-1]
    if name.lower() in FILE_NAMES:
        return _BY_ID[FILE_NAMES[name.lower()]]
    if "." not in name:
        return None
    extension = "." + name.rsplit(".", 1)[-1]
    return _BY_EXTENSION.get(extension) or _BY_EXTENSION.get(extension.lower())


def resolve(language_id: str, uri: str) -> Language | None:
    """The language of a document: its id (or an alias of one), else its file name."""
    return by_id(language_id) or by_path(uri)


def canonical_id(language_id: str, uri: str) -> str:
    """The canonical id to give the model (the client's own, lower-cased, if unknown)."""
    found = resolve(language_id, uri)
    return found.id if found is not None else language_id.strip().lower()
