"""``python -m evaluation.real_bugs``: ``find_bugs`` on real bugs, the files before and after
fix commits of public projects, none of which anything here was tuned on.

``mine`` walks the history of git mirrors (``/work/.mirror/<owner>+<name>/repo``, brought by
the session's ``fetch`` tool; any bare clone works) for commits that say they fix a bug and
change a few lines (at most ``MAX_CHANGED`` added plus removed, at least one removed) of one
non-test source file, and writes them to ``evaluation/real_bugs.json``: the fixed sample, with
the removed lines as the bug's place. ``score`` runs the engine (``tasks.engine.run_task``,
kind ``find_bugs``, the default answer: likely bugs only) on each file before and after its
fix: a bug is found when a finding lies within a line of a removed line and the fix made it
go (its rule and message occur fewer times after). False alarms: findings on the fixed files,
per 1,000 lines. Nothing here runs the projects' code.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from schemas.tasks import TaskFinding
from tasks.compilers import compile_check
from tasks.engine import TaskInput, run_task
from tasks.mypy import run_mypy
from tasks.offsets import Offsets
from tasks.tsc import TSC_LANGUAGES, run_tsc

MIRRORS = Path("/work/.mirror")
SAMPLE = Path(__file__).with_name("real_bugs.json")
MAX_CHANGED = 8
PER_REPO = 40
#: The repositories mined (owner/name as GitHub spells them) and their main language.
REPOS: dict[str, str] = {
    "pallets/click": "python", "spf13/cobra": "go", "google/gson": "java",
    "expressjs/express": "javascript", "serde-rs/json": "rust", "DaveGamble/cJSON": "c",
    "colinhacks/zod": "typescript",
}
EXTENSIONS = {"python": (".py",), "go": (".go",), "java": (".java",),
              "javascript": (".js", ".mjs", ".cjs"), "typescript": (".ts",), "rust": (".rs",),
              "c": (".c", ".h")}
_SAYS_FIX = re.compile(r"\b(fix(es|ed)?|bug|crash(es)?|wrong|incorrect|broken|regression)\b",
                       re.IGNORECASE)
_NOT_A_BUG = re.compile(r"typo|doc|readme|changelog|\btests?\b|lint|style|format|\bci\b|"
                        r"build|warning|\bvet\b|clippy|deps|bump|spell|comment|version|"
                        r"release|merge", re.IGNORECASE)
_TESTS = re.compile(r"(^|/)(tests?|spec|__tests__|examples?|benches|docs?|fuzz)/|_test\.go$|"
                    r"Test\w*\.java$|\.test\.[jt]s$|\.spec\.[jt]s$|(^|/)test_\w+\.py$")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Bug:
    repo: str
    commit: str
    path: str
    language: str
    #: 1-based lines of the file before the fix that the fix removed or changed.
    lines: tuple[int, ...]
    subject: str


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True,
                          text=True, errors="replace", check=True, timeout=120).stdout


def mine(repo_name: str, language: str, limit: int) -> list[Bug]:
    """Fix commits of one repository, newest first, at most ``limit``."""
    repo = MIRRORS / repo_name.replace("/", "+") / "repo"
    log = _git(repo, "log", "--no-merges", "--format=%H%x00%s", "-n", "20000")
    found: list[Bug] = []
    for line in log.splitlines():
        commit, _, subject = line.partition("\x00")
        if not _SAYS_FIX.search(subject) or _NOT_A_BUG.search(subject):
            continue
        stats = [row.split("\t") for row in _git(repo, "diff-tree", "--no-commit-id",
                                                 "--numstat", "-r", commit).splitlines()]
        sources = [s for s in stats if len(s) == 3 and s[2].endswith(EXTENSIONS[language])
                   and not _TESTS.search(s[2])]
        if len(sources) != 1 or not sources[0][0].isdigit():
            continue
        added, removed, path = int(sources[0][0]), int(sources[0][1]), sources[0][2]
        if removed < 1 or added + removed > MAX_CHANGED:
            continue
        diff = _git(repo, "diff", "-U0", f"{commit}^", commit, "--", path)
        lines: list[int] = []
        for start, count in _HUNK.findall(diff):
            n = 1 if count == "" else int(count)
            lines.extend(range(int(start), int(start) + n))
        if lines:
            found.append(Bug(repo_name, commit, path, language, tuple(lines), subject[:120]))
        if len(found) >= limit:
            break
    return found


def _findings(text: str, language: str, uri: str) -> list[TaskFinding]:
    items = run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None)
    return [i for i in items if isinstance(i, TaskFinding) and i.severity != "hint"]


def _seen(text: str, language: str, uri: str) -> list[TaskFinding]:
    """Everything the language's compiler and type checker say (every severity and code, none
    of the filters that keep find_bugs to likely bugs): what they can see of a bug."""
    checked = compile_check(text, language, uri)
    found = [TaskFinding(d.start, d.end, d.severity, d.rule, d.message)
             for d in (checked.diagnostics if checked is not None and checked.ran else [])]
    if language == "python":
        found += [TaskFinding(d.start, d.end, d.severity, d.rule, d.message)
                  for d in run_mypy(text, every=True)]
    elif language in TSC_LANGUAGES:
        found += [TaskFinding(d.start, d.end, d.severity, d.rule, d.message)
                  for d in run_tsc(text, language, every=True)]
    return found


def _hit(old: list[TaskFinding], new: list[TaskFinding], before: str, lines: tuple[int, ...]
         ) -> TaskFinding | None:
    """A finding on the file before the fix within a line of a line the fix removed, which
    the fix made go (its rule and message occur fewer times after)."""
    remaining = Counter((f.rule, f.message) for f in new)
    offsets = Offsets(before)
    wanted = {n - 1 for line in lines for n in (line - 1, line, line + 1)}
    for finding in old:
        first = offsets.line_of(finding.start)
        last = offsets.line_of(max(finding.start, finding.end - 1))
        key = (finding.rule, finding.message)
        if wanted & set(range(first, last + 1)) and remaining[key] < sum(
                (f.rule, f.message) == key for f in old):
            return finding
    return None


def score(bugs: list[Bug], seeable: bool = False) -> dict[str, Any]:
    per_language: dict[str, Counter[str]] = {}
    hits: list[dict[str, Any]] = []
    alarms: Counter[str] = Counter()
    started = time.perf_counter()
    for bug in bugs:
        repo = MIRRORS / bug.repo.replace("/", "+") / "repo"
        counts = per_language.setdefault(bug.language, Counter())
        try:
            before = _git(repo, "show", f"{bug.commit}^:{bug.path}")
            after = _git(repo, "show", f"{bug.commit}:{bug.path}")
        except subprocess.CalledProcessError:
            counts["unreadable"] += 1
            continue
        uri = f"file:///{bug.repo}/{bug.path}"
        old = _findings(before, bug.language, uri)
        new = _findings(after, bug.language, uri)
        counts["bugs"] += 1
        counts["lines_after"] += after.count("\n") + 1
        counts["findings_after"] += len(new)
        alarms.update(f"{bug.language} {f.rule}" for f in new)
        hit = _hit(old, new, before, bug.lines)
        seen = (_hit(_seen(before, bug.language, uri), _seen(after, bug.language, uri),
                     before, bug.lines) if seeable else None)
        if seen is not None:
            counts["seeable"] += 1
            counts["seeable_found"] += hit is not None
        if hit is not None:
            counts["found"] += 1
            hits.append({"repo": bug.repo, "commit": bug.commit[:12], "path": bug.path,
                         "rule": hit.rule, "message": hit.message[:160]})
    total = Counter[str]()
    for counts in per_language.values():
        total.update(counts)
    return {"languages": {k: dict(v) for k, v in sorted(per_language.items())},
            "total": dict(total), "hits": hits,
            "alarms": dict(alarms.most_common()), "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("mine", "score"))
    parser.add_argument("--per-repo", type=int, default=PER_REPO)
    parser.add_argument("--json", help="also write the scores here")
    parser.add_argument("--seeable", action="store_true",
                        help="also count the bugs the compiler or type checker can see (every "
                             "error and warning it gives, unfiltered) and the recall on those")
    args = parser.parse_args(argv)
    if args.command == "mine":
        bugs = [b for name, language in REPOS.items()
                for b in mine(name, language, args.per_repo)]
        SAMPLE.write_text(json.dumps([asdict(b) for b in bugs], indent=1) + "\n")
        print(f"{len(bugs)} fix commits -> {SAMPLE}")
        for name in REPOS:
            print(f"  {name}: {sum(b.repo == name for b in bugs)}")
        return 0
    bugs = [Bug(**{**row, "lines": tuple(row["lines"])}) for row in json.loads(SAMPLE.read_text())]
    result = score(bugs, args.seeable)
    print(f"find_bugs on {result['total'].get('bugs', 0)} real bugs (files before and after "
          f"their fix commits), {result['seconds']:.0f} s")
    print(f"{'language':12s} {'bugs':>5s} {'found':>6s} {'recall':>7s} "
          f"{'findings after':>15s} {'per 1,000 lines':>16s}")
    for language, row in [*result["languages"].items(), ("all", result["total"])]:
        bugs_n, found = row.get("bugs", 0), row.get("found", 0)
        per_1000 = 1000 * row.get("findings_after", 0) / max(1, row.get("lines_after", 0))
        print(f"{language:12s} {bugs_n:5d} {found:6d} {found / max(1, bugs_n):7.3f} "
              f"{row.get('findings_after', 0):15d} {per_1000:16.2f}"
              + (f"   seeable {row.get('seeable', 0)}, found {row.get('seeable_found', 0)}"
                 if args.seeable else ""))
    print("findings on the fixed files, by rule: " + ", ".join(
        f"{rule} {n}" for rule, n in list(result["alarms"].items())[:15]))
    for hit in result["hits"]:
        print(f"  found: {hit['repo']} {hit['commit']} {hit['path']}: {hit['rule']} "
              f"{hit['message']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
