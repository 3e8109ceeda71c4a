"""``python -m infra up|down|status|install``: the single command that runs the stack;
``python -m infra keys create|revoke|list``: API keys in the tenants file."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from config.settings import Settings, SettingsError
from infra.install import main as install_main
from infra.processes import ComponentError, Supervisor, Watchdog
from infra.stack import ensure_tenants, up
from tenants.directory import (
    PLANS,
    ROLES,
    DirectoryError,
    Tenant,
    load_directory,
    new_key,
    save_directory,
)


def dashboard_url(settings: Settings) -> str:
    scheme = "https" if settings.dashboard_tls_cert else "http"
    wildcard = settings.dashboard_host in ("0.0.0.0", "::")  # noqa: S104 - a comparison
    host = "127.0.0.1" if wildcard else settings.dashboard_host
    return f"{scheme}://{host}:{settings.dashboard_port}/dashboard/"


def _connect_help(settings: Settings) -> str:
    edges = ", ".join(settings.edge_url(i) for i in range(settings.edge_count))
    return (
        f"stack '{settings.stack_instance}' is up.\n"
        f"  connect a plugin to: {edges}\n"
        f"  try the demo client: .venv/bin/python -m ws_edge.client --url {settings.edge_url(0)} "
        "FILE.py\n"
        f"  API keys: {settings.tenants_path} (hashes only); the local developer key is in "
        f"{settings.tenants_path.with_suffix('.dev-key')}; more with `python -m infra keys create`\n"
        f"  dashboard: {dashboard_url(settings)} (an analyst's key: `python -m infra keys create "
        "--role analyst --tenant local --user NAME`)\n"
        f"  logs: {settings.log_dir}\n"
        "  stop: Ctrl-C here, or `make down` from another shell"
    )


def keys(settings: Settings, args: argparse.Namespace) -> int:
    """Create, revoke or list keys; edges pick the change up within ``AUTH_RELOAD_MS``."""
    path = settings.tenants_path
    try:
        ensure_tenants(settings)
        directory = load_directory(path)
        if args.action == "list":
            for entry in directory.keys.values():
                state = "revoked" if entry.revoked else "active"
                print(f"{entry.key_id}\t{entry.tenant_id}\t{entry.user_id}\t{entry.role}\t"
                      f"{state}\texpires_ms={entry.expires_ms}")
            return 0
        if args.action == "revoke":
            save_directory(path, directory.revoked(args.key_id))
            print(f"revoked {args.key_id}; live sessions close within "
                  f"{settings.auth_reload_ms} ms")
            return 0
        if args.tenant not in directory.tenants:
            directory = directory.with_tenant(Tenant(args.tenant, args.plan))
        expires = int((time.time() + args.days * 86400) * 1000) if args.days else None
        key, entry = new_key(args.tenant, args.user, args.role, expires)
        save_directory(path, directory.with_key(entry))
    except DirectoryError as error:
        print(f"tenants file: {error}", file=sys.stderr)
        return 1
    except ComponentError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"key_id {entry.key_id} for {args.user}@{args.tenant} ({args.role}); the key, shown "
          "only now:", file=sys.stderr)
    print(key)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "install"):
        commands.add_parser(name)
    key_parser = commands.add_parser("keys", help="API keys")
    key_actions = key_parser.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create")
    create.add_argument("--tenant", required=True)
    create.add_argument("--user", required=True)
    create.add_argument("--plan", choices=PLANS, default="free",
                        help="plan of a new tenant (an existing tenant keeps its own)")
    create.add_argument("--role", choices=ROLES, default="developer")
    create.add_argument("--days", type=float, default=0, help="expire after N days (0: never)")
    revoke = key_actions.add_parser("revoke")
    revoke.add_argument("key_id")
    key_actions.add_parser("list")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.command == "keys":
        return keys(settings, args)
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
    watchdog = Watchdog(supervisor, say=lambda line: print(line, file=sys.stderr, flush=True))
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
            crash_loop = watchdog.tick(time.time_ns() // 1_000_000)
            if crash_loop is not None:
                print(f"{crash_loop.reason}; stopping the stack (logs: {settings.log_dir})",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        supervisor.stop_all()
        print("stack stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
