"""``python -m evaluation.explain_sample``: ``explain`` on a fixed random sample of functions
no one here wrote (Python's standard library, Go's, this project's VS Code extension in
TypeScript), printed with their source for a person to read every statement against the code.

The issue's target is a sample of 20 read with no false statement; docs/TASKS.md quotes the
last reading. The code model is asked where a function has no doc comment of its own.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

from tasks.explain import explain
from tasks.filler import ModelFiller
from tasks.structure import definitions
from training import model_dir

ROOT = Path(__file__).resolve().parent.parent


def _sources() -> dict[str, list[Path]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    goroot = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                                 check=True).stdout.strip())
    go = [p for package in ("strings", "sort", "strconv")
          for p in sorted((goroot / "src" / package).glob("*.go")) if "_test" not in p.name]
    return {"python": sorted(stdlib.glob("*.py")), "go": go,
            "typescript": sorted((ROOT / "editors" / "vscode" / "src").glob("*.ts"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--brief", action="store_true",
                        help="one line per function: its summary and control flow")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible sample
    filler = ModelFiller(model_dir.MODEL_DIR)
    sources = _sources()
    seen: set[tuple[str, str]] = set()
    for language, count in (("python", 8), ("go", 7), ("typescript", 5)):
        got = 0
        while got < count:
            path = rng.choice(sources[language])
            text = path.read_text(encoding="utf-8")
            found = [d for d in definitions(text, language, 0, len(text))
                     if d.kind == "function" and d.name and (str(path), d.name) not in seen
                     and 4 < text.count("\n", d.start, d.end) < 40]
            if not found:
                continue
            d = rng.choice(found)
            seen.add((str(path), d.name))
            said = "".join(explain(text, language, d.start + 1, d.start + 1, filler))
            if args.brief:
                summary = said.split("\n")[1].split(". ", 1)[-1] if ". " in said.split(
                    "\n")[1] else "(no summary)"
                flow = said.rsplit("**Control flow** ", 1)[-1].strip()
                print(f"| {language} | `{path.name}` `{d.name}` | {summary} | {flow} |")
            else:
                print(f"{'=' * 20} {language} {path.name} {d.name}\n{text[d.start:d.end]}\n"
                      f"{'-' * 20}\n{said}")
            got += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
