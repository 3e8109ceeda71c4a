"""``python -m workers --index N``: one completion worker process (a consumer-group member;
N only numbers its metrics port, WORKER_METRICS_PORT + N)."""

from __future__ import annotations

import argparse
import functools

from runtime.service import run_service
from workers.process import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--index", type=int, default=0, help="worker number (metrics port offset)")
    args = parser.parse_args()
    return run_service(f"worker-{args.index}", functools.partial(serve, index=args.index))


if __name__ == "__main__":
    raise SystemExit(main())
