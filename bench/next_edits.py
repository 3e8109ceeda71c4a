"""Next-edit suggestions through the whole stack: how long after the edit that triggers it a
suggestion reaches the socket, and what running the engine does to completions' first token,
with and without suggestions in the same run.

``python -m bench.next_edits [--rounds N]`` starts a private stack with the rename rule on
(``NEXT_EDIT_RULES=rename``; it is off by default, docs/NEXT_EDITS.md), then per round, for a
session that opted in and one that did not (alternating which goes first): open a file, rename
a parameter where it is declared (the new name typed a key at a time, 120 ms apart), and ask for
a completion at the end of the file. Prints the suggestion's latency (the last keystroke's
``doc_change`` sent to ``edit_suggestion`` received: the worker's wait for the burst to end
included), and the completions' first token for each session, p50 / p95 / p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from bench.first_token import percentiles
from bench.keys import provision
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.socket import DocChange, DocClose, DocOpen, EditSuggestion, TextEdit
from ws_edge.client import EdgeClient, connect_edge

#: The pace of the typed name (about 100 words a minute).
TYPING_GAP_S = 0.12
TEXT = '''import statistics


def summarize(cnt, values, scale=1.0):
    """Mean and spread of the first ``cnt`` values, scaled."""
    if cnt <= 0:
        return 0.0, 0.0
    head = values[:cnt]
    mean = statistics.mean(head) * scale
    spread = statistics.pstdev(head) * scale if cnt > 1 else 0.0
    return mean, spread


def report(values):
    total = summarize(len(values), values)
    return '''


async def one_round(client: EdgeClient, opted_in: bool) -> tuple[float | None, float | None]:
    """(suggestion latency ms or None, completion first token ms or None)."""
    run = uuid.uuid4().hex[:8]
    uri = f"file:///bench_{run}.py"
    # A line of its own per round: no prompt is served from the cache or another's generation.
    text = f"# round {run}\n{TEXT}"
    await client.send(DocOpen(uri, "python", 1, text))
    at = text.index("cnt")
    # The new name typed over the old at TYPING_GAP_S a key (``c`` replaces ``cnt``, then
    # ``o``, ``u``, ...): the worker proposes once the burst has ended.
    for n in range(len("count")):
        if n:
            await asyncio.sleep(TYPING_GAP_S)
        edit = TextEdit(at, at + 3, "c") if n == 0 else TextEdit(at + n, at + n, "count"[n])
        await client.send(DocChange(uri, 2 + n, (edit,)))
    sent = time.perf_counter()
    version = 1 + len("count")
    completion = await client.complete(uri, version, len(text) + 2)
    suggestion_ms = None
    if opted_in:
        deadline = sent + 5.0
        while (left := deadline - time.perf_counter()) > 0:
            try:
                frame = await asyncio.wait_for(client.frames.get(), left)
            except TimeoutError:
                break
            if isinstance(frame, EditSuggestion):
                suggestion_ms = (time.perf_counter() - sent) * 1000
                break
    await asyncio.wait_for(completion.done.wait(), 30)
    await client.send(DocClose(uri))
    first = completion.first_token_s * 1000 if completion.first_token_s is not None else None
    while not client.frames.empty():
        client.frames.get_nowait()
    return suggestion_ms, first


async def measure(settings: Settings, keys: tuple[str, str], rounds: int) -> None:
    latencies: list[float] = []
    missing = 0
    first: dict[bool, list[float]] = {True: [], False: []}
    async with connect_edge(settings.edge_url(0), keys[0]) as on_ws, \
            connect_edge(settings.edge_url(0), keys[1]) as off_ws:
        on, off = EdgeClient(on_ws), EdgeClient(off_ws)
        await on.start(edit_suggestions=True)
        await off.start()
        for n in range(rounds):
            order = ((on, True), (off, False)) if n % 2 == 0 else ((off, False), (on, True))
            for client, opted_in in order:
                suggestion_ms, first_ms = await one_round(client, opted_in)
                if opted_in:
                    if suggestion_ms is None:
                        missing += 1
                    else:
                        latencies.append(suggestion_ms)
                if first_ms is not None:
                    first[opted_in].append(first_ms)
        await on.close()
        await off.close()
    print(f"rounds: {rounds}; suggestions received {len(latencies)}, none within 5 s {missing}; "
          f"error frames {len(on.errors) + len(off.errors)}")
    if latencies:
        print(f"edit -> edit_suggestion on the socket      ms: {percentiles(latencies)}")
    for opted_in in (False, True):
        label = "with suggestions   " if opted_in else "without suggestions"
        if first[opted_in]:
            print(f"completion first token, {label} ms: {percentiles(first[opted_in])}")
    if first[True] and first[False]:
        ratio = statistics.median(first[True]) / statistics.median(first[False])
        print(f"first token p50 with / without suggestions: {ratio:.2f}x (target <= 1.1x)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.next_edits")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    # Threshold 0: every completion answers (a declined one has no first token to compare).
    settings = private_settings("bench-next").replace(next_edit_rules="rename",
                                                      model_threshold=0.0)
    pool = provision(settings, 2, prefix="bench")
    keys = (pool.take("pro").api_key, pool.take("pro").api_key)
    supervisor, running = up(settings)
    try:
        asyncio.run(measure(running, keys, args.rounds))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
