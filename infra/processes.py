"""Start, health-check and stop the stack's processes, with errors that name the component.

Each process runs in its own process group (so stopping it stops its children, e.g. Triton's
python stubs), writes its output to ``<log_dir>/<name>.log`` and has a pid file in ``run_dir``.
Python services signal readiness by creating the file named in ``READY_FILE``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from infra.restarts import GiveUp, Restarts
from schemas.errors import AssistantError


class ComponentError(AssistantError, RuntimeError):
    """A component could not start; the message says which one, why, and what to do."""

    def __init__(self, component: str, problem: str, fix: str) -> None:
        super().__init__(f"[{component}] {problem}\n  fix: {fix}")
        self.component = component
        self.problem = problem
        self.fix = fix


@dataclass
class ProcessSpec:
    """How to run one component and how to know it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ports: list[int] = field(default_factory=list)
    ready: Callable[[], bool] | None = None
    install_hint: str = "run `make install`"
    cwd: Path | None = None
    #: Marks the log lines that say why a start failed (Triton names each model it could not
    #: load long before its last lines): quoted first when the component exits while starting.
    cause: str | None = None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


#: Components the services stand on (names start with these): stopped last.
INFRASTRUCTURE = ("broker", "triton", "redis")

#: Private instances take ports from here: below Linux's ephemeral range (32768-60999), so an
#: outgoing connection of another process cannot take a port between its choice and its use.
PRIVATE_PORTS = range(20000, 32000)


def free_port(block: int = 1, taken: Collection[int] = ()) -> int:
    """The first of ``block`` consecutive free loopback ports, chosen at random, none of them in
    ``taken`` (ports chosen already for processes not yet started: free now, but not for long)."""
    rng = random.SystemRandom()
    for _ in range(1000):
        first = rng.randrange(PRIVATE_PORTS.start, PRIVATE_PORTS.stop - block)
        ports = range(first, first + block)
        if not any(port in taken or port_in_use(port) or not _bindable(port) for port in ports):
            return first
    raise RuntimeError(f"no {block} free consecutive ports in {PRIVATE_PORTS}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def causes(path: Path, marker: str | None, width: int = 400) -> str:
    """The log lines holding ``marker``, each cut at ``width`` characters and at the first
    escaped line break (a traceback follows there), one per line; empty without any."""
    if marker is None:
        return ""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    found = [line[line.index(marker):].split("\\n", 1)[0][:width] for line in text if marker in line]
    return "".join(f"\n    {line}" for line in dict.fromkeys(found))


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    """Owns the processes of one stack instance."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        #: How each component was started, to start it again after a crash.
        self.specs: dict[str, ProcessSpec] = {}

    def running_pids(self) -> dict[str, int]:
        """Processes of this instance that pid files say are alive (from any earlier start)."""
        alive: dict[str, int] = {}
        if not self.run_dir.exists():
            return alive
        for pid_file in self.run_dir.glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text().strip())
                if pid_alive(pid):
                    alive[pid_file.stem] = pid
                    continue
            pid_file.unlink(missing_ok=True)
        return alive

    def start(self, spec: ProcessSpec, timeout_s: float) -> None:
        """Start ``spec`` and wait until it is ready; raise :class:`ComponentError` otherwise."""
        self.start_together([spec], timeout_s)

    def start_together(self, specs: list[ProcessSpec], timeout_s: float) -> None:
        """Launch all of ``specs`` at once, then wait for each (their start-up overlaps)."""
        self.stop_marker.unlink(missing_ok=True)
        for spec in specs:
            self._launch(spec)
        deadline = time.monotonic() + timeout_s
        for spec in specs:
            self._wait_ready(spec, deadline, timeout_s)

    def _launch(self, spec: ProcessSpec) -> None:
        binary = spec.argv[0]
        if "/" in binary and not os.access(binary, os.X_OK):
            raise ComponentError(spec.name, f"binary {binary} is missing", spec.install_hint)
        for port in spec.ports:
            if port_in_use(port):
                raise ComponentError(
                    spec.name, f"port 127.0.0.1:{port} is already in use",
                    "stop whatever listens there (`make down` if it is an earlier stack, "
                    "`ss -ltnp` shows who) or choose another port (docs/CONFIGURATION.md)",
                )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ready_file = self.run_dir / f"{spec.name}.ready"
        ready_file.unlink(missing_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        env = {**spec.env, "READY_FILE": str(ready_file)}
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=spec.cwd,
            )
        self.procs[spec.name] = proc
        self.specs[spec.name] = spec
        (self.run_dir / f"{spec.name}.pid").write_text(str(proc.pid))

    def relaunch(self, name: str) -> None:
        """Start an exited component again, as it was started (without waiting for it): what
        its crash left in its process group (Triton's python stubs) is killed first."""
        old = self.procs.pop(name, None)
        if old is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(old.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                old.wait(timeout=5)
        self._launch(self.specs[name])

    def _wait_ready(self, spec: ProcessSpec, deadline: float, timeout_s: float) -> None:
        proc = self.procs[spec.name]
        log_path = self.log_dir / f"{spec.name}.log"
        ready = spec.ready or (self.run_dir / f"{spec.name}.ready").exists
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                why = causes(log_path, spec.cause)
                raise ComponentError(
                    spec.name, f"exited with code {code} while starting"
                    + (f"; because:{why}" if why else "") + f"\nlast log lines ({log_path}):\n"
                    f"{tail(log_path)}",
                    "read the log above; `make install` reinstalls the binaries",
                )
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001,S110 - a failing probe only means "not ready yet"
                pass
            time.sleep(0.1)
        raise ComponentError(
            spec.name, f"not ready after {timeout_s:.0f} s; last log lines ({log_path}):\n"
            f"{tail(log_path)}",
            "raise START_TIMEOUT_S on a slow machine, or read the log",
        )

    @property
    def stop_marker(self) -> Path:
        """Exists while a stop is under way, so a foreground ``up`` knows it was asked to stop."""
        return self.run_dir / "stopping"

    def stop_all(self, grace_s: float = 10.0) -> None:
        """Stop every process of this instance (ours and any left by an earlier start).

        Services stop first, while the broker, Redis and Triton still run, so what they hold
        (records being produced, batches being written) reaches its destination; then the
        infrastructure."""
        if self.run_dir.exists():
            self.stop_marker.touch()
        pids = {name: proc.pid for name, proc in self.procs.items()}
        pids.update(self.running_pids())
        services = {n: p for n, p in pids.items() if not n.startswith(INFRASTRUCTURE)}
        self._stop_wave(services, grace_s)
        self._stop_wave({n: p for n, p in pids.items() if n not in services}, grace_s)
        for name in pids:
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
            (self.run_dir / f"{name}.ready").unlink(missing_ok=True)
        self.procs.clear()
        self.specs.clear()
        self.stop_marker.unlink(missing_ok=True)

    def _stop_wave(self, pids: dict[str, int], grace_s: float) -> None:
        """SIGTERM each process group, wait up to ``grace_s``, then SIGKILL what is left."""
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for pid in pids.values():
            while pid_alive(pid) and time.monotonic() < deadline:
                self._reap(pid)
                time.sleep(0.05)
            # The whole group, even when its leader is gone: a child it left behind (Triton's
            # python stub) would otherwise live on as an orphan.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._reap(pid, wait_s=5.0)

    def _reap(self, pid: int, wait_s: float = 0.0) -> None:
        """Collect ``pid``'s exit status; with ``wait_s``, block for it (SIGKILL is not instant).

        A :class:`subprocess.Popen` dropped before its child is collected warns from ``__del__``
        at some later garbage collection, which is how a stop turned into a failure elsewhere.
        """
        for proc in self.procs.values():
            if proc.pid == pid:
                if wait_s:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=wait_s)
                else:
                    proc.poll()
                return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    def exited(self) -> dict[str, int]:
        """Processes started here that have exited, with their codes."""
        return {n: c for n, p in self.procs.items() if (c := p.poll()) is not None}


class Watchdog:
    """Starts the supervisor's components again when they exit (the I/O half of
    :mod:`infra.restarts`); :meth:`tick` runs every half second or so."""

    def __init__(self, supervisor: Supervisor, restarts: Restarts | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.supervisor = supervisor
        self.restarts = restarts or Restarts()
        self.say = say
        self._due: dict[str, int] = {}
        now = _now_ms()
        for name in supervisor.procs:
            self.restarts.started(name, now)

    def tick(self, now_ms: int) -> GiveUp | None:
        """Schedule restarts for components that exited, start those whose backoff is over;
        a crash loop is returned (the caller stops the stack). Nothing is started while a stop
        is under way (``make down`` from another shell)."""
        supervisor = self.supervisor
        if supervisor.stop_marker.exists():
            return None
        for name, code in supervisor.exited().items():
            if name in self._due:
                continue
            decision = self.restarts.exited(name, now_ms)
            if isinstance(decision, GiveUp):
                return decision
            self._due[name] = decision.at_ms
            self.say(f"[{name}] exited with code {code}; starting it again in "
                     f"{decision.at_ms - now_ms} ms (exit {decision.attempt} in a row; log: "
                     f"{supervisor.log_dir / (name + '.log')})")
        for name, at_ms in list(self._due.items()):
            if now_ms < at_ms:
                continue
            del self._due[name]
            try:
                supervisor.relaunch(name)
            except ComponentError as error:  # e.g. its port is still held: counts as an exit
                self.say(f"[{name}] could not be started again: {error.problem}")
                decision = self.restarts.exited(name, now_ms)
                if isinstance(decision, GiveUp):
                    return decision
                self._due[name] = decision.at_ms
                continue
            self.restarts.started(name, now_ms)
            self.say(f"[{name}] started again")
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
