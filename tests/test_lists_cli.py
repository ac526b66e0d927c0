"""`takedown lists ...` end to end, as a regulator's operator runs it: real subprocesses, a real store."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from matcher.bits import words_to_hexes
from tests.conftest import ROOT, encode


def run(tmp_path, *args, stdin=None):
    env = {**os.environ, "TAKEDOWN_DATA_DIR": str(tmp_path / "data"), "TAKEDOWN_ACTOR": "ofcom:alice"}
    env.pop("TAKEDOWN_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, input=stdin, timeout=120)


@pytest.fixture
def hashes_file(tmp_path, photos):
    folder = tmp_path / "evidence"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        (folder / f"{name}.jpg").write_bytes(encode(Image.fromarray(photos[name]), "JPEG", quality=90))
    out = tmp_path / "hashes.jsonl"
    assert run(tmp_path, "hash", str(folder), "--out", str(out)).returncode == 0
    return out


def test_create_import_show_revoke_export(tmp_path, hashes_file):
    assert run(tmp_path, "lists", "create", "ofcom-ncii", "--owner", "Ofcom", "--thresholds", "pdq=28").returncode == 0
    imported = run(tmp_path, "lists", "import", "ofcom-ncii", str(hashes_file), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["added"] == 3
    shown = json.loads(run(tmp_path, "lists", "show", "ofcom-ncii", "--json").stdout)
    assert shown["entries"] == {"active": 3, "revoked": 0} and shown["thresholds"]["pdq"] == 28
    first = "sha256:" + json.loads(hashes_file.read_text().splitlines()[0])["sha256"]  # named by content, not path
    revoked = run(tmp_path, "lists", "revoke", "ofcom-ncii", first, "--reason", "appeal upheld", "--json")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked_by"] == "ofcom:alice"
    again = run(tmp_path, "lists", "revoke", "ofcom-ncii", first, "--reason", "x")
    assert again.returncode == 1 and "already revoked" in again.stderr
    active = run(tmp_path, "lists", "export", "ofcom-ncii")
    assert len(active.stdout.splitlines()) == 2
    everything = run(tmp_path, "lists", "export", "ofcom-ncii", "--include-revoked", "--format", "csv")
    lines = everything.stdout.splitlines()
    assert len(lines) == 4 and "appeal upheld" in everything.stdout and lines[0].startswith("id,kind,labels,md5")
    # the export imports back unchanged
    (tmp_path / "export.csv").write_text(everything.stdout)
    back = run(tmp_path, "lists", "import", "ofcom-ncii", str(tmp_path / "export.csv"), "--json")
    report = json.loads(back.stdout)
    assert (report["unchanged"], report["revoked_kept"], report["added"]) == (2, 1, 0)


def test_bad_file_changes_nothing_and_names_lines(tmp_path):
    run(tmp_path, "lists", "create", "l", "--owner", "o")
    good = words_to_hexes(np.random.default_rng(0).integers(1, 2**63, size=(2, 4), dtype=np.uint64))
    body = f"id,pdq,labels\na,{good[0]},deepfake;minor\nb,xyz,\nc,{'0' * 64},\nd,{good[1]},\n"
    (tmp_path / "list.csv").write_text(body)
    result = run(tmp_path, "lists", "import", "l", str(tmp_path / "list.csv"))
    assert result.returncode == 2  # refused whole: nothing imported
    assert "line 3: pdq: expected 64 hex digits" in result.stderr and "line 4: pdq: all-zero" in result.stderr
    assert "nothing was imported" in result.stderr
    assert json.loads(run(tmp_path, "lists", "show", "l", "--json").stdout)["entries"]["active"] == 0
    skipped = run(tmp_path, "lists", "import", "l", str(tmp_path / "list.csv"), "--skip-invalid")
    assert skipped.returncode == 0 and "2 added" in skipped.stderr
    exported = [json.loads(x) for x in run(tmp_path, "lists", "export", "l").stdout.splitlines()]
    assert exported[0]["labels"] == ["deepfake", "minor"]


def test_threatexchange_lines_from_stdin(tmp_path):
    run(tmp_path, "lists", "create", "te", "--owner", "o")
    good = words_to_hexes(np.random.default_rng(1).integers(1, 2**63, size=(2, 4), dtype=np.uint64))
    lines = f"pdq {good[0]}\npdq {good[1]}\nvideo_md5 {'ab' * 16}\n"
    result = run(tmp_path, "lists", "import", "te", "-", "--format", "te", "--json", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 3


def test_list_delete_update_and_errors(tmp_path):
    assert run(tmp_path, "lists", "create", "bad name", "--owner", "o").returncode == 2  # a usage error
    assert run(tmp_path, "lists", "create", "x", "--owner", "o", "--thresholds", "pdq=500").returncode == 2
    assert run(tmp_path, "lists", "create", "x", "--owner", "o").returncode == 0
    assert run(tmp_path, "lists", "create", "x", "--owner", "o").returncode == 1
    updated = json.loads(run(tmp_path, "lists", "update", "x", "--action", "review", "--json").stdout)
    assert updated["default_action"] == "review"
    missing = run(tmp_path, "lists", "import", "missing", "-", stdin="")
    assert missing.returncode == 2 and "no list named 'missing'" in missing.stderr and str(tmp_path) in missing.stderr
    assert run(tmp_path, "lists", "import", "x", str(tmp_path / "nope.csv")).returncode == 2
    assert run(tmp_path, "lists", "delete", "x").returncode == 2  # no --yes and no terminal
    assert run(tmp_path, "lists", "delete", "x", "--yes", "--reason", "test").returncode == 0
    listed = json.loads(run(tmp_path, "lists", "list", "--json").stdout)
    assert listed == []
    assert json.loads(run(tmp_path, "lists", "list", "--all", "--json").stdout)[0]["deleted_at"]


def test_index_snapshot_then_stats_loads_from_it(tmp_path, hashes_file):
    run(tmp_path, "lists", "create", "l", "--owner", "o")
    run(tmp_path, "lists", "import", "l", str(hashes_file))
    made = run(tmp_path, "index", "snapshot")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["signals"]["pdq"]["rows"] == 3
    stats = json.loads(run(tmp_path, "index", "stats").stdout)
    assert stats["loaded_from"] == "snapshot" and stats["signals"]["md5"]["rows"] == 3
    first = "sha256:" + json.loads(hashes_file.read_text().splitlines()[0])["sha256"]
    assert run(tmp_path, "lists", "revoke", "l", first, "--reason", "x").returncode == 0
    stale = json.loads(run(tmp_path, "index", "stats").stdout)  # snapshot is stale: loaded, then caught up
    assert stale["loaded_from"] == "snapshot" and stale["seq"] == stats["seq"] + 1


def test_match_images_and_videos_against_the_lists(tmp_path, photos, hashes_file):
    from tests.videos import encode as encode_video
    from tests.videos import scenes

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_video(scenes([photos["rocket"], photos["camera"]], seconds_each=3, fps=25), 25))
    video_hashes = tmp_path / "video.jsonl"
    hashed = run(tmp_path, "hash", str(clip), "--out", str(video_hashes))
    assert hashed.returncode == 0 and json.loads(video_hashes.read_text())["kind"] == "video"
    run(tmp_path, "lists", "create", "l", "--owner", "o", "--action", "review")
    assert run(tmp_path, "lists", "import", "l", str(hashes_file)).returncode == 0
    assert run(tmp_path, "lists", "import", "l", str(video_hashes)).returncode == 0
    mirrored = tmp_path / "mirrored.png"
    Image.fromarray(photos["coffee"][:, ::-1]).save(mirrored)
    unrelated = tmp_path / "unrelated.png"
    Image.fromarray(photos["moon"]).save(unrelated)
    result = run(tmp_path, "match", str(clip), str(mirrored), str(unrelated), "--list", "l")
    assert result.returncode == 0, result.stderr
    video, image, other = (json.loads(line) for line in result.stdout.splitlines())
    assert video["kind"] == "video" and video["decision"] == "review"
    [clip_match] = video["matches"]  # one match per entry, the file's bytes and its frames as its evidence
    assert {e["relation"] for e in clip_match["evidence"]} == {"video", "exact"}
    assert image["decision"] == "review" and image["matches"][0]["variant"] == "flip_y"
    assert other["decision"] == "none" and other["matches"] == []
    unknown = run(tmp_path, "match", str(clip), "--list", "l", "--list", "nope")
    assert unknown.returncode == 2 and "no list named 'nope'" in unknown.stderr and unknown.stdout == ""


@pytest.mark.parametrize("bad", ["a\udcffb", "a\x01b"])
def test_text_the_store_keeps_is_checked_on_the_command_line(db_url, monkeypatch, bad):
    """A command-line byte that is not UTF-8 (Python holds it as a lone surrogate) or a control character
    in an owner, description, reason, key owner or id is a usage error (exit 2), never a driver's
    traceback (PostgreSQL) or a stored control character; nothing is changed."""
    from typer.testing import CliRunner

    from app.cli import add_commands
    from index.store import Store

    monkeypatch.setenv("TAKEDOWN_DATABASE_URL", db_url)
    cli = add_commands()
    runner = CliRunner()
    assert runner.invoke(cli, ["lists", "create", "l", "--owner", "ofcom"]).exit_code == 0
    for args in (["lists", "create", "l2", "--owner", bad], ["lists", "create", "l3", "--owner", "o", "--description", bad],
                 ["lists", "update", "l", "--description", bad], ["lists", "revoke", "l", bad, "--reason", "x"],
                 ["lists", "revoke", "l", "A", "--reason", bad], ["lists", "delete", "l", "--yes", "--reason", bad],
                 ["keys", "create", "--role", "matcher", "--owner", bad], ["keys", "create", "--role", "admin", "--name", bad]):
        run = runner.invoke(cli, args)
        assert run.exit_code == 2 and "Invalid value" in run.output, (args, run.output)
    store = Store(db_url)
    try:
        assert [found.name for found in store.lists()] == ["l"] and store.get_list("l").description == ""
    finally:
        store.close()
