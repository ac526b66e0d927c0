"""CPU-bound busy processes beside a measurement (`--load N` of the benchmarks): a platform's server
is never idle, so the README gives each table twice, on a quiet machine and with N spinning processes.

Each busy process is a Python interpreter spinning in a loop. It must never outlive the benchmark:
it is stopped (terminate, then kill) when the block ends, however it ends, and it also stops by itself
within ~50 ms once its parent is gone (a benchmark killed with SIGKILL never runs its cleanup).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Spins while its parent is the benchmark (given as argv[1]: read at start-up, a parent that died in
# the meantime would go unnoticed, and the child would spin for ever).
_SPIN = (
    "import os, sys\n"
    "parent = int(sys.argv[1])\n"
    "while os.getppid() == parent:\n"
    "    for _ in range(200_000):\n"
    "        pass\n"
)


@contextmanager
def busy_processes(count: int) -> Iterator[list[int]]:
    """Run `count` CPU-bound processes for the duration of the block; yield their pids."""
    if count < 0:
        raise ValueError("the number of busy processes cannot be negative")
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN, str(os.getpid())], stdin=subprocess.DEVNULL)
             for _ in range(count)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def load_note(count: int) -> str:
    """How the run was loaded, for the report's header."""
    if count == 0:
        return "no busy processes started by the benchmark (--load 0)"
    return f"{count} CPU-bound busy process(es) started by the benchmark ran beside every measurement (--load {count})"
