"""Where the store lives and how to connect to it: SQLite (WAL) under the data folder by default,
PostgreSQL from TAKEDOWN_DATABASE_URL to scale out. Schema changes only through Alembic migrations.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def data_dir() -> Path:
    """TAKEDOWN_DATA_DIR, default ./data (created on demand)."""
    return Path(os.environ.get("TAKEDOWN_DATA_DIR", "data"))


def database_url() -> str:
    """TAKEDOWN_DATABASE_URL, or an SQLite file in the data folder."""
    url = os.environ.get("TAKEDOWN_DATABASE_URL")
    if url:
        return url
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'takedown.db'}"


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs (SQLite: WAL, foreign keys, busy timeout)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: keeps index pages hot during bulk imports
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe for replicas starting together)."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
