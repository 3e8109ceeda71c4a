"""``python -m ws_edge --index N``: one edge process (listens on EDGE_PORT + N)."""

from __future__ import annotations

import argparse
import functools

from runtime.service import run_service
from ws_edge.server import serve_edge


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ws_edge")
    parser.add_argument("--index", type=int, default=0,
                        help="edge number: it reads reply partition N, and listens on EDGE_PORT + N "
                        "(EDGE_PORT with EDGE_PORT_PER_INDEX=0)")
    args = parser.parse_args()
    return run_service(f"edge-{args.index}", functools.partial(serve_edge, index=args.index))


if __name__ == "__main__":
    raise SystemExit(main())
