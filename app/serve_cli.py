"""`takedown serve`: run the HTTP service under uvicorn.

Before the server starts, the store is migrated once (workers starting together would otherwise race
on it). With --workers > 1, PROMETHEUS_MULTIPROC_DIR is pointed at a fresh private folder, unless set
already, so that /metrics sums all workers (see app.api.metrics). Each worker opens the live index
from the snapshot (`takedown index snapshot`) when there is a sound one, else from the store.
On SIGTERM every worker exits within TAKEDOWN_SHUTDOWN_SECONDS (default 30), whatever it is running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer
from rich.console import Console

from app.api.settings import Settings
from app.store_cli import open_store, store_note

err = Console(stderr=True, soft_wrap=True)


def serve_command(
    host: Annotated[str, typer.Option(metavar="ADDR", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Worker processes (each holds the index in memory).")] = 1,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level: critical, error, warning, info, debug or trace.")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log each request (uvicorn's access log).")
    ] = True,
) -> None:
    """Run the HTTP service (docs at /docs)."""
    import uvicorn

    store = open_store()  # migrate once, before any worker starts
    note = store_note(store)
    store.close()
    # uvicorn waits this long for requests to finish; each worker's ShutdownGuard ends it at the full bound.
    drain = max(1, int(Settings.from_env().shutdown_seconds / 2))
    own_metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="takedown-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    err.print(f"takedown-matcher on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}); docs at /docs; {note}",
              highlight=False, markup=False)
    try:
        uvicorn.run("app.api.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=access_log, proxy_headers=False, server_header=False,
                    timeout_graceful_shutdown=drain)
    finally:
        if own_metrics_dir:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
