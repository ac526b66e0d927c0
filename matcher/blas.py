"""One BLAS thread for matcher's own matrix products, whoever calls them.

matcher's products are small: PDQ's tent filter multiplies a band of ~2H/64 rows by the image's
3W columns 64 times, then a 64 x W luma by W x 64 weights; the imagehash thumbnails multiply blocks
of rows by a few hundred columns. OpenBLAS splits such products over every core anyway, and its
helper threads then spin waiting for the next one, so with BLAS at its default one exact PDQ of a
1 MP image costs ~3x the CPU of the same products on one thread on a quiet 2-core machine (4.6 against
1.5 ms) and ~40x when other processes share the cores (14.4 against 0.37 ms of a corpus image), and
is slower in wall-clock time too. The CLI and the service pin BLAS to one thread for the whole
process; a program that imports `matcher` should not have to know that.

`one_blas_thread` wraps the functions that run those products: while any of them runs, BLAS is
limited to one thread, and the caller's setting is put back when the last one returns (a count shared
by all threads, because OpenBLAS's pthreads build keeps one thread count per process; per thread where
the library's limit is per thread, as with its OpenMP build). The same BLAS calls run, so no result
changes. Per call (measured, 2-core machine): ~11 us when the caller left BLAS at its default, ~3 us
when BLAS is already at one thread (the CLI, the service). Rejected: `threadpool_limits(1)` as a
context per call (0.84 ms: it looks up the loaded libraries each time, more than half a small PDQ);
threadpoolctl's cached `ThreadpoolController.limit` (11 us, but each call restores what it saw, so two
threads' overlapping calls leave BLAS at one thread or restore it under a running call); products
without BLAS (einsum, sums of products): another summation order moves float rounding, and hash bits
with it, where a coefficient sits at the median.

What this must never do: change a numeric result; leave the caller's BLAS setting changed once the
last wrapped call has returned; override a limit the caller holds through threadpoolctl in another
thread (threadpoolctl lets one thread at a time change OpenBLAS; then ours is skipped, not forced).
While a wrapped call runs, other threads' own BLAS products also run on one thread (the setting is
process-wide), and a change the caller makes to BLAS threads meanwhile is undone when it returns.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Limiter:
    """Process-wide and per-thread counts of running wrapped calls, and the settings to restore."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0  # wrapped calls running in any thread
        self.saved: list[tuple[Any, int]] = []  # (process-wide controller, its setting before)
        self.local = threading.local()  # .depth, .saved: the same for per-thread controllers
        self.shared: list[Any] | None = None  # controllers found on first use
        self.per_thread: list[Any] = []

    def controllers(self) -> tuple[list[Any], list[Any]]:
        """(process-wide, per-thread) BLAS controllers, found once: numpy's BLAS is loaded before
        any product, and looking the libraries up costs ~1 ms."""
        if self.shared is None:
            from threadpoolctl import ThreadpoolController

            found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            self.per_thread = [c for c in found if getattr(c, "threading_layer", None) == "openmp"]
            self.shared = [c for c in found if c not in self.per_thread]
        return self.shared, self.per_thread

    def enter(self) -> None:
        with self.lock:
            shared, per_thread = self.controllers()
            if self.active == 0:
                self.saved = _limit_to_one(shared)
            self.active += 1
        depth = getattr(self.local, "depth", 0)
        if depth == 0 and per_thread:
            self.local.saved = _limit_to_one(per_thread)
        self.local.depth = depth + 1

    def exit(self) -> None:
        local = self.local
        local.depth -= 1
        if local.depth == 0 and getattr(local, "saved", None):
            _restore(local.saved)
            local.saved = []
        with self.lock:
            self.active -= 1
            if self.active == 0 and self.saved:
                _restore(self.saved)
                self.saved = []


def _limit_to_one(controllers: list[Any]) -> list[tuple[Any, int]]:
    """Set each controller to one thread; return (controller, previous) for those that changed."""
    changed = []
    for controller in controllers:
        before = controller.get_num_threads()
        if before is None or before <= 1:
            continue
        controller.set_num_threads(1)
        _release_control(controller)
        if controller.get_num_threads() == 1:  # else another thread holds threadpoolctl's control
            changed.append((controller, before))
    return changed


def _restore(saved: list[tuple[Any, int]]) -> None:
    for controller, before in saved:
        controller.set_num_threads(before)
        _release_control(controller)


def _release_control(controller: Any) -> None:
    # threadpoolctl hands OpenBLAS's limit to the first thread that sets it until that thread lets
    # go; holding it would make later limits set by the caller's other threads silently do nothing.
    clear = getattr(type(controller), "clear_controlling_thread", None)
    if clear is not None:
        clear()


_LIMITER = _Limiter()


def _after_fork_in_child() -> None:
    # A fork taken while another thread held the lock would copy it held: start afresh. The child
    # keeps the BLAS setting it inherited (one thread if a wrapped call was running in the parent).
    global _LIMITER
    _LIMITER = _Limiter()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def one_blas_thread(fn: F) -> F:
    """Run `fn` with BLAS limited to one thread (see the module docstring); nesting is free."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limiter = _LIMITER
        limiter.enter()
        try:
            return fn(*args, **kwargs)
        finally:
            limiter.exit()

    return wrapper  # type: ignore[return-value]
