"""``python -m bench.next_edit_replay``: the real edit histories of ``evaluation.next_edits``
replayed keystroke by keystroke through the whole stack, as an editor would send them.

A private stack runs with the rules named by ``--rules`` (``rename`` by default: it is off in the
product's defaults). Each case's file, as it was before the commit, is opened by a session that
opted in to suggestions; the new name is typed over the first place the commit replaced it, a key
every ``--gap-ms`` (the first key replaces the old name, as typing over a selection does); then
the session waits ``--wait-ms`` for suggestions. A suggestion for the last version is what a user
would see once they stopped: judged as the offline replay judges (exact, aligned, consistent);
one for an earlier version arrived while the user was still typing (counted: an editor that is
still at that version would show it). Latency: from the last key's ``doc_change`` sent to the
suggestion received. Baseline in the same run: no suggestion (recall 0, nothing shown). Several
sessions replay at once (``--sessions``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.first_token import percentiles
from bench.keys import provision
from config.settings import Settings
from evaluation.next_edits import HELD_OUT_SAMPLE, SAMPLE, Replacement, commit_texts, judge
from infra.stack import private_settings, up
from schemas.socket import DocChange, DocClose, DocOpen, EditSuggestion, TextEdit
from ws_edge.client import EdgeClient, connect_edge

#: The LSP language id each mined language is opened with.
LANGUAGE_IDS = {"c": "c", "cpp": "cpp", "go": "go", "java": "java", "javascript": "javascript",
                "python": "python", "rust": "rust", "typescript": "typescript"}


@dataclass
class Outcome:
    """What the replay of one case saw."""

    language: str
    shown: int = 0
    exact: int = 0
    aligned: int = 0
    consistent: int = 0
    suggested: int = 0
    while_typing: int = 0
    latencies_ms: list[float] = field(default_factory=list)


async def replay_case(client: EdgeClient, case: Replacement, before: str, after_commit: str,
                      gap_s: float, wait_s: float) -> Outcome:
    outcome = Outcome(case.language)
    suffix = Path(case.path).suffix
    uri = f"file:///replay_{uuid.uuid4().hex[:10]}{suffix}"
    await client.send(DocOpen(uri, LANGUAGE_IDS[case.language], 1, before))
    first = case.positions[0]
    for n, char in enumerate(case.new):
        if n:
            await asyncio.sleep(gap_s)
        edit = TextEdit(first, first + len(case.old), char) if n == 0 else \
            TextEdit(first + n, first + n, char)
        await client.send(DocChange(uri, 2 + n, (edit,)))
    last_sent = time.perf_counter()
    final = 1 + len(case.new)
    deadline = last_sent + wait_s
    while (left := deadline - time.perf_counter()) > 0:
        try:
            frame = await asyncio.wait_for(client.frames.get(), left)
        except TimeoutError:
            break
        if not isinstance(frame, EditSuggestion) or frame.uri != uri:
            continue
        if frame.version != final:
            outcome.while_typing += 1
            continue
        outcome.latencies_ms.append((time.perf_counter() - last_sent) * 1000)
        verdict = judge(case, before, after_commit, frame.changes)
        outcome.shown += 1
        outcome.exact += verdict.exact
        outcome.aligned += verdict.aligned
        outcome.consistent += verdict.consistent
        outcome.suggested += verdict.suggested
    await client.send(DocClose(uri))
    return outcome


async def replay_all(settings: Settings, keys: list[str], work: list[tuple[Replacement, str, str]],
                     gap_s: float, wait_s: float) -> list[Outcome]:
    queue: asyncio.Queue[tuple[Replacement, str, str]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    outcomes: list[Outcome] = []

    async def session(key: str) -> None:
        async with connect_edge(settings.edge_url(0), key) as ws:
            client = EdgeClient(ws)
            await client.start(edit_suggestions=True)
            while not queue.empty():
                case, before, after_commit = queue.get_nowait()
                outcomes.append(await replay_case(client, case, before, after_commit, gap_s,
                                                  wait_s))
            await client.close()

    await asyncio.gather(*(session(key) for key in keys))
    return outcomes


def report(outcomes: list[Outcome], follow_ups: Counter[str]) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for language in [*sorted({o.language for o in outcomes}), "all"]:
        mine = [o for o in outcomes if language in ("all", o.language)]
        shown = sum(o.shown for o in mine)
        latencies = [ms for o in mine for ms in o.latencies_ms]
        rows[language] = {
            "events": len(mine), "follow_ups": follow_ups[language], "shown": shown,
            "exact": sum(o.exact for o in mine), "aligned": sum(o.aligned for o in mine),
            "consistent": sum(o.consistent for o in mine),
            "while_typing": sum(o.while_typing for o in mine),
            "recall": sum(o.suggested for o in mine) / follow_ups[language]
            if follow_ups[language] else 0.0,
            "latency": percentiles(latencies) if latencies else "-"}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.next_edit_replay",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--held-out", action="store_true",
                        help="the held-out projects' cases (default: the tuning set)")
    parser.add_argument("--rules", default="rename")
    parser.add_argument("--limit", type=int, default=0, help="replay only the first N cases")
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--gap-ms", type=int, default=120)
    parser.add_argument("--wait-ms", type=int, default=1500)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    sample = HELD_OUT_SAMPLE if args.held_out else SAMPLE
    cases = [Replacement(**{**row, "positions": tuple(row["positions"])})
             for row in json.loads(sample.read_text())]
    if args.limit:
        cases = cases[:args.limit]
    work: list[tuple[Replacement, str, str]] = []
    follow_ups: Counter[str] = Counter()
    for case in cases:
        before, after_commit = commit_texts(case.repo, case.commit, case.path)
        if before[case.positions[0]:case.positions[0] + len(case.old)] != case.old:
            continue
        work.append((case, before, after_commit))
        follow_ups[case.language] += len(case.positions) - 1
        follow_ups["all"] += len(case.positions) - 1
    settings = private_settings("eval-next").replace(next_edit_rules=args.rules)
    pool = provision(settings, args.sessions, prefix="replay")
    keys = [pool.take("pro").api_key for _ in range(args.sessions)]
    supervisor, running = up(settings)
    started = time.perf_counter()
    try:
        outcomes = asyncio.run(replay_all(running, keys, work, args.gap_ms / 1000,
                                          args.wait_ms / 1000))
    finally:
        supervisor.stop_all()
    rows = report(outcomes, follow_ups)
    print(f"{len(outcomes)} real edits replayed keystroke by keystroke through the stack "
          f"(rules {args.rules}, a key every {args.gap_ms} ms, {args.sessions} sessions), "
          f"{time.perf_counter() - started:.0f} s; baseline, no suggestion: recall 0, nothing "
          "shown")
    print(f"{'language':12s} {'events':>6s} {'follow-ups':>10s} {'shown':>6s} {'exact':>6s} "
          f"{'aligned':>7s} {'consistent':>10s} {'typing':>6s} {'recall':>7s}  latency after the "
          "last key (ms)")
    for language, row in rows.items():
        print(f"{language:12s} {row['events']:6d} {row['follow_ups']:10d} {row['shown']:6d} "
              f"{row['exact']:6d} {row['aligned']:7d} {row['consistent']:10d} "
              f"{row['while_typing']:6d} {row['recall']:7.3f}  {row['latency']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
