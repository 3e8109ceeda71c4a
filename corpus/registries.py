"""``python -m corpus.registries``: well-known, permissively licensed packages of other languages,
fetched by each registry's own client for the training corpus.

A named list (tens of packages, not thousands) with pinned versions: Java, Kotlin and Scala
source jars from Maven Central (``mvn dependency:get``), Rust crates from crates.io (``cargo
vendor``), Go modules from the Go module proxy (``go mod download``) and TypeScript sources from
npm (``npm pack``). Each package's licence is the one the list declares, checked against what the
package itself says where it says it (``Cargo.toml``, ``package.json``, a ``LICENSE`` file); a
mismatch refuses the package. One package per language is marked held out, so the held-out split
has every language. Benchmark packages are refused (``corpus.benchmarks``).

The sources land in ``.stack/corpus/registries/<registry>/<name>-<version>/`` with
``sources.json`` listing them; ``python -m corpus.manifest`` reads that list.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.benchmarks import refusal

ROOT = Path(".stack/corpus/registries")
FETCH_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class Package:
    registry: str  # maven | cargo | go | npm
    name: str
    version: str
    language: str
    licence: str  # SPDX id, as the package declares it
    heldout: bool = False

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}"


PACKAGES: tuple[Package, ...] = (
    Package("maven", "org.apache.commons:commons-lang3", "3.17.0", "java", "Apache-2.0"),
    Package("maven", "commons-io:commons-io", "2.18.0", "java", "Apache-2.0"),
    Package("maven", "org.apache.commons:commons-collections4", "4.4", "java", "Apache-2.0"),
    Package("maven", "com.google.code.gson:gson", "2.11.0", "java", "Apache-2.0"),
    Package("maven", "org.slf4j:slf4j-api", "2.0.16", "java", "MIT"),
    Package("maven", "com.fasterxml.jackson.core:jackson-core", "2.18.2", "java", "Apache-2.0",
            heldout=True),
    Package("maven", "org.jetbrains.kotlinx:kotlinx-coroutines-core-jvm", "1.9.0", "kotlin",
            "Apache-2.0"),
    Package("maven", "com.squareup.okio:okio-jvm", "3.9.1", "kotlin", "Apache-2.0"),
    Package("maven", "com.squareup.okhttp3:okhttp", "4.12.0", "kotlin", "Apache-2.0"),
    Package("maven", "org.jetbrains.kotlinx:kotlinx-serialization-core-jvm", "1.7.3", "kotlin",
            "Apache-2.0", heldout=True),
    Package("maven", "org.scala-lang:scala-library", "2.13.15", "scala", "Apache-2.0"),
    Package("maven", "org.typelevel:cats-core_2.13", "2.12.0", "scala", "MIT"),
    Package("maven", "com.lihaoyi:os-lib_2.13", "0.11.3", "scala", "MIT", heldout=True),
    Package("maven", "com.lihaoyi:fastparse_2.13", "3.1.1", "scala", "MIT", heldout=True),
    Package("cargo", "serde", "1.0.210", "rust", "MIT OR Apache-2.0"),
    Package("cargo", "serde_json", "1.0.128", "rust", "MIT OR Apache-2.0"),
    Package("cargo", "anyhow", "1.0.89", "rust", "MIT OR Apache-2.0"),
    Package("cargo", "itertools", "0.13.0", "rust", "MIT OR Apache-2.0"),
    Package("cargo", "log", "0.4.22", "rust", "MIT OR Apache-2.0"),
    Package("cargo", "memchr", "2.7.4", "rust", "Unlicense OR MIT"),
    Package("cargo", "smallvec", "1.13.2", "rust", "MIT OR Apache-2.0", heldout=True),
    Package("cargo", "bytes", "1.7.2", "rust", "MIT", heldout=True),
    Package("go", "github.com/google/uuid", "v1.6.0", "go", "BSD-3-Clause"),
    Package("go", "github.com/pkg/errors", "v0.9.1", "go", "BSD-2-Clause"),
    Package("go", "github.com/spf13/cobra", "v1.8.1", "go", "Apache-2.0"),
    Package("go", "github.com/spf13/pflag", "v1.0.5", "go", "BSD-3-Clause"),
    Package("go", "github.com/sirupsen/logrus", "v1.9.3", "go", "MIT"),
    Package("go", "github.com/go-chi/chi/v5", "v5.2.3", "go", "MIT", heldout=True),
    Package("go", "github.com/gorilla/mux", "v1.8.1", "go", "BSD-3-Clause", heldout=True),
    Package("npm", "rxjs", "7.8.1", "typescript", "Apache-2.0"),
    Package("npm", "effect", "3.10.0", "typescript", "MIT"),
    Package("npm", "immer", "10.1.1", "typescript", "MIT"),
    Package("npm", "mobx", "6.13.5", "typescript", "MIT", heldout=True),
)


def licence_of_text(text: str) -> str | None:
    """The SPDX id of a licence file's text, for the licences this list uses."""
    flat = " ".join(text.split())
    if "Apache License" in flat and "Version 2.0" in flat:
        return "Apache-2.0"
    if "Permission is hereby granted, free of charge" in flat:
        return "MIT"
    if "Redistribution and use in source and binary forms" in flat:
        return "BSD-3-Clause" if "Neither the name" in flat or "names of its" in flat \
            else "BSD-2-Clause"
    if "This is free and unencumbered software released into the public domain" in flat:
        return "Unlicense"
    return None


#: Words of licences that put conditions on the code's use (copyleft): a licence file with them
#: refuses the package whatever the list says.
COPYLEFT = ("GNU GENERAL PUBLIC LICENSE", "GNU LESSER GENERAL PUBLIC", "GNU AFFERO",
            "Mozilla Public License", "Eclipse Public License", "European Union Public Licen",
            "Common Development and Distribution License")


def declared_matches(declared: str, found: str) -> bool:
    """Whether a licence the package states (an SPDX id or expression) agrees with the list's:
    an ``AND`` needs every part to be one the list allows, an ``OR`` one of them."""
    def ids(expression: str) -> set[str]:
        return {p.strip("() ") for p in re.split(r"\s+OR\s+|/", expression) if p.strip()}
    allowed = ids(declared)
    for choice in ids(found):
        parts = {p.strip("() ") for p in re.split(r"\s+AND\s+", choice)}
        if parts <= allowed:
            return True
    return False


def _licence_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and
                  re.fullmatch(r"(?i)(licen[cs]e|copying)(\.[a-z]+)?|licen[cs]e-(mit|apache)",
                               p.name))


def check_licence(package: Package, directory: Path, stated: str | None) -> str:
    """How the licence was confirmed; raises ``ValueError`` when the package says otherwise: its
    metadata, any licence file read as another licence, or one with copyleft terms."""
    confirmed = []
    if stated:
        if not declared_matches(package.licence, stated):
            raise ValueError(f"{package.key} states licence {stated!r}, the list says "
                             f"{package.licence!r}")
        confirmed.append("package metadata")
    for path in _licence_files(directory):
        text = path.read_text(errors="replace")
        flat = " ".join(text.split())
        if any(word.lower() in flat.lower() for word in COPYLEFT):
            raise ValueError(f"{package.key}: {path.name} has copyleft terms")
        found = licence_of_text(text)
        if found is not None:
            if not declared_matches(package.licence, found):
                raise ValueError(f"{package.key}: {path.name} reads as {found}, the list says "
                                 f"{package.licence!r}")
            confirmed.append(f"licence file {path.name}")
    if confirmed:
        return ", ".join(dict.fromkeys(confirmed))
    return "declared by the list (the package ships no licence text)"


def _run(command: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          timeout=FETCH_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {(done.stderr or done.stdout)[-400:]}")
    return done.stdout


def _fetch_maven(package: Package, into: Path) -> str | None:
    artifact = f"{package.name}:{package.version}"
    _run(["mvn", "-q", "-B", "dependency:get", f"-Dartifact={artifact}:jar:sources",
          "-Dtransitive=false"])
    group, name = package.name.split(":")
    jar = (Path.home() / ".m2" / "repository" / Path(*group.split(".")) / name / package.version
           / f"{name}-{package.version}-sources.jar")
    root = into.resolve()
    with zipfile.ZipFile(jar) as archive:
        for member in archive.infolist():
            target = (into / member.filename).resolve()
            if member.is_dir() or not target.is_relative_to(root):
                continue  # directories come with their files; nothing may land outside
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
    return None


def _fetch_cargo(package: Package, into: Path) -> str | None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "src").mkdir()
        (work / "src" / "lib.rs").write_text("")
        (work / "Cargo.toml").write_text(
            '[package]\nname = "corpus-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
            f'[dependencies]\n{package.name} = "={package.version}"\n')
        _run(["cargo", "vendor", "--versioned-dirs", "-q", "vendor"], cwd=work)
        source = work / "vendor" / f"{package.name}-{package.version}"
        shutil.copytree(source, into, dirs_exist_ok=True)
    manifest = (into / "Cargo.toml").read_text()
    match = re.search(r'^license\s*=\s*"([^"]+)"', manifest, re.MULTILINE)
    return match.group(1) if match else None


def _fetch_go(package: Package, into: Path) -> str | None:
    info = json.loads(_run(["go", "mod", "download", "-json", f"{package.name}@{package.version}"]))
    shutil.copytree(info["Dir"], into, dirs_exist_ok=True)
    for path in into.rglob("*"):  # the module cache is read-only; our copy need not be
        path.chmod(0o755 if path.is_dir() else 0o644)
    return None


def _fetch_npm(package: Package, into: Path) -> str | None:
    with tempfile.TemporaryDirectory() as scratch:
        name = _run(["npm", "pack", f"{package.name}@{package.version}", "--silent"],
                    cwd=Path(scratch)).strip().splitlines()[-1]
        with tarfile.open(Path(scratch) / name) as archive:
            archive.extractall(into, filter="data")
    meta = json.loads((into / "package" / "package.json").read_text())
    return str(meta.get("license", "")) or None


FETCHERS = {"maven": _fetch_maven, "cargo": _fetch_cargo, "go": _fetch_go, "npm": _fetch_npm}


def fetch(package: Package, root: Path = ROOT) -> dict[str, object]:
    """Fetches one package into ``root`` and returns its record for ``sources.json``."""
    reason = refusal(package.key)
    if reason is not None:
        raise ValueError(reason)
    into = root / package.registry / f"{package.name.replace('/', '_').replace(':', '_')}-" \
        f"{package.version}"
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    stated = FETCHERS[package.registry](package, into)
    confirmed = check_licence(package, into, stated)
    return {**asdict(package), "directory": str(into), "licence_confirmed_by": confirmed}


def load(root: Path = ROOT) -> list[dict[str, object]]:
    """The fetched packages' records (none when ``python -m corpus.registries`` never ran)."""
    listing = root / "sources.json"
    return json.loads(listing.read_text()) if listing.exists() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.registries")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    records = []
    failed = 0
    for package in PACKAGES:
        try:
            records.append(fetch(package, args.root))
            print(f"  {package.key} {package.version}: {package.licence}"
                  f"{' (held out)' if package.heldout else ''}", file=sys.stderr)
        except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as error:
            failed += 1
            print(f"  {package.key} {package.version}: left out: {error}", file=sys.stderr)
    (args.root / "sources.json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} packages fetched, {failed} left out -> {args.root / 'sources.json'}",
          file=sys.stderr)
    return 0 if records else 1


if __name__ == "__main__":
    raise SystemExit(main())
