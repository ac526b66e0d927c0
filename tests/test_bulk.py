"""Bulk `takedown hash` / `takedown match`: path lists and stdin, globs, --resume after a killed run,
errors counted, the summary, and memory that does not grow with the number of paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, encode


def takedown(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=300, env={**os.environ, **(env or {})})


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def case(tmp_path_factory, photos) -> Path:
    """A case folder: 12 images in two sub-folders, a note (not media) and a damaged JPEG."""
    root = tmp_path_factory.mktemp("case")
    for i, name in enumerate(list(photos)[:12]):
        sub = root / ("day1" if i % 2 else "day2")
        sub.mkdir(exist_ok=True)
        (sub / f"img{i:02d}.jpg").write_bytes(encode(Image.fromarray(photos[name]), "JPEG", quality=85))
    (root / "notes.txt").write_text("case notes\n")
    (root / "day1" / "cut.jpg").write_bytes((root / "day1" / "img01.jpg").read_bytes()[:2000])
    return root


def test_from_list_file_and_stdin_give_the_listed_files_in_order(case, tmp_path):
    listed = [str(case / "day2" / "img02.jpg"), str(case / "notes.txt"), str(case / "day1" / "img01.jpg"),
              str(case / "gone.jpg")]
    list_file = tmp_path / "paths.txt"
    list_file.write_text("\n".join(listed[:2]) + "\n\n" + "\n".join(listed[2:]) + "\n")  # a blank line is skipped
    from_file = takedown("hash", "--from-list", str(list_file), "--workers", "2")
    from_stdin = takedown("hash", "--from-list", "-", "--workers", "1", stdin=list_file.read_text())
    assert from_file.returncode == 1 and from_stdin.returncode == 1  # the note and the missing file fail
    assert [r["path"] for r in records(from_file.stdout)] == listed
    assert from_file.stdout == from_stdin.stdout
    assert "4 files, 2 hashed, 2 failed" in from_file.stderr and "not_found: 1" in from_file.stderr


def test_arguments_and_list_combine(case, tmp_path):
    list_file = tmp_path / "more.txt"
    list_file.write_text(str(case / "day1" / "img03.jpg") + "\n")
    run = takedown("hash", str(case / "day2" / "img00.jpg"), "--from-list", str(list_file))
    assert [Path(r["path"]).name for r in records(run.stdout)] == ["img00.jpg", "img03.jpg"]


def test_glob_patterns_are_expanded_in_sorted_order(case):
    run = takedown("hash", str(case / "**" / "img0[0-3].jpg"), "--signals", "md5")
    assert [Path(r["path"]).relative_to(case).as_posix() for r in records(run.stdout)] == [
        "day1/img01.jpg", "day1/img03.jpg", "day2/img00.jpg", "day2/img02.jpg"]
    one_level = takedown("hash", str(case / "*" / "*.jpg"), "--signals", "md5")
    assert len(records(one_level.stdout)) == 13  # 12 images and the damaged one
    none = takedown("hash", str(case / "*.png"), "--signals", "md5")
    assert none.stdout == "" and "0 files" in none.stderr


def test_summary_counts_images_videos_errors_and_skips(case):
    run = takedown("hash", str(case), "-r", "--skip-unsupported", "--signals", "md5,pdq")
    assert run.returncode == 1  # the damaged JPEG still fails
    summary = run.stderr.strip().splitlines()[-1]
    assert summary.startswith("14 files, 12 hashed, 1 failed, 1 skipped (not media)")
    assert "12 images, 0 videos" in summary and "corrupt: 1" in summary and "files/s" in summary


def test_missing_sources_and_bad_resume_options_exit_2(case, tmp_path):
    assert takedown("hash").returncode == 2
    assert takedown("hash", "--from-list", str(tmp_path / "nope.txt")).returncode == 2
    assert "needs --out" in takedown("hash", str(case), "--resume").stderr
    csv_resume = takedown("hash", str(case), "--resume", "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert csv_resume.returncode == 2 and "JSONL" in csv_resume.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    refused = takedown("hash", str(case), "--resume", "--out", str(garbage))
    assert refused.returncode == 2 and "line 1" in refused.stderr and garbage.read_text() == "not json\n"


def _tree_of_copies(case: Path, root: Path, n: int) -> Path:
    root.mkdir()
    images = sorted(case.glob("*/img*.jpg"))
    for i in range(n):
        os.link(images[i % len(images)], root / f"f{i:04d}.jpg")
    return root


def test_resume_after_a_killed_run_hashes_each_file_once(case, tmp_path):
    tree = _tree_of_copies(case, tmp_path / "many", 150)
    full = takedown("hash", str(tree), "--workers", "1")
    assert full.returncode == 0
    out = tmp_path / "partial.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "hash", str(tree), "--workers", "1", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = out.read_bytes()
    assert 0 < written.count(b"\n") < 150, "the run was to be killed midway"
    with out.open("ab") as fh:  # whatever the kill left, make sure the last line is cut mid-record
        fh.write(b'{"path": "' + str(tree).encode() + b'/f0149.jpg", "size": 1')
    resumed = takedown("hash", str(tree), "--workers", "2", "--resume", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text() == full.stdout  # every file once, in order, the cut line gone
    done = written.count(b"\n")
    assert f"150 files, {150 - done} hashed, 0 failed, {done} skipped (already in the output)" in resumed.stderr


def test_resume_hashes_again_a_file_changed_since(case, tmp_path):
    tree = _tree_of_copies(case, tmp_path / "few", 5)
    out = tmp_path / "out.jsonl"
    assert takedown("hash", str(tree), "--out", str(out), "--signals", "md5").returncode == 0
    (tree / "f0002.jpg").unlink()
    (tree / "f0002.jpg").write_bytes((case / "day2" / "img10.jpg").read_bytes())  # f0002 was img05
    again = takedown("hash", str(tree), "--out", str(out), "--signals", "md5", "--resume")
    lines = records(out.read_text())
    assert [Path(r["path"]).name for r in lines] == ["f0000.jpg", "f0001.jpg", "f0002.jpg", "f0003.jpg",
                                                     "f0004.jpg", "f0002.jpg"]
    assert lines[2]["md5"] != lines[5]["md5"] and "4 skipped (already in the output)" in again.stderr


def test_paths_stream_and_resume_set_stay_small(tmp_path):
    """200k listed paths and a 200k-record output to resume from: a few bytes per path, not a list."""
    from app.files import Sources, iter_sources
    from app.resume import load_done, pending

    n = 200_000
    listed = tmp_path / "paths.txt"
    listed.write_text("".join(f"/evidence/case-{i // 1000:03d}/file-{i:07d}.jpg\n" for i in range(n)))
    output = tmp_path / "out.jsonl"
    output.write_text("".join(json.dumps({"path": f"/evidence/case-{i // 1000:03d}/file-{i:07d}.jpg", "code": "x"})
                              + "\n" for i in range(0, n, 2)))
    tracemalloc.start()
    done = load_done(str(output))
    skipped = []
    remaining = sum(1 for _ in pending(iter_sources(Sources(from_list=str(listed))), done, lambda: skipped.append(1)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert remaining == n // 2 and len(skipped) == n // 2 and len(done) == n // 2
    assert peak < 40 * n, f"{peak / n:.0f} bytes per path"  # a list of the paths alone would be ~100


def test_bulk_match_with_workers_resume_and_summary(case, tmp_path):
    data = tmp_path / "data"
    env = {"TAKEDOWN_DATA_DIR": str(data)}
    listed = tmp_path / "listed.jsonl"
    listed.write_text(takedown("hash", str(case / "day1"), "--skip-unsupported").stdout)
    assert takedown("lists", "create", "l", "--owner", "o", env=env).returncode == 0
    assert takedown("lists", "import", "l", str(listed), "--skip-invalid", env=env).returncode == 0
    one = takedown("match", str(case), "-r", "--list", "l", "--workers", "1", env=env)
    two = takedown("match", str(case / "**"), "--list", "l", "--workers", "2", env=env)
    assert one.stdout == two.stdout and one.returncode == two.returncode == 1  # the note and the cut file
    results = records(one.stdout)
    decided = {Path(r["path"]).name for r in results if r.get("decision", "none") != "none"}
    assert decided == {f"img{i:02d}.jpg" for i in range(1, 12, 2)}
    assert all("size" in r and "mtime" in r for r in results)
    assert "14 files, 12 checked, 2 failed" in one.stderr and "6 with a decision" in one.stderr
    out = tmp_path / "matches.jsonl"
    out.write_text(one.stdout[: one.stdout.index("\n", 2000) + 1] + '{"path": "trunc')
    resumed = takedown("match", str(case), "-r", "--list", "l", "--out", str(out), "--resume", env=env)
    assert out.read_text() == one.stdout and "skipped (already in the output)" in resumed.stderr
