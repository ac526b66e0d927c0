"""Writers for streamed hash records: JSON Lines (one object per line) and CSV with a fixed header."""

from __future__ import annotations

import csv
import json
from typing import IO, Protocol

from matcher.registry import signal_type


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


def make_writer(fmt: str, stream: IO[str], signals: tuple[str, ...]) -> RecordWriter:
    if fmt == "csv":
        return CsvWriter(stream, signals)
    return JsonlWriter(stream)
