"""The service's records (index/ledger.py and the store's additions), on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta

import pytest

from index.ledger import Ledger, LoggedMatch, new_match_id
from index.store import NotFound, Store


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_list("ofcom", owner="Ofcom", actor="alice")
    s.create_list("other", owner="Arcom", actor="alice")
    yield s
    s.close()


def logged(list_id, entry_id, ref, *, at=None, owner="platform-a", key=7):
    return LoggedMatch(new_match_id(), at or datetime.now(UTC), list_id, entry_id, f"case-{entry_id}", "pdq", 3,
                       "image", "takedown", ref, key, owner)


def test_report_counts_matches_refs_latest_outcomes_and_period(store):
    ledger = Ledger(store)
    lid = store.get_list("ofcom").id
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = logged(lid, 1, "upload-1", at=t0)
    rows = [first, logged(lid, 1, "upload-1", at=t0 + timedelta(hours=1)), logged(lid, 1, "upload-2", at=t0 + timedelta(hours=2)),
            logged(lid, 2, "upload-3", at=t0 + timedelta(hours=3)),
            logged(lid, 2, "late", at=t0 + timedelta(days=40)),
            logged(store.get_list("other").id, 1, "elsewhere", at=t0)]
    assert ledger.write_matches(rows) == 6
    ledger.add_outcome(first.id, "under_review", actor="p")
    ledger.add_outcome(first.id, "removed", actor="p", note="gone")  # the latest counts
    ledger.add_outcome(rows[3].id, "false_positive", actor="p")
    report = ledger.report(lid, t0, t0 + timedelta(days=30))
    assert [e["entry_id"] for e in report["entries"]] == [1, 2]
    one, two = report["entries"]
    assert one["matches"] == 3 and one["distinct_content_refs"] == 2
    assert one["outcomes"] == {"removed": 1, "false_positive": 0, "under_review": 0}
    assert one["first_seen"].startswith("2026-01-01T00:00") and one["last_seen"].startswith("2026-01-01T02:00")
    assert two["matches"] == 1 and two["outcomes"]["false_positive"] == 1
    assert report["totals"]["matches"] == 4 and report["totals"]["distinct_content_refs"] == 3
    got = ledger.get_match(first.id)
    assert [o["outcome"] for o in got["outcomes"]] == ["under_review", "removed"] and got["list"] == "ofcom"
    with pytest.raises(NotFound):
        ledger.add_outcome("nope", "removed", actor="p")
    with pytest.raises(ValueError, match="outcome must be"):
        ledger.add_outcome(first.id, "deleted", actor="p")


def test_outbox_rows_follow_scope_and_attempts_are_logged(store):
    ledger = Ledger(store)
    lid, other = store.get_list("ofcom").id, store.get_list("other").id
    regulator = ledger.create_webhook("http://127.0.0.1:9/r", "s1", ["match", "outcome"], scope="lists",
                                      owner="Ofcom", actor="key:1")
    platform = ledger.create_webhook("http://127.0.0.1:9/p", "s2", ["outcome"], scope="own", owner="platform-a",
                                     actor="key:2")
    everything = ledger.create_webhook("http://127.0.0.1:9/a", "s3", ["match"], scope="all", owner="admin", actor="key:3")
    mine, theirs = logged(lid, 1, "x"), logged(other, 5, "y", owner="platform-b")
    ledger.write_matches([mine, theirs])
    ledger.add_outcome(mine.id, "removed", actor="p")
    ledger.add_outcome(theirs.id, "removed", actor="p")
    per_hook = {h.id: [(d["event"], d["payload"].get("match_id") or d["payload"]["match"]["match_id"])
                       for d in ledger.deliveries(h.id)] for h in (regulator, platform, everything)}
    assert sorted(per_hook[regulator.id]) == [("match", mine.id), ("outcome", mine.id)]
    assert per_hook[platform.id] == [("outcome", mine.id)]
    assert sorted(per_hook[everything.id]) == sorted([("match", mine.id), ("match", theirs.id)])

    due = ledger.claim_due(limit=50)
    assert len(due) == 5
    assert ledger.claim_due(limit=50) == []  # leased: a second worker gets nothing
    ledger.record_attempt(due[0], status_code=500, error="HTTP 500", duration_ms=3.0, delivered=False, retry_in=0.0)
    ledger.record_attempt(due[1], status_code=200, error=None, duration_ms=2.0, delivered=True, retry_in=None)
    ledger.record_attempt(due[2], status_code=None, error="refused", duration_ms=1.0, delivered=False, retry_in=None)
    again = ledger.claim_due(limit=50)
    assert [d.id for d in again] == [due[0].id] and again[0].attempts == 1
    states = {d["id"]: d for h in (regulator, platform, everything) for d in ledger.deliveries(h.id)}
    assert states[due[1].id]["status"] == "delivered" and states[due[2].id]["status"] == "failed"
    assert states[due[0].id]["tries"][0]["status_code"] == 500

    ledger.delete_webhook(platform.id, actor="key:2")
    assert [h.id for h in ledger.webhooks()] == [regulator.id, everything.id]
    actions = [a["action"] for a in store.audit()]
    assert actions.count("webhook.create") == 3 and "webhook.delete" in actions


def test_matcher_access_flag_is_audited_and_leaves_the_seq(store):
    seq = store.state()[1]
    lst = store.get_list("ofcom")
    assert store.matcher_access(lst.id) is False
    store.set_matcher_access("ofcom", True, actor="curator")
    assert store.matcher_access(lst.id) is True
    store.set_matcher_access("ofcom", True, actor="curator")  # no change, no record
    store.set_matcher_access("ofcom", False, actor="curator")
    assert store.matcher_access(lst.id) is False
    records = [a for a in store.audit() if a["action"] == "list.matcher_access"]
    assert [(r["details"]["before"], r["details"]["after"]) for r in records] == [(False, True), (True, False)]
    assert store.state()[1] == seq
    with pytest.raises(NotFound):
        store.set_matcher_access("missing", True, actor="x")
