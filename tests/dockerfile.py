"""Just enough of a Dockerfile reader for the image tests: stages, ARGs and the COPY
instructions, and the build context as `.dockerignore` leaves it. No daemon and no registry
reach this machine, so the tests lay out what each image's COPY lines would put where and
check that (tests/test_images.py)."""

from __future__ import annotations

import fnmatch
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str
    #: The stage it copies from (``None``: the build context).
    stage: str | None


@dataclass
class Stage:
    base: str
    name: str | None
    workdir: str = "/"
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Dockerfile:
    #: ARGs declared before the first FROM, with their defaults.
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def parse(text: str) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for word, rest in _instructions(text):
        if word == "FROM":
            parts = rest.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) == 3 else None))
        elif word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif not stages:
            continue
        elif word == "WORKDIR":
            stages[-1].workdir = rest
        elif word == "RUN":
            stages[-1].runs.append(rest)
        elif word == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", rest):
                stages[-1].env[name] = value
        elif word == "COPY":
            parts = rest.split()
            stage = next((p.split("=", 1)[1] for p in parts if p.startswith("--from=")), None)
            paths = [p for p in parts if not p.startswith("--")]
            stages[-1].copies.append(Copy(tuple(paths[:-1]), paths[-1], stage))
    return Dockerfile(args, stages)


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether `.dockerignore`'s ``patterns`` leave ``relative`` (a path in the context) out:
    a pattern names a path or any folder above it; ``**/`` matches at any depth."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def ignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def lay_out(stage: Stage, context: Path, root: Path) -> list[str]:
    """Copy what ``stage``'s context COPY lines take from ``context`` to ``root`` (the image's
    ``/``); the sources that the ignore file left out or that do not exist, for the caller to
    fail on."""
    patterns = ignore_patterns(context)
    missing: list[str] = []
    for copy in stage.copies:
        if copy.stage is not None:
            continue
        target = root / (copy.destination if copy.destination.startswith("/")
                         else f"{stage.workdir}/{copy.destination}").lstrip("/")
        for source in copy.sources:
            path = context / source
            if not path.exists() or ignored(source.rstrip("/"), patterns):
                missing.append(source)
                continue
            if path.is_dir():
                for file in path.rglob("*"):
                    relative = file.relative_to(context).as_posix()
                    if file.is_file() and not ignored(relative, patterns):
                        dest = target / file.relative_to(path)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(file, dest)
            else:
                dest = target / path.name if copy.destination.endswith("/") else target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
    return missing
