"""The CLI and its store, as a new user meets them: one store whatever the current directory, named in
every summary, never an empty answer from an empty store; and the CLI's outputs (CSV, tables, notes,
warnings, times) as they are read. Real subprocesses; HOME and XDG_DATA_HOME point into tmp_path, so the
real user's store is never touched."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index import db, formats
from tests.conftest import ROOT, encode


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user with no TAKEDOWN_ settings: the default store, under this test's own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAKEDOWN_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"), TAKEDOWN_ACTOR="test:cli",
               PYTHONPATH=str(ROOT))
    return env


def takedown(env: dict[str, str], *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          input=stdin, timeout=180)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "evidence" / "photo.png"
    path.parent.mkdir()
    pixels = np.random.default_rng(5).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    path.write_bytes(encode(Image.fromarray(pixels)))
    return path


@pytest.fixture
def listed(tmp_path, photo) -> dict[str, object]:
    """The default store (made in process: faster than two CLI runs) with a list `l` that holds the photo
    by its MD5."""
    from index.store import Store

    path = tmp_path / "xdg" / "takedown-matcher" / "takedown.db"
    path.parent.mkdir(parents=True)
    store = Store(f"sqlite:///{path}")
    store.create_list("l", owner="[b]Ofcom[/b]", actor="test")  # shown as written, never as rich markup
    entry = {"id": "case-1", "md5": hashlib.md5(photo.read_bytes()).hexdigest()}
    assert store.import_entries("l", formats.read_entries([json.dumps(entry)], "jsonl"), actor="test").added == 1
    store.close()
    return {"env": user_env(tmp_path), "store": path}


def test_the_store_does_not_depend_on_the_current_directory(tmp_path, photo):
    env, store = user_env(tmp_path), tmp_path / "xdg" / "takedown-matcher" / "takedown.db"
    here = tmp_path / "a"
    here.mkdir()
    entry = {"id": "case-1", "md5": hashlib.md5(photo.read_bytes()).hexdigest()}
    assert takedown(env, "lists", "create", "l", "--owner", "o", cwd=here).returncode == 0
    imported = takedown(env, "lists", "import", "l", "-", "--format", "jsonl", cwd=here, stdin=json.dumps(entry) + "\n")
    assert imported.returncode == 0, imported.stderr
    assert store.is_file() and not (here / "data").exists()
    assert f"store: {store} (SQLite)" in imported.stderr
    elsewhere = tmp_path / "b"
    elsewhere.mkdir()
    run = takedown(env, "match", str(photo), cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["decision"] == "takedown"
    assert not (elsewhere / "data").exists()
    assert f"store: {store} (SQLite)" in run.stderr.splitlines()[-1]  # the summary names it


def test_match_refuses_a_store_without_lists(tmp_path, photo):
    env = user_env(tmp_path)
    old = tmp_path / "project"
    (old / "data").mkdir(parents=True)
    (old / "data" / "takedown.db").write_bytes(b"")  # where earlier versions kept the store
    run = takedown(env, "match", str(photo), cwd=old)
    assert run.returncode == 2 and run.stdout == ""
    assert "has no lists" in run.stderr and str(tmp_path / "xdg" / "takedown-matcher") in run.stderr
    assert f"TAKEDOWN_DATA_DIR={old / 'data'}" in run.stderr  # the old store is pointed out, not silently ignored


@pytest.mark.slow  # four or five CLI runs: about 10 s of CPU
def test_unknown_lists_are_usage_errors(tmp_path, photo, listed):
    env = listed["env"]
    run = takedown(env, "match", str(photo), "--list", "l", "--list", "nope", cwd=tmp_path)
    assert run.returncode == 2 and "no list named 'nope'" in run.stderr and "its lists: l" in run.stderr
    catalogue = tmp_path / "catalogue.jsonl"
    catalogue.write_text(json.dumps({"path": "x.png", "md5": "0" * 32}) + "\n")
    rescan = takedown(env, "rescan", "--catalog", str(catalogue), "--list", "nope", cwd=tmp_path)
    assert rescan.returncode == 2 and "no list named 'nope'" in rescan.stderr
    shown = takedown(env, "lists", "show", "nope", cwd=tmp_path)
    assert shown.returncode == 2 and "no list named 'nope'" in shown.stderr
    key = takedown(env, "keys", "revoke", "99", cwd=tmp_path)
    assert key.returncode == 2 and "no active key 99" in key.stderr
    unwritable = takedown(env, "lists", "export", "l", "--out", str(tmp_path / "no-such-folder" / "l.jsonl"), cwd=tmp_path)
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr and "Traceback" not in unwritable.stderr


def test_no_password_is_printed(tmp_path, photo):
    env = {**user_env(tmp_path), "TAKEDOWN_DATABASE_URL": "postgresql://alice:s3cret-pw@127.0.0.1:1/takedown"}
    run = takedown(env, "match", str(photo), cwd=tmp_path)
    assert run.returncode == 2 and "cannot open the store" in run.stderr
    assert "s3cret-pw" not in run.stderr and "postgresql://alice:***@127.0.0.1:1/takedown" in run.stderr
    assert db.describe_store("postgresql://u:pw@h/d?password=pw2&sslmode=require") == "postgresql://u:***@h/d?..."


@pytest.mark.slow  # four or five CLI runs: about 10 s of CPU
def test_match_and_rescan_write_csv(tmp_path, photo, listed):
    env = listed["env"]
    other = photo.parent / "other.png"
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8) + 90).save(other)
    (photo.parent / "notes.txt").write_text("case notes\n")
    run = takedown(env, "match", str(photo.parent), "--format", "csv", "--workers", "1", cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # the note is not media
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert list(rows[0]) == ["path", "size", "mtime", "kind", "decision", "lists", "matches", "error", "code"]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["photo.png"]["decision"] == "takedown" and by_name["photo.png"]["lists"] == "l"
    evidence = json.loads(by_name["photo.png"]["matches"])
    assert evidence[0]["external_id"] == "case-1" and evidence[0]["signal"] == "md5"
    assert by_name["other.png"]["decision"] == "none" and by_name["other.png"]["matches"] == "[]"
    assert by_name["notes.txt"]["code"] == "not_media" and by_name["notes.txt"]["decision"] == ""
    resumed = takedown(env, "match", str(photo), "--format", "csv", "--out", str(tmp_path / "o.csv"), "--resume",
                       cwd=tmp_path)
    assert resumed.returncode == 2 and "JSONL" in resumed.stderr
    catalogue = tmp_path / "catalogue.jsonl"
    hashed = takedown(env, "hash", str(photo), "--signals", "md5", "--out", str(catalogue), cwd=tmp_path)
    assert hashed.returncode == 0, hashed.stderr
    hits = takedown(env, "rescan", "--catalog", str(catalogue), "--list", "l", "--format", "csv", cwd=tmp_path)
    assert hits.returncode == 0, hits.stderr
    (hit,) = csv.DictReader(io.StringIO(hits.stdout))
    assert (hit["line"], hit["external_id"], hit["signal"], hit["distance"], hit["action"]) == (
        "1", "case-1", "md5", "0", "takedown")
    assert f"store: {listed['store']}" in hits.stderr.splitlines()[-1]


@pytest.mark.slow  # four or five CLI runs: about 10 s of CPU
def test_a_folder_of_folders_without_recursive_says_so(tmp_path, photo, listed):
    env = listed["env"]
    cases = tmp_path / "cases"
    (cases / "day1").mkdir(parents=True)
    (cases / "day1" / "photo.png").write_bytes(photo.read_bytes())
    for command in ("hash", "match"):
        run = takedown(env, command, str(cases), cwd=tmp_path)
        assert run.returncode == 2 and run.stdout == "", (command, run.stderr)
        assert f"{cases}: holds only folders; add -r" in run.stderr
    mixed = takedown(env, "match", str(cases), str(photo), cwd=tmp_path)  # a note, and the file is checked
    assert mixed.returncode == 0 and "holds only folders" in mixed.stderr and len(mixed.stdout.splitlines()) == 1
    deep = takedown(env, "match", str(cases), "-r", cwd=tmp_path)
    assert deep.returncode == 0 and json.loads(deep.stdout)["decision"] == "takedown"


def test_snapshot_warning_only_for_a_snapshot_that_was_written(tmp_path, photo, listed):
    env = listed["env"]
    fresh = takedown(env, "match", str(photo), cwd=tmp_path)
    assert fresh.returncode == 0 and "index snapshot" not in fresh.stderr
    assert takedown(env, "index", "snapshot", cwd=tmp_path).returncode == 0
    folder = listed["store"].parent / "index"
    (folder / "CURRENT").write_text("v0-gone")  # a snapshot was written, and is now broken
    broken = takedown(env, "match", str(photo), cwd=tmp_path)
    assert broken.returncode == 0 and "index snapshot not used" in broken.stderr
    assert json.loads(broken.stdout)["decision"] == "takedown"


@pytest.mark.slow  # four or five CLI runs: about 10 s of CPU
def test_lists_show_is_a_table_or_json_with_offsets_on_times(tmp_path, listed):
    env = listed["env"]
    table = takedown(env, "lists", "show", "l", cwd=tmp_path)
    assert table.returncode == 0
    assert "{" not in table.stdout and "None" not in table.stdout and "'" not in table.stdout
    assert "pdq=31" in table.stdout and "active=1, revoked=0" in table.stdout and "[b]Ofcom[/b]" in table.stdout
    created = next(line for line in table.stdout.splitlines() if "created_at" in line).split()[1]
    assert created.endswith("+00:00") and "T" in created
    shown = json.loads(takedown(env, "lists", "show", "l", "--json", cwd=tmp_path).stdout)
    assert shown["thresholds"]["pdq"] == 31 and shown["created_at"] == created
    assert takedown(env, "lists", "revoke", "l", "case-1", "--reason", "appeal", cwd=tmp_path).returncode == 0
    again = takedown(env, "lists", "revoke", "l", "case-1", "--reason", "appeal", cwd=tmp_path)
    assert again.returncode == 1 and "already revoked at 20" in again.stderr
    assert again.stderr.split("already revoked at ")[1].split()[0].rstrip(";").endswith("+00:00")


def test_format_errors_are_neutral_and_the_cli_adds_its_hint(tmp_path, listed):
    with pytest.raises(formats.FormatError) as caught:
        formats.detect_format(None, "hello there")
    assert "name it" not in str(caught.value) and "--format" not in str(caught.value)
    odd = tmp_path / "hashes.dat"
    odd.write_text("hello there\n")
    run = takedown(listed["env"], "lists", "import", "l", str(odd), cwd=tmp_path)
    assert run.returncode == 2 and "choose one with --format" in run.stderr  # bad input: nothing imported


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_uses_and_names_the_same_default_store(tmp_path):
    env = user_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()), "--no-access-log"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"store: {tmp_path / 'xdg' / 'takedown-matcher' / 'takedown.db'} (SQLite)" in first
    assert not (tmp_path / "data").exists()


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("TAKEDOWN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert db.data_dir() == tmp_path / "share" / "takedown-matcher"
    monkeypatch.setenv("TAKEDOWN_DATA_DIR", "relative")
    monkeypatch.chdir(tmp_path)
    assert db.data_dir() == tmp_path / "relative"  # absolute, so what is printed is where it is


def test_make_run_prints_the_store_it_serves(tmp_path):
    """`make run`'s recipe: the store line it prints comes from the same default as `takedown serve`,
    and nothing in it pins the store to the folder make is run from."""
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "TAKEDOWN_DATA_DIR=" not in recipe and "mkdir" not in recipe and "takedown serve" in recipe
    code = recipe.split("-c '", 1)[1].split("'", 1)[0]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=user_env(tmp_path), timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"takedown-matcher: store in {tmp_path / 'xdg' / 'takedown-matcher' / 'takedown.db'} (SQLite)"
