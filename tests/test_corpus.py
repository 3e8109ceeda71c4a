"""The corpus: permissive licences only, each file once, a held-out split by package."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.corpus import build, locked_names, looks_written_by_hand, permissive, split_of


@pytest.mark.parametrize(("expression", "expected"), [
    ("MIT", "MIT"), ("Apache 2.0", "Apache-2.0"), ("BSD-3-Clause", "BSD-3-Clause"),
    ("GPL-3.0-only OR MIT", "MIT"), ("(LGPL-2.1 OR Apache-2.0)", "Apache-2.0"),
    ("GPL-3.0", None), ("AGPL-3.0-or-later", None), ("Proprietary", None), ("", None),
])
def test_only_permissive_licences(expression: str, expected: str | None) -> None:
    assert permissive(expression) == expected


def test_split_is_by_package_and_stable() -> None:
    names = [f"pkg{n}" for n in range(1000)]
    held = [n for n in names if split_of(n) == "heldout"]
    assert 60 < len(held) < 140, "about one package in ten is held out"
    assert [split_of(n) for n in names] == [split_of(n) for n in names]


def test_duplicates_generated_files_and_unknown_languages_are_left_out(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a.py").write_text("def f():\n    return 1\n")
    (two / "copy.py").write_text("def f():\n    return 1   \n\n")  # same code, other spaces
    (two / "b.rs").write_text("fn main() {}\n")
    (two / "bundle.min.js").write_text("var a=1;" * 500)  # one 4,000-character line
    (two / "data.bin").write_bytes(b"\x00\x01")
    corpus = build([("one", "MIT", sorted(one.iterdir())),
                    ("two", "Apache-2.0", sorted(two.iterdir()))])
    assert sorted((e.package, Path(e.path).name, e.language) for e in corpus) == [
        ("one", "a.py", "python"), ("two", "b.rs", "rust")]
    assert {e.licence for e in corpus} == {"MIT", "Apache-2.0"}
    assert all(e.split == split_of(e.package) for e in corpus)


def test_hand_written_check() -> None:
    assert looks_written_by_hand(b"x = 1\n")
    assert not looks_written_by_hand(b"")
    assert not looks_written_by_hand(b"a" * 2000)
    assert not looks_written_by_hand(b"\x00abc")


def test_only_locked_distributions_count_with_names_normalized(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# pins\nFaust_Streaming==0.15.3\nzope.interface==7.0  # a comment\n\n")
    assert locked_names(lock) == {"faust-streaming", "zope-interface"}
