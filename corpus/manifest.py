"""``python -m corpus.manifest``: the training corpus, from code this machine already has under a
permissive licence, with the licence of every file recorded, duplicates removed and a held-out
split by package that training never reads.

Sources: the Python standard library (PSF-2.0), the installed Python distributions whose licence
is permissive (from their metadata: ``License-Expression``, ``License`` or the trove
classifiers), the Node packages installed globally (``package.json``'s ``license``), and the
named packages of other languages that ``python -m corpus.registries`` fetched (Java, Kotlin,
Scala, Rust, Go, TypeScript; their own files' language only, held out as that list says). The
manifest lists files by path with package, licence, language (``documents.languages``), size, a
content hash and the split; the code itself stays where it is installed. Public code-evaluation
sets are refused (``corpus.benchmarks``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import re
import sys
import sysconfig
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus import registries
from corpus.benchmarks import refusal
from documents.languages import by_path

#: (package, licence, files, split or None for the hashed split, language or None for any).
Source = tuple[str, str, Iterable[Path], str | None, str | None]

#: Licences whose code may be trained on and whose models may be shipped without conditions
#: beyond attribution (SPDX ids, and how metadata commonly spells them).
PERMISSIVE = {
    "mit": "MIT", "mit license": "MIT", "bsd": "BSD", "bsd license": "BSD",
    "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "0bsd": "0BSD",
    "apache-2.0": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache 2": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "isc": "ISC", "isc license (iscl)": "ISC", "psf-2.0": "PSF-2.0", "psf": "PSF-2.0",
    "python software foundation license": "PSF-2.0", "unlicense": "Unlicense",
    "the unlicense (unlicense)": "Unlicense", "zlib": "Zlib", "artistic-2.0": "Artistic-2.0",
}
LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"
#: Files larger than this are data or generated code, not what people type.
MAX_FILE_BYTES = 200_000
#: One package in this many goes to the held-out split (by a hash of its name).
HELD_OUT_ONE_IN = 10


@dataclass(frozen=True, slots=True)
class Entry:
    package: str
    licence: str
    path: str
    language: str
    bytes: int
    sha256: str
    split: str


def permissive(expression: str) -> str | None:
    """The SPDX id of a permissive licence named by ``expression`` (``A OR B``: the first
    permissive one), else ``None``."""
    for part in expression.replace("(", " ").replace(")", " ").split(" OR "):
        found = PERMISSIVE.get(part.strip().lower())
        if found is not None:
            return found
    return None


def distribution_licence(metadata: importlib.metadata.PackageMetadata) -> str | None:
    for field in ("License-Expression", "License"):
        value = _first(metadata, field).strip()
        if value and "\n" not in value and len(value) < 80:
            found = permissive(value)
            if found is not None:
                return found
    for classifier in metadata.get_all("Classifier") or []:
        if classifier.startswith("License :: OSI Approved :: "):
            found = permissive(classifier.rsplit("::", 1)[1])
            if found is not None:
                return found
    return None


def _first(metadata: importlib.metadata.PackageMetadata, field: str) -> str:
    values = metadata.get_all(field) or []
    return str(values[0]) if values else ""


def split_of(package: str) -> str:
    digest = hashlib.sha256(package.lower().encode()).digest()
    return "heldout" if digest[0] % HELD_OUT_ONE_IN == 0 else "train"


def looks_written_by_hand(data: bytes) -> bool:
    """Not minified or generated: no line over 1,000 characters, mostly printable text."""
    if not data or b"\x00" in data:
        return False
    return max(len(line) for line in data.split(b"\n")) <= 1000


def entries(package: str, licence: str, files: Iterable[Path], split: str | None = None,
            only: str | None = None) -> Iterator[Entry]:
    split = split or split_of(package)
    for path in files:
        language = by_path(path.name)
        if language is None or not path.is_file() or (only is not None and language.id != only) \
                or path.name.endswith(".d.ts"):
            continue
        try:
            size = path.stat().st_size
            if not 0 < size <= MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if not looks_written_by_hand(data):
            continue
        normalized = b"\n".join(line.rstrip() for line in data.strip().split(b"\n"))
        yield Entry(package, licence, str(path), language.id, size,
                    hashlib.sha256(normalized).hexdigest(), split)


def stdlib_files() -> Iterator[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        parts = set(path.relative_to(root).parts)
        if not parts & {"site-packages", "test", "tests", "idlelib", "__pycache__"}:
            yield path


def locked_names(lock: Path = LOCK_FILE) -> frozenset[str]:
    """Distribution names pinned in ``requirements.lock``, normalized as PyPI does."""
    names = set()
    for line in lock.read_text().splitlines():
        name = line.split("#", 1)[0].split("==", 1)[0].strip()
        if name:
            names.add(re.sub(r"[-_.]+", "-", name).lower())
    return frozenset(names)


def sources() -> Iterator[Source]:
    """(package, licence, files) of every permissively licensed source on this machine: the
    standard library, the project's locked distributions (not whatever else is installed, such as
    the training tools, so the corpus is the same wherever the project is installed) and the
    global Node packages."""
    yield "python-stdlib", "PSF-2.0", stdlib_files(), None, None
    locked = locked_names()
    for dist in importlib.metadata.distributions():
        licence = distribution_licence(dist.metadata)
        name = _first(dist.metadata, "Name")
        if licence is None or not name or re.sub(r"[-_.]+", "-", name).lower() not in locked:
            continue
        files = [Path(str(dist.locate_file(f))) for f in dist.files or []]
        yield f"pypi:{name.lower()}", licence, files, None, None
    for manifest in sorted(Path("/usr/lib/node_modules").glob("*/package.json")):
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        licence = permissive(str(meta.get("license", "")))
        if licence is not None:
            yield f"npm:{meta.get('name', manifest.parent.name)}", licence, sorted(
                p for p in manifest.parent.rglob("*") if "test" not in p.parts), None, None
    for record in registries.load():
        yield (f"{record['registry']}:{record['name']}", str(record["licence"]),
               sorted(Path(str(record["directory"])).rglob("*")),
               "heldout" if record["heldout"] else "train", str(record["language"]))


def build(found: Iterable[Source], refused: list[str] | None = None) -> list[Entry]:
    """Every file of every source, the first copy of each content only; a benchmark package (or
    one carrying a benchmark's data) is left out whole and its reason added to ``refused``."""
    seen: set[str] = set()
    out = []
    for package, licence, listed, split, only in found:
        files = list(listed)
        reason = refusal(package, (str(f) for f in files))
        if reason is not None:
            if refused is not None:
                refused.append(reason)
            continue
        for entry in entries(package, licence, files, split, only):
            if entry.sha256 not in seen:
                seen.add(entry.sha256)
                out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.manifest")
    parser.add_argument("--out", type=Path, default=Path(".stack/corpus/manifest.jsonl"))
    args = parser.parse_args(argv)
    refused: list[str] = []
    corpus = build(sources(), refused)
    for reason in refused:
        print(f"refused: {reason}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for entry in corpus:
            out.write(json.dumps(asdict(entry)) + "\n")
    by_language = Counter(e.language for e in corpus)
    by_licence = Counter(e.licence for e in corpus)
    by_split = Counter(e.split for e in corpus)
    megabytes = sum(e.bytes for e in corpus) / 1e6
    print(f"{len(corpus)} files, {megabytes:.1f} MB, {len(by_language)} languages -> {args.out}",
          file=sys.stderr)
    print(f"  splits: {dict(by_split)}", file=sys.stderr)
    print(f"  languages: {dict(by_language.most_common())}", file=sys.stderr)
    print(f"  licences: {dict(by_licence.most_common())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
