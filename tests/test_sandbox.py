"""app.sandbox: work in a worker process is stopped by its CPU budget, its memory limit and its
timeout; a crash is a MediaError; a worker that grew is replaced, giving its memory back."""

from __future__ import annotations

import os
import time

import pytest

from app.sandbox import Sandbox, SandboxLimits, Timeout
from matcher.errors import CorruptMedia, TooMuchWork
from tests.helpers import slow_tasks

MB = 1024 * 1024


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(SandboxLimits(cpu_seconds=1, memory_bytes=400 * MB, recycle_bytes=200 * MB),
                  preload=["tests.helpers.slow_tasks"])
    yield box
    box.close()


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_results_and_reuse(sandbox):
    first = sandbox.call(slow_tasks.pid, timeout=30)
    assert first != os.getpid()
    assert sandbox.call(slow_tasks.pid, timeout=30) == first  # the same worker serves the next task


def test_cpu_budget_ends_the_work(sandbox):
    worker = sandbox.call(slow_tasks.pid, timeout=30)
    with pytest.raises(TooMuchWork, match="CPU"):
        sandbox.call(slow_tasks.spin, 30.0, timeout=120)
    assert _gone(worker)
    assert sandbox.call(slow_tasks.spin, 0.1, timeout=30) == "done"  # a fresh worker takes over


def test_memory_limit_refuses_the_allocation(sandbox):
    with pytest.raises(TooMuchWork, match="memory"):
        sandbox.call(slow_tasks.allocate, 1024 * MB, timeout=60)


def test_a_worker_that_grew_is_replaced(sandbox):
    worker = sandbox.call(slow_tasks.pid, timeout=30)
    assert sandbox.call(slow_tasks.allocate, 250 * MB, timeout=60) == 250 * MB
    assert _gone(worker)  # it held more than recycle_bytes: it exited, and its memory with it
    assert sandbox.call(slow_tasks.pid, timeout=30) != worker


def test_crash_is_a_media_error(sandbox):
    with pytest.raises(CorruptMedia, match="decoder stopped"):
        sandbox.call(slow_tasks.crash, timeout=30)


def test_timeout_kills_the_worker(sandbox):
    worker = sandbox.call(slow_tasks.pid, timeout=30)
    started = time.monotonic()
    with pytest.raises(Timeout):
        sandbox.call(slow_tasks.sleep_then_hash, None, None, timeout=0.5)
    assert time.monotonic() - started < 5
    assert _gone(worker)


def test_close_stops_busy_workers_at_once():
    import threading

    from app.sandbox import Closed

    box = Sandbox(SandboxLimits(), preload=["tests.helpers.slow_tasks"])
    outcome: list[object] = []
    task = threading.Thread(target=lambda: outcome.append(_outcome(box)))
    task.start()
    time.sleep(3)  # the task is sleeping in its worker
    started = time.monotonic()
    box.close()
    task.join(30)
    assert time.monotonic() - started < 10 and not task.is_alive()
    assert outcome and isinstance(outcome[0], Closed)


def _outcome(box: Sandbox) -> object:
    try:
        return box.call(slow_tasks.sleep_then_hash, None, None, timeout=120)
    except Exception as exc:  # noqa: BLE001
        return exc
