"""List files: validation of entries, the JSONL / CSV / python-threatexchange readers, the writers, and
round trips between them. Hashes come from real PDQ runs on pseudo-random pictures where it matters."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from app.hashjob import hash_file
from app.output import CsvWriter, JsonlWriter
from index.formats import (
    FormatError,
    detect_format,
    format_vpdq,
    parse_vpdq,
    read_csv,
    read_entries,
    read_jsonl,
    read_threatexchange,
    write_csv,
    write_jsonl,
)
from index.model import EntryRecord, FrameHash, RowResult
from index.validate import MIN_PDQ_QUALITY, InvalidEntry, validate_record
from matcher.bits import words_to_hex
from matcher.hashing import HashOptions
from matcher.pdq import hash_array
from matcher.registry import LIST_ONLY, SIGNAL_TYPES

ENTRY_SIGNALS = [name for name in SIGNAL_TYPES if name not in LIST_ONLY]  # one value per entry
from tests.conftest import encode


def real_pdq(seed: int) -> tuple[str, int]:
    """PDQ hex and quality of a pseudo-random picture: blocky noise, which has plenty of detail."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    image = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    words, quality = hash_array(image)
    return words_to_hex(words), quality


def random_hex(signal: str, seed: int) -> str:
    digits = SIGNAL_TYPES[signal].bits // 4
    return np.random.default_rng(seed).bytes(digits // 2).hex()


PDQ, PDQ_Q = real_pdq(1)
PDQ2, PDQ2_Q = real_pdq(2)
PDQ3, _ = real_pdq(3)
MD5 = random_hex("md5", 4)
SHA = random_hex("sha256", 5)


def good(rows: Iterator[RowResult] | list[RowResult]) -> list[EntryRecord]:
    rows = list(rows)
    assert all(r.error is None for r in rows), [r.error for r in rows if r.error]
    return [r.record for r in rows]  # type: ignore[misc]


def only_error(rows: Iterator[RowResult]) -> str:
    (row,) = list(rows)
    assert row.record is None and row.error
    return row.error


def test_real_hashes_are_usable():
    assert PDQ_Q >= MIN_PDQ_QUALITY and PDQ2_Q >= MIN_PDQ_QUALITY and len({PDQ, PDQ2, PDQ3}) == 3


# --- validate_record -----------------------------------------------------------------------------------


def test_validate_returns_canonical_form():
    record = EntryRecord(
        external_id="  case-1 ",
        signals={"PDQ": PDQ.upper(), "md5": MD5.upper()},
        qualities={"pdq": PDQ_Q},
        labels=(" ncii ", "", "ncii", "deepfake", "  "),
    )
    out = validate_record(record)
    assert out.external_id == "case-1"
    assert out.signals == {"md5": MD5, "pdq": PDQ}
    assert list(out.signals) == ["md5", "pdq"]  # registry order
    assert out.qualities == {"pdq": PDQ_Q}
    assert out.labels == ("ncii", "deepfake")
    assert validate_record(out) == out


def test_validate_sorts_frames_by_time():
    record = EntryRecord(
        "v",
        kind="video",
        frames=(FrameHash(2, PDQ, 90), FrameHash(0.5, PDQ2.upper(), 80), FrameHash(1, PDQ3)),
    )
    out = validate_record(record)
    assert [f.t for f in out.frames] == [0.5, 1.0, 2.0]
    assert out.frames[0].pdq == PDQ2 and out.frames[1].quality is None
    assert all(isinstance(f.t, float) for f in out.frames)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("xyz" + PDQ[3:], "not a hex string"),
        (PDQ[:-2], "expected 64 hex digits, got 62"),
        (PDQ + "00", "expected 64 hex digits, got 66"),
        (12345, "expected a hex string, got int"),
    ],
)
def test_validate_refuses_malformed_hex(value, message):
    with pytest.raises(InvalidEntry, match=message):
        validate_record(EntryRecord("x", signals={"pdq": value}))


@pytest.mark.parametrize("signal", ENTRY_SIGNALS)
@pytest.mark.parametrize(("digit", "what"), [("0", "all-zero"), ("f", "all-one"), ("F", "all-one")])
def test_validate_refuses_degenerate_hashes_of_every_kind(signal, digit, what):
    value = digit * (SIGNAL_TYPES[signal].bits // 4)
    with pytest.raises(InvalidEntry, match=f"^{signal}: {what} hash.*degenerate") as info:
        validate_record(EntryRecord("x", signals={signal: value}))
    if SIGNAL_TYPES[signal].perceptual:
        assert "it would match unrelated images" in str(info.value)


def test_validate_accepts_random_hashes_of_every_kind():
    signals = {name: random_hex(name, i) for i, name in enumerate(ENTRY_SIGNALS)}
    assert validate_record(EntryRecord("x", signals=signals)).signals == signals


def test_pdq_quality_threshold():
    ok = validate_record(EntryRecord("x", signals={"pdq": PDQ}, qualities={"pdq": 50}))
    assert ok.qualities == {"pdq": 50}
    with pytest.raises(InvalidEntry, match="^pdq quality 49 is below 50: too little detail to match safely$"):
        validate_record(EntryRecord("x", signals={"pdq": PDQ}, qualities={"pdq": 49}))


@pytest.mark.parametrize("quality", [-1, 101, "80", 80.0, True, None])
def test_quality_must_be_an_int_0_to_100(quality):
    with pytest.raises(InvalidEntry, match="integer from 0 to 100"):
        validate_record(EntryRecord("x", signals={"pdq": PDQ}, qualities={"pdq": quality}))


def test_quality_needs_its_signal():
    with pytest.raises(InvalidEntry, match="quality is given for pdq, but there is no pdq hash"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, qualities={"pdq": 80}))
    with pytest.raises(InvalidEntry, match="unknown signal 'tmk'"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, qualities={"tmk": 80}))


def test_validate_refuses_unknown_signal_and_empty_entries():
    with pytest.raises(InvalidEntry, match="unknown signal 'tmk'; known: md5, sha256, pdq"):
        validate_record(EntryRecord("x", signals={"tmk": PDQ}))
    with pytest.raises(InvalidEntry, match="at least one signal or one video frame"):
        validate_record(EntryRecord("x"))
    with pytest.raises(InvalidEntry, match="given twice"):
        validate_record(EntryRecord("x", signals={"pdq": PDQ, "PDQ": PDQ2}))


@pytest.mark.parametrize(
    ("external_id", "message"),
    [
        ("", "missing or empty"),
        ("   ", "missing or empty"),
        ("a" * 257, "257 characters; at most 256"),
        ("a\nb", "control character"),
        ("a\x00", "control character"),
        ("a\x7f", "control character"),
        (None, "expected a string"),
    ],
)
def test_external_id_rules(external_id, message):
    with pytest.raises(InvalidEntry, match=message):
        validate_record(EntryRecord(external_id, signals={"md5": MD5}))  # type: ignore[arg-type]


def test_external_id_limits_accept():
    assert validate_record(EntryRecord("é" * 256, signals={"md5": MD5})).external_id == "é" * 256


def test_kind_rules():
    assert validate_record(EntryRecord("x", signals={"md5": MD5}, kind=" Video ")).kind == "video"
    with pytest.raises(InvalidEntry, match="kind: expected one of image, video, got 'audio'"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, kind="audio"))
    with pytest.raises(InvalidEntry, match="only a video has frames"):
        validate_record(EntryRecord("x", kind="image", frames=(FrameHash(0, PDQ, 90),)))


def test_label_rules():
    many = tuple(f"l{i}" for i in range(64))
    assert validate_record(EntryRecord("x", signals={"md5": MD5}, labels=many)).labels == many
    with pytest.raises(InvalidEntry, match="65 labels; at most 64"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, labels=(*many, "one more")))
    assert validate_record(EntryRecord("x", signals={"md5": MD5}, labels=("a" * 100,))).labels == ("a" * 100,)
    with pytest.raises(InvalidEntry, match="101 characters; at most 100"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, labels=("a" * 101,)))
    with pytest.raises(InvalidEntry, match="label separator"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, labels=("a;b",)))
    with pytest.raises(InvalidEntry, match="expected strings"):
        validate_record(EntryRecord("x", signals={"md5": MD5}, labels=(3,)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (FrameHash(-1.0, PDQ, 90), "time must be a finite number of seconds >= 0"),
        (FrameHash(float("nan"), PDQ, 90), "time must be a finite number"),
        (FrameHash(float("inf"), PDQ, 90), "time must be a finite number"),
        (FrameHash(None, PDQ, 90), "time must be a finite number"),  # type: ignore[arg-type]
        (FrameHash(1.0, "0" * 64, 90), r"frame 1 \(t=1\): pdq: all-zero hash"),
        (FrameHash(1.0, "f" * 64, 90), "all-one hash"),
        (FrameHash(1.0, PDQ[:10], 90), "expected 64 hex digits"),
        (FrameHash(1.0, PDQ, 49), "pdq quality 49 is below 50"),
        (FrameHash(1.0, PDQ, 101), "integer from 0 to 100"),
    ],
)
def test_frame_rules(frame, message):
    with pytest.raises(InvalidEntry, match=message):
        validate_record(EntryRecord("v", kind="video", frames=(frame,)))


def test_frame_quality_50_is_enough():
    out = validate_record(EntryRecord("v", kind="video", frames=(FrameHash(0, PDQ, 50),)))
    assert out.frames == (FrameHash(0.0, PDQ, 50),)


# --- JSONL ---------------------------------------------------------------------------------------------


def jsonl(*objects: object) -> list[str]:
    return [(o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects]


def test_jsonl_reads_takedown_hash_output(tmp_path, photos):
    image = tmp_path / "photo.png"
    image.write_bytes(encode(Image.fromarray(photos["astronaut"])))
    missing = tmp_path / "gone.jpg"
    out = io.StringIO()
    writer = JsonlWriter(out)
    for path in (image, missing):
        writer.write(hash_file(str(path), HashOptions()))
    produced = [json.loads(line) for line in out.getvalue().splitlines()]

    rows = list(read_jsonl(io.StringIO(out.getvalue())))
    assert [r.line for r in rows] == [1, 2]
    record = rows[0].record
    assert record is not None
    assert record.external_id == "sha256:" + produced[0]["sha256"]  # named by content, never by its path
    assert record.kind == "image"
    assert record.signals == {n: produced[0][n] for n in ("md5", "sha256", "pdq", "phash", "dhash")}
    assert record.qualities == {"pdq": produced[0]["pdq_quality"]}
    assert rows[1].error == "the hashing run failed for this file: no such file"


def test_jsonl_line_numbers_count_blank_lines():
    lines = [
        "\n",
        json.dumps({"id": "a", "md5": MD5}) + "\n",
        "   \n",
        "{not json\n",
        json.dumps({"id": "b", "pdq": "0" * 64}) + "\n",
        "\n",
        json.dumps({"id": "c", "pdq": PDQ, "pdq_quality": 49}) + "\n",
        json.dumps({"id": "d", "pdq": PDQ, "pdq_quality": 50}) + "\n",
    ]
    rows = list(read_jsonl(lines))
    assert [r.line for r in rows] == [2, 4, 5, 7, 8]
    assert rows[0].record is not None and rows[0].record.external_id == "a"
    assert rows[1].error is not None and rows[1].error.startswith("invalid JSON")
    assert rows[2].error == "pdq: all-zero hash (degenerate: it would match unrelated images)"
    assert rows[3].error == "pdq quality 49 is below 50: too little detail to match safely"
    assert rows[4].record is not None and rows[4].record.qualities == {"pdq": 50}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        ('{"id": "a", "md5": "' + MD5 + '"', "invalid JSON"),
        ("[" * 100_000, "invalid JSON"),
        (json.dumps({"id": "a/b.jpg", "path": "a/b.jpg", "md5": MD5}), "id: is the file's local path"),
        (json.dumps({"id": "a"}), "at least one signal"),
        (json.dumps({"id": "a", "tmk": PDQ}), "at least one signal"),  # unknown fields are ignored
        (json.dumps({"id": "a", "md5": MD5[:-1]}), "md5: expected 32 hex digits, got 31"),
        (json.dumps({"id": "a", "md5": "g" * 32}), "md5: not a hex string"),
        (json.dumps({"id": "a", "md5": "f" * 32}), "md5: all-one hash"),
        (json.dumps({"id": "a", "pdq": PDQ, "pdq_quality": "high"}), "integer from 0 to 100"),
        (json.dumps({"id": "a", "md5": MD5, "labels": 5}), "labels: expected a list of strings"),
        (json.dumps({"id": "a", "md5": MD5, "kind": "gif"}), "kind: expected one of image, video"),
        (json.dumps({"id": "a", "frames": {"t": 0}}), "frames: expected a list"),
        (json.dumps({"id": "a", "frames": [5]}), "frame 1: expected an object"),
        (
            json.dumps({"path": "x.jpg", "error": "cannot decode", "code": "bad"}),
            "the hashing run failed for this file: cannot decode",
        ),
        (
            json.dumps({"path": "x.jpg", "error": "two\nlines"}),
            "the hashing run failed for this file: two lines",
        ),
    ],
)
def test_jsonl_bad_rows(line, message):
    error = only_error(read_jsonl([line]))
    assert message in error
    assert "\n" not in error


def test_jsonl_id_precedence_and_ignored_fields():
    (a, b, c, d) = good(
        read_jsonl(
            jsonl(
                {"id": "one", "external_id": "two", "path": "three", "md5": MD5},
                {"external_id": "two", "path": "three", "md5": MD5},
                {
                    "path": "three",
                    "md5": MD5,
                    "format": "JPEG",
                    "width": 5,
                    "height": 6,
                    "code": None,
                    "added_at": "2024-01-01",
                    "whatever": [1],
                },
                {"id": 12345, "md5": MD5},
            )
        )
    )
    # "path" is never the id: a row without one is named by its content
    assert (a.external_id, b.external_id, c.external_id, d.external_id) == ("one", "two", f"md5:{MD5}", "12345")


def test_jsonl_labels_as_list_or_string_deduplicated():
    (a, b) = good(
        read_jsonl(
            jsonl(
                {"id": "a", "md5": MD5, "labels": ["ncii", " ncii", "", "minor"]},
                {"id": "b", "md5": MD5, "labels": "ncii; minor;;ncii"},
            )
        )
    )
    assert a.labels == b.labels == ("ncii", "minor")


def test_jsonl_video_frames():
    (video,) = good(
        read_jsonl(
            jsonl(
                {
                    "id": "v",
                    "labels": [],
                    "frames": [
                        {"t": 1.5, "pdq": PDQ2, "quality": 80},
                        {"t": 0, "pdq": PDQ.upper(), "quality": 100},
                    ],
                }
            )
        )
    )
    assert video.kind == "video"  # frames say it is a video
    assert video.frames == (FrameHash(0.0, PDQ, 100), FrameHash(1.5, PDQ2, 80))
    error = only_error(read_jsonl(jsonl({"id": "v", "frames": [{"t": 1, "pdq": PDQ, "quality": 12}]})))
    assert error == "frame 1 (t=1): pdq quality 12 is below 50: too little detail to match safely"


def test_jsonl_skips_a_byte_order_mark():
    (record,) = good(read_jsonl(["\ufeff" + json.dumps({"id": "a", "md5": MD5})]))
    assert record.external_id == "a"


# --- CSV -----------------------------------------------------------------------------------------------


def csv_rows(text: str) -> list[RowResult]:
    return list(read_csv(io.StringIO(text, newline="")))


def test_csv_reads_rows_with_line_numbers():
    text = (
        "id,labels,md5,pdq,pdq_quality,kind\n"
        f"a,ncii;minor,{MD5},{PDQ},{PDQ_Q},image\n"
        "\n"
        f"b,,,{PDQ2.upper()},,\n"
        f"c,,{MD5[:-1]},,,\n"
        f"d,,,{PDQ},49,\n"
        f"e,,,{PDQ},50,\n"
        f"f,,{'0' * 32},,,\n"
        ",,,,,\n"
        f",,{MD5},,,\n"
    )
    rows = csv_rows(text)
    assert [r.line for r in rows] == [2, 4, 5, 6, 7, 8, 10]
    a, b = rows[0].record, rows[1].record
    assert a == EntryRecord("a", {"md5": MD5, "pdq": PDQ}, {"pdq": PDQ_Q}, ("ncii", "minor"), "image")
    assert b == EntryRecord("b", {"pdq": PDQ2})  # empty cells are absent, hex lower-cased
    assert rows[2].error == "md5: expected 32 hex digits, got 31"
    assert rows[3].error == "pdq quality 49 is below 50: too little detail to match safely"
    assert rows[4].record is not None
    assert rows[5].error is not None and "all-zero" in rows[5].error
    assert rows[6].record is not None and rows[6].record.external_id == f"md5:{MD5}"  # an empty id cell: by content


def test_csv_quoted_fields_and_line_breaks():
    text = (
        "external_id,labels,md5\n"
        f'"case, one","ncii;with ""quotes""",{MD5}\n'
        f'"multi\nline id",x,{MD5}\n'
        f'"two","a;\nb",{MD5}\n'
        f"bad,,{MD5}zz\n"
    )
    rows = csv_rows(text)
    assert [r.line for r in rows] == [2, 3, 5, 7]
    assert rows[0].record == EntryRecord("case, one", {"md5": MD5}, labels=("ncii", 'with "quotes"'))
    assert rows[1].error is not None and "control character" in rows[1].error
    assert rows[2].record is not None and rows[2].record.labels == ("a", "b")
    assert rows[3].error == "md5: expected 32 hex digits, got 34"


def test_csv_unknown_columns_are_one_error_for_the_file():
    with pytest.raises(FormatError, match="unknown columns: tmk, notes"):
        read_csv(io.StringIO(f"id,pdq,tmk,notes,added_at\na,{PDQ},x,y,z\n"))


def test_csv_informational_columns_are_ignored():
    header = "id,md5,path,format,width,height,added_at,added_by,revoked_at,revoked_by,revoke_reason,list,code"
    (record,) = good(read_csv(io.StringIO(f"{header}\nx,{MD5},p.jpg,JPEG,1,2,now,me,,,,main,\n")))
    assert record == EntryRecord("x", {"md5": MD5})


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "empty file"),
        ("id,labels,kind", "no signal column"),
        ("id,md5,MD5", "columns named twice: md5"),
        ("id,external_id,md5", "both id and external_id"),
        ("id,md5,pdq_quality", "quality columns without their hash column: pdq_quality"),
    ],
)
def test_csv_header_errors(header, message):
    with pytest.raises(FormatError, match=message):
        read_csv(io.StringIO(header + "\n" if header else ""))


def test_csv_bad_cells():
    rows = csv_rows(
        f"id,pdq,pdq_quality,,error\n"
        f"a,{PDQ},high,,\n"
        f"b,{PDQ},80,,,extra\n"
        f"c,{PDQ},80,oops,\n"
        f"d,,,,cannot decode\n"
        f"e,{PDQ},80\n"
    )
    assert [r.error for r in rows] == [
        "pdq_quality: not an integer: 'high'",
        "6 cells, but the header names 5 columns",
        "a value in column 4, which the header leaves unnamed",
        "the hashing run failed for this file: cannot decode",
        None,  # a short row: the missing cells are empty
    ]


def test_csv_header_is_case_insensitive_and_skips_bom():
    (record,) = good(read_csv(io.StringIO(f"\ufeffID, PDQ ,Pdq_Quality\na,{PDQ},{PDQ_Q}\n")))
    assert record == EntryRecord("a", {"pdq": PDQ}, {"pdq": PDQ_Q})


def test_csv_reads_takedown_hash_csv_output(tmp_path, photos):
    image = tmp_path / "photo.png"
    image.write_bytes(encode(Image.fromarray(photos["coffee"])))
    out = io.StringIO(newline="")
    options = HashOptions()
    writer = CsvWriter(out, options.signals)
    produced = hash_file(str(image), options)
    writer.write(produced)
    writer.write(hash_file(str(tmp_path / "gone.png"), options))
    rows = list(read_csv(io.StringIO(out.getvalue(), newline="")))
    assert rows[0].record is not None and rows[0].record.external_id == "sha256:" + produced["sha256"]  # not the path
    assert rows[0].record.signals["pdq"] == produced["pdq"]
    assert rows[0].record.qualities == {"pdq": produced["pdq_quality"]}
    assert rows[1] == RowResult(3, error="the hashing run failed for this file: no such file")


def test_csv_oversized_cell_is_a_bad_row_not_the_end():
    rows = csv_rows(f'id,md5\na,"{"x" * (csv.field_size_limit() + 10)}"\nb,{MD5}\n')
    assert rows[0].error is not None and "field larger than field limit" in rows[0].error
    assert rows[1].record is not None and rows[1].record.external_id == "b"


# --- python-threatexchange signal lines -----------------------------------------------------------------


def test_te_signal_lines():
    lines = [
        "# exported from threatexchange\n",
        f"pdq {PDQ.upper()}\n",
        "\n",
        f"video_md5 {MD5}\n",
        f"  md5   {MD5}  \n",
        f"video_sha256 {SHA}\n",
        f"pdq {'0' * 64}\n",
        f"pdq {PDQ[:-1]}\n",
        "url https://example.com/x\n",
        "pdq\n",
        f"phash {random_hex('phash', 9)}\n",
    ]
    rows = list(read_threatexchange(lines))
    assert [r.line for r in rows] == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert rows[0].record == EntryRecord(f"pdq:{PDQ}", {"pdq": PDQ}, kind="image")
    assert rows[1].record == EntryRecord(f"video_md5:{MD5}", {"md5": MD5}, kind="video")
    assert rows[2].record == EntryRecord(f"md5:{MD5}", {"md5": MD5}, kind="image")
    assert rows[3].record == EntryRecord(f"video_sha256:{SHA}", {"sha256": SHA}, kind="video")
    assert rows[4].error == "pdq: all-zero hash (degenerate: it would match unrelated images)"
    assert rows[5].error == "pdq: expected 64 hex digits, got 63"
    assert rows[6].error is not None and rows[6].error.startswith("unknown signal type 'url'")
    assert rows[7].error == "expected '<signal type> <hash>', got 'pdq'"
    assert rows[8].record is not None and rows[8].record.signals.keys() == {"phash"}


def frames_of(*qualities: int) -> tuple[FrameHash, ...]:
    hashes = [real_pdq(100 + i)[0] for i in range(len(qualities))]
    return tuple(
        FrameHash(float(i) * 1.5, h, q) for i, (h, q) in enumerate(zip(hashes, qualities, strict=True))
    )


def test_vpdq_string_matches_upstream_shape():
    frames = (FrameHash(0.0, PDQ, 100), FrameHash(1.0, PDQ2, 87))
    assert format_vpdq(frames) == f'["{PDQ},100,0.0", "{PDQ2},87,1.0"]'


def test_vpdq_round_trip_through_te_lines():
    frames = frames_of(100, 90, 80, 100) + (FrameHash(123.456, PDQ3, 77), FrameHash(1e-3, PDQ, 60))
    signal = format_vpdq(frames)
    assert parse_vpdq(signal) == frames
    (record,) = good(read_threatexchange([f"vpdq {signal}\n"]))
    assert record.kind == "video"
    assert record.frames == tuple(sorted(frames, key=lambda f: f.t))
    # The id depends only on the signal string: importing the same line again names the same entry.
    (again,) = good(read_threatexchange([f"  vpdq   {signal}"]))
    assert again.external_id == record.external_id and record.external_id.startswith("vpdq:")
    assert len(record.external_id) == len("vpdq:") + 32


def test_vpdq_reads_upstream_three_significant_digit_timestamps():
    # Upstream writes timestamps with the format spec ".3": 123.4 s comes out as "1.23e+02".
    signal = json.dumps([f"{PDQ},100,{0.0:.3}", f"{PDQ2},90,{123.4:.3}"])
    assert parse_vpdq(signal) == (FrameHash(0.0, PDQ, 100), FrameHash(123.0, PDQ2, 90))


def test_vpdq_drops_low_quality_frames_like_upstream():
    frames = frames_of(100, 30, 90) + (FrameHash(9.0, "0" * 64, 0),)  # a black frame: all-zero, quality 0
    (record,) = good(read_threatexchange([f"vpdq {format_vpdq(frames)}"]))
    assert record.frames == (frames[0], frames[2])
    error = only_error(read_threatexchange([f"vpdq {format_vpdq(frames_of(10, 49))}"]))
    assert error == "vpdq: all 2 frames are below quality 50: too little detail to match safely"


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        ("[]", "at least one signal or one video frame"),
        ("not json", "vpdq: not a JSON array of frames"),
        (json.dumps({"0": {"quality": 100, "hash": PDQ, "timestamp": 0.0}}), "pre-2022 form"),
        (json.dumps([f"{PDQ},100"]), "vpdq frame 1: expected 'hash,quality,timestamp'"),
        (json.dumps([5]), "vpdq frame 1: expected 'hash,quality,timestamp'"),
        (json.dumps([f"{PDQ},100,0", f"{PDQ},high,1"]), "vpdq frame 2 quality: not an integer"),
        (json.dumps([f"{PDQ},100,soon"]), "vpdq frame 1: timestamp is not a number"),
        (json.dumps([f"{PDQ},100,-1"]), "time must be a finite number of seconds >= 0"),
        (json.dumps([f"{PDQ},100,nan"]), "time must be a finite number"),
        (json.dumps([f"{PDQ[:-1]},100,0"]), "expected 64 hex digits"),
        (json.dumps([f"{'f' * 64},100,0"]), "all-one hash"),
    ],
)
def test_vpdq_bad_signals(signal, message):
    assert message in only_error(read_threatexchange([f"vpdq {signal}"]))


def test_format_vpdq_needs_qualities():
    with pytest.raises(ValueError, match="no quality"):
        format_vpdq([FrameHash(0.0, PDQ)])


# --- detect_format and read_entries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "first_line", "expected"),
    [
        ("list.jsonl", "", "jsonl"),
        ("list.JSON", "id,pdq", "jsonl"),
        ("list.ndjson", "", "jsonl"),
        ("dir.v2/list.csv", '{"id": 1}', "csv"),
        ("hashes.txt", "", "te"),
        ("hashes.te", "", "te"),
        (None, '  {"id": "a"}', "jsonl"),
        ("-", "\ufeff{}", "jsonl"),
        (None, f"pdq {PDQ}", "te"),
        (None, 'vpdq ["a,1,0.0"]', "te"),
        ("stdin", f"video_md5\t{MD5}", "te"),
        (None, "id,pdq,pdq_quality", "csv"),
        (None, "pdq,id", "csv"),
        ("list.dat", "pdq, id", "csv"),
    ],
)
def test_detect_format(path, first_line, expected):
    assert detect_format(path, first_line) == expected


@pytest.mark.parametrize("first_line", ["", "hello world", "tmk abc"])
def test_detect_format_gives_up_clearly(first_line):
    with pytest.raises(FormatError, match="cannot tell the format"):
        detect_format(None, first_line)


def test_read_entries_dispatches():
    assert good(read_entries(io.StringIO(f"pdq {PDQ}\n"), "te"))[0].signals == {"pdq": PDQ}
    assert good(read_entries(io.StringIO(f"id,pdq\na,{PDQ}\n"), "csv"))[0].external_id == "a"
    assert good(read_entries(io.StringIO(json.dumps({"id": "b", "pdq": PDQ})), "jsonl"))[0].external_id == "b"
    with pytest.raises(FormatError, match="unknown format 'xml'"):
        read_entries(io.StringIO(""), "xml")


# --- writers and round trips ---------------------------------------------------------------------------


def sample_records() -> list[EntryRecord]:
    records = [
        EntryRecord("img-1", {"md5": MD5, "sha256": SHA, "pdq": PDQ}, {"pdq": PDQ_Q}, ("ncii", "minor")),
        EntryRecord("img 2, with comma", {"pdq": PDQ2}, labels=('quoted "label"',)),
        EntryRecord("img-3", {"md5": MD5, "phash": random_hex("phash", 1)}, labels=("é-ü",)),
        EntryRecord("vid-1", {"md5": MD5}, kind="video", frames=frames_of(100, 90, 80)),
        EntryRecord("vid-2", kind="video", frames=(FrameHash(0.1, PDQ, 70), FrameHash(1e-4, PDQ2, 99))),
    ]
    return [validate_record(r) for r in records]


def test_jsonl_round_trip():
    records = sample_records()
    out = io.StringIO()
    assert write_jsonl(records, out) == len(records)
    assert good(read_jsonl(io.StringIO(out.getvalue()))) == records
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {
        "id": "img-1",
        "kind": "image",
        "labels": ["ncii", "minor"],
        "md5": MD5,
        "sha256": SHA,
        "pdq": PDQ,
        "pdq_quality": PDQ_Q,
    }
    assert "frames" in json.loads(out.getvalue().splitlines()[3])


def test_jsonl_extra_fields():
    out = io.StringIO()
    write_jsonl(sample_records()[:1], out, extra=lambda r: {"added_at": "2024-05-01", "list": "main"})
    line = json.loads(out.getvalue())
    assert line["added_at"] == "2024-05-01" and line["list"] == "main"
    assert good(read_jsonl([out.getvalue()])) == sample_records()[:1]
    with pytest.raises(ValueError, match="overwrite the entry's own: id"):
        write_jsonl(sample_records()[:1], io.StringIO(), extra=lambda r: {"id": "other"})


def test_csv_round_trip():
    records = sample_records()
    out = io.StringIO(newline="")
    signals = ("md5", "sha256", "pdq", "phash")
    written = write_csv(
        records,
        out,
        signals,
        ("added_at", "list"),
        extra=lambda r: {"added_at": "2024-05-01", "list": None},
        frames=True,
    )
    assert written == len(records)
    header = out.getvalue().splitlines()[0]
    assert header == "id,kind,labels,md5,sha256,pdq,pdq_quality,phash,frames,added_at,list"
    assert good(read_csv(io.StringIO(out.getvalue(), newline=""))) == records


def test_csv_writer_leaves_out_unlisted_signals_and_refuses_to_lose_data():
    out = io.StringIO(newline="")
    write_csv(sample_records()[:3], out, ("pdq",))
    rows = list(read_csv(io.StringIO(out.getvalue(), newline="")))
    assert rows[0].record is not None and rows[0].record.signals == {"pdq": PDQ}
    assert rows[2].error is not None  # img-3 has no pdq: chosen by the caller
    with pytest.raises(ValueError, match="a video with frames"):
        write_csv(sample_records()[3:], io.StringIO(), ("md5",))
    with pytest.raises(ValueError, match="read_csv would not accept: notes"):
        write_csv([], io.StringIO(), ("md5",), ("notes",))
    with pytest.raises(ValueError, match="not in extra_columns: added_by"):
        write_csv(
            sample_records()[:1], io.StringIO(), ("md5",), ("added_at",), extra=lambda r: {"added_by": "x"}
        )
    with pytest.raises(ValueError, match="unknown signal"):
        write_csv([], io.StringIO(), ("tmk",))


def test_te_round_trip_of_a_video():
    video = sample_records()[3]
    line = f"vpdq {format_vpdq(video.frames)}\n"
    (back,) = good(read_threatexchange([line]))
    assert back.frames == video.frames and back.kind == "video"


def test_cross_format_round_trip_keeps_records_equal():
    records = sample_records()
    as_csv = io.StringIO(newline="")
    write_csv(records, as_csv, ("md5", "sha256", "pdq", "phash"), frames=True)
    from_csv = good(read_csv(io.StringIO(as_csv.getvalue(), newline="")))
    as_jsonl = io.StringIO()
    write_jsonl(from_csv, as_jsonl)
    assert good(read_jsonl(io.StringIO(as_jsonl.getvalue()))) == records


# --- streaming -----------------------------------------------------------------------------------------


class Counting:
    """An endless (or 200k-line) source of lines that counts how many were taken."""

    def __init__(self, make_line, header: str | None = None, limit: int = 200_000) -> None:
        self.taken = 0
        self._make_line = make_line
        self._header = header
        self._limit = limit

    def __iter__(self) -> Iterator[str]:
        if self._header is not None:
            self.taken += 1
            yield self._header
        for i in itertools.count():
            if i >= self._limit:
                return
            self.taken += 1
            yield self._make_line(i)


def md5_of(i: int) -> str:
    return f"{i + 1:032x}"


@pytest.mark.parametrize(
    ("reader", "source"),
    [
        (read_jsonl, Counting(lambda i: json.dumps({"id": f"r{i}", "md5": md5_of(i)}) + "\n")),
        (read_threatexchange, Counting(lambda i: f"md5 {md5_of(i)}\n")),
        (read_csv, Counting(lambda i: f"r{i},{md5_of(i)}\n", header="id,md5\n")),
        (read_jsonl, Counting(lambda i: json.dumps({"id": f"r{i}", "md5": md5_of(i)}) + "\n", limit=10**18)),
    ],
)
def test_readers_stream_lazily(reader, source):
    rows = reader(source)
    first = list(itertools.islice(rows, 10))
    assert len(first) == 10 and all(r.record is not None for r in first)
    assert source.taken <= 20  # the rest of the 200k (or endless) lines were never read


def test_a_long_file_reads_in_bounded_memory():
    source = Counting(lambda i: f"md5 {md5_of(i)}\n")
    count = sum(1 for row in read_threatexchange(source) if row.record is not None)
    assert count == 200_000 == source.taken


def test_weak_hashes_are_left_out_of_good_rows_with_a_warning():
    rows = list(read_jsonl([
        json.dumps({"id": "flat", "md5": MD5, "pdq": PDQ, "pdq_quality": 12}) + "\n",
        json.dumps({"id": "blank", "md5": MD5, "dhash": "f" * 16, "phash": "0" * 16}) + "\n",
        json.dumps({"id": "nothing-left", "pdq": PDQ, "pdq_quality": 3}) + "\n",
    ]))
    flat, blank, nothing = rows
    assert flat.record.signals == {"md5": MD5} and flat.record.qualities == {}
    assert flat.warnings == ("pdq quality 12 is below 50: too little detail to match safely",)
    assert set(blank.record.signals) == {"md5"} and len(blank.warnings) == 2
    assert nothing.record is None and nothing.error == "pdq quality 3 is below 50: too little detail to match safely"
    with pytest.raises(InvalidEntry, match="below 50"):  # strict without a warnings list
        validate_record(EntryRecord("x", {"md5": MD5, "pdq": PDQ}, {"pdq": 12}))
