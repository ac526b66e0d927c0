"""List files in and out: our JSON Lines and CSV, and python-threatexchange's signal lines.

Readers stream: they take an iterable of lines, keep one row in memory at a time and yield one
`RowResult` per non-blank row, the validated record or the reason it was refused, with the physical
line (from 1) it starts on. A bad row never stops a file; only a file that cannot be read at all (no
CSV header, unknown CSV columns, undecodable text) raises. A row's id is its `id` (or `external_id`);
a row without one is named by its content (index.ids), never by the local `path` that `takedown hash`
writes beside the hashes, which is read only to refuse an id that repeats it. Writers emit what the readers read back
unchanged. This module must never read a whole file into memory, touch the store or open files itself.

The python-threatexchange formats, as read in the facebook/ThreatExchange repository at commit baefb4e
(paths below are under python-threatexchange/threatexchange/):
- Signal lines are what its `threatexchange hash` command prints (cli/hash_cmd.py): the
  signal type's name, one space, the signal string. Type names come from the class names
  (SignalType.get_name in signal_type/signal_base.py drops the "Signal" suffix and
  converts CamelCase to snake_case): PdqSignal is "pdq" (signal_type/pdq/signal.py; it prints no hash
  for quality below 50), VideoMD5Signal is "video_md5" (signal_type/md5.py), VideoSHA256Signal is
  "video_sha256" (signal_type/sha256.py), and the vPDQ extension's VPDQSignal is "vpdq"
  (extensions/vpdq/vpdq.py). Older releases also had a "photo_md5" type. We read these, plus our own
  signal names ("md5", "phash", ...) as image hashes. Non-hash types (url, raw_text, ...) are refused.
- A vPDQ signal string (extensions/vpdq/vpdq_util.py, vpdq_to_json / json_to_vpdq and
  VpdqCompactFeature) is a JSON array, written by json.dumps with its default separators, of one
  string per sampled frame: "<64 hex PDQ>,<quality 0..100>,<timestamp in seconds>". Frame numbers are
  not kept. Upstream writes the timestamp with the format spec ".3" (three significant digits, so
  123.4 s becomes "1.23e+02"); any float text parses. `format_vpdq` writes Python's shortest exact
  float text instead, so our own round trip loses nothing, and upstream parses it the same way. The
  earlier form (before September 2022: a JSON object keyed by frame number) is refused.
- Upstream ignores vPDQ frames below quality 50 when it matches (prepare_vpdq_feature); likewise
  `read_threatexchange` drops them and keeps the video if any frame is left, since a black intro frame
  is usual and would otherwise refuse the whole video.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO

from index.ids import content_id
from index.model import EntryRecord, FrameHash, RowResult
from index.validate import LABEL_SEPARATOR, MIN_PDQ_QUALITY, InvalidEntry, normalize_hash, validate_record
from matcher.registry import LIST_ONLY, SIGNAL_TYPES, signal_type

JSONL, CSV, TE = "jsonl", "csv", "te"
FORMATS = (JSONL, CSV, TE)

# Columns our own exports and `takedown hash` write for people to read; read_csv skips them.
INFO_COLUMNS = frozenset(
    {
        "path",
        "format",
        "width",
        "height",
        "added_at",
        "added_by",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
        "list",
        "error",
        "code",
    }
)
FRAMES_COLUMN = "frames"
VARIANTS_FIELD = "pdq_variants"  # enrollment variants: an image's (matcher.augment), a listed frame's (matcher.video)
FRAME_SEPARATOR = ";"  # CSV: a video's pdq_variants cell holds one group per frame, in the frames cell's order

# python-threatexchange signal type -> (our signal, kind). Our own names read as image hashes.
TE_SIGNALS: dict[str, tuple[str, str]] = {
    **{name: (name, "image") for name in SIGNAL_TYPES},
    "photo_md5": ("md5", "image"),
    "video_md5": ("md5", "video"),
    "video_sha256": ("sha256", "video"),
}
VPDQ = "vpdq"
TE_TYPES = frozenset(TE_SIGNALS) | {VPDQ}

# Bounds on what one file may make the reader hold: a line (the longest real one, a 4-hour video's
# frames with their enrollment variants in JSONL, is about 5 MB) and the columns of a CSV header (ours
# are about 30). Past them a line is a bad row, a header a FormatError: never unbounded work or memory.
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_COLUMNS = 256
_SHOWN_NAMES = 20  # unknown or repeated column names named in a message; the count says the rest
_CHUNK = 1 << 16

_EXTENSIONS = {".jsonl": JSONL, ".json": JSONL, ".ndjson": JSONL, ".csv": CSV, ".txt": TE, ".te": TE}
_BOM = "\ufeff"


class FormatError(ValueError):
    """A whole file is unusable (no header, unknown columns, unknown format): no row would be right."""


class UnknownFormat(FormatError):
    """The format was to be detected and neither the file's name nor its first line tells it."""


class BadLine(ValueError):
    """One physical line that cannot be read as text (too long, not UTF-8): a bad row, not a bad file.
    Raised by `LineReader` from `next()`; the reader can be read on after it."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


# Files that are not text at all, by their first bytes: say what they are rather than "bad row" x 1000.
_NOT_TEXT = (
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"PK\x03\x04", "a ZIP archive: extract the list file first"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"BZh", "a bzip2 archive: decompress it first"),
    (b"\xfd7zXZ\x00", "an xz archive: decompress it first"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive: decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract the list file first"),
    (b"%PDF", "a PDF document, not a list file"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)


class LineReader:
    """Text lines of a binary stream, each decoded on its own, with a bounded length.

    Lines end at "\n", "\r\n" or a lone "\r" (as universal newlines would), kept on the line so that
    csv sees quoted line breaks. A line longer than `max_bytes` is skipped without being held (the
    reader keeps at most `max_bytes` plus one chunk) and a line that is not UTF-8 is refused: both
    raise BadLine naming the line, and reading goes on with the next one. `number` is the last line's."""

    def __init__(self, raw: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._raw, self._max = raw, max_bytes
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._pushed: list[str] = []
        self.number = 0

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str:
        if self._pushed:
            self.number += 1
            return self._pushed.pop()
        data = self._take()
        self.number += 1
        if data is None:
            raise BadLine(self.number, f"longer than {self._max:,} bytes, the most one line may hold")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadLine(self.number, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at byte {exc.start + 1})") from None

    def peek(self) -> str:
        """The next line without consuming it ("" at the end of the stream)."""
        try:
            line = next(self)
        except StopIteration:
            return ""
        self._pushed.append(line)
        self.number -= 1
        return line

    def _take(self) -> bytes | bytearray | None:
        """The next line's bytes; None for a line over the limit (skipped); StopIteration at the end."""
        while True:
            buf, pos = self._buf, self._pos
            newline = buf.find(b"\n", pos)
            ret = buf.find(b"\r", pos, newline if newline >= 0 else len(buf))
            end = ret if ret >= 0 else newline
            if end >= 0:
                if end == ret and end + 1 == len(buf) and not self._eof:
                    self._fill()  # a "\r" last in the buffer may be the first half of "\r\n"
                    continue
                stop = end + 1
                if end == ret and stop < len(buf) and buf[stop] == 0x0A:
                    stop += 1
                self._pos = stop
                return buf[pos:stop] if end - pos <= self._max else None
            if len(buf) - pos > self._max:
                self._skip_line()
                return None
            if self._eof:
                if pos >= len(buf):
                    raise StopIteration
                self._pos = len(buf)
                return buf[pos:]
            self._fill()

    def _fill(self) -> None:
        del self._buf[: self._pos]  # bytearray drops a prefix without copying the rest each time
        self._pos = 0
        chunk = self._raw.read(_CHUNK)
        if chunk:
            self._buf += chunk
        else:
            self._eof = True

    def _skip_line(self) -> None:
        """Drop the rest of an over-long line, a chunk at a time, up to and including its line end."""
        self._buf.clear()
        self._pos = 0
        while not self._eof:
            self._fill()
            cut = min((i for i in (self._buf.find(b"\n"), self._buf.find(b"\r")) if i >= 0), default=-1)
            if cut >= 0:
                stop = cut + 1
                if self._buf[cut] == 0x0D and stop < len(self._buf) and self._buf[stop] == 0x0A:
                    stop += 1
                self._pos = stop
                return
            self._buf.clear()


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str | BadLine]]:
    """(line number from 1, text or the BadLine it raised) of each line."""
    it = iter(lines)
    number = 0
    while True:
        number += 1
        try:
            yield number, next(it)
        except StopIteration:
            return
        except BadLine as exc:
            yield number, exc


class _Counted:
    """Lines for csv.reader, counted here (a line that raised BadLine counts too; csv's line_num skips it)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._it = iter(lines)
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> str:
        self.count += 1
        try:
            return next(self._it)
        except StopIteration:
            self.count -= 1
            raise


# --- common -------------------------------------------------------------------------------------------


def _row(line: int, build: Callable[..., EntryRecord], *args: object) -> RowResult:
    warnings: list[str] = []
    try:
        record = build(*args)
        named = record.external_id is not None
        checked = validate_record(record if named else record._replace(external_id=_UNNAMED), warnings)
        if not named:  # the file gave no id: name the entry by its content, never by its path (index.ids)
            checked = checked._replace(external_id=content_id(checked))
        return RowResult(line, record=checked, warnings=tuple(warnings))
    except InvalidEntry as exc:
        return RowResult(line, error=str(exc))


_UNNAMED = "unnamed"  # stands in for the id while the record is checked; replaced by its content id


def _given_id(value: object, path: object) -> object:
    """The id a row gives (None when it gives none: absent, null or blank). Refused when it is the row's
    own `path`: a tool that copied the path into the id would otherwise send it to every platform."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # numeric ids from other tools' JSON
    if isinstance(value, str) and isinstance(path, str) and value.strip() == path.strip():
        raise InvalidEntry(
            "id: is the file's local path, which must not leave this machine; give the case's own id, "
            "or no id to name the entry by its content (sha256:...)"
        )
    return value


def _split_labels(value: object) -> tuple[str, ...]:
    """Labels as files carry them: a list of strings, or one ";"-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split(LABEL_SEPARATOR))
    if isinstance(value, list):
        return tuple(value)  # validate_record checks each is a string
    raise InvalidEntry(
        f"labels: expected a list of strings or a ';'-separated string, got {type(value).__name__}"
    )


def _hashing_failed(error: object) -> InvalidEntry:
    # The message comes from the file: keep the reason one line whatever it holds.
    return InvalidEntry(f"the hashing run failed for this file: {' '.join(str(error).split())[:300]}")


def _default_kind(kind: object, frames: tuple[FrameHash, ...]) -> object:
    # Only a video has frames, so frames without a kind say which kind it is.
    if kind is None or kind == "":
        return "video" if frames else "image"
    return kind


# --- JSON Lines ---------------------------------------------------------------------------------------


def read_jsonl(lines: Iterable[str]) -> Iterator[RowResult]:
    """Rows of our JSON Lines (`takedown hash` output or an export), one object per line."""
    for number, line in _numbered(lines):
        if isinstance(line, BadLine):
            yield RowResult(number, error=line.reason)
            continue
        text = line.lstrip(_BOM) if number == 1 else line
        if text.strip():
            yield _row(number, _jsonl_record, text)


def _jsonl_record(text: str) -> EntryRecord:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEntry(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidEntry("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InvalidEntry(f"invalid JSON: {str(exc)[:120]}") from None
    if not isinstance(obj, dict):
        raise InvalidEntry(f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("error") is not None:
        raise _hashing_failed(obj["error"])
    return _mapping_record(obj)


def _mapping_record(obj: Mapping[str, object]) -> EntryRecord:
    # "path" (what `takedown hash` writes) is never an id: see index.ids.
    given = next((obj[k] for k in ("id", "external_id") if obj.get(k) is not None), None)
    external_id = _given_id(given, obj.get("path"))
    frames = _jsonl_frames(obj.get(FRAMES_COLUMN))
    return EntryRecord(
        external_id=external_id,  # type: ignore[arg-type]  # None: named by content; validate_record reports non-strings
        signals={name: obj[name] for name in SIGNAL_TYPES if obj.get(name) is not None},  # type: ignore[misc]
        qualities={
            name: obj[f"{name}_quality"]  # type: ignore[misc]
            for name in SIGNAL_TYPES
            if obj.get(f"{name}_quality") is not None
        },
        labels=_split_labels(obj.get("labels")),
        kind=_default_kind(obj.get("kind"), frames),  # type: ignore[arg-type]
        frames=frames,
        variants=obj.get(VARIANTS_FIELD) or (),  # type: ignore[arg-type]  # checked by validate_record
    )


def _jsonl_frames(value: object) -> tuple[FrameHash, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return parse_vpdq(value)
    if not isinstance(value, list):
        raise InvalidEntry(f"frames: expected a list of {{t, pdq, quality}}, got {type(value).__name__}")
    frames = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InvalidEntry(f"frame {number}: expected an object with t, pdq and quality")
        # Wrong types are left for validate_record, which reports them for frames from any source.
        frames.append(FrameHash(t=item.get("t"), pdq=item.get("pdq"), quality=item.get("quality"),
                                variants=item.get(VARIANTS_FIELD) or ()))
    return tuple(frames)


def write_jsonl(
    records: Iterable[EntryRecord],
    stream: IO[str],
    extra: Callable[[EntryRecord], dict[str, object]] | None = None,
) -> int:
    """One JSON object per record: id, kind, labels, signals and qualities, frames (videos), then
    `extra(record)`'s fields. Records are expected validated (validate_record): that is what makes the
    output read back equal. Returns how many records were written."""
    count = 0
    for record in records:
        obj: dict[str, object] = {"id": record.external_id, "kind": record.kind}
        obj["labels"] = list(record.labels)
        for name, value in record.signals.items():
            obj[name] = value
            if name in record.qualities:
                obj[f"{name}_quality"] = record.qualities[name]
        if record.frames:
            obj[FRAMES_COLUMN] = [_frame_object(f) for f in record.frames]
        if record.variants:
            obj[VARIANTS_FIELD] = list(record.variants)
        if extra is not None:
            _merge_extra(obj, extra(record))
        stream.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
        count += 1
    return count


def _frame_object(frame: FrameHash) -> dict[str, object]:
    obj: dict[str, object] = {"t": frame.t, "pdq": frame.pdq}
    if frame.quality is not None:
        obj["quality"] = frame.quality
    if frame.variants:
        obj[VARIANTS_FIELD] = list(frame.variants)
    return obj


def _merge_extra(obj: dict[str, object], fields: Mapping[str, object]) -> None:
    # An extra field named like one of ours would silently replace the entry's own data.
    clash = sorted(set(fields) & set(obj))
    if clash:
        raise ValueError(f"extra fields would overwrite the entry's own: {', '.join(clash)}")
    obj.update(fields)


# --- CSV ----------------------------------------------------------------------------------------------

# What each CSV column is: (role, signal name or column name).
_Column = tuple[str, str]


def read_csv(stream: Iterable[str]) -> Iterator[RowResult]:
    """Rows of a CSV list with a header row (line 1). FormatError if the header cannot be used.

    Open files with newline="" so that quoted cells may hold line breaks."""
    counted = _Counted(stream)
    reader = csv.reader(counted)
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError("empty file: a CSV list needs a header row") from None
    except BadLine as exc:
        raise FormatError(f"line 1 (the header): {exc.reason}") from None
    except csv.Error as exc:
        raise FormatError(f"line 1: unreadable header: {exc}") from None
    if counted.count > 1:  # csv.reader joins lines only inside quotes: a header has no business there
        raise FormatError(f"lines 1-{counted.count}: the header holds a quoted line break")
    return _csv_rows(reader, counted, _csv_columns(header))


def _csv_rows(reader: Any, counted: _Counted, columns: list[_Column]) -> Iterator[RowResult]:
    last_line = counted.count
    while True:
        start = last_line + 1  # a quoted cell may span lines: report where the row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except BadLine as exc:  # the csv reader starts afresh on the next line
            last_line = counted.count
            yield RowResult(exc.line if exc.line > start else start, error=exc.reason)
            continue
        except csv.Error as exc:  # e.g. a cell over the csv module's size limit; the reader goes on
            last_line = counted.count
            yield RowResult(start, error=f"unreadable CSV row: {exc}")
            continue
        last_line = counted.count
        if "".join(row).strip():
            yield _row(start, _csv_record, row, columns)


def _csv_columns(header: Sequence[str]) -> list[_Column]:
    # Every check here is linear in the columns: a header is attacker-sized (10^6 columns once cost hours).
    if len(header) > MAX_COLUMNS:
        raise FormatError(f"line 1: {len(header):,} columns; a list file may have at most {MAX_COLUMNS}")
    names = [cell.strip().lower() for cell in header]
    if names:
        names[0] = names[0].lstrip(_BOM)
    counts = Counter(n for n in names if n)
    repeated = sorted(n for n, c in counts.items() if c > 1)
    if repeated:
        raise FormatError(f"columns named twice: {_some(repeated)}")
    # No id column: every entry is named by its content. A path column is never the id (index.ids).
    id_column = next((c for c in ("id", "external_id") if c in names), "")
    if "id" in names and "external_id" in names:
        raise FormatError("both id and external_id columns: keep one")
    columns = [_csv_column(name, id_column) for name in names]
    unknown = [name for (role, name) in columns if role == "unknown"]
    if unknown:
        raise FormatError(
            f"unknown columns: {_some(unknown)}; known: id, kind, labels, {FRAMES_COLUMN}, "
            f"{', '.join(SIGNAL_TYPES)}, <signal>_quality, "
            f"and informational ones ({', '.join(sorted(INFO_COLUMNS))})"
        )
    if not any(role in ("signal", "frames") for role, _ in columns):
        raise FormatError(f"no signal column: name one of {', '.join(SIGNAL_TYPES)} or {FRAMES_COLUMN}")
    orphans = [name for role, name in columns if role == "quality" and name not in counts]
    if orphans:
        listed = ", ".join(f"{name}_quality" for name in orphans)
        raise FormatError(f"quality columns without their hash column: {listed}")
    return columns


def _some(names: Sequence[str]) -> str:
    """Names for a message: the first few, then how many more (a header may hold thousands)."""
    shown = ", ".join(repr(n)[1:-1][:60] for n in names[:_SHOWN_NAMES])
    return shown if len(names) <= _SHOWN_NAMES else f"{shown} and {len(names) - _SHOWN_NAMES:,} more"


def _csv_column(name: str, id_column: str) -> _Column:
    if name == id_column:
        return ("id", name)
    if name == "path":
        return ("path", name)  # read only to refuse an id that repeats it
    if name in SIGNAL_TYPES and name not in LIST_ONLY:
        return ("signal", name)
    if name.endswith("_quality") and name.removesuffix("_quality") in SIGNAL_TYPES:
        return ("quality", name.removesuffix("_quality"))
    if name in ("kind", "labels", FRAMES_COLUMN, "error"):
        return (name, name)
    if name == VARIANTS_FIELD:
        return ("variants", name)
    if name in INFO_COLUMNS:
        return ("ignore", name)
    if not name:
        return ("unnamed", name)
    return ("unknown", name)


def _csv_record(row: Sequence[str], columns: Sequence[_Column]) -> EntryRecord:
    if len(row) > len(columns):
        raise InvalidEntry(f"{len(row):,} cells, but the header names {len(columns)} columns")
    fields: dict[str, str] = {}
    signals: dict[str, str] = {}
    qualities: dict[str, int] = {}
    for position, (cell, (role, name)) in enumerate(zip(row, columns, strict=False), start=1):
        value = cell.strip()
        if not value or role == "ignore":
            continue  # an empty cell means "absent"
        if role == "signal":
            signals[name] = value
        elif role == "quality":
            qualities[name] = _int_cell(f"{name}_quality", value)
        elif role == "unnamed":
            raise InvalidEntry(f"a value in column {position}, which the header leaves unnamed")
        else:
            fields[role] = value
    if "error" in fields:
        raise _hashing_failed(fields["error"])
    frames = parse_vpdq(fields[FRAMES_COLUMN]) if FRAMES_COLUMN in fields else ()
    variants = fields.get("variants", "")
    if frames and variants:  # a video's cell: the frames' variants, group by group
        frames = _with_frame_variants(frames, variants)
        variants = ""
    return EntryRecord(
        external_id=_given_id(fields.get("id"), fields.get("path")),  # type: ignore[arg-type]  # None: by content
        signals=signals,
        qualities=qualities,
        labels=_split_labels(fields.get("labels")),
        kind=_default_kind(fields.get("kind"), frames),  # type: ignore[arg-type]
        frames=frames,
        variants=tuple(variants.split()),
    )


def _with_frame_variants(frames: tuple[FrameHash, ...], cell: str) -> tuple[FrameHash, ...]:
    groups = cell.split(FRAME_SEPARATOR)
    if len(groups) != len(frames):
        raise InvalidEntry(f"{VARIANTS_FIELD}: {len(groups)} groups separated by {FRAME_SEPARATOR!r} for "
                           f"{len(frames)} frames; a video needs one group per frame (empty for none)")
    return tuple(f._replace(variants=tuple(g.split())) for f, g in zip(frames, groups, strict=True))


def _int_cell(column: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidEntry(f"{column}: not an integer: {value[:40]!r}") from None


def write_csv(
    records: Iterable[EntryRecord],
    stream: IO[str],
    signals: Sequence[str],
    extra_columns: Sequence[str] = (),
    extra: Callable[[EntryRecord], dict[str, object]] | None = None,
    *,
    frames: bool = False,
    variants: bool = False,
) -> int:
    """A header, then one row per record: id, kind, labels, each signal (pdq followed by pdq_quality),
    with frames=True a frames column (the vPDQ string), with variants=True a pdq_variants column (the
    enrollment variants' hex, space-separated; for a video, one such group per frame in the frames
    column's order, joined by ';'), then `extra_columns` filled from `extra(record)`.

    Records are expected validated, as for write_jsonl. Signals not listed are left out on purpose (an
    export of chosen kinds). A record whose frames or quality has no column raises ValueError rather than
    being written incomplete. Returns the row count.
    """
    signals = [name for name in signals if name not in LIST_ONLY]
    columns = _csv_header(signals, extra_columns, frames, variants)
    writer = csv.writer(stream)
    writer.writerow(columns)
    count = 0
    for record in records:
        cells = _csv_cells(record, signals, frames, variants)
        if extra is not None:
            cells.update(_extra_cells(extra(record), extra_columns))
        writer.writerow([cells.get(c, "") for c in columns])
        count += 1
    return count


def _csv_header(signals: Sequence[str], extra_columns: Sequence[str], frames: bool, variants: bool) -> list[str]:
    columns = ["id", "kind", "labels"]
    for name in signals:
        columns.append(signal_type(name).name)
        if name == "pdq":
            columns.append("pdq_quality")
    if frames:
        columns.append(FRAMES_COLUMN)
    if variants:
        columns.append(VARIANTS_FIELD)
    # Anything else would make read_csv refuse the file we are writing.
    unreadable = [c for c in extra_columns if c not in INFO_COLUMNS or c == "error"]
    if unreadable:
        raise ValueError(f"extra columns read_csv would not accept: {', '.join(unreadable)}")
    if len(set(columns + list(extra_columns))) != len(columns) + len(extra_columns):
        raise ValueError("a column is named twice")
    return columns + list(extra_columns)


def _csv_cells(record: EntryRecord, signals: Sequence[str], frames: bool, variants: bool) -> dict[str, object]:
    cells: dict[str, object] = {
        "id": record.external_id,
        "kind": record.kind,
        "labels": LABEL_SEPARATOR.join(record.labels),
    }
    for name in signals:
        if name in record.signals:
            cells[name] = record.signals[name]
    for name, quality in record.qualities.items():
        if name not in signals:
            continue
        if name != "pdq":
            raise ValueError(f"{record.external_id}: CSV has no column for its {name} quality")
        cells[f"{name}_quality"] = quality
    if record.frames:
        if not frames:
            raise ValueError(f"{record.external_id}: a video with frames: write frames=True, or JSONL")
        cells[FRAMES_COLUMN] = format_vpdq(record.frames)
        if any(f.variants for f in record.frames):
            if not variants:
                raise ValueError(f"{record.external_id}: a video with frame variants: write variants=True, or JSONL")
            cells[VARIANTS_FIELD] = FRAME_SEPARATOR.join(" ".join(f.variants) for f in record.frames)
    if record.variants:
        if not variants:
            raise ValueError(f"{record.external_id}: an image with enrollment variants: write variants=True, or JSONL")
        cells[VARIANTS_FIELD] = " ".join(record.variants)
    return cells


def _extra_cells(fields: Mapping[str, object], extra_columns: Sequence[str]) -> dict[str, object]:
    stray = sorted(set(fields) - set(extra_columns))
    if stray:
        raise ValueError(f"extra values for columns not in extra_columns: {', '.join(stray)}")
    return {k: "" if v is None else v for k, v in fields.items()}


# --- python-threatexchange ------------------------------------------------------------------------------


def read_threatexchange(lines: Iterable[str]) -> Iterator[RowResult]:
    """Rows of python-threatexchange signal lines, "<signal type> <signal>"; "#" starts a comment line."""
    for number, line in _numbered(lines):
        if isinstance(line, BadLine):
            yield RowResult(number, error=line.reason)
            continue
        text = (line.lstrip(_BOM) if number == 1 else line).strip()
        if text and not text.startswith("#"):
            yield _row(number, _te_record, text)


def _te_record(text: str) -> EntryRecord:
    parts = text.split(None, 1)
    if len(parts) != 2:
        raise InvalidEntry(f"expected '<signal type> <hash>', got {text[:80]!r}")
    te_type, value = parts[0].lower(), parts[1].strip()
    if te_type == VPDQ:
        return _vpdq_record(value)
    if te_type not in TE_SIGNALS:
        raise InvalidEntry(f"unknown signal type {parts[0][:40]!r}; known: {', '.join(sorted(TE_TYPES))}")
    signal, kind = TE_SIGNALS[te_type]
    canonical = normalize_hash(signal, value)
    # The id is the hash itself, so importing the same line twice names the same entry.
    return EntryRecord(external_id=f"{te_type}:{canonical}", signals={signal: canonical}, kind=kind)


def _vpdq_record(value: str) -> EntryRecord:
    frames = parse_vpdq(value)
    usable = tuple(f for f in frames if f.quality is None or f.quality >= MIN_PDQ_QUALITY)
    if frames and not usable:
        raise InvalidEntry(
            f"vpdq: all {len(frames)} frames are below quality {MIN_PDQ_QUALITY}: "
            "too little detail to match safely"
        )
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()
    return EntryRecord(external_id=f"{VPDQ}:{digest}", kind="video", frames=usable)


def parse_vpdq(text: str) -> tuple[FrameHash, ...]:
    """Frames of a python-threatexchange vPDQ signal string; InvalidEntry if it is not one.

    Hex, quality and time are checked by validate_record, as for frames from any other file."""
    try:
        features = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise InvalidEntry(f"vpdq: not a JSON array of frames: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidEntry("vpdq: not a JSON array of frames: nested too deeply") from None
    if not isinstance(features, list):
        raise InvalidEntry(
            f"vpdq: expected a JSON array of 'hash,quality,timestamp' strings, got {type(features).__name__}"
            " (the pre-2022 form keyed by frame number is not supported)"
        )
    return tuple(_vpdq_frame(number, feature) for number, feature in enumerate(features, start=1))


def _vpdq_frame(number: int, feature: object) -> FrameHash:
    parts = feature.split(",") if isinstance(feature, str) else []
    if len(parts) != 3:
        shown = str(feature)[:100]
        raise InvalidEntry(f"vpdq frame {number}: expected 'hash,quality,timestamp', got {shown!r}")
    pdq, quality, timestamp = (p.strip() for p in parts)
    try:
        t = float(timestamp)
    except ValueError:
        raise InvalidEntry(f"vpdq frame {number}: timestamp is not a number: {timestamp[:40]!r}") from None
    return FrameHash(t=t, pdq=pdq, quality=_int_cell(f"vpdq frame {number} quality", quality))


def format_vpdq(frames: Iterable[FrameHash]) -> str:
    """The python-threatexchange vPDQ signal string of `frames` (each needs a quality)."""
    features = []
    for frame in frames:
        if frame.quality is None:
            raise ValueError(f"frame at t={frame.t:g} has no quality, which a vPDQ signal requires")
        features.append(f"{frame.pdq},{frame.quality},{float(frame.t)!r}")
    return json.dumps(features)


# --- choosing a reader ----------------------------------------------------------------------------------


def detect_format(path: str | None, first_line: str) -> str:
    """The format name, jsonl, csv or te: by the file name's extension, else by the first non-blank line."""
    if path:
        fmt = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if fmt:
            return fmt
    text = first_line.lstrip(_BOM).strip()
    if text.startswith("{"):
        return JSONL
    head = text.split(None, 1)
    if len(head) == 2 and head[0].lower() in TE_TYPES:
        return TE
    if "," in text:
        return CSV
    # Neutral: the CLI and the service each add how their user chooses a format (--format, ?format=).
    raise UnknownFormat(
        f"cannot tell the format of {path or 'the input'} from its first line {text[:60]!r}: "
        "expected a JSON object (JSONL), CSV with a header, or threatexchange 'type value' lines"
    )


def read_entries(stream: Iterable[str], fmt: str) -> Iterator[RowResult]:
    """Rows of `stream` read as `fmt` (one of FORMATS)."""
    readers = {JSONL: read_jsonl, CSV: read_csv, TE: read_threatexchange}
    if fmt not in readers:
        raise FormatError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return readers[fmt](stream)


def open_entries(raw: BinaryIO, fmt: str = "auto", path: str | None = None) -> Iterator[RowResult]:
    """Rows of a list file given as a binary stream (a file, stdin's buffer, an upload's spool), read
    with bounded lines (LineReader); `fmt` "auto" detects it (detect_format). FormatError, at once, for
    a file that is not text (an archive, UTF-16) or whose format cannot be told, and, once read to its
    end, for a file that holds no entries at all (empty, a header only, comments only)."""
    head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    for magic, what in _NOT_TEXT:
        if head.startswith(magic):
            raise FormatError(f"line 1: this is {what}")
    lines = LineReader(raw)
    if fmt == "auto":
        try:
            first = lines.peek()
        except BadLine as exc:
            raise FormatError(f"line 1: {exc.reason}") from None
        if not first.strip() and not (path and os.path.splitext(path)[1].lower() in _EXTENSIONS):
            raise FormatError("the file is empty: no entries" if not first else
                              "line 1 is blank: cannot tell the format (choose it)")
        fmt = detect_format(path, first)
    return require_rows(read_entries(lines, fmt))


def require_rows(rows: Iterable[RowResult]) -> Iterator[RowResult]:
    """`rows`, then FormatError if there were none: an import of nothing is a mistake to report."""
    seen = False
    for row in rows:
        seen = True
        yield row
    if not seen:
        raise FormatError("no entries: the file holds no rows (empty, or a header or comments only)")
