"""The audit trail as a hash chain: each row carries the SHA-256 of its own fields and of the row before
it, so that a row altered, deleted, inserted or moved by someone with database access shows.

- `append` writes one audit row inside the caller's transaction. It first takes the chain head (one row
  of `audit_chain_head`: rows so far, last id, last hash) with an UPDATE, which holds the row lock on
  PostgreSQL and SQLite's single writer lock until commit, so appends from any number of processes form
  one chain; the new row's id is drawn after that lock, so ids grow in chain order.
- `row_hash` is the SHA-256 of a canonical JSON serialisation (sorted keys, no spaces, ASCII) of the
  row's fields (id, at in UTC with microseconds, actor, action, list id and name, entry id, external
  id, seq, details) and the previous row's hash (64 zeros for the first row).
- `verify` walks the rows in id order, in pages (memory stays bounded), and names the first row whose
  hash does not match its fields (altered), that does not follow the row before it (a row deleted
  before it, inserted, or moved), or where the chain ends short of the head (rows cut from the end).

What the chain can and cannot show. Without a secret, anyone who can write the database and knows
this file can rewrite the rows after a change *and* the head, leaving a chain that verifies. The head
catches the careless cases (UPDATE, DELETE, INSERT OR REPLACE, TRUNCATE, rows cut from the end while
the head stays); a rewrite of the chain from some row on, or a cut tail with the head rolled back,
shows only against an anchor kept outside the database: the (rows, hash) pair `verify` prints, given
back later as `--anchor` (the chain must still hold that hash at that position, which fixes every
row before it). Rows appended after the last anchor rest on the head alone.

Never: change or remove a stored row (the triggers forbid it anyway); hash anything but what is stored
(details go through JSON first, as the column keeps them); hold more than a page of rows in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from index.db import as_utc, utc_now
from index.schema import audit_chain_head, audit_log

GENESIS = "0" * 64
PAGE = 1000
_RECENT = 10_000  # hashes remembered to tell an inserted or moved row from a deleted one


def canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes a row's hash covers: its fields and the previous row's hash, as canonical JSON."""
    at = as_utc(fields["at"])
    body = {
        "v": 1,
        "prev": prev_hash,
        "id": int(fields["id"]),
        "at": at.isoformat(timespec="microseconds") if at else None,
        "actor": fields["actor"],
        "action": fields["action"],
        "list_id": fields.get("list_id"),
        "list_name": fields.get("list_name"),
        "entry_id": fields.get("entry_id"),
        "external_id": fields.get("external_id"),
        "seq": int(fields["seq"]),
        "details": fields["details"],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def row_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def append(conn: Connection, *, seq: int, actor: str, action: str, details: Mapping[str, Any], **where: Any) -> int:
    """Append one audit row, chained to the last one, inside the caller's transaction; return its id."""
    # The lock first: every read below then sees the last committed append.
    conn.execute(update(audit_chain_head).where(audit_chain_head.c.id == 1)
                 .values(rows=audit_chain_head.c.rows))
    head = conn.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).one_or_none()
    if head is None:
        raise RuntimeError("the audit chain head is missing: the store was not migrated, or it was tampered with")
    fields = {
        "id": _next_id(conn),
        "at": utc_now(),
        "actor": actor,
        "action": action,
        "seq": seq,
        # What the JSON column will give back (tuples become lists, keys strings): hash that.
        "details": json.loads(json.dumps(dict(details))),
        **where,
    }
    digest = row_hash(fields, head.last_hash)
    conn.execute(insert(audit_log).values(**fields, prev_hash=head.last_hash, row_hash=digest))
    conn.execute(update(audit_chain_head).where(audit_chain_head.c.id == 1)
                 .values(rows=head.rows + 1, last_id=fields["id"], last_hash=digest))
    return int(fields["id"])


def _next_id(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        # Keep the column's own sequence in step, so its default never hands out a used id.
        return int(conn.execute(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")).scalar_one())
    return int(conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar_one()) + 1


@dataclass(frozen=True)
class Verdict:
    """What `verify` found. `ok`: the chain is whole. `broken_id`: the first row found wrong (None
    when the fault is the chain's end or the head). `rows`, `head_hash`: how far it was checked,
    the anchor to keep for later."""

    ok: bool
    rows: int
    head_hash: str
    last_id: int | None
    broken_id: int | None = None
    problem: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "rows": self.rows, "head_hash": self.head_hash, "last_id": self.last_id,
                "broken_id": self.broken_id, "problem": self.problem or None}


@dataclass(frozen=True)
class Anchor:
    """A (rows, hash) pair printed by an earlier `verify`: the chain's hash after that many rows."""

    rows: int
    hash: str

    @classmethod
    def parse(cls, text_: str) -> Anchor:
        count, sep, digest = text_.partition(":")
        digest = digest.strip().lower()
        if not sep or not count.strip().isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("an anchor is ROWS:HASH as `takedown audit verify` prints it, e.g. 42:3fa1...")
        return cls(int(count), digest)


def verify(engine: Engine, anchor: Anchor | None = None, *, max_rounds: int = 20) -> Verdict:
    """Walk the chain, then compare its end with the head; rows appended meanwhile are walked too."""
    walk = _Walk(anchor)
    with engine.connect() as conn:
        for _ in range(max_rounds):
            broken = walk.pages(conn)
            if broken is not None:
                return broken
            head = conn.execute(select(audit_chain_head).where(audit_chain_head.c.id == 1)).one_or_none()
            # A row and the head move in one transaction, so rows the head counts are visible by now.
            if head is not None and head.rows > walk.rows and _rows_after(conn, walk.last_id):
                conn.commit()
                continue
            extra = None
            if head is not None and walk.rows > head.rows:
                extra = conn.execute(select(func.min(audit_log.c.id))
                                     .where(audit_log.c.id > (head.last_id or 0))).scalar_one_or_none()
            conn.commit()
            return walk.finish(head, extra)
    return walk.verdict(None, f"rows kept being appended for {max_rounds} rounds; run again when writes pause")


def _rows_after(conn: Connection, last_id: int | None) -> bool:
    query = select(audit_log.c.id).limit(1)
    if last_id is not None:
        query = query.where(audit_log.c.id > last_id)
    return conn.execute(query).first() is not None


class _Walk:
    """The state of one pass over the rows in id order."""

    def __init__(self, anchor: Anchor | None) -> None:
        self.anchor = anchor
        self.rows = 0
        self.prev = GENESIS
        self.last_id: int | None = None
        self.recent: OrderedDict[str, int] = OrderedDict()  # hash -> id, the last _RECENT rows

    def pages(self, conn: Connection) -> Verdict | None:
        """Check every row after the last one checked; a verdict at the first broken row, else None."""
        while True:
            query = select(audit_log).order_by(audit_log.c.id).limit(PAGE)
            if self.last_id is not None:
                query = query.where(audit_log.c.id > self.last_id)
            page = conn.execute(query).all()
            for row in page:
                problem = self.check(row)
                if problem:
                    return self.verdict(row.id, problem)
            if len(page) < PAGE:
                return None

    def check(self, row: Any) -> str:
        fields = row._mapping
        if row.row_hash is None or row.prev_hash is None:
            return f"row {row.id} has no hash: it was inserted outside the store"
        if row.prev_hash != self.prev:
            where = self.recent.get(row.prev_hash)
            if row.prev_hash == GENESIS or where is not None:
                after = "the start" if row.prev_hash == GENESIS else f"row {where}"
                return (f"row {row.id} follows {after}, not row {self.last_id}: rows were inserted before it, "
                        f"or the rows were reordered")
            before = f"row {self.last_id}" if self.last_id is not None else "the start"
            return (f"row {row.id} does not follow {before}: a row between them was deleted "
                    f"(or its link was altered)")
        if row_hash(fields, row.prev_hash) != row.row_hash:
            return f"row {row.id} was altered: its contents do not match its hash"
        self.rows += 1
        self.prev, self.last_id = row.row_hash, int(row.id)
        self.recent[row.row_hash] = int(row.id)
        if len(self.recent) > _RECENT:
            self.recent.popitem(last=False)
        if self.anchor is not None and self.rows == self.anchor.rows and self.prev != self.anchor.hash:
            return (f"row {row.id} is row {self.rows} of the chain, where the anchor says the hash was "
                    f"{self.anchor.hash[:16]}...: this row or one before it was rewritten since the anchor was taken")
        return ""

    def finish(self, head: Any, extra: int | None) -> Verdict:
        """The verdict once every row is checked: does the chain end where its head says? `extra`: the
        first row past the head's last one, when the chain is longer than the head says."""
        if head is None:
            return self.verdict(None, "the chain head row is missing (deleted, or the store was not migrated)")
        if head.rows > self.rows:
            return self.verdict(None, f"the chain ends after {self.rows} rows (at row {self.last_id}) but its head "
                                      f"records {head.rows} rows ending at row {head.last_id}: the last "
                                      f"{head.rows - self.rows} rows were cut from the end (or the head was altered)")
        if head.rows < self.rows:
            return self.verdict(extra, f"row {extra} and the rows after it are not in the chain's head (which "
                                       f"records {head.rows} rows ending at row {head.last_id}): they were added "
                                       f"outside the store, or the head was rolled back")
        if (head.rows, head.last_id, head.last_hash) != (self.rows, self.last_id, self.prev):
            return self.verdict(None, f"the head records {head.rows} rows ending at row {head.last_id}, the chain "
                                      f"has {self.rows} ending at row {self.last_id}: the head was altered, or rows "
                                      f"were cut from the end and the head rolled back")
        if self.anchor is not None and self.anchor.rows > self.rows:
            return self.verdict(None, f"the anchor is at row {self.anchor.rows} of the chain but it has only "
                                      f"{self.rows}: rows were cut from the end and the head rolled back")
        return self.verdict(None, "")

    def verdict(self, broken_id: int | None, problem: str) -> Verdict:
        return Verdict(ok=not problem, rows=self.rows, head_hash=self.prev, last_id=self.last_id,
                       broken_id=broken_id, problem=problem)

