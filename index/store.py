"""The durable hash-list store: lists, entries and their signals, the audit trail, change tracking.

Every write runs in one transaction that (1) bumps `store_state.seq`, which also serialises writers on
PostgreSQL, (2) stamps that seq on every entry it changes, and (3) appends its audit record. A failed
or refused write leaves nothing behind. Imports stream: rows are validated and written in batches, and
an import with bad rows is rolled back whole unless `skip_invalid` is set.

Knows nothing of HTTP or of the in-memory index; the index reads `changes_since` to follow it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from index import db
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
from index.validate import could_be_external_id
from index.schema import audit_log, entries, entry_signals, hash_lists, matcher_access, store_state
from matcher.augment import PdqVariant

BATCH = 2000
VARIANT = PdqVariant.name  # entry_signals rows of an image's enrollment variants, in VARIANTS order
MAX_REPORTED_ERRORS = 1000

# Which of a batch's external ids the list already has (one compiled statement, reused per batch).
_EXISTING = select(entries.c.id, entries.c.external_id, entries.c.kind, entries.c.labels, entries.c.revoked_at).where(
    entries.c.list_id == bindparam("list_id"), entries.c.external_id.in_(bindparam("ids", expanding=True))
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
        conn.execute(
            insert(audit_log).values(at=utc_now(), actor=actor, action=action, seq=seq, details=dict(details), **where)
        )

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
            select(func.count(), func.count(entries.c.revoked_at)).where(entries.c.list_id == list_id)
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
        """Add or update entries from parsed rows, streaming, in one transaction.

        Re-importing an external id updates it (or leaves it alone when nothing changed). Revoked
        entries stay revoked: an appeal's outcome is not undone by an old file. With bad rows and no
        `skip_invalid`, nothing is written and the report lists each bad row's line and reason.
        """
        report = ImportReport(list_name)
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                list_row = self._list_row(conn, list_name)
                seq = self._next_seq(conn)
                analyzed_at = 0
                writing = True
                for batch in _batches(rows, BATCH):
                    valid = []
                    for row in batch:
                        if row.error is not None or row.record is None:
                            report.invalid += 1
                            if len(report.errors) < MAX_REPORTED_ERRORS:
                                report.errors.append((row.line, row.error or "no record"))
                        else:
                            valid.append(row.record)
                            if row.warnings:
                                report.rows_with_warnings += 1
                                if len(report.warnings) < MAX_REPORTED_ERRORS:
                                    report.warnings += [(row.line, w) for w in row.warnings]
                    if report.invalid and not skip_invalid:
                        writing = False  # keep reading to report every bad row, write nothing more
                    if writing and valid:
                        self._write_batch(conn, list_row.id, valid, seq, actor, report)
                        analyzed_at = _refresh_statistics(conn, report.added, analyzed_at)
                if report.invalid and not skip_invalid:
                    transaction.rollback()
                    report.added = report.updated = report.unchanged = report.revoked_kept = 0
                    return report
                details = {
                    "source": source, "added": report.added, "updated": report.updated,
                    "unchanged": report.unchanged, "revoked_kept": report.revoked_kept, "invalid": report.invalid,
                    "rows_with_hashes_left_out": report.rows_with_warnings,
                }
                self._audit(conn, seq, actor, "entries.import", details, list_id=list_row.id, list_name=list_name)
                transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
        report.committed, report.seq = True, seq
        return report

    def _write_batch(
        self, conn: Connection, list_id: int, records: list[EntryRecord], seq: int, actor: str, report: ImportReport
    ) -> None:
        by_id = {r.external_id: r for r in records}  # a later row for the same id wins
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
                ("id", "list_id", "external_id", "kind", "labels", "added_at", "added_by", "updated_at", "updated_by", "seq"),
                [(i, list_id, r.external_id, r.kind, _labels_json(r.labels), when, who, when, who, seq)
                 for i, r in zip(ids, new_rows, strict=True)],
            )
            self._insert_signals(conn, zip(ids, new_rows, strict=True))
            report.added += len(new_rows)
        if changed:
            conn.execute(
                update(entries)
                .where(entries.c.id == bindparam("eid"))
                .values(kind=bindparam("kind"), labels=bindparam("labels"), updated_at=now, updated_by=actor, seq=seq),
                [{"eid": eid, "kind": r.kind, "labels": list(r.labels)} for eid, r in changed],
            )
            conn.execute(entry_signals.delete().where(entry_signals.c.entry_id.in_([eid for eid, _ in changed])))
            self._insert_signals(conn, changed)
            report.updated += len(changed)

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
                raise Conflict(f"entry {external_id!r} in {list_name!r} was already revoked at {head.revoked_at}")
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
                query = select(entries).where(entries.c.list_id == list_row.id, entries.c.id > last)
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
                select(entries).where(entries.c.list_id == list_id, entries.c.external_id == external_id)
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

    def changes_since(self, seq: int, until_seq: int | None = None) -> list[EntryChange]:
        """Entries changed (added, updated, revoked) in (seq, until_seq]."""
        query = select(entries.c.id, entries.c.seq, entries.c.revoked_at.is_not(None).label("revoked")).where(
            entries.c.seq > seq
        )
        if until_seq is not None:
            query = query.where(entries.c.seq <= until_seq)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [EntryChange(r.id, int(r.seq), bool(r.revoked)) for r in rows]

    def signal_rows(
        self, since_seq: int = 0, until_seq: int | None = None, *, batch: int = 100_000
    ) -> Iterator[list[SignalRow]]:
        """Hashes of live entries (not revoked, list not deleted) changed in (since_seq, until_seq]."""
        query = (
            select(entry_signals.c.entry_id, entries.c.list_id, entries.c.seq,
                   entry_signals.c.signal, entry_signals.c.value, entry_signals.c.time_s)
            .join(entries, entries.c.id == entry_signals.c.entry_id)
            .join(hash_lists, hash_lists.c.id == entries.c.list_id)
            .where(and_(entries.c.seq > since_seq, entries.c.revoked_at.is_(None), hash_lists.c.deleted_at.is_(None)))
            .order_by(entry_signals.c.entry_id, entry_signals.c.pos)
        )
        if until_seq is not None:
            query = query.where(entries.c.seq <= until_seq)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for part in result.partitions(batch):
                yield [SignalRow(r.entry_id, r.list_id, int(r.seq), r.signal, r.value, r.time_s) for r in part]

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
    """PostgreSQL plans from statistics that know nothing of rows added earlier in this transaction,
    and would then filter every batch's existing-id lookup row by row (quadratic: measured 700 rows/s
    at 100k rows). ANALYZE inside the transaction counts its own rows; doing it each time the import
    has doubled keeps plans right at O(log n) cost."""
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
