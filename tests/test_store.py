"""The durable store, on SQLite and PostgreSQL alike."""

import numpy as np
import pytest
from sqlalchemy import text

from index.lists import InvalidList
from index.model import EntryRecord, FrameHash, RowResult
from index.store import Conflict, NotFound, Store
from index.validate import validate_record
from matcher.bits import words_to_hexes


def hexes(n, words=4, seed=0):
    return words_to_hexes(np.random.default_rng(seed).integers(1, 2**63, size=(n, words), dtype=np.uint64))


def rec(ext, pdq=None, md5=None, labels=(), quality=90):
    signals = {}
    if pdq:
        signals["pdq"] = pdq
    if md5:
        signals["md5"] = md5
    return validate_record(EntryRecord(ext, signals, {"pdq": quality} if pdq else {}, tuple(labels)))


def rows(*records):
    return [RowResult(i + 1, r) for i, r in enumerate(records)]


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_list("ofcom-ncii", owner="ofcom", actor="alice", description="NCII reports")
    yield s
    s.close()


def test_migrations_are_idempotent(db_url):
    Store(db_url).close()
    again = Store(db_url)
    assert again.state()[1] == 0
    again.close()


def test_list_lifecycle(store):
    lst = store.get_list("ofcom-ncii")
    assert lst.owner == "ofcom" and lst.default_action.value == "takedown" and lst.thresholds["pdq"] == 31
    with pytest.raises(Conflict):
        store.create_list("ofcom-ncii", owner="x", actor="bob")
    updated = store.update_list("ofcom-ncii", actor="bob", thresholds={"pdq": 40}, default_action="review")
    assert updated.thresholds["pdq"] == 40 and updated.thresholds["phash"] == 8
    assert updated.default_action.value == "review"
    store.delete_list("ofcom-ncii", actor="bob", reason="superseded")
    with pytest.raises(NotFound):
        store.get_list("ofcom-ncii")
    assert store.lists() == []
    assert [x.name for x in store.lists(include_deleted=True)] == ["ofcom-ncii"]
    for owner in ("ofcom", "someone-else"):  # a deleted list's name is never free again, not even to its owner
        with pytest.raises(Conflict, match="never reused"):
            store.create_list("ofcom-ncii", owner=owner, actor="alice")
    assert store.get_list("ofcom-ncii", include_deleted=True).deleted_at is not None
    actions = [a["action"] for a in store.audit()]
    assert actions == ["list.create", "list.update", "list.delete"]
    assert store.audit()[1]["details"]["before"]["thresholds"]["pdq"] == 31


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "bad name!"}, "list name"),
        ({"default_action": "delete"}, "action must be"),
        ({"thresholds": {"pdq": 200}}, "between 0 and"),
        ({"thresholds": {"md5": 3}}, "between 0 and 0"),
        ({"thresholds": {"nope": 3}}, "unknown signal"),
        ({"owner": " "}, "owner"),
    ],
)
def test_invalid_list_settings(store, kwargs, message):
    args = {"name": "other", "owner": "o", "actor": "a", **kwargs}
    with pytest.raises(InvalidList, match=message):
        store.create_list(args.pop("name"), **args)
    assert store.state()[1] == 1  # nothing written


def test_import_add_update_unchanged_and_revoked_kept(store):
    h = hexes(4)
    first = store.import_entries("ofcom-ncii", rows(rec("a", h[0]), rec("b", h[1], labels=["x"])), actor="alice")
    assert (first.added, first.updated, first.unchanged, first.committed) == (2, 0, 0, True)
    again = store.import_entries("ofcom-ncii", rows(rec("a", h[0]), rec("b", h[2], labels=["y"])), actor="alice")
    assert (again.added, again.updated, again.unchanged) == (0, 1, 1)
    b = store.get_entry("ofcom-ncii", "b")
    assert b.record.signals["pdq"] == h[2] and b.record.labels == ("y",)
    store.revoke("ofcom-ncii", "a", actor="bob", reason="appeal upheld")
    third = store.import_entries("ofcom-ncii", rows(rec("a", h[3])), actor="alice")
    assert third.revoked_kept == 1 and third.updated == 0
    a = store.get_entry("ofcom-ncii", "a")
    assert a.revoked_at is not None and a.record.signals["pdq"] == h[0] and a.revoke_reason == "appeal upheld"


def test_bad_rows_make_the_import_change_nothing(store):
    h = hexes(3)
    store.import_entries("ofcom-ncii", rows(rec("keep", h[0])), actor="alice")
    before = store.state()[1]
    batch = [RowResult(2, rec("new1", h[1])), RowResult(3, error="pdq: all-zero hash"), RowResult(4, rec("new2", h[2])),
             RowResult(7, error="bad hex")]
    report = store.import_entries("ofcom-ncii", batch, actor="alice")
    assert not report.committed and report.added == 0 and report.invalid == 2
    assert report.errors == [(3, "pdq: all-zero hash"), (7, "bad hex")]
    assert store.state()[1] == before
    assert [e.record.external_id for e in store.iter_entries("ofcom-ncii")] == ["keep"]
    assert [a["action"] for a in store.audit()] == ["list.create", "entries.import"]
    skipped = store.import_entries("ofcom-ncii", batch, actor="alice", skip_invalid=True)
    assert skipped.committed and skipped.added == 2 and skipped.invalid == 2
    # skip_invalid imports the good rows of a file with bad ones: a file of bad rows only changes nothing
    seq, audits = store.state()[1], len(store.audit())
    only_bad = store.import_entries("ofcom-ncii", [RowResult(2, error="bad hex")], actor="alice", skip_invalid=True)
    assert not only_bad.committed and only_bad.invalid == 1 and only_bad.errors == [(2, "bad hex")]
    assert store.state()[1] == seq and len(store.audit()) == audits


def test_failure_mid_import_rolls_back(store, monkeypatch):
    h = hexes(5000, seed=3)

    def stream():
        for i, value in enumerate(h):
            if i == 4500:
                raise OSError("disk went away")
            yield RowResult(i + 2, rec(f"item-{i}", value))

    with pytest.raises(OSError):
        store.import_entries("ofcom-ncii", stream(), actor="alice")
    assert list(store.iter_entries("ofcom-ncii")) == []
    assert len(store.audit()) == 1


def test_same_id_twice_in_one_file_is_refused_naming_both_lines(store):
    # It used to be "the last row silently wins": a file that names one case twice is ambiguous.
    h = hexes(3)
    report = store.import_entries("ofcom-ncii", rows(rec("dup", h[0]), rec("x", h[2]), rec("dup", h[1])), actor="alice")
    assert not report.committed and report.invalid == 1
    assert report.errors == [(3, "id 'dup' is also given on line 1: an id may appear only once in a file")]
    assert list(store.iter_entries("ofcom-ncii")) == []
    # skip_invalid: the first row stands, the repeat is left out and reported
    kept = store.import_entries("ofcom-ncii", rows(rec("dup", h[0]), rec("x", h[2]), rec("dup", h[1])),
                                actor="alice", skip_invalid=True)
    assert kept.committed and kept.added == 2 and kept.invalid == 1 and kept.errors[0][0] == 3
    assert store.get_entry("ofcom-ncii", "dup").record.signals["pdq"] == h[0]


def test_revoke_rules(store):
    store.import_entries("ofcom-ncii", rows(rec("a", hexes(1)[0])), actor="alice")
    with pytest.raises(InvalidList, match="reason"):
        store.revoke("ofcom-ncii", "a", actor="bob", reason=" ")
    store.revoke("ofcom-ncii", "a", actor="bob", reason="court order")
    with pytest.raises(Conflict, match="already revoked"):
        store.revoke("ofcom-ncii", "a", actor="bob", reason="again")
    with pytest.raises(NotFound):
        store.revoke("ofcom-ncii", "missing", actor="bob", reason="x")
    audit = store.audit()[-1]
    assert audit["action"] == "entry.revoke" and audit["actor"] == "bob" and audit["details"]["reason"] == "court order"
    assert [e.record.external_id for e in store.iter_entries("ofcom-ncii", include_revoked=True)] == ["a"]
    assert list(store.iter_entries("ofcom-ncii")) == []


def test_audit_log_is_append_only(store):
    with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with store.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM audit_log"))
    assert store.audit()[0]["actor"] == "alice"


def test_change_tracking_feeds_the_index(store):
    h = hexes(3)
    video = validate_record(EntryRecord("v", {"md5": "ab" * 16}, kind="video",
                                        frames=(FrameHash(0.0, h[1], 80), FrameHash(1.0, h[2], 90))))
    store.import_entries("ofcom-ncii", rows(rec("img", h[0], md5="cd" * 16), video), actor="alice")
    _, seq = store.state()
    signal_rows = [r for batch in store.signal_rows(0) for r in batch]
    assert sorted((r.signal, -1 if r.t is None else r.t) for r in signal_rows) == [
        ("md5", -1), ("md5", -1), ("pdq", -1), ("pdq", 0.0), ("pdq", 1.0)
    ]
    assert all(r.seq == seq for r in signal_rows)
    store.revoke("ofcom-ncii", "img", actor="bob", reason="x")
    changes = store.changes_since(seq)
    assert len(changes) == 1 and changes[0].revoked and changes[0].seq == seq + 1
    assert [r for b in store.signal_rows(seq) for r in b] == []
    assert all(r.entry_id != changes[0].entry_id for b in store.signal_rows(0) for r in b)
    store.delete_list("ofcom-ncii", actor="bob")
    assert [r for b in store.signal_rows(0) for r in b] == []
    meta = store.list_meta()
    assert all(m.deleted for m in meta.values())


def test_large_import_streams_in_batches(store):
    h = hexes(12_000, seed=9)
    report = store.import_entries(
        "ofcom-ncii", (RowResult(i + 2, rec(f"i{i}", v)) for i, v in enumerate(h)), actor="alice"
    )
    assert report.added == 12_000
    assert store.get_list("ofcom-ncii", with_counts=True).counts == {"active": 12_000, "revoked": 0}
    assert sum(1 for _ in store.iter_entries("ofcom-ncii")) == 12_000
    ids = [e.id for e in store.iter_entries("ofcom-ncii")]
    assert len(set(ids)) == 12_000
    assert set(store.entries_by_id(ids[:5])) == set(ids[:5])


def test_migrations_build_exactly_the_declared_schema(db_url):
    """index/schema.py and the migrations must agree: what the code expects is what the database has."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from index.schema import metadata

    store = Store(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []
