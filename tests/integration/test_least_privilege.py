"""The runtime role cannot bypass RLS, and start-up refuses a connection that could."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from konstruct_memory.config import Settings
from konstruct_memory.db import runtime
from konstruct_memory.db.tenant import assert_least_privilege
from konstruct_memory.errors import ConfigurationError, UnsafeRuntimeRole
from tests.conftest import DatabaseUnderTest


def test_every_table_with_tenant_id_has_rls_enabled_and_forced(database: DatabaseUnderTest) -> None:
    with psycopg.connect(database.admin_url) as conn:
        rows = conn.execute("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.attname = 'tenant_id' AND c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')""").fetchall()
    assert rows, "expected at least the turns table"
    assert all(enabled and forced for _, enabled, forced in rows), rows


def test_runtime_role_is_not_owner_superuser_or_bypassrls(database: DatabaseUnderTest) -> None:
    with psycopg.connect(database.runtime_url) as conn:
        row = conn.execute("""
            SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                   pg_has_role(current_user, c.relowner, 'MEMBER')
            FROM pg_roles r, pg_class c
            WHERE r.rolname = current_user AND c.relname = 'conversation_embeddings'""").fetchone()
        assert row == (False, False, False, False, False)
        assert_least_privilege(conn)


@pytest.mark.parametrize("who", ["admin_url", "superuser_url"])
def test_start_up_refuses_a_role_that_could_bypass_rls(
    database: DatabaseUnderTest, who: str
) -> None:
    settings = Settings(database_url=getattr(database, who), admin_database_url=database.admin_url)
    with pytest.raises(UnsafeRuntimeRole, match="could bypass row-level security"):
        runtime.open_pool(settings)


def test_start_up_refuses_a_member_of_the_owner(
    database: DatabaseUnderTest, new_database: Callable[[], DatabaseUnderTest]
) -> None:
    owner = psycopg.conninfo.conninfo_to_dict(database.admin_url)["user"]
    sneaky = new_database()  # a fresh login role that we then make a member of the owner
    sneaky_role = psycopg.conninfo.conninfo_to_dict(sneaky.runtime_url)["user"]
    with psycopg.connect(database.superuser_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("GRANT {} TO {}").format(
                psycopg.sql.Identifier(str(owner)), psycopg.sql.Identifier(str(sneaky_role))
            )
        )
    url = psycopg.conninfo.make_conninfo(
        sneaky.runtime_url, dbname=psycopg.conninfo.conninfo_to_dict(database.runtime_url)["dbname"]
    )
    with psycopg.connect(url) as conn, pytest.raises(UnsafeRuntimeRole, match="owns"):
        assert_least_privilege(conn)


def test_start_up_accepts_the_runtime_role(database: DatabaseUnderTest) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    pool = runtime.open_pool(settings)
    try:
        with pool.connection() as conn:
            row = conn.execute("SELECT current_user AS u").fetchone()
        assert row is not None and row["u"] == database.runtime_role
    finally:
        pool.close()


def test_start_up_refuses_a_role_that_cannot_stage_batches(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    hardened = new_database()  # TEMPORARY revoked from PUBLIC, as some hardening guides do
    dbname = psycopg.conninfo.conninfo_to_dict(hardened.runtime_url)["dbname"]
    with psycopg.connect(hardened.superuser_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                psycopg.sql.Identifier(str(dbname))
            )
        )
    settings = Settings(database_url=hardened.runtime_url, admin_database_url=hardened.admin_url)
    with pytest.raises(ConfigurationError, match="GRANT TEMPORARY ON DATABASE"):
        runtime.open_pool(settings)


def test_start_up_refuses_a_member_of_the_eraser(
    new_database: Callable[[], DatabaseUnderTest], database: DatabaseUnderTest
) -> None:
    """konstruct_eraser may delete any turn: the runtime role must reach it only through the
    erasure functions, never by SET ROLE."""
    sneaky = new_database()
    role = str(psycopg.conninfo.conninfo_to_dict(sneaky.runtime_url)["user"])
    with psycopg.connect(database.superuser_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("GRANT konstruct_eraser TO {}").format(psycopg.sql.Identifier(role))
        )
    url = psycopg.conninfo.make_conninfo(
        sneaky.runtime_url, dbname=psycopg.conninfo.conninfo_to_dict(database.runtime_url)["dbname"]
    )
    with psycopg.connect(url) as conn, pytest.raises(UnsafeRuntimeRole, match="konstruct_eraser"):
        assert_least_privilege(conn)
