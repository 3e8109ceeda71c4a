"""``python -m infra up|down|status|install``: the single command that runs the stack."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from infra.install import main as install_main
from infra.processes import ComponentError, Supervisor
from infra.settings import Settings, SettingsError
from infra.stack import up


def _connect_help(settings: Settings) -> str:
    edges = ", ".join(settings.edge_url(i) for i in range(settings.edge_count))
    return (
        f"stack '{settings.stack_instance}' is up.\n"
        f"  connect a plugin to: {edges}\n"
        f"  try the demo client: .venv/bin/python -m ws_edge.client --url {settings.edge_url(0)} "
        "FILE.py\n"
        f"  logs: {settings.log_dir}\n"
        "  stop: Ctrl-C here, or `make down` from another shell"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra")
    parser.add_argument("command", choices=["up", "down", "status", "install"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "install":
        return install_main()
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    if args.command == "down":
        running = supervisor.running_pids()
        supervisor.stop_all()
        print(f"stopped {len(running)} process(es): {', '.join(sorted(running)) or 'none'}")
        return 0
    if args.command == "status":
        running = supervisor.running_pids()
        for name, pid in sorted(running.items()):
            print(f"{name}: running (pid {pid})")
        print("not running" if not running else f"{len(running)} process(es)")
        return 0 if running else 3
    try:
        supervisor, settings = up(settings)
    except ComponentError as error:
        print(f"start failed: {error}", file=sys.stderr)
        return 1
    print(_connect_help(settings), flush=True)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping:
            if supervisor.stop_marker.exists() or not supervisor.running_pids():
                print("stack stopped from another shell")
                return 0
            dead = supervisor.exited()
            if dead:
                print(f"component exited: {dead}; stopping the stack (see {settings.log_dir})",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        supervisor.stop_all()
        print("stack stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
