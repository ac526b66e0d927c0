"""A bounded shutdown: once SIGTERM (or SIGINT) arrives, the process is gone within `shutdown_seconds`,
whatever its requests are doing.

uvicorn alone waits for every request to finish, and runs the app's shutdown only after that, so one
endless request (an import, a decode) kept a process alive, and its webhook worker delivering, for an
hour after "Shutting down". `ShutdownGuard.install` chains a handler in front of uvicorn's: at the
signal it stops the background workers that reach outside (webhook deliveries) at once, and starts a
timer that ends the process with `os._exit` when the bound passes. The store stays consistent either
way: every write is a transaction (a killed one rolls back), and a staged import cut short stays hidden
until the next import into its list clears it (index.store).

Must never run a request's work itself or swallow the signal: uvicorn's own handler still runs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
FORCED_EXIT_STATUS = 1


class ShutdownGuard:
    def __init__(self, seconds: float, on_signal: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_signal = on_signal
        self._fired = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> bool:
        """Chain in front of the current handlers (uvicorn's). Only the main thread may; False elsewhere
        (e.g. under a test client), where there is no process to bound."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if not self._fired.is_set():
            self._fired.set()
            log.info("signal %d: stopping background work; exiting within %.0f s", sig, self.seconds)
            threading.Thread(target=self._expire, name="shutdown-deadline", daemon=True).start()
            threading.Thread(target=self._on_signal, name="shutdown-stop", daemon=True).start()
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.default_int_handler(sig, frame) if sig == signal.SIGINT else os._exit(128 + sig)

    def _expire(self) -> None:
        if threading.Event().wait(self.seconds):  # never set: sleeps the bound out, in a daemon thread
            return
        log.error("shutdown still running after %.0f s: exiting now (work in progress is rolled back)",
                  self.seconds)
        logging.shutdown()
        os._exit(FORCED_EXIT_STATUS)
