"""50+ languages by LSP id, alias or file name, each with its comment syntax and block style."""

from __future__ import annotations

import pytest

from documents.languages import LANGUAGES, by_id, by_path, canonical_id, resolve


def test_more_than_fifty_languages_each_extension_once() -> None:
    assert len(LANGUAGES) >= 50
    ids = [language.id for language in LANGUAGES]
    assert len(ids) == len(set(ids))
    extensions = [ext for language in LANGUAGES for ext in language.extensions]
    assert len(extensions) == len(set(extensions)), "an extension names one language"
    aliases = [a for language in LANGUAGES for a in language.aliases]
    assert not set(aliases) & set(ids) and len(aliases) == len(set(aliases))
    assert all(language.line_comment or language.block_comment or language.id == "json"
               for language in LANGUAGES)


@pytest.mark.parametrize(("language_id", "uri", "expected"), [
    ("python", "file:///a.txt", "python"),
    ("PY", "file:///a", "python"),
    ("golang", "file:///main.go", "go"),
    ("plaintext", "file:///src/lib.rs", "rust"),
    ("", "file:///x/Dockerfile", "dockerfile"),
    ("unknown-lang", "file:///x/App.TSX", "typescriptreact"),
    ("unknown-lang", "file:///x/README", None),
])
def test_resolve(language_id: str, uri: str, expected: str | None) -> None:
    found = resolve(language_id, uri)
    assert (found.id if found else None) == expected


def test_canonical_id_keeps_an_unknown_id_lowercased() -> None:
    assert canonical_id("COBOL", "file:///x") == "cobol"
    assert canonical_id("Brainfuck", "file:///x.bf") == "brainfuck"


def test_comment_syntax_and_blocks() -> None:
    python, rust, ruby = by_id("python"), by_id("rust"), by_path("file:///x.rb")
    assert python is not None and (python.line_comment, python.blocks) == ("#", "indent")
    assert rust is not None and (rust.block_comment, rust.blocks) == (("/*", "*/"), "braces")
    assert ruby is not None and ruby.blocks == "keyword"
