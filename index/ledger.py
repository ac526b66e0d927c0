"""The takedown loop's records: which entry matched which content, what the platform did about it, the
reports list owners read, and the webhook outbox that tells subscribers.

- `write_matches` stores logged matches (one per request and entry, with its evidence) and, in the
  same transaction, one outbox row per subscribed webhook (one `match` event per logged match);
  `add_outcome` does the same for an outcome. An event is thus never recorded without its
  deliveries, nor delivered without being recorded.
- `report` sums a list's matches per entry over a period: matches, distinct content refs, the latest
  outcome of each match, first and last seen.
- Webhooks: registration (audited through the store), and the outbox a delivery worker claims from
  (`claim_due`), records attempts in (`record_attempt`) and reschedules. Deleting a webhook cancels
  its pending deliveries in the same transaction; `still_wanted` is asked right before each send, and
  an attempt recorded after the deletion never makes its delivery pending again.

Knows nothing of HTTP and never holds media: a match is ids, a distance and the caller's content_ref.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from index.schema import (
    hash_lists,
    match_log,
    outcomes,
    webhook_attempts,
    webhook_deliveries,
    webhooks,
)
from index.db import as_utc, utc_now
from index.store import NotFound, Store

OUTCOMES = ("removed", "false_positive", "under_review")
EVENTS = ("match", "outcome")
SCOPES = ("all", "lists", "own")


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def new_match_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class LoggedMatch:
    """One matched entry of one request, as the match log keeps it: `signal`, `distance` and
    `relation` are those of the strongest item of `evidence` (all of them, strongest first)."""

    id: str
    at: datetime
    list_id: int
    entry_id: int
    external_id: str | None
    signal: str
    distance: int | None
    relation: str
    action: str | None
    content_ref: str | None
    api_key_id: int | None
    key_owner: str | None
    evidence: list[dict[str, object]] | None = None

    def to_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _match_dict(row: Any, list_name: str | None = None) -> dict[str, object]:
    return {
        "match_id": row.id, "at": _iso(row.at), "list_id": row.list_id, "list": list_name,
        "entry_id": row.entry_id, "external_id": row.external_id, "signal": row.signal, "distance": row.distance,
        "relation": row.relation, "action": row.action, "content_ref": row.content_ref,
        "api_key_id": row.api_key_id, "key_owner": row.key_owner, "evidence": row.evidence,
    }


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    secret: str
    events: tuple[str, ...]
    scope: str
    owner: str
    api_key_id: int | None
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, object]:
        """Without the secret: it is shown once, when the webhook is registered."""
        return {"id": self.id, "url": self.url, "events": list(self.events), "scope": self.scope,
                "owner": self.owner, "created_at": _iso(self.created_at), "created_by": self.created_by}

    def wants(self, event: str, list_owner: str | None, key_owner: str | None) -> bool:
        if event not in self.events:
            return False
        if self.scope == "all":
            return True
        if self.scope == "lists":
            return list_owner == self.owner
        return key_owner == self.owner


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    payload: dict[str, Any]
    attempts: int


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- matches and outcomes ------------------------------------------------------------------

    def write_matches(self, matches: Sequence[LoggedMatch]) -> int:
        """Store logged matches and their webhook deliveries, in one transaction."""
        if not matches:
            return 0
        with self.engine.begin() as conn:
            conn.execute(insert(match_log), [m.to_row() for m in matches])
            hooks = self._webhooks(conn, "match")
            if hooks:
                owners = self._list_owners(conn, {m.list_id for m in matches})
                names = self._list_names(conn, {m.list_id for m in matches})
                events = [
                    (h, {"event": "match", **_match_payload(m, names.get(m.list_id))})
                    for m in matches
                    for h in hooks
                    if h.wants("match", owners.get(m.list_id), m.key_owner)
                ]
                self._enqueue(conn, events)
        return len(matches)

    def get_match(self, match_id: str) -> dict[str, object]:
        with self.engine.connect() as conn:
            row = conn.execute(select(match_log).where(match_log.c.id == match_id)).one_or_none()
            if row is None:
                raise NotFound(f"no logged match {match_id!r}")
            name = self._list_names(conn, {row.list_id}).get(row.list_id)
            history = conn.execute(
                select(outcomes).where(outcomes.c.match_id == match_id).order_by(outcomes.c.id)
            ).all()
        return {**_match_dict(row, name), "outcomes": [_outcome_dict(o) for o in history]}

    def add_outcome(
        self, match_id: str, outcome: str, *, actor: str, api_key_id: int | None = None, note: str = ""
    ) -> dict[str, object]:
        """Record what the platform did about a logged match (the latest outcome counts in reports)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        with self.engine.begin() as conn:
            row = conn.execute(select(match_log).where(match_log.c.id == match_id)).one_or_none()
            if row is None:
                raise NotFound(f"no logged match {match_id!r}")
            at = utc_now()
            outcome_id = conn.execute(
                insert(outcomes)
                .values(match_id=match_id, outcome=outcome, note=note, at=at, api_key_id=api_key_id, actor=actor)
                .returning(outcomes.c.id)
            ).scalar_one()
            record = {"outcome_id": outcome_id, "match_id": match_id, "outcome": outcome, "note": note,
                      "at": at.isoformat(), "actor": actor}
            hooks = self._webhooks(conn, "outcome")
            if hooks:
                owner = self._list_owners(conn, {row.list_id}).get(row.list_id)
                name = self._list_names(conn, {row.list_id}).get(row.list_id)
                payload = {"event": "outcome", **record, "match": _match_payload(row, name)}
                self._enqueue(conn, [(h, payload) for h in hooks if h.wants("outcome", owner, row.key_owner)])
        return record

    # -- reports -------------------------------------------------------------------------------

    def report(self, list_id: int, since: datetime, until: datetime) -> dict[str, object]:
        """Per entry of the list, over [since, until): matches (one per request and entry), distinct
        content refs, latest outcome of each match by kind, first and last seen. Entries are ordered by
        matches, most first.

        A request's matches are logged one per entry; rows logged before that (one per signal) share
        their request's time, content ref and key, and count once."""
        in_period = (match_log.c.list_id == list_id) & (match_log.c.at >= since) & (match_log.c.at < until)
        requests = (
            select(match_log.c.entry_id, match_log.c.at, match_log.c.content_ref,
                   func.max(match_log.c.external_id).label("external_id"))
            .where(in_period)
            .group_by(match_log.c.entry_id, match_log.c.at, match_log.c.content_ref, match_log.c.api_key_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            per_entry = conn.execute(
                select(
                    requests.c.entry_id, func.max(requests.c.external_id).label("external_id"),
                    func.count().label("matches"), func.count(func.distinct(requests.c.content_ref)).label("refs"),
                    func.min(requests.c.at).label("first"), func.max(requests.c.at).label("last"),
                )
                .group_by(requests.c.entry_id)
            ).all()
            latest = (
                select(outcomes.c.match_id, outcomes.c.outcome,
                       func.row_number().over(partition_by=outcomes.c.match_id, order_by=outcomes.c.id.desc())
                       .label("rank"))
                .subquery()
            )
            decided = conn.execute(
                select(match_log.c.entry_id, latest.c.outcome, func.count())
                .join(latest, latest.c.match_id == match_log.c.id)
                .where(in_period, latest.c.rank == 1)
                .group_by(match_log.c.entry_id, latest.c.outcome)
            ).all()
            refs_total = conn.execute(
                select(func.count(func.distinct(match_log.c.content_ref))).where(in_period)
            ).scalar_one()
        by_entry: dict[int, dict[str, int]] = {}
        for entry_id, outcome, count in decided:
            by_entry.setdefault(entry_id, {})[outcome] = int(count)
        rows = [
            {"entry_id": r.entry_id, "external_id": r.external_id, "matches": int(r.matches),
             "distinct_content_refs": int(r.refs), "outcomes": _outcome_counts(by_entry.get(r.entry_id, {})),
             "first_seen": _iso(r.first), "last_seen": _iso(r.last)}
            for r in sorted(per_entry, key=lambda r: (-r.matches, r.entry_id))
        ]
        totals = _outcome_counts({})
        for row in rows:
            for k, v in row["outcomes"].items():  # type: ignore[attr-defined]
                totals[k] += v
        return {"since": since.isoformat(), "until": until.isoformat(),
                "totals": {"matches": sum(r["matches"] for r in rows), "entries": len(rows),  # type: ignore[misc]
                           "distinct_content_refs": int(refs_total), "outcomes": totals},
                "entries": rows}

    # -- webhooks ------------------------------------------------------------------------------

    def create_webhook(
        self, url: str, secret: str, events: Iterable[str], *, scope: str, owner: str, actor: str,
        api_key_id: int | None = None,
    ) -> Webhook:
        events = tuple(dict.fromkeys(events))
        bad = [e for e in events if e not in EVENTS]
        if bad or not events:
            raise ValueError(f"events must be among {', '.join(EVENTS)}")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        with self.engine.begin() as conn:
            hook_id = conn.execute(
                insert(webhooks)
                .values(url=url, secret=secret, events=list(events), scope=scope, owner=owner, api_key_id=api_key_id,
                        created_at=utc_now(), created_by=actor)
                .returning(webhooks.c.id)
            ).scalar_one()
            self.store.audit_change(conn, actor, "webhook.create",
                                    {"webhook_id": hook_id, "url": url, "events": list(events), "scope": scope,
                                     "owner": owner})
            return self._webhook(conn, hook_id)

    def delete_webhook(self, hook_id: int, *, actor: str) -> int:
        """Delete a webhook and cancel its pending deliveries; returns how many were cancelled."""
        with self.engine.begin() as conn:
            hook = self._webhook(conn, hook_id)
            conn.execute(update(webhooks).where(webhooks.c.id == hook_id).values(deleted_at=utc_now()))
            cancelled = conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.webhook_id == hook_id, webhook_deliveries.c.status == "pending")
                .values(status="cancelled", locked_until=None)
            ).rowcount
            self.store.audit_change(conn, actor, "webhook.delete",
                                    {"webhook_id": hook_id, "url": hook.url, "cancelled_deliveries": cancelled})
        return int(cancelled)

    def webhook(self, hook_id: int) -> Webhook:
        with self.engine.connect() as conn:
            return self._webhook(conn, hook_id)

    def webhooks(self, owner: str | None = None) -> list[Webhook]:
        query = select(webhooks).where(webhooks.c.deleted_at.is_(None)).order_by(webhooks.c.id)
        if owner is not None:
            query = query.where(webhooks.c.owner == owner)
        with self.engine.connect() as conn:
            return [_webhook_from(r) for r in conn.execute(query)]

    def deliveries(self, hook_id: int, limit: int = 100) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == hook_id)
                .order_by(webhook_deliveries.c.id.desc()).limit(limit)
            ).all()
            tries: dict[int, list[dict[str, object]]] = {r.id: [] for r in rows}
            if tries:
                for a in conn.execute(
                    select(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(list(tries)))
                    .order_by(webhook_attempts.c.id)
                ):
                    tries[a.delivery_id].append({"at": _iso(a.at), "status_code": a.status_code, "error": a.error,
                                                 "duration_ms": round(a.duration_ms, 1)})
        return [
            {"id": r.id, "event": r.event, "status": r.status, "attempts": r.attempts, "created_at": _iso(r.created_at),
             "next_attempt_at": _iso(r.next_attempt_at), "delivered_at": _iso(r.delivered_at),
             "payload": r.payload, "tries": tries[r.id]}
            for r in rows
        ]

    # -- the outbox ----------------------------------------------------------------------------

    def claim_due(self, *, limit: int = 20, lease: float = 60.0) -> list[Delivery]:
        """Pending deliveries whose time has come, leased to the caller for `lease` seconds so that
        several processes can share the outbox without sending one event twice at once."""
        now = utc_now()
        with self.engine.begin() as conn:
            due = conn.execute(
                select(webhook_deliveries.c.id)
                .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now,
                       (webhook_deliveries.c.locked_until.is_(None)) | (webhook_deliveries.c.locked_until < now))
                .order_by(webhook_deliveries.c.next_attempt_at).limit(limit)
            ).scalars().all()
        claimed = []
        for delivery_id in due:
            with self.engine.begin() as conn:
                took = conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == "pending",
                           (webhook_deliveries.c.locked_until.is_(None)) | (webhook_deliveries.c.locked_until < now))
                    .values(locked_until=now + timedelta(seconds=lease))
                ).rowcount
                if took != 1:
                    continue  # another process leased it first
                row = conn.execute(
                    select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
                    .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                    .where(webhook_deliveries.c.id == delivery_id)
                ).one()
            claimed.append(Delivery(row.id, row.webhook_id, row.url, row.secret, row.event, row.payload, row.attempts))
        return claimed

    def still_wanted(self, delivery: Delivery) -> bool:
        """Right before sending: is the delivery still pending and its webhook not deleted? A pending
        delivery of a deleted webhook (one queued before deletions cancelled them) is cancelled here."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(webhook_deliveries.c.status, webhooks.c.deleted_at)
                .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                .where(webhook_deliveries.c.id == delivery.id)
            ).one_or_none()
            if row is None or row.status != "pending":
                return False
            if row.deleted_at is not None:
                conn.execute(update(webhook_deliveries)
                             .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == "pending")
                             .values(status="cancelled", locked_until=None))
                return False
        return True

    def record_attempt(
        self, delivery: Delivery, *, status_code: int | None, error: str | None, duration_ms: float,
        delivered: bool, retry_in: float | None,
    ) -> None:
        """Log one attempt; then the delivery is delivered, retried in `retry_in` s, or failed (None).
        A delivery no longer pending (its webhook was deleted mid-send) keeps its state: the attempt is
        logged, and nothing is rescheduled."""
        now = utc_now()
        values: dict[str, Any] = {"attempts": delivery.attempts + 1, "locked_until": None}
        if delivered:
            values |= {"status": "delivered", "delivered_at": now}
        elif retry_in is None:
            values |= {"status": "failed"}
        else:
            values |= {"next_attempt_at": now + timedelta(seconds=retry_in)}
        with self.engine.begin() as conn:
            conn.execute(insert(webhook_attempts).values(delivery_id=delivery.id, at=now, status_code=status_code,
                                                         error=error, duration_ms=duration_ms))
            conn.execute(update(webhook_deliveries)
                         .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == "pending")
                         .values(**values))

    # -- helpers -------------------------------------------------------------------------------

    def _webhooks(self, conn: Connection, event: str) -> list[Webhook]:
        rows = conn.execute(select(webhooks).where(webhooks.c.deleted_at.is_(None))).all()
        return [h for h in map(_webhook_from, rows) if event in h.events]

    def _webhook(self, conn: Connection, hook_id: int) -> Webhook:
        row = conn.execute(
            select(webhooks).where(webhooks.c.id == hook_id, webhooks.c.deleted_at.is_(None))
        ).one_or_none()
        if row is None:
            raise NotFound(f"no webhook {hook_id}")
        return _webhook_from(row)

    @staticmethod
    def _list_owners(conn: Connection, list_ids: set[int]) -> dict[int, str]:
        return dict(conn.execute(select(hash_lists.c.id, hash_lists.c.owner).where(hash_lists.c.id.in_(list_ids))).all())

    @staticmethod
    def _list_names(conn: Connection, list_ids: set[int]) -> dict[int, str]:
        return dict(conn.execute(select(hash_lists.c.id, hash_lists.c.name).where(hash_lists.c.id.in_(list_ids))).all())

    @staticmethod
    def _enqueue(conn: Connection, events: list[tuple[Webhook, Mapping[str, Any]]]) -> None:
        if not events:
            return
        now = utc_now()
        conn.execute(insert(webhook_deliveries), [
            {"webhook_id": h.id, "event": payload["event"], "payload": dict(payload), "created_at": now,
             "status": "pending", "attempts": 0, "next_attempt_at": now}
            for h, payload in events
        ])


def _match_payload(m: Any, list_name: str | None) -> dict[str, object]:
    return {"match_id": m.id, "at": _iso(m.at), "list": list_name, "list_id": m.list_id, "entry_id": m.entry_id,
            "external_id": m.external_id, "signal": m.signal, "distance": m.distance, "relation": m.relation,
            "action": m.action, "content_ref": m.content_ref, "evidence": m.evidence}


def _outcome_dict(row: Any) -> dict[str, object]:
    return {"outcome_id": row.id, "outcome": row.outcome, "note": row.note, "at": _iso(row.at), "actor": row.actor}


def _outcome_counts(found: Mapping[str, int]) -> dict[str, int]:
    return {name: int(found.get(name, 0)) for name in OUTCOMES}


def _webhook_from(row: Any) -> Webhook:
    return Webhook(row.id, row.url, row.secret, tuple(row.events), row.scope, row.owner, row.api_key_id,
                   as_utc(row.created_at), row.created_by)
