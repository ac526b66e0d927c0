"""What a bulk run tells the person watching it, on stderr: which folders give no file (before it
starts), a progress bar while it runs (files/s and ETA) and a summary line at the end (files, images,
videos, errors by code, skipped, time).

The bar's total is counted in a background thread by walking the sources a second time, so output
starts at once and a million-file tree is never held in memory to be counted. Never writes to stdout
(that is where records go).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from app.files import Sources, empty_folders

err = Console(stderr=True, soft_wrap=True)


def check_folders(sources: Sources) -> None:
    """Say which folders give no file (only sub-folders without -r, or nothing at all); stop with exit
    status 2 when no source is left to work on, rather than run on nothing and report success."""
    notes = empty_folders(sources.paths, recursive=sources.recursive)
    for note in notes:
        err.print(note, highlight=False, markup=False)
    if notes and len(notes) == len(sources.paths) and sources.from_list is None:
        err.print("no files to work on", highlight=False, markup=False)
        raise typer.Exit(2)


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.1f} {self.unit}/s")


class ProgressBar:
    """A rich progress bar on stderr; `count` (run in a thread) gives its total, or None if unknown.
    Used as a context manager that returns the function to call once per file (or with n, per n)."""

    def __init__(self, enabled: bool, label: str, count: Callable[[], int | None], unit: str = "files") -> None:
        self.enabled, self.label, self.count, self.unit = enabled, label, count, unit

    def __enter__(self) -> Callable[..., None]:
        if not self.enabled:
            return lambda n=1: None
        self.bar = Progress(
            TextColumn(self.label), BarColumn(), MofNCompleteColumn(), _RateColumn(self.unit),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False,
        )
        self.task = self.bar.add_task(self.label, total=None)
        self.bar.start()
        threading.Thread(target=self._count, daemon=True).start()
        return lambda n=1: self.bar.advance(self.task, n)

    def _count(self) -> None:
        try:
            total = self.count()
        except OSError:
            return  # a source vanished: the run reports it; the bar just has no total
        if total is not None:
            self.bar.update(self.task, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


@dataclass
class Tally:
    """Counts of a bulk run, by what became of each file."""

    started: float = field(default_factory=time.monotonic)
    files: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    not_media: int = 0  # left out with --skip-unsupported
    already_done: int = 0  # left out with --resume
    extra: dict[str, int] = field(default_factory=dict)  # command-specific counts, e.g. matched

    def add(self, record: Mapping[str, object]) -> None:
        self.files += 1
        if "error" in record:
            self.errors[str(record.get("code"))] += 1
        else:
            self.kinds[str(record.get("kind", "image"))] += 1

    def skip_done(self) -> None:
        self.files += 1
        self.already_done += 1

    def skip_not_media(self) -> None:
        self.files += 1
        self.not_media += 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def line(self, verb: str = "hashed", note: str | None = None) -> str:
        """The summary; `note` (e.g. which store was used) goes at its end."""
        seconds = time.monotonic() - self.started
        worked = self.files - self.already_done
        rate = worked / seconds if seconds > 0 else 0.0
        done = sum(self.kinds.values())
        text = f"{self.files} files, {done} {verb}, {self.failed} failed"
        if self.not_media:
            text += f", {self.not_media} skipped (not media)"
        if self.already_done:
            text += f", {self.already_done} skipped (already in the output)"
        text += f" in {seconds:.1f} s ({rate:.1f} files/s)"
        text += f"; {self.kinds['image']} images, {self.kinds['video']} videos"
        for name, value in self.extra.items():
            text += f", {value} {name}"
        if self.errors:
            text += " — errors: " + ", ".join(f"{c}: {n}" for c, n in self.errors.most_common())
        if note:
            text += f"; {note}"
        return text

    def print(self, verb: str = "hashed", note: str | None = None) -> None:
        err.print(self.line(verb, note), highlight=False, markup=False, soft_wrap=True)
