"""`takedown hash` end to end, as a user runs it: a real subprocess on real files."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import imagehash
import pytest
from PIL import Image

from matcher.augment import VARIANTS
from tests.conftest import ROOT, encode


def takedown(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=120
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory, photos) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    (root / "sub" / "deeper").mkdir(parents=True)
    names = list(photos)[:6]
    (root / "a.jpg").write_bytes(encode(Image.fromarray(photos[names[0]]), "JPEG", quality=90))
    (root / "b.png").write_bytes(encode(Image.fromarray(photos[names[1]])))
    (root / "notes.txt").write_text("case 123: two files\n")
    (root / ".hidden.jpg").write_bytes(encode(Image.fromarray(photos[names[2]]), "JPEG"))
    (root / "sub" / "c.webp").write_bytes(encode(Image.fromarray(photos[names[3]]), "WEBP"))
    (root / "sub" / "deeper" / "d.gif").write_bytes(encode(Image.fromarray(photos[names[4]]), "GIF"))
    (root / "sub" / "deeper" / "no-extension").write_bytes(encode(Image.fromarray(photos[names[5]]), "BMP"))
    return root


def test_jsonl_streams_one_record_per_file(tree):
    run = takedown("hash", str(tree), "--recursive", "--workers", "1")
    assert run.returncode == 1, run.stderr  # notes.txt is not an image
    records = [json.loads(line) for line in run.stdout.splitlines()]
    paths = [Path(r["path"]).relative_to(tree).as_posix() for r in records]
    assert paths == ["a.jpg", "b.png", "notes.txt", "sub/c.webp", "sub/deeper/d.gif", "sub/deeper/no-extension"]
    bad = records[2]
    # size and mtime identify the file for --resume, on error records too
    assert set(bad) == {"path", "size", "mtime", "error", "code"} and bad["code"] == "not_media" and "text" in bad["error"]
    assert bad["size"] == (tree / "notes.txt").stat().st_size
    good = records[0]
    assert good["kind"] == "image" and good["format"] == "JPEG"
    assert good["phash"] == str(imagehash.phash(Image.open(tree / "a.jpg")))
    assert records[5]["format"] == "BMP"
    assert "6 files, 5 hashed, 1 failed" in run.stderr and "not_media: 1" in run.stderr


def test_skip_unsupported_leaves_out_non_media_without_failing(tree):
    run = takedown("hash", str(tree), "-r", "--skip-unsupported")
    assert run.returncode == 0, run.stderr
    names = [Path(json.loads(line)["path"]).name for line in run.stdout.splitlines()]
    assert "notes.txt" not in names and len(names) == 5
    assert "6 files, 5 hashed, 0 failed, 1 skipped (not media)" in run.stderr
    corrupt = tree.parent / "corrupt-evidence"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "cut.jpg").write_bytes((tree / "a.jpg").read_bytes()[:3000])
    run = takedown("hash", str(corrupt), "--skip-unsupported")
    assert run.returncode == 1 and json.loads(run.stdout)["code"] == "corrupt"  # damaged media still fails


def test_without_recursive_only_the_top_folder(tree):
    run = takedown("hash", str(tree))
    names = [Path(json.loads(line)["path"]).name for line in run.stdout.splitlines()]
    assert names == ["a.jpg", "b.png", "notes.txt"]


def test_all_good_exits_zero_and_writes_csv_to_a_file(tree, tmp_path):
    out = tmp_path / "hashes.csv"
    run = takedown("hash", str(tree / "a.jpg"), str(tree / "sub"), "-r", "--format", "csv", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["path"]).name for r in rows] == ["a.jpg", "c.webp", "d.gif", "no-extension"]
    assert list(rows[0])[:11] == ["path", "kind", "format", "width", "height", "md5", "sha256", "pdq", "pdq_quality", "phash", "dhash"]
    assert all(len(r["pdq"]) == 64 and r["error"] == "" for r in rows)


def test_two_workers_give_the_same_output_as_one(tree):
    one = takedown("hash", str(tree), "-r", "--workers", "1")
    two = takedown("hash", str(tree), "-r", "--workers", "2")
    assert one.stdout == two.stdout and one.stdout.count("\n") == 6


def test_missing_file_and_signal_choice(tree):
    run = takedown("hash", str(tree / "a.jpg"), str(tree / "gone.jpg"), "--signals", "pdq,whash")
    assert run.returncode == 1
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert set(first) == {"path", "size", "mtime", "kind", "format", "width", "height", "pdq", "pdq_quality", "whash"}
    assert second["code"] == "not_found" and "size" not in second  # nothing to stat


def test_size_limit_option(tree):
    run = takedown("hash", str(tree / "a.jpg"), "--max-bytes", "100")
    assert run.returncode == 1 and json.loads(run.stdout)["code"] == "too_large"


@pytest.mark.parametrize(
    "args, message",
    [
        (["hash", "x.jpg", "--signals", "nope"], "unknown signal"),
        (["hash", "x.jpg", "--format", "xml"], "xml"),
        (["hash", "x.jpg", "--workers", "-1"], "workers"),
        (["hash"], "Missing argument"),
        (["hash", "x.jpg", "--out", "/no-such-folder/x.jsonl"], "cannot write /no-such-folder/x.jsonl"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, message):
    run = takedown(*args)
    assert run.returncode == 2
    assert message in run.stderr


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "takedown"
    run = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "hash" in run.stdout


def test_file_stream_is_consumed_lazily(tree):
    """Memory stays flat: however long the input, only a bounded window of files is in flight."""
    from app.hashjob import CHUNK, hash_files
    from matcher.hashing import HashOptions

    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield str(tree / "a.jpg")

    records = hash_files(endless(), HashOptions(signals=("md5",)), workers=2)
    first = [next(records) for _ in range(20)]
    assert all(r["kind"] == "image" for r in first)
    assert pulled <= 20 + 2 * 4 * CHUNK + CHUNK
    records.close()


def test_variants_for_listing(tree):
    run = takedown("hash", str(tree / "a.jpg"), "--variants")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    # every edit moves the hash; "trimmed" and "extent" equal the image itself when it has no plain margin
    assert len(record["pdq_variants"]) == len(VARIANTS)
    edits = [h for v, h in zip(VARIANTS, record["pdq_variants"], strict=True) if v.name not in ("trimmed", "extent")]
    assert len(edits) == len(VARIANTS) - 2 and record["pdq"] not in edits
    plain = json.loads(takedown("hash", str(tree / "a.jpg")).stdout)
    assert "pdq_variants" not in plain and plain["pdq"] == record["pdq"]
    refused = takedown("hash", str(tree / "a.jpg"), "--variants", "--signals", "md5")
    assert refused.returncode == 2 and "add pdq" in refused.stderr
