"""Hashing untrusted media in worker processes that can be killed: a CPU-time budget and a memory
limit per task, a wall-clock deadline, and memory given back after large files.

`Sandbox.call(fn, *args, timeout=...)` runs a module-level function in one of the sandbox's worker
processes and returns its result, or raises the `MediaError` it raised. A thread can only be
abandoned (it runs on after its caller gave up); a process is stopped. Each worker:

- is forked from multiprocessing's fork server, started once with the hashing modules preloaded: a
  new worker costs a fork, not an interpreter start, and holds none of the caller's state (the live
  index, database connections, threads), which stays in the caller;
- limits its address space (RLIMIT_AS) to `memory_bytes` beyond what it holds when it starts: an
  allocation past it fails (MemoryError, reported as `too_much_work`) instead of growing the server;
- before each task sets RLIMIT_CPU's soft limit to its CPU time so far plus `cpu_seconds`: past it
  the kernel sends SIGXCPU, whose default action ends the process, wherever the work is (C included);
- exits after a task that left it holding more than `recycle_bytes` resident, giving that memory back.

The caller kills a worker whose task passes its timeout (`Timeout`), and starts a fresh worker when
one is next needed. A worker that dies during a task gives `TooMuchWork` (its CPU budget, or killed
for memory) or `CorruptMedia` (a decoder crashed on the file). At most as many workers live as tasks
have run at once (the caller bounds that; see app.api.uploads).

Only media bytes, file paths and results pass through the workers' pipes; nothing is logged but
exit statuses. As with any multiprocessing start method but fork, a program that starts a sandbox
must guard its main module (`if __name__ == "__main__":`): workers import it (as `__mp_main__`).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from matcher.errors import CorruptMedia, MediaError, TooMuchWork

log = logging.getLogger(__name__)
T = TypeVar("T")
MB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Per task: CPU seconds, bytes of memory beyond a fresh worker's; per worker: the resident size
    after which it is replaced."""

    cpu_seconds: float = 60.0
    memory_bytes: int = 2048 * MB
    recycle_bytes: int = 512 * MB


class Timeout(Exception):
    """The task ran past its wall-clock timeout; its worker was killed."""


class Closed(Exception):
    """The sandbox was closed (the service is stopping) before the task ended."""


class _Crashed(Exception):
    """The worker process ended during the task (exit status in `exitcode`)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(exitcode)
        self.exitcode = exitcode


class Sandbox:
    """Worker processes for `call`; started on demand, reused, replaced when killed or retired."""

    def __init__(self, limits: SandboxLimits = SandboxLimits(), preload: Sequence[str] = ()) -> None:
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        # The fork server is started once per process, with these modules imported: every worker
        # forked from it has them already. (Modules named by later sandboxes are imported by the
        # worker on its first task.)
        self._context.set_forkserver_preload(["app.sandbox", *preload])
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def call(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """`fn(*args)` in a worker process. Raises the task's MediaError, `TooMuchWork` when the
        worker spent its CPU or memory budget, `CorruptMedia` when it crashed, `Timeout` past
        `timeout` seconds (the worker is killed first), RuntimeError for a bug in `fn`."""
        worker = self._take()
        with self._lock:
            self._busy.add(worker)
        try:
            status, value, retire = worker.run(fn, args, timeout)
        except Timeout:
            worker.kill()
            raise
        except _Crashed as exc:
            worker.kill()
            if self._closed:
                raise Closed from None
            raise _crash_error(exc.exitcode, self.limits) from None
        except BaseException:
            worker.kill()
            raise
        finally:
            with self._lock:
                self._busy.discard(worker)
        if retire:
            worker.stop()
        else:
            self._give_back(worker)
        if status == "ok":
            return value  # type: ignore[no-any-return]
        if status == "media":
            raise value
        raise RuntimeError(f"hashing failed in the worker process: {value}")

    def warm(self, count: int) -> None:
        """Start `count` workers in the background, so that the first tasks do not wait for them
        (the fork server's first start imports numpy, Pillow and PyAV: seconds)."""
        def start() -> None:
            for _ in range(count):
                try:
                    self._give_back(_Worker(self._context, self.limits))
                except Exception:  # noqa: BLE001 - a task will start its own worker, and say why if it cannot
                    log.warning("could not start a hashing worker ahead of time", exc_info=True)
                    return

        if count > 0:
            threading.Thread(target=start, name="takedown-hash-warm", daemon=True).start()

    def workers(self) -> int:
        """Idle workers kept for the next tasks."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Stop every worker: idle ones at once, busy ones killed (their callers get an error), so
        that a shutdown never waits for a task."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.process.kill()

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise Closed
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker(self._context, self.limits)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()


def _crash_error(exitcode: int | None, limits: SandboxLimits) -> MediaError:
    if exitcode == -signal.SIGXCPU:
        return TooMuchWork(f"hashing this file took more than {limits.cpu_seconds:g} s of CPU time, the budget of one file")
    if exitcode == -signal.SIGKILL:
        return TooMuchWork("hashing this file needed more memory than one file may use")
    log.warning("a hashing worker ended with status %s during a task", exitcode)
    return CorruptMedia(f"the decoder stopped on this file (worker exit status {exitcode}); the file is damaged or hostile")


STARTUP_SECONDS = 120.0  # a new worker says it is ready within this (the fork server's first start included)


class _Worker:
    def __init__(self, context: Any, limits: SandboxLimits) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(child, limits), name="takedown-hash-worker", daemon=True)
        self.process.start()
        child.close()
        # The task's timeout counts its own work only, not the worker's start.
        if not self.conn.poll(STARTUP_SECONDS) or self.conn.recv() != "ready":
            self.kill()
            raise RuntimeError("a hashing worker process did not start")

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> tuple[str, Any, bool]:
        try:
            self.conn.send((fn, args))
            if not self.conn.poll(timeout):
                raise Timeout
            return self.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            self.process.join(5)
            raise _Crashed(self.process.exitcode) from None

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


# -- in the worker process ---------------------------------------------------------------------------


def _serve(conn: Connection, limits: SandboxLimits) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the server's to handle
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker ended by its CPU budget leaves no core file
    _pin_numerics()
    _limit_memory(limits.memory_bytes)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        _arm_cpu(limits.cpu_seconds)
        reply = _run(fn, args)
        _disarm_cpu()
        retire = _resident() > limits.recycle_bytes
        try:
            conn.send((*reply, retire))
        except Exception as exc:  # noqa: BLE001 - a result that cannot be sent is the task's failure
            conn.send(("error", f"the result could not be returned: {type(exc).__name__}", retire))
        if retire:
            return


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except MediaError as exc:
        return "media", exc
    except MemoryError:
        return "media", TooMuchWork("hashing this file needs more memory than one file may use")
    except Exception as exc:  # noqa: BLE001 - reported to the caller, which raises it as a bug
        return "error", f"{type(exc).__name__}: {exc}"


def _pin_numerics() -> None:
    from app.hashjob import single_threaded_numerics

    single_threaded_numerics()


def _limit_memory(extra: int) -> None:
    """Address space: what the worker maps now plus `extra`."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _mapped() + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _arm_cpu(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _disarm_cpu() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _mapped() -> int:
    """Bytes of address space this process maps (VmSize)."""
    return _status_kb("VmSize:") * 1024


def _resident() -> int:
    """Bytes of memory this process holds now (VmRSS)."""
    return _status_kb("VmRSS:") * 1024


def _status_kb(field: str) -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0
