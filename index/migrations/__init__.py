"""Alembic migrations of the store (run by index.db.upgrade, never by hand-written SQL elsewhere)."""
