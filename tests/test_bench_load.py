"""The benchmarks' `--load N` (bench/load.py): N processes really spin beside the measurement, and none
outlives it, whether the block ends normally or the benchmark itself is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import busy_processes  # noqa: E402


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().split(") ")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def test_busy_processes_spin_and_stop():
    with busy_processes(2) as pids:
        assert len(pids) == 2
        time.sleep(1.0)
        assert all(_alive(p) for p in pids)
        assert all(_cpu_seconds(p) > 0.05 for p in pids)  # spinning, not sleeping
    assert not any(_alive(p) for p in pids)


def test_busy_processes_stop_when_an_exception_ends_the_block():
    with pytest.raises(RuntimeError):
        with busy_processes(1) as pids:
            raise RuntimeError("benchmark failed")
    assert not _alive(pids[0])


def test_busy_processes_stop_when_the_benchmark_is_killed():
    script = ("import sys, time\nsys.path.insert(0, sys.argv[1])\nfrom bench.load import busy_processes\n"
              "with busy_processes(1) as pids:\n    print(pids[0], flush=True)\n    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script, str(ROOT)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()  # SIGKILL: no cleanup runs in the parent
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_negative_count_is_refused():
    with pytest.raises(ValueError):
        with busy_processes(-1):
            pass
