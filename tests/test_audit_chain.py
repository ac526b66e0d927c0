"""The audit trail's hash chain (index.audit_chain, `takedown audit verify`) on SQLite and PostgreSQL:
intact after real changes, from concurrent writers too; every kind of tampering named at its row;
what a cut tail shows with and without an anchor; the migration chains rows stored before it."""

import threading

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from typer.testing import CliRunner

from app.cli import add_commands
from app.keys import KeyStore
from index import db
from index.audit_chain import Anchor, verify
from index.schema import audit_log
from index.store import Store


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def _changes(store, n=3):
    for i in range(n):
        store.create_list(f"l{i}", owner="ofcom", actor="alice")
        store.update_list(f"l{i}", actor="bob", description=f"list {i}")
    store.set_matcher_access("l0", True, actor="alice")
    KeyStore(store).create("auditor", owner=None, actor="root")


def _ids(store):
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT id FROM audit_log ORDER BY id"))]


def _tamper(store, *statements):
    """Run statements as someone with database access would, past the append-only triggers."""
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as conn:
        if postgres:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        for statement in statements:
            conn.execute(text(statement))
        if postgres:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def test_an_untouched_trail_verifies_and_gives_an_anchor(store):
    _changes(store)
    ids = _ids(store)
    verdict = verify(store.engine)
    assert verdict.ok, verdict.problem
    assert verdict.rows == len(ids) == 8 and verdict.last_id == ids[-1]
    assert verify(store.engine, Anchor(verdict.rows, verdict.head_hash)).ok
    assert verify(store.engine, Anchor(3, verdict.head_hash)).problem  # a wrong anchor is caught


def test_the_triggers_still_refuse_update_and_delete(store):
    _changes(store, 1)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))


def test_an_altered_row_is_named(store):
    _changes(store)
    ids = _ids(store)
    if store.engine.dialect.name == "sqlite":
        # INSERT OR REPLACE deletes and re-inserts without firing the DELETE trigger.
        with store.engine.begin() as conn:
            conn.execute(text(
                "INSERT OR REPLACE INTO audit_log SELECT id, at, 'mallory', action, list_id, list_name, entry_id, "
                f"external_id, seq, details, prev_hash, row_hash FROM audit_log WHERE id = {ids[3]}"))
    else:
        _tamper(store, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {ids[3]}")
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.broken_id == ids[3] and "altered" in verdict.problem
    assert verdict.rows == 3


def test_a_changed_detail_is_named(store):
    _changes(store)
    ids = _ids(store)
    _tamper(store, f"UPDATE audit_log SET details = '{{\"description\": \"nothing\"}}' WHERE id = {ids[1]}")
    verdict = verify(store.engine)
    assert verdict.broken_id == ids[1] and "altered" in verdict.problem


def test_a_deleted_row_breaks_the_next_one(store):
    _changes(store)
    ids = _ids(store)
    _tamper(store, f"DELETE FROM audit_log WHERE id = {ids[2]}")
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.broken_id == ids[3] and "deleted" in verdict.problem
    assert verdict.rows == 2


def test_a_row_inserted_in_the_middle_is_named(store):
    """The attacker renumbers the rows after the insertion point and even gives the forged row a valid
    hash on its predecessor: the original row that follows it no longer links to it."""
    _changes(store)
    ids = _ids(store)
    cols = "at, actor, action, list_id, list_name, entry_id, external_id, seq, details, prev_hash, row_hash"
    top = ids[-1] + 100
    _tamper(
        store,
        # move rows 3.. up by one id (via a free range, as ids are unique)
        f"INSERT INTO audit_log (id, {cols}) SELECT id + {top}, {cols} FROM audit_log WHERE id >= {ids[2]}",
        f"DELETE FROM audit_log WHERE id >= {ids[2]} AND id < {top}",
        f"INSERT INTO audit_log (id, {cols}) SELECT id - {top} + 1, {cols} FROM audit_log WHERE id > {top}",
        f"DELETE FROM audit_log WHERE id > {top}",
    )
    _forge(store, ids[2], after=ids[1])
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.broken_id == ids[2] + 1
    assert "inserted" in verdict.problem and f"row {ids[1]}" in verdict.problem


def _forge(store, new_id, *, after):
    """Insert a row at `new_id` with a correct hash chained to row `after`, as one who read the code would."""
    from index.audit_chain import row_hash

    with store.engine.connect() as conn:
        prev = conn.execute(text(f"SELECT row_hash FROM audit_log WHERE id = {after}")).scalar_one()
    fields = {"id": new_id, "at": db.utc_now(), "actor": "mallory", "action": "list.delete", "list_id": 1,
              "list_name": "l0", "entry_id": None, "external_id": None, "seq": 1, "details": {"reason": "forged"}}
    digest = row_hash(fields, prev)
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (id, at, actor, action, list_id, list_name, seq, details, prev_hash, row_hash) "
                 "VALUES (:id, :at, :actor, :action, :list_id, :list_name, :seq, :details, :prev, :digest)"),
            {**fields, "details": '{"reason": "forged"}', "prev": prev, "digest": digest},
        )


def test_a_row_added_at_the_end_outside_the_store_is_named(store):
    _changes(store)
    ids = _ids(store)
    _forge(store, ids[-1] + 1, after=ids[-1])
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.broken_id == ids[-1] + 1 and "not in the chain's head" in verdict.problem


def test_reordered_rows_are_named(store):
    _changes(store)
    ids = _ids(store)
    a, b = ids[2], ids[4]
    cols = "at, actor, action, list_id, list_name, entry_id, external_id, seq, details, prev_hash, row_hash"
    top = ids[-1] + 100
    _tamper(
        store,
        f"INSERT INTO audit_log (id, {cols}) SELECT {top}, {cols} FROM audit_log WHERE id = {a}",
        f"DELETE FROM audit_log WHERE id = {a}",
        f"INSERT INTO audit_log (id, {cols}) SELECT {a}, {cols} FROM audit_log WHERE id = {b}",
        f"DELETE FROM audit_log WHERE id = {b}",
        f"INSERT INTO audit_log (id, {cols}) SELECT {b}, {cols} FROM audit_log WHERE id = {top}",
        f"DELETE FROM audit_log WHERE id = {top}",
    )
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.broken_id == a


def test_a_cut_tail_shows_against_the_head_and_against_an_anchor_only_once_the_head_is_rolled_back(store):
    _changes(store)
    ids = _ids(store)
    anchor_verdict = verify(store.engine)
    anchor = Anchor(anchor_verdict.rows, anchor_verdict.head_hash)
    _tamper(store, f"DELETE FROM audit_log WHERE id >= {ids[-2]}")
    cut = verify(store.engine)
    assert not cut.ok and cut.broken_id is None and "last 2 rows were cut" in cut.problem

    # The attacker also rolls the head back to the new end: the database alone cannot tell.
    with store.engine.begin() as conn:
        last = conn.execute(text(f"SELECT id, row_hash FROM audit_log WHERE id = {ids[-3]}")).one()
        conn.execute(text("UPDATE audit_chain_head SET rows = rows - 2, last_id = :id, last_hash = :h"),
                     {"id": last.id, "h": last.row_hash})
    assert verify(store.engine).ok  # documented limit: a consistent rewrite of the end verifies
    anchored = verify(store.engine, anchor)
    assert not anchored.ok and "cut from the end" in anchored.problem


def test_a_rewritten_chain_shows_against_an_anchor(store):
    """Rewriting a row and recomputing every hash after it (and the head) leaves a chain that verifies
    on its own; the anchor taken before pins every row up to it."""
    from index.audit_chain import row_hash

    _changes(store)
    anchor_verdict = verify(store.engine)
    anchor = Anchor(anchor_verdict.rows, anchor_verdict.head_hash)
    _tamper(store, "UPDATE audit_log SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM audit_log)")
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    prev, statements = "0" * 64, []
    for row in rows:
        digest = row_hash(row._mapping, prev)
        statements.append(f"UPDATE audit_log SET prev_hash = '{prev}', row_hash = '{digest}' WHERE id = {row.id}")
        prev = digest
    statements.append(f"UPDATE audit_chain_head SET last_hash = '{prev}'")
    _tamper(store, *statements)
    assert verify(store.engine).ok
    anchored = verify(store.engine, anchor)
    assert not anchored.ok and anchored.broken_id == rows[-1].id and "rewritten" in anchored.problem


def test_truncate_is_refused_on_postgresql_and_shows_when_forced(pg_url):
    store = Store(pg_url)
    try:
        _changes(store, 1)
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
        _tamper(store, "TRUNCATE audit_log")
        verdict = verify(store.engine)
        assert not verdict.ok and verdict.rows == 0 and "were cut from the end" in verdict.problem
    finally:
        store.close()


def test_the_head_cannot_be_deleted_and_its_loss_shows(store):
    _changes(store, 1)
    with pytest.raises(Exception, match="append-only|cannot be deleted"):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_chain_head"))
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_chain_head_no_delete"))
        conn.execute(text("DELETE FROM audit_chain_head"))
    verdict = verify(store.engine)
    assert not verdict.ok and "head row is missing" in verdict.problem
    with pytest.raises(RuntimeError, match="head is missing"):
        store.create_list("after", owner="o", actor="a")  # no row goes unchained


def test_concurrent_writers_form_one_chain(store):
    """Eight threads, each with its own connection, append at once: one chain, every row in it."""
    errors = []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait(timeout=30)
            for j in range(4):
                if j % 2:
                    KeyStore(store).create("auditor", owner=None, actor=f"t{i}")
                else:
                    store.create_list(f"t{i}-{j}", owner="o", actor=f"t{i}")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    verdict = verify(store.engine)
    assert verdict.ok, verdict.problem
    assert verdict.rows == 32 == len(_ids(store))


def test_the_migration_chains_rows_written_before_it(db_url):
    """A store at revision 0003 with audit rows written the old way, then upgraded: every old row is in
    the chain, new ones follow, and the append-only triggers are back."""
    engine = db.make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", db.MIGRATIONS)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(text("INSERT INTO audit_log (at, actor, action, list_name, seq, details) "
                              "VALUES (:at, 'old', 'list.create', :name, :seq, :details)"),
                         {"at": db.utc_now(), "name": f"old{i}", "seq": i + 1, "details": '{"owner": "x", "n": [1, 2]}'})
    engine.dispose()
    store = Store(db_url)  # migrates to head
    try:
        before = verify(store.engine)
        assert before.ok and before.rows == 3, before.problem
        store.create_list("new", owner="o", actor="alice")
        after = verify(store.engine)
        assert after.ok and after.rows == 4
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE audit_log SET actor = 'x'"))
    finally:
        store.close()


def test_cli_verify_exit_codes(db_url, monkeypatch):
    monkeypatch.setenv("TAKEDOWN_DATABASE_URL", db_url)
    store = Store(db_url)
    _changes(store, 1)
    runner = CliRunner()
    cli = add_commands()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    anchor = ok.stdout.strip().splitlines()[-1]
    rows, digest = anchor.split(":")
    assert int(rows) == len(_ids(store)) and len(digest) == 64
    assert runner.invoke(cli, ["audit", "verify", "--anchor", anchor]).exit_code == 0
    assert runner.invoke(cli, ["audit", "verify", "--anchor", "x"]).exit_code == 2
    ids = _ids(store)
    _tamper(store, f"DELETE FROM audit_log WHERE id = {ids[1]}")
    broken = runner.invoke(cli, ["audit", "verify", "--json"])
    assert broken.exit_code == 1
    assert f'"broken_id": {ids[2]}' in broken.stdout
    store.close()


def test_cli_verify_names_the_store_it_checked(tmp_path, monkeypatch):
    """`verify` run against the wrong store (a new, empty one) must not read as a clean bill for the real
    one: the summary and the JSON name the store, and an empty trail says it is empty (issue 13.1)."""
    monkeypatch.delenv("TAKEDOWN_DATABASE_URL", raising=False)
    monkeypatch.setenv("TAKEDOWN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    cli = add_commands()
    empty = runner.invoke(cli, ["audit", "verify"])
    assert empty.exit_code == 0, empty.output
    assert "audit trail is empty" in empty.stderr and str(tmp_path / "takedown.db") in empty.stderr
    store = Store(db.database_url())
    _changes(store, 1)
    store.close()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert "intact" in ok.stderr and str(tmp_path / "takedown.db") in ok.stderr
    as_json = runner.invoke(cli, ["audit", "verify", "--json"])
    assert str(tmp_path / "takedown.db") in as_json.stdout
