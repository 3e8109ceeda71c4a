"""Starting and stopping components: clear errors naming the component, no stray processes."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from config.settings import Settings
from infra.broker import cluster_id, instance_dir
from infra.processes import ComponentError, ProcessSpec, Supervisor, free_port, pid_alive
from infra.stack import broker_spec, private_settings, up


def supervisor(tmp_path: Path) -> Supervisor:
    return Supervisor(tmp_path / "run", tmp_path / "logs")


class TestSupervisor:
    """Each failure to start says which component, why, and what to do."""

    def test_missing_binary(self, tmp_path: Path) -> None:
        spec = ProcessSpec("broker", [str(tmp_path / "no-such-tansu")], {})
        with pytest.raises(ComponentError) as caught:
            supervisor(tmp_path).start(spec, 5)
        assert caught.value.component == "broker"
        assert "missing" in caught.value.problem
        assert "make install" in caught.value.fix

    def test_port_in_use(self, tmp_path: Path) -> None:
        settings = Settings(broker_port=free_port(), stack_instance=f"pytest-port-{os.getpid()}")
        try:
            with socket.socket() as holder:
                holder.bind(("127.0.0.1", settings.broker_port))
                holder.listen()
                with pytest.raises(ComponentError) as caught:
                    supervisor(tmp_path).start(broker_spec(settings, 0), 5)
        finally:
            shutil.rmtree(instance_dir(settings), ignore_errors=True)
        assert caught.value.component == "broker"
        assert f"127.0.0.1:{settings.broker_port} is already in use" in caught.value.problem

    def test_crash_on_start_shows_its_log(self, tmp_path: Path) -> None:
        spec = ProcessSpec("triton", [sys.executable, "-c",
                                      "import sys; print('model failed to load'); sys.exit(3)"], {})
        with pytest.raises(ComponentError) as caught:
            supervisor(tmp_path).start(spec, 10)
        assert "exited with code 3" in caught.value.problem
        assert "model failed to load" in caught.value.problem

    def test_not_ready_in_time(self, tmp_path: Path) -> None:
        spec = ProcessSpec("edge-0", [sys.executable, "-c", "import time; time.sleep(30)"], {},
                           ready=lambda: False)
        sup = supervisor(tmp_path)
        with pytest.raises(ComponentError, match="not ready after 1 s"):
            sup.start(spec, 1)
        sup.stop_all()

    def test_stop_kills_the_whole_process_group(self, tmp_path: Path) -> None:
        child_pid_file = tmp_path / "child.pid"
        script = ("import subprocess, sys, time, pathlib;"
                  "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
                  f"pathlib.Path({str(child_pid_file)!r}).write_text(str(p.pid));"
                  "time.sleep(60)")
        sup = supervisor(tmp_path)
        spec = ProcessSpec("worker-0", [sys.executable, "-c", script], {},
                           ready=child_pid_file.exists)
        sup.start(spec, 10)
        parent = sup.procs["worker-0"].pid
        child = int(child_pid_file.read_text())
        assert pid_alive(child)
        sup.stop_all()
        time.sleep(0.2)
        assert not pid_alive(parent)
        assert not child_alive(child)
        assert sup.running_pids() == {}

    def test_stop_kills_a_child_left_behind_by_its_exited_leader(self, tmp_path: Path) -> None:
        """Like Triton's python stub: the leader exits on SIGTERM, its child ignores SIGTERM."""
        child_pid_file = tmp_path / "child.pid"
        child = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                 "time.sleep(60)")
        script = ("import subprocess, sys, time, pathlib;"
                  f"p = subprocess.Popen([sys.executable, '-c', {child!r}]);"
                  "time.sleep(0.3);"
                  f"pathlib.Path({str(child_pid_file)!r}).write_text(str(p.pid));"
                  "time.sleep(60)")
        sup = supervisor(tmp_path)
        sup.start(ProcessSpec("triton", [sys.executable, "-c", script], {},
                              ready=child_pid_file.exists), 10)
        orphan = int(child_pid_file.read_text())
        sup.stop_all(grace_s=2)
        time.sleep(0.3)
        assert not child_alive(orphan), "the child that ignored SIGTERM was left running"

    def test_stale_pid_files_are_ignored(self, tmp_path: Path) -> None:
        sup = supervisor(tmp_path)
        sup.run_dir.mkdir(parents=True)
        (sup.run_dir / "broker.pid").write_text("999999999")
        assert sup.running_pids() == {}


def child_alive(pid: int) -> bool:
    """Alive and not a zombie waiting for its (killed) parent's reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.stack
def test_starting_the_same_instance_twice_says_so(stack: Settings) -> None:
    with pytest.raises(ComponentError) as caught:
        up(stack)
    assert caught.value.component == "stack"
    assert "already running" in caught.value.problem
    assert "make down" in caught.value.fix


class TestBrokerConfig:
    """The embedded Kafka's node configuration (pure)."""

    def test_single_node(self) -> None:
        from infra.broker import node_properties

        props = dict(line.split("=", 1) for line in
                     node_properties(Settings(broker_port=30000, controller_port=30100), 0).splitlines())
        assert props["controller.quorum.voters"] == "1@127.0.0.1:30100"
        assert props["listeners"] == "PLAINTEXT://127.0.0.1:30000,CONTROLLER://127.0.0.1:30100"
        assert props["offsets.topic.replication.factor"] == "1"
        assert props["min.insync.replicas"] == "1"
        assert props["auto.create.topics.enable"] == "false"

    def test_three_nodes_replicate_three_times_and_need_two(self) -> None:
        from infra.broker import node_properties

        settings = Settings(broker_port=30000, controller_port=30100, kafka_brokers=3)
        props = dict(line.split("=", 1) for line in node_properties(settings, 2).splitlines())
        assert props["node.id"] == "3"
        assert props["controller.quorum.voters"] == ("1@127.0.0.1:30100,2@127.0.0.1:30101,"
                                                     "3@127.0.0.1:30102")
        assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:30002"
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["transaction.state.log.min.isr"] == "2"
        assert settings.bootstrap == "127.0.0.1:30000,127.0.0.1:30001,127.0.0.1:30002"


def test_cluster_ids_never_start_with_a_dash(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The storage tool reads a leading '-' as an option (1 in 64 random ids): such an id, made
    or found stored, is replaced; a good stored one is kept."""
    settings = Settings(stack_home=tmp_path, stack_instance="ids")
    ids = iter([b"\xf8" + bytes(15), b"\x00" * 16])  # base64url of 0xf8... starts with '-'
    monkeypatch.setattr("infra.broker.uuid.uuid4", lambda: type("U", (), {"bytes": next(ids)})())
    made = cluster_id(settings)
    assert made == "AAAAAAAAAAAAAAAAAAAAAA"
    (instance_dir(settings) / "cluster.id").write_text("-hGPcCzaQQWU29QDXAZtWQ\n")
    ids = iter([b"\x01" * 16])
    assert cluster_id(settings) == "AQEBAQEBAQEBAQEBAQEBAQ"
    assert cluster_id(settings) == "AQEBAQEBAQEBAQEBAQEBAQ", "kept once good"


class TestDebianPackages:
    """``make install`` brings every program the tests drive, so a fresh clone passes."""

    def test_a_program_whose_probe_fails_is_missing(self) -> None:
        from infra.install import DebianPackage, missing_debian_packages

        absent = DebianPackage("a test", ("no-such-package",), (sys.executable, "-c", "exit(1)"))
        usable = DebianPackage("a test", ("python3",), (sys.executable, "-c", "exit(0)"))
        assert missing_debian_packages((absent, usable)) == [absent]
        assert not DebianPackage("a test", ("no-such-program-here",)).present()

    def test_the_editors_the_tests_drive_are_installed(self) -> None:
        from infra.install import DEBIAN_PACKAGES, missing_debian_packages

        names = {name for package in DEBIAN_PACKAGES for name in package.packages}
        assert {"neovim", "emacs-nox", "elpa-eglot", "redis-server", "shellcheck"} <= names
        assert missing_debian_packages() == [], "`make install` did not install them"


class TestBrokerCount:
    """An instance's brokers are formatted for one count (its internal topics are replicated for
    it): another count never comes up, so it is refused at once with the way out."""

    def test_formatting_records_the_count(self) -> None:
        from infra.broker import formatted_brokers, prepare_node

        settings = Settings(stack_instance=f"pytest-count-{os.getpid()}", broker_port=free_port(),
                            controller_port=free_port())
        try:
            assert formatted_brokers(settings) is None
            prepare_node(settings, 0)  # the real storage tool
            assert formatted_brokers(settings) == 1
        finally:
            shutil.rmtree(instance_dir(settings), ignore_errors=True)

    def test_another_count_is_refused_before_anything_starts(self, tmp_path: Path) -> None:
        from infra.broker import formatted_brokers
        from infra.stack import check_broker_count

        three = Settings(stack_home=tmp_path, stack_instance="trio", kafka_brokers=3)
        one = three.replace(kafka_brokers=1)
        check_broker_count(three)  # nothing formatted yet: any count
        instance_dir(three).mkdir(parents=True)
        (instance_dir(three) / "brokers").write_text("3\n")
        check_broker_count(three)
        with pytest.raises(ComponentError) as caught:
            up(one)  # the real start path: refused before the first process
        assert caught.value.component == "broker"
        assert "formatted for 3 brokers" in caught.value.problem
        assert "KAFKA_BROKERS=1" in caught.value.problem
        assert "KAFKA_BROKERS=3" in caught.value.fix and "STACK_INSTANCE" in caught.value.fix
        assert str(instance_dir(three)) in caught.value.fix and "loses" in caught.value.fix
        assert "START_TIMEOUT_S" not in caught.value.fix
        assert not one.run_dir.exists() or not any(one.run_dir.iterdir())
        # Data formatted before the count was recorded: the formatted nodes tell it.
        (instance_dir(three) / "brokers").unlink()
        for node in range(3):
            (instance_dir(three) / f"node-{node}" / "data").mkdir(parents=True)
            (instance_dir(three) / f"node-{node}" / "data" / "meta.properties").write_text("")
        assert formatted_brokers(three) == 3
        with pytest.raises(ComponentError, match="formatted for 3 brokers"):
            check_broker_count(one)


def test_a_private_instance_never_gets_one_port_twice() -> None:
    """Each port was free when chosen, but two choices could coincide: Kafka then bound the
    port Triton had been given (seen in `make test`)."""
    for n in range(300):
        settings = private_settings(f"ports-{n}")
        ports = [*range(settings.broker_port, settings.broker_port + 3),
                 *range(settings.controller_port, settings.controller_port + 3),
                 settings.triton_grpc_port, settings.triton_http_port,
                 settings.triton_metrics_port, *range(settings.edge_port, settings.edge_port + 4),
                 settings.analytics_port, *range(settings.worker_metrics_port,
                                                 settings.worker_metrics_port + 4),
                 settings.redis_port]
        assert len(set(ports)) == len(ports), ports


def test_free_port_avoids_the_ports_already_taken() -> None:
    taken = set(range(20000, 30000))
    first = free_port(2, taken)
    assert first not in taken and first + 1 not in taken


def test_regions_a_killed_triton_left_are_removed_and_live_ones_kept() -> None:
    """The python backend's shared memory outlives a killed Triton (RAM, until removed): the
    next start removes ours that no process maps or holds and that are not new."""
    import mmap

    from infra import stack

    made = [stack.SHARED_MEMORY / f"triton_python_backend_shm_region_test-{os.getpid()}-{n}"
            for n in range(3)]
    for path in made:
        path.write_bytes(b"\0" * 4096)
    old = time.time() - 3600
    os.utime(made[0], (old, old))  # stale: removed
    os.utime(made[1], (old, old))  # stale but mapped below: kept
    # made[2] is new: kept (a Triton may be creating it now)
    try:
        with made[1].open("r+b") as handle, mmap.mmap(handle.fileno(), 4096) as _mapped:
            stack.remove_stale_triton_regions()
            assert [path.exists() for path in made] == [False, True, True]
    finally:
        for path in made:
            path.unlink(missing_ok=True)
