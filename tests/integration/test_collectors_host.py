"""The host collector on this machine, for real: a process tree that burns a known amount of
CPU, found by the TCP port it listens on, as the vLLM server would be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collectors.host import HostCollector
from collectors.process_tree import VllmProcessFinder
from collectors.rapl import RaplReader

pytestmark = pytest.mark.integration

BURN_S = 0.3  # CPU seconds burnt by each of the two processes of the tree

# The parent listens on a port and has a child; on "go" both burn BURN_S of CPU time.
TREE = textwrap.dedent(
    """
    import socket, subprocess, sys, time

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    if sys.argv[1] == "child":
        print("ready", flush=True)
        sys.stdin.readline()
        burn(float(sys.argv[2]))
        print("done", flush=True)
        sys.stdin.read()
        sys.exit()
    child = subprocess.Popen([sys.executable, __file__, "child", sys.argv[1]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    print(sock.getsockname()[1], flush=True)
    sys.stdin.readline()
    child.stdin.write("go\\n"); child.stdin.flush()
    burn(float(sys.argv[1]))
    assert child.stdout.readline().strip() == "done"
    print("done", flush=True)
    sys.stdin.read()
    child.stdin.close(); child.wait()
    """
)


@pytest.fixture
def burner(tmp_path):
    path = tmp_path / "burner.py"
    path.write_text(TREE)
    proc = subprocess.Popen(
        [sys.executable, str(path), str(BURN_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(proc.stdout.readline())
    yield proc, port
    proc.stdin.close()
    proc.wait(30)


def test_vllm_tree_found_by_port_and_its_cpu_time_metered(burner):
    proc, port = burner
    finder = VllmProcessFinder(port=port)
    assert finder.root().pid == proc.pid
    assert len(finder.tree()) == 2  # the parent and its child
    host = HostCollector(
        finder, hostname="testhost", rapl=RaplReader(root=Path("/nonexistent-powercap"))
    )
    assert host.collect().devices == ()  # the first tick sets the start
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"
    snap = host.collect()
    (d,) = snap.devices
    assert d.device_id == "cpu:testhost" and d.device_type == "cpu-core"
    # /proc accounts in clock ticks (10 ms); the loops' own overhead is a few ms
    assert 2 * BURN_S - 0.03 <= d.busy_device_seconds <= 2 * BURN_S + 0.2
    assert d.wall_seconds > 0 and d.joules is None and d.units >= 1
    by_name = {f.name: f.samples[0].value for f in snap.families if f.samples}
    assert by_name["inferwatch_vllm_tree_cpu_seconds"] == pytest.approx(d.busy_device_seconds)
    assert by_name["inferwatch_vllm_tree_processes"] == 2
    assert 0 <= by_name["system_cpu_utilization_ratio"] <= 1
    assert by_name["system_memory_limit_bytes"] > 0


def test_no_vllm_process_still_reports_the_host():
    host = HostCollector(VllmProcessFinder(), hostname="h")
    host.collect()
    snap = host.collect()
    (d,) = snap.devices
    assert d.busy_device_seconds == 0 and d.wall_seconds > 0
    assert d.metered is False  # vLLM's use is unknown, not zero
    names = {f.name for f in snap.families}
    assert {"system_memory_usage_bytes", "inferwatch_vllm_tree_processes"} <= names


def test_rapl_counters_read_and_unwrapped(tmp_path):
    pkg = tmp_path / "intel-rapl:0"
    pkg.mkdir()
    (pkg / "name").write_text("package-0\n")
    (pkg / "max_energy_range_uj").write_text("1000000\n")
    (pkg / "energy_uj").write_text("900000\n")
    rapl = RaplReader(root=tmp_path)
    assert rapl.read_joules() == 0.0
    (pkg / "energy_uj").write_text("100000\n")  # wrapped past 1 J
    assert rapl.read_joules() == pytest.approx(0.2)
    assert RaplReader(root=tmp_path / "absent").read_joules() is None


NO_RAPL = RaplReader(root=Path("/nonexistent-powercap"))


def _burn_tree(tmp_path) -> subprocess.Popen:
    """A started vLLM stand-in: a parent that, on "go", burns BURN_S, as does its child."""
    path = tmp_path / "burner.py"
    path.write_text(TREE)
    proc = subprocess.Popen(
        [sys.executable, str(path), str(BURN_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    int(proc.stdout.readline())  # its port: not used, the pid is handed over
    return proc


def _burn(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"


def test_a_pid_handed_over_is_metered_whole_from_its_first_tick_and_again_after_a_restart(
    tmp_path,
):
    # As in bundled mode: the supervisor starts vLLM and hands its pid over at once; the
    # port the finder would otherwise scan has nothing on it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        unused = s.getsockname()[1]
    finder = VllmProcessFinder(port=unused)
    host = HostCollector(finder, hostname="h", rapl=NO_RAPL)
    host.collect()
    for _life in range(2):  # the first vLLM, then the one started after it died
        proc = _burn_tree(tmp_path)
        finder.follow(proc.pid)
        _burn(proc)
        (d,) = host.collect().devices
        assert d.metered is True
        assert 2 * BURN_S - 0.03 <= d.busy_device_seconds <= 2 * BURN_S + 0.5
        proc.stdin.close()
        proc.wait(30)
        (gone,) = host.collect().devices
        assert gone.metered is False and finder.tree() == []  # never looked up by pid again


def test_a_tree_found_already_running_is_not_metered_whole_until_the_next_tick():
    finder = VllmProcessFinder()
    host = HostCollector(finder, hostname="h", rapl=NO_RAPL)
    host.collect()
    finder.follow(os.getpid())  # this test process: running long before the last tick
    (found,) = host.collect().devices
    assert found.metered is False  # what it used before it was found is not known
    (next_tick,) = host.collect().devices
    assert next_tick.metered is True
