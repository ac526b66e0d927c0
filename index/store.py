"""The durable hash-list store: lists, entries and their signals, the audit trail, change tracking.

Every write runs in one transaction that (1) bumps `store_state.seq`, which also serialises writers on
PostgreSQL, (2) stamps that seq on every entry it changes, and (3) appends its audit record. A failed
or refused write leaves nothing behind.

Imports never hold the writer for long, so that a revocation always gets through (SQLite has one
writer at a time; on PostgreSQL every write takes the `store_state` row). They go in two phases:
1. Staging, with no database transaction: every row is validated and each id checked against the
   ids before it (an id given twice in one file is a bad row naming both lines), the good rows kept
   in a temporary file. With bad rows and no `skip_invalid`, nothing more happens.
2. Applying. Up to BATCH rows: one transaction. More: an `imports` row is opened (one import per list
   at a time) and the new entries are written BATCH at a time, each batch its own short transaction,
   stamped with the import's id, which hides them from every reader (entry lookups, counts, exports,
   the index). Changes to existing entries are kept aside. A last short transaction applies those
   changes (skipping entries revoked meanwhile) and sets the import's `applied_seq`: all its entries
   become visible at once, at that seq. If anything fails, the import's rows are deleted; if the
   process dies, they stay hidden, and the next import into that list deletes them once the import's
   heartbeat is IMPORT_STALE old.

Knows nothing of HTTP or of the in-memory index; the index reads `changes_since` to follow it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from index import audit_chain, db
from index.db import as_utc, utc_now
from index.lists import (
    HashList,
    InvalidList,
    is_list_name,
    validate_action,
    validate_name,
    effective_thresholds,
    validate_thresholds,
    validate_video_policy,
)
from index.model import Action, EntryRecord, FrameHash, RowResult
from index.schema import audit_log, entries, entry_signals, hash_lists, imports, matcher_access, store_state
from index.validate import could_be_external_id
from matcher.augment import PdqVariant

BATCH = 2000
VARIANT = PdqVariant.name  # entry_signals rows of an image's enrollment variants, in VARIANTS order
MAX_REPORTED_ERRORS = 1000
IMPORT_STALE = timedelta(seconds=60)  # a running import silent this long (it beats every batch) was left by a dead process
# SQLite queues no writers: one waiting on the lock polls (every 100 ms once it has waited a while)
# and loses every race to an import that starts its next batch at once. So a chunked import on
# SQLite pauses this long after each second of writing, which lets any waiting writer in (~10%).
SQLITE_YIELD_EVERY = 1.0
# A chunked import writes batches in one transaction for about this long, then commits: other writers
# wait at most about this (plus one batch), and the import pays few commits.
WRITE_SLICE_SECONDS = 0.3
SQLITE_YIELD_PAUSE = 0.12

# Entries every reader may see: not added by an import that has not been applied yet.
VISIBLE = or_(entries.c.import_id.is_(None), entries.c.import_id.not_in(select(imports.c.id).where(imports.c.applied_seq.is_(None))))

# Which of a batch's external ids the list already has (one compiled statement, reused per batch).
_EXISTING = select(entries.c.id, entries.c.external_id, entries.c.kind, entries.c.labels, entries.c.revoked_at).where(
    entries.c.list_id == bindparam("list_id"), entries.c.external_id.in_(bindparam("ids", expanding=True)), VISIBLE
)


class NotFound(LookupError):
    """No such list or entry (message says which)."""


class Conflict(ValueError):
    """The change contradicts what is stored (a name already taken, an entry already revoked)."""


@dataclass
class ImportReport:
    """What an import did. `committed` is False when bad rows made it change nothing."""

    list_name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    revoked_kept: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)  # weak hashes left out of good rows
    rows_with_warnings: int = 0
    committed: bool = False
    seq: int | None = None

    def refuse(self, line: int, reason: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line, reason))

    def left_out(self, line: int, reasons: Iterable[str]) -> None:
        self.rows_with_warnings += 1
        if len(self.warnings) < MAX_REPORTED_ERRORS:
            self.warnings += [(line, w) for w in reasons]

    def to_dict(self) -> dict[str, object]:
        return {
            "list": self.list_name,
            "committed": self.committed,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "revoked_kept": self.revoked_kept,
            "invalid": self.invalid,
            "errors": [{"line": line, "error": reason} for line, reason in self.errors],
            "errors_not_listed": max(0, self.invalid - len(self.errors)),
            "left_out": [{"line": line, "reason": reason} for line, reason in self.warnings],
            "rows_with_hashes_left_out": self.rows_with_warnings,
        }


@dataclass(frozen=True)
class EntryInfo:
    """An entry with its bookkeeping, as `show`, `export` and match results need it."""

    id: int
    list_id: int
    list_name: str
    record: EntryRecord
    added_at: datetime
    added_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def meta(self) -> dict[str, object]:
        return {
            "entry_id": self.id,
            "list": self.list_name,
            "added_at": self.added_at.isoformat(),
            "added_by": self.added_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
            "revoke_reason": self.revoke_reason,
        }


@dataclass(frozen=True)
class ListMeta:
    """What the index needs to know of a list at match time."""

    id: int
    name: str
    default_action: Action
    thresholds: dict[str, int]
    deleted: bool
    video_policy: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SignalRow:
    """One hash of one live entry, for the index."""

    entry_id: int
    list_id: int
    seq: int
    signal: str
    value: str
    t: float | None


@dataclass(frozen=True)
class EntryChange:
    entry_id: int
    seq: int
    revoked: bool


def _policy(row: Any) -> dict[str, float]:
    return validate_video_policy(row.video_policy or {})


class Store:
    def __init__(self, url: str | None = None, *, engine: Engine | None = None, migrate: bool = True) -> None:
        self.url = url or db.database_url()
        self.engine = engine or db.make_engine(self.url)
        if migrate:
            db.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- change tracking -------------------------------------------------------------------------

    def state(self) -> tuple[str, int]:
        """(store id, current seq): which store this is, and how far it has changed."""
        with self.engine.connect() as conn:
            row = conn.execute(select(store_state.c.store_id, store_state.c.seq)).one()
        return row.store_id, int(row.seq)

    def _next_seq(self, conn: Connection) -> int:
        conn.execute(update(store_state).where(store_state.c.id == 1).values(seq=store_state.c.seq + 1))
        return int(conn.execute(select(store_state.c.seq)).scalar_one())

    def _audit(self, conn: Connection, seq: int, actor: str, action: str, details: Mapping[str, Any], **where: Any) -> None:
        # Chained to the previous record by hash (index.audit_chain), so tampering shows.
        audit_chain.append(conn, seq=seq, actor=actor, action=action, details=details, **where)

    # -- lists ---------------------------------------------------------------------------------

    def create_list(
        self,
        name: str,
        *,
        owner: str,
        actor: str,
        description: str = "",
        default_action: str = "takedown",
        thresholds: Mapping[str, object] | None = None,
        video_policy: Mapping[str, object] | None = None,
    ) -> HashList:
        validate_name(name)
        action = validate_action(default_action)
        limits = validate_thresholds(thresholds)
        policy = validate_video_policy(video_policy)
        if not owner.strip():
            raise InvalidList("a list needs an owner")
        with self.engine.begin() as conn:
            seq = self._next_seq(conn)  # taken first: it serialises writers, so the checks below hold
            existing = self._list_row(conn, name, missing_ok=True, include_deleted=True)
            if existing is not None and existing.deleted_at is None:
                raise Conflict(f"a list named {name!r} already exists")
            if existing is not None:
                raise Conflict(
                    f"the name {name!r} belonged to a list deleted on {as_utc(existing.deleted_at):%Y-%m-%d}; list names "
                    "are never reused, so that past matches, webhooks, reports and the audit trail keep naming one "
                    "list: choose another name"
                )
            now = utc_now()
            list_id = conn.execute(
                insert(hash_lists)
                .values(
                    name=name, description=description, owner=owner, default_action=action.value,
                    thresholds=limits, video_policy=policy, created_at=now, created_by=actor, updated_at=now,
                )
                .returning(hash_lists.c.id)
            ).scalar_one()
            details = {"description": description, "owner": owner, "default_action": action.value,
                       "thresholds": limits, "video_policy": policy}
            self._audit(conn, seq, actor, "list.create", details, list_id=list_id, list_name=name)
            return self._to_list(self._list_row(conn, name))

    def update_list(
        self,
        name: str,
        *,
        actor: str,
        description: str | None = None,
        default_action: str | None = None,
        thresholds: Mapping[str, object] | None = None,
        video_policy: Mapping[str, object] | None = None,
    ) -> HashList:
        with self.engine.begin() as conn:
            row = self._list_row(conn, name)
            changes: dict[str, Any] = {}
            if video_policy is not None:
                changes["video_policy"] = validate_video_policy(video_policy, base=_policy(row))
            if description is not None:
                changes["description"] = description
            if default_action is not None:
                changes["default_action"] = validate_action(default_action).value
            if thresholds is not None:
                changes["thresholds"] = validate_thresholds(thresholds, base=row.thresholds)
            if not changes:
                return self._to_list(row)
            seq = self._next_seq(conn)
            conn.execute(update(hash_lists).where(hash_lists.c.id == row.id).values(updated_at=utc_now(), **changes))
            before = {k: getattr(row, k) for k in changes}
            self._audit(conn, seq, actor, "list.update", {"before": before, "after": changes}, list_id=row.id, list_name=name)
            return self._to_list(self._list_row(conn, name))

    def delete_list(self, name: str, *, actor: str, reason: str = "") -> None:
        """Soft delete: the list and its entries stop matching at once; the record stays for audit."""
        with self.engine.begin() as conn:
            row = self._list_row(conn, name)
            seq = self._next_seq(conn)
            conn.execute(update(hash_lists).where(hash_lists.c.id == row.id).values(deleted_at=utc_now(), deleted_by=actor))
            self._audit(conn, seq, actor, "list.delete", {"reason": reason}, list_id=row.id, list_name=name)

    def get_list(self, name: str, *, with_counts: bool = False, include_deleted: bool = False) -> HashList:
        """The live list of that name; with include_deleted, else the last deleted one (for reports
        and audit, which outlive a list)."""
        with self.engine.connect() as conn:
            row = self._list_row(conn, name, include_deleted=include_deleted)
            counts = self._counts(conn, row.id) if with_counts else {}
        return self._to_list(row, counts)

    def get_list_by_id(self, list_id: int) -> HashList:
        """A list by its store id, deleted or not (match records name lists by id)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(hash_lists).where(hash_lists.c.id == list_id)).one_or_none()
        if row is None:
            raise NotFound(f"no list with id {list_id}")
        return self._to_list(row)

    def list_ids_owned_by(self, owner: str) -> list[int]:
        """Ids of every list `owner` has had, deleted ones included (whose audit records it may read)."""
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(select(hash_lists.c.id).where(hash_lists.c.owner == owner)).scalars()]

    def lists(self, *, include_deleted: bool = False) -> list[HashList]:
        query = select(hash_lists).order_by(hash_lists.c.name, hash_lists.c.id)
        if not include_deleted:
            query = query.where(hash_lists.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            return [self._to_list(r, self._counts(conn, r.id)) for r in rows]

    def list_meta(self) -> dict[int, ListMeta]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(hash_lists)).all()
        return {
            r.id: ListMeta(r.id, r.name, Action(r.default_action), effective_thresholds(r.thresholds), r.deleted_at is not None,
                           _policy(r))
            for r in rows
        }

    def _list_row(self, conn: Connection, name: str, *, missing_ok: bool = False, include_deleted: bool = False) -> Any:
        row = None
        if is_list_name(name):  # anything else names no list (and may be text a database refuses, e.g. NUL)
            query = select(hash_lists).where(hash_lists.c.name == name)
            if not include_deleted:
                query = query.where(hash_lists.c.deleted_at.is_(None))
            # The live list first, else the last deleted (stores from before names were kept may have several).
            query = query.order_by(hash_lists.c.deleted_at.is_(None).desc(), hash_lists.c.id.desc()).limit(1)
            row = conn.execute(query).one_or_none()
        if row is None and not missing_ok:
            raise NotFound(f"no list named {name!r}")
        return row

    def _counts(self, conn: Connection, list_id: int) -> dict[str, int]:
        total, revoked = conn.execute(
            select(func.count(), func.count(entries.c.revoked_at)).where(entries.c.list_id == list_id, VISIBLE)
        ).one()
        return {"active": int(total) - int(revoked), "revoked": int(revoked)}

    @staticmethod
    def _to_list(row: Any, counts: dict[str, int] | None = None) -> HashList:
        return HashList(
            id=row.id, name=row.name, description=row.description, owner=row.owner,
            default_action=Action(row.default_action), thresholds=effective_thresholds(row.thresholds),
            video_policy=_policy(row), created_at=as_utc(row.created_at), created_by=row.created_by, updated_at=as_utc(row.updated_at),
            deleted_at=as_utc(row.deleted_at), counts=counts or {},
        )

    # -- entries -------------------------------------------------------------------------------

    def import_entries(
        self,
        list_name: str,
        rows: Iterable[RowResult],
        *,
        actor: str,
        skip_invalid: bool = False,
        source: str | None = None,
    ) -> ImportReport:
        """Add or update entries from parsed rows: staged, then applied (see the module's docstring).

        Re-importing an external id updates it (or leaves it alone when nothing changed). Revoked
        entries stay revoked: an appeal's outcome is not undone by an old file. With bad rows and no
        `skip_invalid` (or with bad rows only), nothing is written and the report lists each bad row's
        line and reason. An id
        given twice in one file is a bad row (naming the line it was first given on): with
        `skip_invalid`, its first row is imported and the repeats are left out, as reported.
        Conflict if another import into the list is running, or holds an id this one adds.
        """
        report = ImportReport(list_name)
        list_id = self.get_list(list_name).id  # NotFound before reading a big file for nothing
        with _Staging() as staged:
            for batch in _batches(rows, BATCH):
                staged.add(batch, report)
            if report.invalid and (not skip_invalid or not staged.count):
                return report  # skip_invalid imports the good rows of a file with bad ones; with none, nothing
            self._reap(list_id)
            if staged.count <= BATCH:
                self._apply_at_once(list_name, staged, report, actor, source)
            else:
                self._apply_in_chunks(list_name, list_id, staged, report, actor, source)
        return report

    def _import_details(self, report: ImportReport, source: str | None) -> dict[str, object]:
        return {
            "source": source, "added": report.added, "updated": report.updated,
            "unchanged": report.unchanged, "revoked_kept": report.revoked_kept, "invalid": report.invalid,
            "rows_with_hashes_left_out": report.rows_with_warnings,
        }

    def _apply_at_once(self, list_name: str, staged: _Staging, report: ImportReport, actor: str,
                       source: str | None) -> None:
        try:
            with self.engine.begin() as conn:
                list_row = self._list_row(conn, list_name)
                seq = self._next_seq(conn)
                for records in staged.batches():
                    self._write_batch(conn, list_row.id, records, seq, actor, report)
                self._audit(conn, seq, actor, "entries.import", self._import_details(report, source),
                            list_id=list_row.id, list_name=list_name)
        except IntegrityError:
            report.added = report.updated = report.unchanged = report.revoked_kept = 0
            raise Conflict(f"an import into {list_name!r} that is still running is adding one of these ids; "
                           "nothing was imported: retry when it has finished") from None
        report.committed, report.seq = True, seq

    def _apply_in_chunks(self, list_name: str, list_id: int, staged: _Staging, report: ImportReport, actor: str,
                         source: str | None) -> None:
        import_id = self._begin_import(list_name, list_id, actor)
        try:
            with tempfile.TemporaryFile() as changes:
                analyzed_at = 0
                paced = self.engine.dialect.name == "sqlite"
                last_pause = time.monotonic()
                batches = staged.batches()
                pending = next(batches, None)
                while pending is not None:
                    if paced and time.monotonic() - last_pause >= SQLITE_YIELD_EVERY:
                        time.sleep(SQLITE_YIELD_PAUSE)
                        last_pause = time.monotonic()
                    with self.engine.begin() as conn:
                        seq = self._next_seq(conn)  # the writer lock, for this slice only
                        began = time.monotonic()
                        while True:  # at least one batch per slice
                            self._write_batch(conn, list_id, pending, seq, actor, report, import_id=import_id,
                                              changes=changes)
                            if time.monotonic() - began >= WRITE_SLICE_SECONDS:
                                break
                            pending = next(batches, None)
                            if pending is None:
                                break
                        conn.execute(update(imports).where(imports.c.id == import_id).values(heartbeat_at=utc_now()))
                    if pending is not None:  # the slice ended on time: read on outside the transaction
                        pending = next(batches, None)
                    with self.engine.begin() as conn:  # after the slice: ANALYZE must not hold the writer lock
                        analyzed_at = _refresh_statistics(conn, report.added, analyzed_at)
                with self.engine.begin() as conn:
                    now_row = self._list_row(conn, list_name, missing_ok=True)
                    if now_row is None or now_row.id != list_id:
                        raise NotFound(f"the list {list_name!r} was deleted while the import ran; nothing was imported")
                    state = conn.execute(select(imports.c.state).where(imports.c.id == import_id)).scalar_one()
                    if state != "running":
                        raise Conflict("the import was given up as stale by another import; nothing was imported")
                    seq = self._next_seq(conn)
                    self._apply_changes(conn, changes, seq, actor, report)
                    conn.execute(update(imports).where(imports.c.id == import_id)
                                 .values(state="applied", applied_seq=seq, heartbeat_at=utc_now()))
                    self._audit(conn, seq, actor, "entries.import", self._import_details(report, source),
                                list_id=list_id, list_name=list_name)
        except BaseException:
            report.added = report.updated = report.unchanged = report.revoked_kept = 0
            self._discard_import(import_id)
            raise
        report.committed, report.seq = True, seq

    def _begin_import(self, list_name: str, list_id: int, actor: str) -> int:
        """Open a chunked import: Conflict if another one into this list is running."""
        with self.engine.begin() as conn:
            self._next_seq(conn)  # the writer lock: no other import can open meanwhile
            if self._list_row(conn, list_name).id != list_id:
                raise NotFound(f"no list named {list_name!r}")
            running = conn.execute(
                select(imports.c.started_at).where(imports.c.list_id == list_id, imports.c.state == "running")
            ).first()
            if running is not None:
                raise Conflict(f"an import into {list_name!r} is running (started {as_utc(running.started_at)}); "
                               "retry when it has finished")
            now = utc_now()
            return int(conn.execute(
                insert(imports).values(list_id=list_id, actor=actor, started_at=now, heartbeat_at=now, state="running")
                .returning(imports.c.id)
            ).scalar_one())

    def _reap(self, list_id: int) -> None:
        """Give up this list's imports whose process died (silent for IMPORT_STALE) and delete the hidden
        rows of given-up imports, a batch per transaction, so that they never block a new import."""
        stale = utc_now() - IMPORT_STALE
        with self.engine.begin() as conn:
            conn.execute(update(imports).where(imports.c.list_id == list_id, imports.c.state == "running",
                                               imports.c.heartbeat_at < stale).values(state="failed"))
            failed = conn.execute(select(imports.c.id).where(imports.c.list_id == list_id,
                                                             imports.c.state == "failed")).scalars().all()
        for import_id in failed:
            self._purge_import(import_id)

    def _discard_import(self, import_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(imports).where(imports.c.id == import_id, imports.c.applied_seq.is_(None))
                         .values(state="failed"))
        self._purge_import(import_id)

    def _purge_import(self, import_id: int) -> None:
        while True:
            with self.engine.begin() as conn:
                ids = conn.execute(select(entries.c.id).where(entries.c.import_id == import_id).limit(BATCH)).scalars().all()
                if not ids:
                    conn.execute(update(imports).where(imports.c.id == import_id).values(state="discarded"))
                    return
                conn.execute(entry_signals.delete().where(entry_signals.c.entry_id.in_(ids)))
                conn.execute(entries.delete().where(entries.c.id.in_(ids)))

    def _apply_changes(self, conn: Connection, changes: Any, seq: int, actor: str, report: ImportReport) -> None:
        """Apply changes to existing entries kept aside by a chunked import, except to entries revoked
        since (a revocation is never undone by an import)."""
        changes.seek(0)
        while True:
            try:
                pairs: list[tuple[int, EntryRecord]] = pickle.load(changes)  # our own file, written above
            except EOFError:
                return
            live = set(conn.execute(select(entries.c.id).where(
                entries.c.id.in_([eid for eid, _ in pairs]), entries.c.revoked_at.is_(None))).scalars())
            kept = [(eid, r) for eid, r in pairs if eid in live]
            report.revoked_kept += len(pairs) - len(kept)
            self._update_entries(conn, kept, seq, actor)
            report.updated += len(kept)

    def _write_batch(
        self, conn: Connection, list_id: int, records: list[EntryRecord], seq: int, actor: str, report: ImportReport,
        *, import_id: int | None = None, changes: Any = None,
    ) -> None:
        """New entries are inserted (hidden, with `import_id`); changes to existing ones are made now,
        or with `changes` (a file) pickled there for `_apply_changes`."""
        by_id = {r.external_id: r for r in records}  # staging has refused repeated ids
        existing = {
            r.external_id: r
            for r in conn.execute(_EXISTING, {"list_id": list_id, "ids": list(by_id)})
        }
        stored = self._records_for(conn, [r.id for r in existing.values()], existing)
        now = utc_now()
        new_rows, changed = [], []
        for ext, record in by_id.items():
            old = existing.get(ext)
            if old is None:
                new_rows.append(record)
            elif old.revoked_at is not None:
                report.revoked_kept += 1
            elif stored.get(old.id) == record:
                report.unchanged += 1
            else:
                changed.append((old.id, record))
        if new_rows:
            first = int(conn.execute(select(func.coalesce(func.max(entries.c.id), 0))).scalar_one()) + 1
            ids = range(first, first + len(new_rows))
            when, who = _bound(conn, entries.c.added_at, now), actor
            _insert_many(
                conn, entries,
                ("id", "list_id", "external_id", "kind", "labels", "added_at", "added_by", "updated_at", "updated_by",
                 "seq", "import_id"),
                [(i, list_id, r.external_id, r.kind, _labels_json(r.labels), when, who, when, who, seq, import_id)
                 for i, r in zip(ids, new_rows, strict=True)],
            )
            self._insert_signals(conn, zip(ids, new_rows, strict=True))
            report.added += len(new_rows)
        if changed and changes is not None:
            pickle.dump(changed, changes, protocol=pickle.HIGHEST_PROTOCOL)
        elif changed:
            self._update_entries(conn, changed, seq, actor)
            report.updated += len(changed)

    def _update_entries(self, conn: Connection, changed: list[tuple[int, EntryRecord]], seq: int, actor: str) -> None:
        if not changed:
            return
        conn.execute(
            update(entries)
            .where(entries.c.id == bindparam("eid"))
            .values(kind=bindparam("kind"), labels=bindparam("labels"), updated_at=utc_now(), updated_by=actor, seq=seq),
            [{"eid": eid, "kind": r.kind, "labels": list(r.labels)} for eid, r in changed],
        )
        conn.execute(entry_signals.delete().where(entry_signals.c.entry_id.in_([eid for eid, _ in changed])))
        self._insert_signals(conn, changed)

    @staticmethod
    def _insert_signals(conn: Connection, pairs: Iterable[tuple[int, EntryRecord]]) -> None:
        rows = []
        for entry_id, record in pairs:
            quality = record.qualities.get
            rows += [(entry_id, pos, name, value, quality(name), None)
                     for pos, (name, value) in enumerate(record.signals.items())]
            if record.frames:
                start = len(record.signals)
                rows += [(entry_id, start + i, "pdq", f.pdq, f.quality, f.t) for i, f in enumerate(record.frames)]
            if record.variants:
                start = len(record.signals) + len(record.frames)
                rows += [(entry_id, start + i, VARIANT, v, None, None) for i, v in enumerate(record.variants)]
            # A listed frame's enrollment variants: pdq_variant rows at the frame's time, after
            # everything else, in frame order then variant order (their position names them).
            start = len(record.signals) + len(record.frames) + len(record.variants)
            for f in record.frames:
                rows += [(entry_id, start + i, VARIANT, v, None, f.t) for i, v in enumerate(f.variants)]
                start += len(f.variants)
        _insert_many(conn, entry_signals, ("entry_id", "pos", "signal", "value", "quality", "time_s"), rows)

    @staticmethod
    def _records_for(conn: Connection, entry_ids: list[int], heads: Mapping[str, Any]) -> dict[int, EntryRecord]:
        """Rebuild EntryRecords of stored entries (to tell an unchanged re-import from an update)."""
        if not entry_ids:
            return {}
        signals: dict[int, list[Any]] = {i: [] for i in entry_ids}
        for row in conn.execute(select(entry_signals).where(entry_signals.c.entry_id.in_(entry_ids))):
            signals[row.entry_id].append(row)
        return {head.id: _record(head, signals[head.id]) for head in heads.values()}

    def revoke(self, list_name: str, external_id: str, *, actor: str, reason: str) -> EntryInfo:
        """Stop an entry matching, at once, keeping it for the record (who, when, why)."""
        if not reason.strip():
            raise InvalidList("a revocation needs a reason")
        with self.engine.begin() as conn:
            list_row = self._list_row(conn, list_name)
            head = self._entry_head(conn, list_row.id, external_id)
            if head.revoked_at is not None:
                raise Conflict(f"entry {external_id!r} in {list_name!r} was already revoked at "
                               f"{as_utc(head.revoked_at).isoformat()}")
            seq = self._next_seq(conn)
            conn.execute(
                update(entries).where(entries.c.id == head.id)
                .values(revoked_at=utc_now(), revoked_by=actor, revoke_reason=reason, seq=seq)
            )
            self._audit(conn, seq, actor, "entry.revoke", {"reason": reason}, list_id=list_row.id,
                        list_name=list_name, entry_id=head.id, external_id=external_id)
            return self._info(conn, self._entry_head(conn, list_row.id, external_id), list_name)

    def get_entry(self, list_name: str, external_id: str) -> EntryInfo:
        with self.engine.connect() as conn:
            list_row = self._list_row(conn, list_name)
            return self._info(conn, self._entry_head(conn, list_row.id, external_id), list_name)

    def entries_by_id(self, entry_ids: Iterable[int]) -> dict[int, EntryInfo]:
        """Entries by their store ids (for match results), whatever list they are in."""
        ids = sorted(set(entry_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            heads = conn.execute(
                select(entries, hash_lists.c.name.label("list_name"))
                .join(hash_lists, hash_lists.c.id == entries.c.list_id)
                .where(entries.c.id.in_(ids))
            ).all()
            records = self._records_for(conn, [h.id for h in heads], {h.id: h for h in heads})
        return {h.id: _info_from(h, records[h.id], h.list_name) for h in heads}

    def iter_entries(self, list_name: str, *, include_revoked: bool = False, after: int = 0) -> Iterator[EntryInfo]:
        """Entries of a list in id order (those with ids above `after`, for pages), streamed in batches
        (bounded memory for any list size)."""
        with self.engine.connect() as conn:
            list_row = self._list_row(conn, list_name)
        last = after
        while True:
            with self.engine.connect() as conn:
                query = select(entries).where(entries.c.list_id == list_row.id, entries.c.id > last, VISIBLE)
                if not include_revoked:
                    query = query.where(entries.c.revoked_at.is_(None))
                heads = conn.execute(query.order_by(entries.c.id).limit(BATCH)).all()
                if not heads:
                    return
                records = self._records_for(conn, [h.id for h in heads], {h.id: h for h in heads})
            for head in heads:
                yield _info_from(head, records[head.id], list_name)
            last = heads[-1].id

    def _entry_head(self, conn: Connection, list_id: int, external_id: str) -> Any:
        head = None
        if could_be_external_id(external_id):  # else no entry has it (and NUL would upset PostgreSQL)
            head = conn.execute(
                select(entries).where(entries.c.list_id == list_id, entries.c.external_id == external_id, VISIBLE)
            ).one_or_none()
        if head is None:
            raise NotFound(f"no entry {external_id!r} in this list")
        return head

    def _info(self, conn: Connection, head: Any, list_name: str) -> EntryInfo:
        record = self._records_for(conn, [head.id], {head.id: head})[head.id]
        return _info_from(head, record, list_name)

    # -- for the HTTP service: changes outside lists and entries, and who may read a list -----------

    def audit_change(self, conn: Connection, actor: str, action: str, details: Mapping[str, Any], **where: Any) -> None:
        """Append an audit record inside the caller's transaction (keys, webhooks, list access). These
        changes leave the index alone, so the record takes the current seq rather than a new one."""
        seq = int(conn.execute(select(store_state.c.seq)).scalar_one())
        self._audit(conn, seq, actor, action, details, **where)

    def set_matcher_access(self, name: str, allowed: bool, *, actor: str) -> bool:
        """Let platforms (the matcher role) read and export this list's hashes, or stop them."""
        with self.engine.begin() as conn:
            row = self._list_row(conn, name)
            before = conn.execute(
                select(matcher_access.c.allowed).where(matcher_access.c.list_id == row.id)
            ).scalar_one_or_none()
            if bool(before) == allowed:
                return allowed
            values = {"allowed": allowed, "updated_at": utc_now(), "updated_by": actor}
            if before is None:
                conn.execute(insert(matcher_access).values(list_id=row.id, **values))
            else:
                conn.execute(update(matcher_access).where(matcher_access.c.list_id == row.id).values(**values))
            self.audit_change(conn, actor, "list.matcher_access", {"before": bool(before), "after": allowed},
                              list_id=row.id, list_name=name)
        return allowed

    def matcher_access(self, list_id: int) -> bool:
        with self.engine.connect() as conn:
            allowed = conn.execute(
                select(matcher_access.c.allowed).where(matcher_access.c.list_id == list_id)
            ).scalar_one_or_none()
        return bool(allowed)

    # -- what the index reads ------------------------------------------------------------------

    # An entry's seq, as the index sees it, is the seq of the last change that made it what it is:
    # its own `seq`, or, for an entry added by a staged import and unchanged since, the import's
    # `applied_seq` (its own seq is then that of the batch that wrote it, hidden at the time). Each
    # query below comes in two parts, one per case, so that both can use an index on the seq.

    def changes_since(self, seq: int, until_seq: int | None = None) -> list[EntryChange]:
        """Entries changed (added, updated, revoked) in (seq, until_seq]."""
        revoked = entries.c.revoked_at.is_not(None).label("revoked")
        own, applied = self._seq_parts(
            select(entries.c.id, entries.c.seq.label("eff"), revoked),
            select(entries.c.id, imports.c.applied_seq.label("eff"), revoked), seq, until_seq)
        with self.engine.connect() as conn:
            rows = conn.execute(own).all() + conn.execute(applied).all()
        return [EntryChange(r.id, int(r.eff), bool(r.revoked)) for r in rows]

    @staticmethod
    def _seq_parts(own: Any, applied: Any, since: int, until: int | None, base: Any = entries) -> tuple[Any, Any]:
        """(changes by the entry's own seq, entries shown by an import applied) in (since, until]."""
        own = own.select_from(base.outerjoin(imports, imports.c.id == entries.c.import_id)).where(
            entries.c.seq > since,
            or_(entries.c.import_id.is_(None), entries.c.seq > imports.c.applied_seq),  # NULL while hidden
        )
        applied = applied.select_from(base.join(imports, imports.c.id == entries.c.import_id)).where(
            imports.c.applied_seq > since, entries.c.seq < imports.c.applied_seq
        )
        if until is not None:
            own = own.where(entries.c.seq <= until)
            applied = applied.where(imports.c.applied_seq <= until)
        return own, applied

    def signal_rows(
        self, since_seq: int = 0, until_seq: int | None = None, *, batch: int = 100_000
    ) -> Iterator[list[SignalRow]]:
        """Hashes of live entries (not revoked, list not deleted) changed in (since_seq, until_seq]."""
        columns = (entry_signals.c.entry_id, entries.c.list_id, entry_signals.c.signal, entry_signals.c.value,
                   entry_signals.c.time_s)
        base = entry_signals.join(entries, entries.c.id == entry_signals.c.entry_id).join(
            hash_lists, hash_lists.c.id == entries.c.list_id)
        parts = self._seq_parts(select(*columns, entries.c.seq.label("eff")),
                                select(*columns, imports.c.applied_seq.label("eff")), since_seq, until_seq, base)
        with self.engine.connect() as conn:
            for query in parts:
                query = query.where(entries.c.revoked_at.is_(None), hash_lists.c.deleted_at.is_(None)).order_by(
                    entry_signals.c.entry_id, entry_signals.c.pos)
                result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
                for part in result.partitions(batch):
                    yield [SignalRow(r.entry_id, r.list_id, int(r.eff), r.signal, r.value, r.time_s) for r in part]

    def audit(
        self, *, list_name: str | None = None, since_id: int = 0, limit: int = 100, list_ids: Iterable[int] | None = None
    ) -> list[dict[str, object]]:
        """Audit records after `since_id`, oldest first; only those of `list_name`, and of the lists
        `list_ids` (a curator's own), when given."""
        query = select(audit_log).where(audit_log.c.id > since_id).order_by(audit_log.c.id).limit(limit)
        if list_name is not None:
            if not is_list_name(list_name):
                return []
            query = query.where(audit_log.c.list_name == list_name)
        if list_ids is not None:
            query = query.where(audit_log.c.list_id.in_(list(list_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {"id": r.id, "at": as_utc(r.at).isoformat(), "actor": r.actor, "action": r.action, "list": r.list_name,
             "entry_id": r.entry_id, "external_id": r.external_id, "seq": r.seq, "details": r.details}
            for r in rows
        ]


@lru_cache(maxsize=4096)
def _labels_json(labels: tuple[str, ...]) -> str:
    # Most rows of a file share their labels (often none): encode each distinct tuple once.
    return json.dumps(list(labels))


def _refresh_statistics(conn: Connection, added: int, analyzed_at: int) -> int:
    """PostgreSQL plans from statistics that know nothing of rows an import has just added, and would
    then filter every batch's existing-id lookup row by row (quadratic: measured 700 rows/s at 100k
    rows). ANALYZE (inside a one-transaction import, it counts its own rows; a chunked import runs it
    between its batches) each time the import has doubled keeps plans right at O(log n) cost."""
    if conn.dialect.name != "postgresql" or added < max(2 * analyzed_at, BATCH):
        return analyzed_at
    conn.exec_driver_sql("ANALYZE entries")
    conn.exec_driver_sql("ANALYZE entry_signals")
    return added


def _bound(conn: Connection, column: Any, value: Any) -> Any:
    """A value as the column's type would send it to this database (done once, reused per row)."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process else value


_ROWS_PER_STATEMENT = 100


def _insert_many(conn: Connection, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Plain DB-API inserts, 100 rows per statement: bulk imports skip SQLAlchemy's per-row parameter
    processing and most of the database's per-statement work."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    one = f"({', '.join([mark] * len(columns))})"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    full, rest = divmod(len(rows), _ROWS_PER_STATEMENT)
    if full:
        many = head + ", ".join([one] * _ROWS_PER_STATEMENT)
        groups = [
            tuple(chain.from_iterable(rows[i : i + _ROWS_PER_STATEMENT]))
            for i in range(0, full * _ROWS_PER_STATEMENT, _ROWS_PER_STATEMENT)
        ]
        conn.exec_driver_sql(many, groups)
    if rest:
        conn.exec_driver_sql(head + ", ".join([one] * rest), tuple(chain.from_iterable(rows[-rest:])))


class _Staging:
    """An import's first phase: rows validated, repeated ids found, the good records kept in a temporary
    file, all before the store is touched. Memory stays bounded whatever the file's size: records are
    pickled to the file a batch at a time, and the ids seen so far go to a private SQLite file."""

    def __enter__(self) -> _Staging:
        self.file = tempfile.TemporaryFile()
        self._folder = tempfile.TemporaryDirectory(prefix="takedown-import-")
        self._ids = sqlite3.connect(os.path.join(self._folder.name, "ids.db"))
        self._ids.execute("PRAGMA journal_mode=OFF")
        self._ids.execute("PRAGMA synchronous=OFF")
        self._ids.execute("CREATE TABLE ids (external_id TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")
        self.count = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._ids.close()
        self._folder.cleanup()
        self.file.close()

    def add(self, batch: list[RowResult], report: ImportReport) -> None:
        good = [row for row in batch if row.error is None and row.record is not None]
        for row in batch:
            if row.error is not None or row.record is None:
                report.refuse(row.line, row.error or "no record")
        names = [row.record.external_id for row in good]  # type: ignore[union-attr]
        marks = ",".join("?" * len(names))
        seen = dict(self._ids.execute(f"SELECT external_id, line FROM ids WHERE external_id IN ({marks})", names)) \
            if names else {}
        kept = []
        for row in good:
            name = row.record.external_id  # type: ignore[union-attr]
            if name in seen:
                report.refuse(row.line, f"id {name[:80]!r} is also given on line {seen[name]}: "
                                        "an id may appear only once in a file")
                continue
            seen[name] = row.line
            kept.append(row)
            if row.warnings:
                report.left_out(row.line, row.warnings)
        if kept:
            self._ids.executemany("INSERT INTO ids VALUES (?, ?)", [(r.record.external_id, r.line) for r in kept])  # type: ignore[union-attr]
            pickle.dump([r.record for r in kept], self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.count += len(kept)

    def batches(self) -> Iterator[list[EntryRecord]]:
        self.file.seek(0)
        while True:
            try:
                yield pickle.load(self.file)  # our own file, written by add()
            except EOFError:
                return


def _batches(rows: Iterable[RowResult], size: int) -> Iterator[list[RowResult]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _record(head: Any, signal_rows: list[Any]) -> EntryRecord:
    signals, qualities, frames, variants = {}, {}, [], []
    frame_variants: dict[float, list[tuple[int, str]]] = {}
    for row in signal_rows:
        if row.time_s is not None:
            if row.signal == VARIANT:
                frame_variants.setdefault(float(row.time_s), []).append((row.pos, row.value))
            else:
                frames.append(FrameHash(t=float(row.time_s), pdq=row.value, quality=row.quality))
            continue
        if row.signal == VARIANT:
            variants.append((row.pos, row.value))  # their position names them: keep the order
            continue
        signals[row.signal] = row.value
        if row.quality is not None:
            qualities[row.signal] = int(row.quality)
    frames.sort(key=lambda f: f.t)
    if frame_variants:
        frames = [f._replace(variants=tuple(v for _, v in sorted(frame_variants.get(f.t, ())))) for f in frames]
    labels = head.labels if isinstance(head.labels, list) else json.loads(head.labels or "[]")
    return EntryRecord(
        external_id=head.external_id, signals=signals, qualities=qualities,
        labels=tuple(labels), kind=head.kind, frames=tuple(frames),
        variants=tuple(v for _, v in sorted(variants)),
    )


def _info_from(head: Any, record: EntryRecord, list_name: str) -> EntryInfo:
    return EntryInfo(
        id=head.id, list_id=head.list_id, list_name=list_name, record=record,
        added_at=as_utc(head.added_at), added_by=head.added_by, revoked_at=as_utc(head.revoked_at),
        revoked_by=head.revoked_by, revoke_reason=head.revoke_reason,
    )


def content_digest(data: bytes) -> str:
    """SHA-256 of an imported file, for the audit record of where entries came from."""
    return hashlib.sha256(data).hexdigest()
