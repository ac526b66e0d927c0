"""The OpenAPI contract, checked by schemathesis against a real `takedown serve`.

A fresh store in a temporary folder, an admin key made by `takedown keys create --role admin`, the
service on a free loopback port; then `schemathesis run` with every check (server errors, status codes
and content types the document does not declare, responses that break their schemas, schema-valid
requests refused and invalid ones accepted, Allow headers, auth ignored, ...) in all four phases:
the document's examples, coverage (boundary and invalid values of every parameter and body), fuzzing,
and stateful sequences that follow the document's links (create a list, then read, change, import
into, export and delete it; create a key or a webhook, then revoke or delete it; ...).
tests/schemathesis.toml lists the few checks turned off where a JSON Schema cannot state the rule.

Size: TAKEDOWN_SCHEMATHESIS_EXAMPLES (default 10) examples per operation and phase, over the 30
operations, with a fixed seed (TAKEDOWN_SCHEMATHESIS_SEED) so that a run is repeatable; the README
gives the time it takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from test_serve import free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
EXAMPLES = os.environ.get("TAKEDOWN_SCHEMATHESIS_EXAMPLES", "10")
SEED = os.environ.get("TAKEDOWN_SCHEMATHESIS_SEED", "20261203")

pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra: pip install -e '.[dev]'")


def _admin_key(env: dict[str, str], cwd: Path) -> str:
    made = subprocess.run([sys.executable, "-m", "app.cli", "keys", "create", "--role", "admin"], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)
    return made.stdout.strip()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TAKEDOWN_DATA_DIR": str(tmp_path / "data"),
           # the fuzzer registers webhooks to made-up URLs: one quick attempt each, never a retry storm
           "TAKEDOWN_WEBHOOK_MAX_ATTEMPTS": "1", "TAKEDOWN_WEBHOOK_TIMEOUT": "1"}
    admin, spare = _admin_key(env, tmp_path), _admin_key(env, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-access-log"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(base, server)
        keys = httpx.get(base + "/v1/keys", headers={"authorization": f"Bearer {admin}"}).json()
        ids = {k["prefix"]: k["id"] for k in keys}
        operations = sum(len(ops) for ops in httpx.get(base + "/openapi.json").json()["paths"].values())
        run = subprocess.run(
            [*SCHEMATHESIS, "--config-file", str(HERE / "schemathesis.toml"), "--no-color", "run", f"{base}/openapi.json",
             "--header", f"Authorization: Bearer {admin}",  # every check is on unless the config file says
             "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", EXAMPLES, "--seed", SEED,
             "--workers", "1", "--request-timeout", "60"],
            env={**env, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}", "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                 "TAKEDOWN_FUZZ_KEY_ID": str(ids[admin[:10]]), "TAKEDOWN_SPARE_KEY_ID": str(ids[spare[:10]])},
            cwd=tmp_path, capture_output=True, text=True, timeout=840,
        )
        assert server.poll() is None, "the service died during the run"
        served = sum(float(line.rsplit(" ", 1)[1]) for line in httpx.get(base + "/metrics").text.splitlines()
                     if line.startswith("takedown_http_request_seconds_count"))
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    log = errors.decode(errors="replace")
    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout[-30000:]}\n{run.stderr[-3000:]}"
    summary = run.stdout[run.stdout.find("SUMMARY"):]
    print(f"{summary}\nrequests served: {served:.0f}")  # the run's size and time, for the README (pytest -s)
    assert f"Selected: {operations}/{operations}" in summary and f"Tested: {operations}" in summary, summary
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary
    assert "unexpected error" not in log, log[-5000:]  # what app.api.errors logs for a 500
