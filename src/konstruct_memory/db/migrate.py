"""Run the Alembic migrations shipped inside the package, as the owner role."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from konstruct_memory.errors import ConfigurationError, SchemaOutOfDate


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("konstruct_memory") / "migrations"))
    return config


def _engine(admin_url: str) -> sa.Engine:
    # SQLAlchemy is here only because Alembic needs it; psycopg 3 is the driver.
    url = sa.engine.make_url(admin_url).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def upgrade(admin_url: str, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (idempotent)."""
    _run(admin_url, lambda config: command.upgrade(config, revision))


def downgrade(admin_url: str, revision: str = "base") -> None:
    """Downgrade the schema to ``revision``; ``base`` removes every table."""
    _run(admin_url, lambda config: command.downgrade(config, revision))


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise ConfigurationError("the package ships no migrations: the installation is broken")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at; readable with the runtime role too."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def require_head(url: str) -> None:
    """Raise SchemaOutOfDate unless the database is at the code's head revision."""
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'no revision'}, the code needs {head}: "
            "run `konstruct-memory migrate`"
        )


# Any constant works; it only has to be the same for every process migrating this database.
_MIGRATION_LOCK = 0x6B6D_6D69_6772


def _run(admin_url: str, action: Callable[[Config], None]) -> None:
    config = _config()
    engine = _engine(admin_url)
    try:
        with engine.connect() as conn:
            # Two processes starting together must not both run the same revision.
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            conn.commit()  # the lock is the session's: it outlives this (empty) transaction
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    action(config)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()
