"""``python -m evaluation.next_edits``: the next-edit rules replayed on real edit histories, the
commits of public projects (the git mirrors and projects of ``evaluation.real_bugs``), none of
which any rule was tuned on.

``mine`` walks each mirror's history for source files a commit changed where an identifier was
replaced by another (lines diffed, then each changed line's tokens against its counterpart with
as many tokens: one identifier for one identifier), and writes ``evaluation/next_edits.json``:
per commit, file and (old, new) pair, the positions the commit replaced. ``score`` replays
each: the user's edit is the first of those replacements, typed into the file as it was; the
engine proposes what follows, and a suggestion is right when every change it makes is one the
commit made (same place, same text), and consistent with it when the commit removed at least as
many uses of the old name and added as many of the new (renames on lines it also rewrote).
Precision: right / shown (exact, and consistent); recall: of the follow-up replacements that
really happened, those suggested exactly; baseline in the same run: no suggestion (recall 0, nothing shown).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.real_bugs import EXTENSIONS, MIRRORS, REPOS
from next_edits.engine import PRECISION, propose
from next_edits.repeat import argument_text, arguments_of, calls
from next_edits.signature import functions, parameter_change
from schemas.socket import TextEdit
from tasks.offsets import Offsets
from tasks.rename import parameter_list
from tasks.syntax import parse

SAMPLE = Path(__file__).with_name("next_edits.json")
#: Projects mined after every rule was settled (2026-12-07): none of their cases was looked at
#: before the rules' defaults were decided on them. The tuning set is ``SAMPLE``.
HELD_OUT_SAMPLE = Path(__file__).with_name("next_edits_heldout.json")
HELD_OUT: dict[str, str] = {
    "pallets/flask": "python", "gin-gonic/gin": "go", "jhy/jsoup": "java",
    "axios/axios": "javascript", "sindresorhus/ky": "typescript", "BurntSushi/ripgrep": "rust",
    "redis/hiredis": "c", "fmtlib/fmt": "cpp",
}
_EXTENSIONS = {**EXTENSIONS, "cpp": (".cc", ".cpp", ".hpp", ".h")}
PER_REPO = 150
#: Commits that change more lines than this are rewrites, not edits someone typed in a row.
MAX_CHANGED = 120
MAX_FILE_CHARS = 120_000
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d\w*|\S")
_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True, slots=True)
class Replacement:
    """In one commit's change of one file, the identifier ``old`` replaced by ``new`` at
    ``positions`` (code points of the file before)."""

    repo: str
    commit: str
    path: str
    language: str
    old: str
    new: str
    positions: tuple[int, ...]


def _git(repo: Path, *args: str) -> str:
    """git's output, or nothing when it fails (a path the parent commit does not have)."""
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True,
                          text=True, errors="replace", check=False, timeout=120).stdout


@functools.lru_cache(maxsize=64)
def commit_texts(repo_name: str, commit: str, path: str) -> tuple[str, str]:
    """``path`` as it was before ``commit`` and after it, from the project's mirror."""
    repo = MIRRORS / repo_name.replace("/", "+") / "repo"
    return (_git(repo, "show", f"{commit}^:{path}"), _git(repo, "show", f"{commit}:{path}"))


def replacements(before: str, after: str) -> dict[tuple[str, str], list[int]]:
    """Identifier-for-identifier replacements between two versions of a file: lines diffed
    first, then the tokens of each changed line against its counterpart (a replaced block of as
    many lines); (old, new) -> positions of ``old`` in ``before``."""
    old_lines = before.splitlines(keepends=True)
    new_lines = after.splitlines(keepends=True)
    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))
    found: dict[tuple[str, str], list[int]] = {}
    lines = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for op, i1, i2, j1, j2 in lines.get_opcodes():
        if op != "replace" or i2 - i1 != j2 - j1:
            continue
        for index, new_line in zip(range(i1, i2), new_lines[j1:j2], strict=True):
            a = [(m.group(), m.start()) for m in _TOKEN.finditer(old_lines[index])]
            b = [m.group() for m in _TOKEN.finditer(new_line)]
            if len(a) != len(b):
                continue
            for (old, at), new in zip(a, b, strict=True):
                if old != new and _NAME.fullmatch(old) and _NAME.fullmatch(new):
                    found.setdefault((old, new), []).append(starts[index] + at)
    return found


def generated(path: str, text: str) -> bool:
    """A bundle or minified file (``dist/axios.min.js``): built, not typed, so no edit of it is
    one a person made (found in the held-out set, where its one-letter renames were 4 of the 10
    wrong suggestions)."""
    lines = text.count("\n") + 1
    return ".min." in path or path.startswith(("dist/", "build/")) or "/dist/" in path \
        or len(text) / lines > 300


def mine(repo_name: str, language: str, limit: int) -> list[Replacement]:
    """Identifier replacements in one repository's commits, newest first, at most ``limit``."""
    repo = MIRRORS / repo_name.replace("/", "+") / "repo"
    found: list[Replacement] = []
    for commit in _git(repo, "log", "--no-merges", "--format=%H", "-n", "5000").split():
        stats = [row.split("\t") for row in _git(repo, "diff-tree", "--no-commit-id",
                                                 "--numstat", "-r", commit).splitlines()]
        for row in stats:
            if len(row) != 3 or not row[0].isdigit() or not row[2].endswith(_EXTENSIONS[language]):
                continue
            if int(row[0]) + int(row[1]) > MAX_CHANGED:
                continue
            before = _git(repo, "show", f"{commit}^:{row[2]}")
            after = _git(repo, "show", f"{commit}:{row[2]}")
            if not before or not after or max(len(before), len(after)) > MAX_FILE_CHARS \
                    or generated(row[2], before):
                continue
            for (old, new), positions in sorted(replacements(before, after).items()):
                found.append(Replacement(repo_name, commit[:12], row[2], language, old, new,
                                         tuple(positions)))
        if len(found) >= limit:
            break
    return found[:limit]


def _count(name: str, text: str) -> int:
    return len(re.findall(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text))


def _tokens(text: str) -> tuple[list[str], list[int]]:
    found = list(_TOKEN.finditer(text))
    return [m.group() for m in found], [m.start() for m in found]


def survives(result: str, places: list[int], after_commit: str) -> bool:
    """Whether every token starting at ``places`` of ``result`` (the file with the typed edit
    and the suggestion applied) is one the commit's own file has in the same place: the tokens
    of both aligned (their common start and end, then ``difflib`` on the rest), each place in a
    matching run. Unlike the token diff of lines, this sees a rename on a line the commit also
    rewrote, and it counts a suggestion wrong wherever the commit left something else."""
    ours, starts = _tokens(result)
    theirs, _ = _tokens(after_commit)
    head = 0
    while head < min(len(ours), len(theirs)) and ours[head] == theirs[head]:
        head += 1
    tail = 0
    while tail < min(len(ours), len(theirs)) - head and ours[-1 - tail] == theirs[-1 - tail]:
        tail += 1
    kept = set(range(head)) | set(range(len(ours) - tail, len(ours)))
    matcher = difflib.SequenceMatcher(None, ours[head:len(ours) - tail],
                                      theirs[head:len(theirs) - tail], autojunk=False)
    for block in matcher.get_matching_blocks():
        kept.update(range(head + block.a, head + block.a + block.size))
    index = {start: i for i, start in enumerate(starts)}
    return all(index.get(place) in kept for place in places)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One suggestion judged against the commit (:func:`judge`)."""

    exact: bool
    aligned: bool
    consistent: bool
    #: Follow-up replacements it suggested exactly.
    suggested: int


def typed_text(case: Replacement, before: str) -> str:
    """The file once the user has typed the new name over the first place the commit replaced."""
    first = case.positions[0]
    return before[:first] + case.new + before[first + len(case.old):]


def judge(case: Replacement, before: str, after_commit: str, changes: Sequence[TextEdit]
          ) -> Verdict:
    """A suggestion's ``changes`` (on :func:`typed_text`) against what the commit did. Exactly
    right: every change is one the token diff of lines saw the commit make. Aligned: every
    renamed token is in the commit's file at the same place (:func:`survives`). Consistent: the
    commit took away at least as many uses of the old name as the suggestion renames and added
    as many of the new one."""
    first = case.positions[0]
    typed = typed_text(case, before)
    truth = set(case.positions[1:])
    shift = len(case.new) - len(case.old)
    removed = _count(case.old, before) - _count(case.old, after_commit)
    added = _count(case.new, after_commit) - _count(case.new, before)
    ordered = sorted(changes, key=lambda c: c.start)
    places, pieces, delta, at_typed = [], [], 0, 0
    for change in ordered:
        pieces.append(typed[at_typed:change.start])
        places.append(change.start + delta)
        pieces.append(change.text)
        delta += len(change.text) - (change.end - change.start)
        at_typed = change.end
    result = "".join(pieces) + typed[at_typed:]
    # The typed place moves by what the changes before it added or took away.
    moved = first + sum(len(c.text) - (c.end - c.start) for c in ordered if c.end <= first)
    aligned = survives(result, [moved, *places], after_commit)
    at = {c.start - shift if c.start >= first + len(case.new) else c.start
          for c in ordered if c.text == case.new}
    renamed = 1 + len(ordered)
    if len(at) == len(ordered) and at <= truth:
        return Verdict(True, aligned, True, len(at))
    return Verdict(False, aligned, removed >= renamed and added >= renamed, 0)


def replay(case: Replacement, before: str, after_commit: str, rules: frozenset[str]
           ) -> tuple[int, int, int, int, int]:
    """(suggestions shown, exactly right, aligned, consistent, follow-up replacements suggested
    exactly) for one case, the engine run offline on the file before and after the typed edit."""
    shown = exact = aligned = consistent = suggested = 0
    for suggestion in propose(before, typed_text(case, before), case.language, rules):
        verdict = judge(case, before, after_commit, suggestion.changes)
        shown += 1
        exact += verdict.exact
        aligned += verdict.aligned
        consistent += verdict.consistent
        suggested += verdict.suggested
    return shown, exact, aligned, consistent, suggested


@dataclass
class Tally:
    events: int = 0
    follow_ups: int = 0
    shown: int = 0
    exact: int = 0
    aligned: int = 0
    consistent: int = 0
    suggested: int = 0

    def row(self) -> dict[str, Any]:
        return {**asdict(self),
                "precision": self.exact / self.shown if self.shown else None,
                "aligned_precision": self.aligned / self.shown if self.shown else None,
                "consistent_precision": self.consistent / self.shown if self.shown else None,
                "recall": self.suggested / self.follow_ups if self.follow_ups else 0.0}


def score(cases: list[Replacement], rules: frozenset[str]) -> dict[str, Any]:
    started = time.perf_counter()
    tallies: dict[str, Tally] = {}
    wrong: list[str] = []
    for case in cases:
        before, after_commit = commit_texts(case.repo, case.commit, case.path)
        if before[case.positions[0]:case.positions[0] + len(case.old)] != case.old:
            continue  # the mirror's text is not the mined one
        shown, exact, aligned, consistent, suggested = replay(case, before, after_commit, rules)
        for name in (case.language, "all"):
            tally = tallies.setdefault(name, Tally())
            tally.events += 1
            tally.follow_ups += len(case.positions) - 1
            tally.shown += shown
            tally.exact += exact
            tally.aligned += aligned
            tally.consistent += consistent
            tally.suggested += suggested
        if shown > aligned:
            wrong.append(f"{case.repo} {case.commit} {case.path}: {case.old} -> {case.new} "
                         f"({len(case.positions)} replaced)")
    return {"seconds": time.perf_counter() - started,
            "languages": {k: v.row() for k, v in sorted(tallies.items())}, "wrong": wrong}


# --- the signature rule ------------------------------------------------------------------------

SIGNATURES = Path(__file__).with_name("next_edit_signatures.json")


@dataclass(frozen=True, slots=True)
class SignatureChange:
    """In one commit's change of one file, ``function``'s parameter list (code points
    ``start..end`` of the file before) rewritten to ``parameters`` with one parameter removed
    or the parameters reordered."""

    repo: str
    commit: str
    path: str
    language: str
    function: str
    kind: str
    start: int
    end: int
    parameters: str

    @property
    def typed(self) -> str:
        return self.parameters


def signature_changes(before: str, after: str, language: str
                      ) -> list[tuple[str, str, int, int, str]]:
    """(function, kind, start, end, new parameter list) for each function defined once in both
    texts whose parameters lost one or were reordered."""
    old_offsets, new_offsets = Offsets(before), Offsets(after)
    old_tree, new_tree = parse(before, language, old_offsets), parse(after, language, new_offsets)
    if old_tree is None or new_tree is None:
        return []
    old = list(functions(old_tree.root_node))
    new = list(functions(new_tree.root_node))
    found = []
    for function in new:
        twins = [f for f in old if f.name == function.name]
        if len(twins) != 1 or sum(f.name == function.name for f in new) != 1:
            continue
        change = parameter_change(twins[0].parameters[twins[0].skipped:],
                         function.parameters[function.skipped:])
        old_list, new_list = parameter_list(twins[0].node), parameter_list(function.node)
        if change is None or old_list is None or new_list is None:
            continue
        found.append((function.name, change[0], old_offsets.from_byte(old_list.start_byte),
                      old_offsets.from_byte(old_list.end_byte),
                      after[new_offsets.from_byte(new_list.start_byte):
                            new_offsets.from_byte(new_list.end_byte)]))
    return found


_DEFINITION = re.compile(r"^[+-](?!\s*(?:return|if|while|for|switch)\b).*?\b([A-Za-z_]\w*)\s*\(")
#: Commits a project's history is searched in for signature changes.
SIGNATURE_COMMITS = 3000


def _candidates(repo: Path, extensions: tuple[str, ...]) -> list[tuple[str, str]]:
    """(commit, path) pairs whose diff removes and adds a line calling or defining the same
    name with something else between its parentheses: the only ones worth parsing."""
    log = _git(repo, "log", "--no-merges", "-p", "-U0", "--format=commit %H", "-n",
               str(SIGNATURE_COMMITS))
    found: list[tuple[str, str]] = []
    commit = path = ""
    removed: dict[str, str] = {}
    added: dict[str, str] = {}

    def close() -> None:
        if path.endswith(extensions) and any(name in added and added[name] != line
                                             for name, line in removed.items()):
            found.append((commit, path))

    for line in log.splitlines():
        if line.startswith("commit "):
            close()
            commit, path, removed, added = line[7:], "", {}, {}
        elif line.startswith("diff --git "):
            close()
            path, removed, added = line.rsplit(" b/", 1)[-1], {}, {}
        elif line.startswith(("---", "+++")):
            continue
        elif line.startswith(("-", "+")) and "(" in line:
            match = _DEFINITION.match(line)
            if match:
                (removed if line[0] == "-" else added)[match.group(1)] = line[1:].strip()
    close()
    return found


def _changed_files(repo_name: str, language: str) -> Iterator[tuple[str, str, str, str]]:
    """(commit, path, before, after) of the :func:`_candidates` worth parsing: in the
    language, not built or minified, not too large."""
    repo = MIRRORS / repo_name.replace("/", "+") / "repo"
    for commit, path in _candidates(repo, _EXTENSIONS[language]):
        before, after = commit_texts(repo_name, commit, path)
        if before and after and max(len(before), len(after)) <= MAX_FILE_CHARS \
                and not generated(path, before):
            yield commit, path, before, after


def mine_signatures(repo_name: str, language: str, limit: int) -> list[SignatureChange]:
    """Parameter removals and reorderings in one repository's commits, newest first."""
    found: list[SignatureChange] = []
    for commit, path, before, after in _changed_files(repo_name, language):
        for name, kind, start, end, params in signature_changes(before, after, language):
            found.append(SignatureChange(repo_name, commit[:12], path, language, name,
                                         kind, start, end, params))
        if len(found) >= limit:
            break
    return found[:limit]


def _distance(a: str, b: str) -> int:
    """Tokens inserted plus deleted between ``a`` and ``b`` (``difflib`` after their common
    start and end)."""
    x, _ = _tokens(a)
    y, _ = _tokens(b)
    head = 0
    while head < min(len(x), len(y)) and x[head] == y[head]:
        head += 1
    tail = 0
    while tail < min(len(x), len(y)) - head and x[-1 - tail] == y[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, x[head:len(x) - tail], y[head:len(y) - tail],
                                      autojunk=False)
    return sum((i2 - i1) + (j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes()
               if op != "equal")


def toward(typed: str, result: str, after_commit: str) -> bool:
    """Whether every token the suggestion changed moved the file toward the commit's: the
    suggestion's own distance plus what is left equals the whole way (nothing it did is undone
    or done differently by the commit)."""
    return _distance(typed, result) + _distance(result, after_commit) == \
        _distance(typed, after_commit)


# --- the repeat rule ---------------------------------------------------------------------------

REPEATS = Path(__file__).with_name("next_edit_repeats.json")


@dataclass(frozen=True, slots=True)
class ArgumentAdded:
    """In one commit's change of one file, an argument added to the first of the calls of
    ``callee`` that got one: its argument list (code points ``start..end`` of the file before)
    became ``arguments``; ``repeated``: how many other calls of it got the same argument."""

    repo: str
    commit: str
    path: str
    language: str
    callee: str
    start: int
    end: int
    arguments: str
    repeated: int

    @property
    def typed(self) -> str:
        return self.arguments


def added_arguments(before: str, after: str, language: str
                    ) -> list[tuple[str, int, int, str, int]]:
    """(callee, start, end, new argument list, other calls given the same argument) for each
    callee whose calls (as many before as after, paired in order) include one that got exactly
    one argument more."""
    old_offsets, new_offsets = Offsets(before), Offsets(after)
    old_tree, new_tree = parse(before, language, old_offsets), parse(after, language, new_offsets)
    if old_tree is None or new_tree is None:
        return []
    old_calls: dict[str, list[Any]] = {}
    new_calls: dict[str, list[Any]] = {}
    for found_calls, tree, source in ((old_calls, old_tree, before),
                                      (new_calls, new_tree, after)):
        for callee, arguments in calls(tree.root_node, source.encode("utf-8")):
            found_calls.setdefault(callee, []).append(arguments)
    found = []
    for callee, olds in old_calls.items():
        news = new_calls.get(callee, [])
        if len(news) != len(olds):
            continue
        olds = sorted(olds, key=lambda n: n.start_byte)
        news = sorted(news, key=lambda n: n.start_byte)
        added: list[tuple[Any, Any, str]] = []
        for old, new in zip(olds, news, strict=True):
            a = [argument_text(i) for i in arguments_of(old)]
            b = [argument_text(i) for i in arguments_of(new)]
            if len(b) != len(a) + 1:
                continue
            index = next((i for i in range(len(a)) if a[i] != b[i]), len(a))
            if b[:index] + b[index + 1:] == a:
                added.append((old, new, b[index]))
        if not added:
            continue
        first_old, first_new, text = added[0]
        same = sum(1 for _, _, other in added[1:] if other == text)
        found.append((callee, old_offsets.from_byte(first_old.start_byte),
                      old_offsets.from_byte(first_old.end_byte),
                      after[new_offsets.from_byte(first_new.start_byte):
                            new_offsets.from_byte(first_new.end_byte)], same))
    return found


def mine_repeats(repo_name: str, language: str, limit: int) -> list[ArgumentAdded]:
    """Arguments added to calls in one repository's commits, newest first."""
    found: list[ArgumentAdded] = []
    for commit, path, before, after in _changed_files(repo_name, language):
        for callee, start, end, arguments, repeated in added_arguments(before, after, language):
            found.append(ArgumentAdded(repo_name, commit[:12], path, language, callee, start,
                                       end, arguments, repeated))
        if len(found) >= limit:
            break
    return found[:limit]


def score_rule(cases: Sequence[SignatureChange | ArgumentAdded], rule: str) -> dict[str, Any]:
    """Each case replayed: the user's edit is the case's own (a definition's new parameter list,
    a call's new argument list); the rule proposes what follows, right when every change moves
    the file toward the commit's (:func:`toward`)."""
    started = time.perf_counter()
    rows: dict[str, dict[str, int]] = {}
    wrong: list[str] = []
    for case in cases:
        before, after_commit = commit_texts(case.repo, case.commit, case.path)
        typed = before[:case.start] + case.typed + before[case.end:]
        shown = right = 0
        for suggestion in propose(before, typed, case.language, frozenset({rule})):
            shown += 1
            result = typed
            for change in sorted(suggestion.changes, key=lambda c: c.start, reverse=True):
                result = result[:change.start] + change.text + result[change.end:]
            if toward(typed, result, after_commit):
                right += 1
            else:
                wrong.append(f"{case.repo} {case.commit} {case.path}: {suggestion.label}")
        for name in (case.language, "all"):
            row = rows.setdefault(name, {"events": 0, "repeated": 0, "shown": 0, "right": 0})
            row["events"] += 1
            row["repeated"] += getattr(case, "repeated", 0) > 0
            row["shown"] += shown
            row["right"] += right
    return {"seconds": time.perf_counter() - started, "languages": rows, "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.next_edits",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("mine", "score", "mine-signatures",
                                            "score-signatures", "mine-repeats", "score-repeats"))
    parser.add_argument("--per-repo", type=int, default=PER_REPO)
    parser.add_argument("--rules", default=",".join(sorted(PRECISION)),
                        help="rules to replay, comma-separated (default: all, on or off)")
    parser.add_argument("--json", help="also write the scores here")
    parser.add_argument("--held-out", action="store_true",
                        help="the held-out projects (HELD_OUT) instead of the tuning set")
    args = parser.parse_args(argv)
    repos, sample = (HELD_OUT, HELD_OUT_SAMPLE) if args.held_out else (REPOS, SAMPLE)
    if args.command == "mine-signatures":
        changes = []
        for projects in (REPOS, HELD_OUT):
            for name, language in projects.items():
                mined = mine_signatures(name, language, args.per_repo)
                print(f"  {name}: {len(mined)}", flush=True)
                changes += mined
        SIGNATURES.write_text(json.dumps([asdict(c) for c in changes], indent=0) + "\n")
        print(f"{len(changes)} parameter removals and reorderings -> {SIGNATURES}")
        return 0
    if args.command == "mine-repeats":
        added = []
        for projects in (REPOS, HELD_OUT):
            for name, language in projects.items():
                mined_repeats = mine_repeats(name, language, args.per_repo)
                print(f"  {name}: {len(mined_repeats)}", flush=True)
                added += mined_repeats
        REPEATS.write_text(json.dumps([asdict(c) for c in added], indent=0) + "\n")
        print(f"{len(added)} arguments added to calls -> {REPEATS}")
        return 0
    if args.command in ("score-signatures", "score-repeats"):
        rule, sample_file, kind = (("signature", SIGNATURES, SignatureChange)
                                   if args.command == "score-signatures"
                                   else ("repeat", REPEATS, ArgumentAdded))
        scored = score_rule([kind(**row) for row in json.loads(sample_file.read_text())], rule)
        print(f"{rule} rule replayed on real commits, {scored['seconds']:.0f} s (baseline, no "
              "suggestion: nothing shown)")
        print(f"{'language':12s} {'events':>6s} {'repeated':>8s} {'shown':>6s} {'right':>6s} "
              f"{'precision':>9s}")
        for language, row in sorted(scored["languages"].items()):
            precision = f"{row['right'] / row['shown']:.3f}" if row["shown"] else "-"
            print(f"{language:12s} {row['events']:6d} {row['repeated']:8d} {row['shown']:6d} "
                  f"{row['right']:6d} {precision:>9s}")
        for line in scored["wrong"][:20]:
            print(f"  wrong: {line}")
        return 0
    if args.command == "mine":
        cases = [c for name, language in repos.items()
                 for c in mine(name, language, args.per_repo)]
        sample.write_text(json.dumps([asdict(c) for c in cases], indent=0) + "\n")
        print(f"{len(cases)} identifier replacements -> {sample}")
        for name in repos:
            print(f"  {name}: {sum(c.repo == name for c in cases)}")
        return 0
    cases = [Replacement(**{**row, "positions": tuple(row["positions"])})
             for row in json.loads(sample.read_text())]
    result = score(cases, frozenset(r for r in args.rules.split(",") if r))
    print(f"next-edit rules {args.rules} replayed on {len(cases)} identifier replacements of "
          f"real commits, {result['seconds']:.0f} s (baseline, no suggestion: recall 0, "
          "nothing shown)")
    print(f"{'language':12s} {'events':>6s} {'follow-ups':>10s} {'shown':>6s} {'exact':>6s} "
          f"{'aligned':>7s} {'consistent':>10s} {'P exact':>8s} {'P aligned':>9s} "
          f"{'P consistent':>12s} {'recall':>7s}")

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for language, row in result["languages"].items():
        print(f"{language:12s} {row['events']:6d} {row['follow_ups']:10d} {row['shown']:6d} "
              f"{row['exact']:6d} {row['aligned']:7d} {row['consistent']:10d} "
              f"{ratio(row['precision']):>8s} {ratio(row['aligned_precision']):>9s} "
              f"{ratio(row['consistent_precision']):>12s} {row['recall']:7.3f}")
    for line in result["wrong"][:20]:
        print(f"  wrong: {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
