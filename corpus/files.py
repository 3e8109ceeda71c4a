"""The corpus manifest's files as text, by split: what training and evaluation read.

The files can also be packed into one compressed file (``python -m corpus.files
--pack OUT``) that travels where the manifest's paths do not exist: an accelerator machine that
trains on them (docs/MODEL.md). ``load`` and ``manifest_digest`` read either.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus import manifest

MANIFEST = Path(".stack/corpus/manifest.jsonl")
#: A pack's name ends so: xz-compressed JSON lines, a header then one line per file.
PACK_SUFFIX = ".jsonl.xz"


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    package: str
    language: str
    text: str


def ensure_manifest(path: Path = MANIFEST) -> Path:
    """The manifest, built first if missing (``python -m corpus.manifest``)."""
    if not path.exists():
        manifest.main(["--out", str(path)])
    return path


def is_pack(path: Path) -> bool:
    return path.name.endswith(PACK_SUFFIX)


def manifest_digest(path: Path = MANIFEST) -> str:
    """The manifest's SHA-256 (a pack's: of the manifest it was packed from)."""
    if is_pack(path):
        with lzma.open(path, "rt", encoding="utf-8") as handle:
            return str(json.loads(handle.readline())["manifest_sha256"])
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(split: str, path: Path = MANIFEST) -> list[SourceFile]:
    """Every file of ``split`` ("train" or "heldout") in manifest order, from the manifest (its
    unreadable files skipped) or from a pack."""
    if is_pack(path):
        with lzma.open(path, "rt", encoding="utf-8") as handle:
            handle.readline()  # the header
            return [SourceFile(**entry["file"]) for entry in map(json.loads, handle)
                    if entry["split"] == split]
    files = []
    for line in ensure_manifest(path).read_text().splitlines():
        entry = json.loads(line)
        if entry["split"] != split:
            continue
        try:
            data = Path(entry["path"]).read_bytes()
        except OSError:
            continue
        files.append(SourceFile(entry["path"], entry["package"], entry["language"],
                                data.decode("utf-8", errors="replace")))
    return files


def pack(out: Path, manifest: Path = MANIFEST) -> int:
    """Writes both splits' files, as ``load`` reads them from ``manifest``, into ``out``; returns
    how many files it holds."""
    if not is_pack(out):
        raise ValueError(f"a pack's name ends with {PACK_SUFFIX}: {out}")
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(out, "wt", encoding="utf-8", preset=6) as handle:
        handle.write(json.dumps({"manifest_sha256": manifest_digest(manifest)}) + "\n")
        for split in ("train", "heldout"):
            for file in load(split, manifest):
                handle.write(json.dumps({"split": split, "file": asdict(file)}) + "\n")
                count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.files")
    parser.add_argument("--pack", type=Path, required=True, metavar="OUT",
                        help=f"write the corpus's files into one compressed file (*{PACK_SUFFIX})")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args(argv)
    count = pack(args.pack, ensure_manifest(args.manifest))
    print(f"corpus_files: {count} files in {args.pack} ({args.pack.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
