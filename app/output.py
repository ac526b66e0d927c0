"""Writers for streamed records: JSON Lines (one object per line) and CSV with a fixed header, for the
records of `takedown hash` (one per file), `takedown match` (one per file) and `takedown rescan` (one
per hit). A writer writes what it is given and never drops a record; CSV columns are fixed per command
(README, "Output formats") so that a spreadsheet or a script can rely on them.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import Enum
from pathlib import Path
from typing import IO, Protocol

import typer
from rich.console import Console

from matcher.registry import signal_type


class OutputFormat(str, Enum):
    """What `--format` offers wherever records are written."""

    jsonl = "jsonl"
    csv = "csv"


class RecordWriter(Protocol):
    def write(self, record: dict[str, object]) -> None: ...


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, record: dict[str, object]) -> None:
        self._stream.write(json.dumps(record, separators=(", ", ": ")) + "\n")


class CsvWriter:
    """Columns: path, kind, format, width, height, each signal (PDQ followed by its quality), error, code."""

    def __init__(self, stream: IO[str], signals: tuple[str, ...]) -> None:
        columns = ["path", "kind", "format", "width", "height"]
        for name in signals:
            columns.append(name)
            if signal_type(name).name == "pdq":
                columns.append("pdq_quality")
        columns += ["error", "code"]
        self._stream = stream
        self._writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        self._writer.writeheader()

    def write(self, record: dict[str, object]) -> None:
        self._writer.writerow(record)


def open_output(path: Path | None, *, append: bool = False) -> IO[str]:
    """Standard output, or `path` opened for writing (appending). A file that cannot be written (no
    such folder, no permission) is a usage error: exit status 2 with the reason, never a traceback."""
    if path is None:
        return sys.stdout
    try:
        return open(path, "a" if append else "w", encoding="utf-8", newline="")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        Console(stderr=True, soft_wrap=True).print(f"cannot write {path}: {exc.strerror or exc}",
                                                   highlight=False, markup=False)
        raise typer.Exit(2) from None


def make_writer(fmt: str, stream: IO[str], signals: tuple[str, ...]) -> RecordWriter:
    if fmt == "csv":
        return CsvWriter(stream, signals)
    return JsonlWriter(stream)


MATCH_COLUMNS = ("path", "size", "mtime", "kind", "decision", "lists", "matches", "error", "code")


class MatchCsvWriter:
    """`takedown match` as CSV, one row per file: path, size, mtime, kind, decision, lists (the names of
    the lists whose matches make the decision, ';'-separated: list names never hold ';'), matches (the file's matches with
    all their evidence, as a compact JSON array; '[]' when none) and, for a file that could not be
    checked, error and code (decision, lists and matches then empty)."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=MATCH_COLUMNS, extrasaction="ignore")
        self._writer.writeheader()

    def write(self, record: dict[str, object]) -> None:
        row = dict(record)
        if "error" not in record:
            matches = record.get("matches") or []
            names = dict.fromkeys(str(m["list"]) for m in matches  # type: ignore[union-attr]
                                  if isinstance(m, dict) and m.get("list") and m.get("action"))
            row["lists"] = ";".join(names)
            row["matches"] = json.dumps(matches, separators=(",", ":"))
        self._writer.writerow(row)


HIT_COLUMNS = ("line", "path", "kind", "list", "entry_id", "external_id", "signal", "distance", "relation", "action",
               "matched_seconds", "query_coverage", "entry_coverage")


class HitCsvWriter:
    """`takedown rescan` as CSV, one row per hit, columns HIT_COLUMNS (the last three for videos only)."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=HIT_COLUMNS, extrasaction="ignore")
        self._writer.writeheader()

    def write(self, record: dict[str, object]) -> None:
        self._writer.writerow(record)


def match_writer(fmt: str, stream: IO[str]) -> RecordWriter:
    return MatchCsvWriter(stream) if fmt == "csv" else JsonlWriter(stream)


def hit_writer(fmt: str, stream: IO[str]) -> RecordWriter:
    return HitCsvWriter(stream) if fmt == "csv" else JsonlWriter(stream)
