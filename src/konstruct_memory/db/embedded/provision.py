"""Create the database and the two login roles the service uses, given a superuser connection.

The embedded server runs this once after ``initdb``; the test suite runs it against any server
named by ``KONSTRUCT_MEMORY_TEST_DATABASE_URL``. Operators of an external PostgreSQL can do the
same by hand (see docs/operations.md): the service itself never needs superuser rights.

Roles:

* the *owner* logs in to run migrations and tenant administration. It owns the database and
  every table, may create roles (migration 001 creates ``konstruct_app``), and is neither
  superuser nor BYPASSRLS;
* the *runtime* role logs in for the service. It is a member of ``konstruct_app`` and holds
  nothing else, so row-level security always applies to it.

``konstruct_eraser`` (no login) owns the erasure functions of migration 007; the owner is made
a member so that the migration can hand the functions to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APP_GROUP_ROLE = "konstruct_app"
ERASER_ROLE = "konstruct_eraser"

_ROLE_EXISTS = "SELECT 1 FROM pg_roles WHERE rolname = %(name)s"
_DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %(name)s"
_CREATE_OWNER = sql.SQL(
    "CREATE ROLE {role} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD {password}"
)
_ALTER_OWNER = sql.SQL(
    "ALTER ROLE {role} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS PASSWORD {password}"
)
_CREATE_RUNTIME = sql.SQL(
    "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT "
    "PASSWORD {password}"
)
_ALTER_RUNTIME = sql.SQL(
    "ALTER ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT "
    "PASSWORD {password}"
)
_CREATE_NOLOGIN_ROLE = sql.SQL("CREATE ROLE {role} NOLOGIN")
_GRANT_ROLE = sql.SQL("GRANT {group} TO {role}")
_CREATE_DATABASE = sql.SQL(
    "CREATE DATABASE {database} OWNER {owner} ENCODING 'UTF8' TEMPLATE template0"
)
# pgvector is not a trusted extension, so the superuser installs it; migration 002's
# ``CREATE EXTENSION IF NOT EXISTS`` is then a no-op for the owner.
_CREATE_VECTOR = "CREATE EXTENSION IF NOT EXISTS vector"


@dataclass(frozen=True)
class Credentials:
    """Names and passwords of the two login roles and the database they share."""

    database: str
    owner_role: str
    owner_password: str
    runtime_role: str
    runtime_password: str


def url_for(base_url: str, *, user: str, password: str, database: str) -> str:
    """``base_url`` (any libpq URL or conninfo) with another user, password and database."""
    return conninfo_to_url(make_conninfo(base_url, user=user, password=password, dbname=database))


def conninfo_to_url(conninfo: str) -> str:
    """A ``postgresql://`` URL for a conninfo string, so operators can paste it into psql."""
    params = conninfo_to_dict(conninfo)
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    host = str(params.pop("host", "localhost"))
    port = params.pop("port", None)
    database = quote(str(params.pop("dbname", "")), safe="")
    auth = f"{user}:{quote(str(password), safe='')}@" if password is not None else f"{user}@"
    netloc = f"{host}:{port}" if port else host
    query = urlencode({k: str(v) for k, v in params.items() if v is not None})
    return f"postgresql://{auth}{netloc}/{database}" + (f"?{query}" if query else "")


def provision(superuser_url: str, credentials: Credentials) -> None:
    """Create (or bring up to date) the database, the owner and the runtime role. Idempotent."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        _ensure_role(conn, credentials.owner_role, credentials.owner_password, owner=True)
        _ensure_role(conn, credentials.runtime_role, credentials.runtime_password, owner=False)
        if conn.execute(_ROLE_EXISTS, {"name": APP_GROUP_ROLE}).fetchone() is None:
            conn.execute(_CREATE_NOLOGIN_ROLE.format(role=sql.Identifier(APP_GROUP_ROLE)))
        conn.execute(
            _GRANT_ROLE.format(
                group=sql.Identifier(APP_GROUP_ROLE), role=sql.Identifier(credentials.runtime_role)
            )
        )
        # Migration 007 makes the erasure functions owned by this role, which needs the owner
        # to be a member; roles are cluster-wide, so an earlier database may have created it.
        if conn.execute(_ROLE_EXISTS, {"name": ERASER_ROLE}).fetchone() is None:
            conn.execute(_CREATE_NOLOGIN_ROLE.format(role=sql.Identifier(ERASER_ROLE)))
        conn.execute(
            _GRANT_ROLE.format(
                group=sql.Identifier(ERASER_ROLE), role=sql.Identifier(credentials.owner_role)
            )
        )
        if conn.execute(_DATABASE_EXISTS, {"name": credentials.database}).fetchone() is None:
            conn.execute(
                _CREATE_DATABASE.format(
                    database=sql.Identifier(credentials.database),
                    owner=sql.Identifier(credentials.owner_role),
                )
            )
    with psycopg.connect(
        make_conninfo(superuser_url, dbname=credentials.database), autocommit=True
    ) as conn:
        conn.execute(_CREATE_VECTOR)


def _ensure_role(
    conn: psycopg.Connection[tuple[object, ...]], name: str, password: str, *, owner: bool
) -> None:
    exists = conn.execute(_ROLE_EXISTS, {"name": name}).fetchone() is not None
    if owner:
        statement = _ALTER_OWNER if exists else _CREATE_OWNER
    else:
        statement = _ALTER_RUNTIME if exists else _CREATE_RUNTIME
    conn.execute(statement.format(role=sql.Identifier(name), password=sql.Literal(password)))
