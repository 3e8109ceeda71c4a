"""The corpus manifest's files as text, by split: what training and evaluation read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from model import corpus

MANIFEST = Path(".stack/corpus/manifest.jsonl")


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    package: str
    language: str
    text: str


def ensure_manifest(path: Path = MANIFEST) -> Path:
    """The manifest, built first if missing (``python -m model.corpus``)."""
    if not path.exists():
        corpus.main(["--out", str(path)])
    return path


def manifest_digest(path: Path = MANIFEST) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(split: str, path: Path = MANIFEST) -> list[SourceFile]:
    """Every file of ``split`` ("train" or "heldout") in manifest order; unreadable or changed
    files are skipped (their hash no longer matches)."""
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
