"""The bulk jobs on a real local Ray instance give the same output as the local mode: `takedown hash`
records and `takedown rescan` hits, in-process and through the CLI joining the instance by address.

The instance is started here with 2 CPUs and a 200 MB object store, and shut down at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, encode

ray = pytest.importorskip("ray", reason="Ray is an optional extra; the dev extra installs it")

# Ray itself warns about its own deprecated settings when it copies its context to the workers.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def ray_address():
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("ray-case")
    for i, name in enumerate(list(photos)[:10]):
        (root / f"{i:02d}-{name}.jpg").write_bytes(encode(Image.fromarray(photos[name]), "JPEG", quality=88))
    (root / "05-notes.txt").write_text("not media\n")
    (root / "06-cut.jpg").write_bytes((root / "00-astronaut.jpg").read_bytes()[:1500])
    return root


def takedown(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, **(env or {})})


def test_hash_on_ray_equals_local(ray_address, folder, monkeypatch):
    from app import ray_jobs
    from app.files import iter_files
    from app.hashjob import hash_files
    from matcher.hashing import HashOptions

    monkeypatch.setattr(ray_jobs, "PATHS_PER_BLOCK", 3)  # several blocks and windows, to check the order
    monkeypatch.setattr(ray_jobs, "WINDOW", 5)
    options = HashOptions(signals=("md5", "pdq", "phash"))
    paths = list(iter_files([str(folder)]))
    local = list(hash_files(paths, options, workers=1))
    on_ray = list(ray_jobs.hash_on_ray(iter(paths), options, address=None, workers=2))
    assert on_ray == local
    assert len(local) == 12 and sum("error" in r for r in local) == 2


def test_cli_hash_with_ray_address_equals_local(ray_address, folder):
    local = takedown("hash", str(folder), "--workers", "1")
    remote = takedown("hash", str(folder), "--ray-address", ray_address)
    assert remote.stdout == local.stdout, remote.stderr
    assert remote.returncode == local.returncode == 1
    assert "12 files, 10 hashed, 2 failed" in remote.stderr


def test_rescan_on_ray_equals_local(ray_address, folder, tmp_path, monkeypatch):
    from app import ray_jobs
    from app.rescan import RescanReport, load_target, rescan
    from index.store import Store

    data = tmp_path / "data"
    env = {"TAKEDOWN_DATA_DIR": str(data)}
    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_text(takedown("hash", str(folder)).stdout * 3)  # 36 lines, copies of every file
    listed = tmp_path / "listed.jsonl"
    listed.write_text(takedown("hash", *(str(p) for p in sorted(folder.glob("0[0-4]*.jpg")))).stdout)
    assert takedown("lists", "create", "l", "--owner", "o", env=env).returncode == 0
    assert takedown("lists", "import", "l", str(listed), env=env).returncode == 0

    store = Store(f"sqlite:///{data / 'takedown.db'}")
    target = load_target(store, "l")
    local = [h for part in rescan(str(catalogue), target, RescanReport(), chunk_lines=7) for h in part.hits]
    monkeypatch.setattr(ray_jobs, "RESCAN_LINES_PER_BLOCK", 5)
    from_file = [h for part in ray_jobs.rescan_on_ray(str(catalogue), target, RescanReport(), address=None, workers=2)
                 for h in part.hits]
    report = RescanReport()
    with catalogue.open() as fh:
        streamed = [h for part in ray_jobs.rescan_on_ray(fh, target, report, address=None, workers=2)
                    for h in part.hits]
    assert from_file == local and streamed == local
    assert len({h["line"] for h in local}) == 15  # 5 listed images, 3 copies each
    assert report.records == 30 and report.skipped == 6

    cli_local = takedown("rescan", "--catalog", str(catalogue), "--list", "l", env=env)
    cli_ray = takedown("rescan", "--catalog", str(catalogue), "--list", "l", "--ray-address", ray_address, env=env)
    assert cli_ray.returncode == cli_local.returncode == 0, cli_ray.stderr
    assert cli_ray.stdout == cli_local.stdout
    assert [json.loads(line)["external_id"] for line in cli_ray.stdout.splitlines()][0].startswith("sha256:")  # not a path
