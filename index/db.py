"""Where the store lives and how to connect to it: SQLite (WAL) under the data folder by default,
PostgreSQL from TAKEDOWN_DATABASE_URL to scale out. Schema changes only through Alembic migrations.

The data folder is TAKEDOWN_DATA_DIR, else the user's data directory (platformdirs: on Linux
$XDG_DATA_HOME/takedown-matcher, by default ~/.local/share/takedown-matcher): one place whatever the
current directory, so the CLI and the service started from anywhere use the same store. Never a
folder relative to where a command happens to run, and never a password in what `describe_store` prints.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from platformdirs import user_data_path
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
APP_NAME = "takedown-matcher"


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def data_dir() -> Path:
    """TAKEDOWN_DATA_DIR, else the per-user data directory (created on demand by `database_url`).
    A relative TAKEDOWN_DATA_DIR is made absolute here, so that what is printed is where it is."""
    chosen = os.environ.get("TAKEDOWN_DATA_DIR")
    if chosen:
        return Path(chosen).expanduser().absolute()
    return default_data_dir()


def default_data_dir() -> Path:
    """The per-user data directory ($XDG_DATA_HOME/takedown-matcher on Linux)."""
    return user_data_path(APP_NAME, appauthor=False)


def describe_store(url: str) -> str:
    """Where a store is, for people to read: the SQLite file's path, or the database URL with its
    password and query (which may carry credentials too) left out."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "a database URL that cannot be parsed"
    if parsed.get_backend_name() == "sqlite":
        return f"{parsed.database or ':memory:'} (SQLite)"
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    return shown + ("?..." if parsed.query else "")


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
