"""Row-level security (SPEC §10) against the real database: tenant paths, bare connections, system paths."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from openbook.config import DatabaseSettings
from openbook.db.database import Database
from openbook.db.scopes import SYSTEM_PATHS, SystemPath, Tenant
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PG_DATABASE, PostgresServer
from openbook.errors import ConfigError

TENANT_TABLES = ("objects", "branches", "audit_log", "sites", "domains", "deployments", "previews", "webhooks",
                 "webhook_deliveries", "webhook_attempts", "idempotency_keys", "git_objects",
                 "studio_login_links", "studio_sessions", "mirrors", "mirror_events")


async def two_workspaces(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    a = await create_workspace(db, f"rls-a-{uuid.uuid4().hex[:8]}", "a")
    b = await create_workspace(db, f"rls-b-{uuid.uuid4().hex[:8]}", "b")
    return a.id, b.id


async def test_every_tenant_table_has_forced_row_level_security(admin_sql: Any) -> None:
    rows = await admin_sql.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
        " JOIN information_schema.columns col ON col.table_name = c.relname AND col.column_name = 'workspace_id'"
        " WHERE c.relkind = 'r' AND col.table_schema = 'public'")
    found = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
    assert set(found) == set(TENANT_TABLES)
    assert all(enabled and forced for enabled, forced in found.values()), found


async def test_an_unfiltered_select_on_the_tenant_path_sees_one_workspace(database: Database) -> None:
    a, _ = await two_workspaces(database)
    for table in ("objects", "branches"):
        async with database.transaction(Tenant(a), readonly=True) as tx:
            # Deliberately no WHERE: the policy alone keeps workspace b out.
            seen = {r["workspace_id"] for r in await tx.fetch(f"SELECT workspace_id FROM {table}")}
        assert seen == {a}, table


async def test_a_bare_connection_sees_no_tenant_rows_even_as_the_owner(database: Database,
                                                                       pg_server: PostgresServer,
                                                                       admin_sql: Any) -> None:
    a, _ = await two_workspaces(database)
    conn = await asyncpg.connect(pg_server.dsn)
    try:
        owner = await conn.fetchval("SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'objects'")
        assert owner, "the application role owns the tables: FORCE is what keeps RLS on for it"
        for table in TENANT_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert await admin_sql.fetchval("SELECT count(*) FROM objects WHERE workspace_id = $1", a) == 2
        # A transaction-local setting ends with its transaction: the connection is bare again.
        async with conn.transaction():
            await conn.execute(Tenant(a).setting_sql())
            assert await conn.fetchval("SELECT count(*) FROM objects") == 2
        assert await conn.fetchval("SELECT count(*) FROM objects") == 0
        head = await admin_sql.fetchval("SELECT head FROM branches WHERE workspace_id = $1", a)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute("INSERT INTO branches (workspace_id, name, head) VALUES ($1, 'x', $2)", a, head)
    finally:
        await conn.close()


async def test_a_tenant_cannot_write_rows_of_another_workspace(database: Database) -> None:
    a, b = await two_workspaces(database)
    async with database.transaction(Tenant(b), readonly=True) as tx:
        head_b = await tx.fetchval("SELECT head FROM branches WHERE name = 'main'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with database.transaction(Tenant(a)) as tx:
            await tx.execute("UPDATE branches SET name = 'stolen' WHERE workspace_id = $1", b)
            await tx.execute("INSERT INTO branches (workspace_id, name, head) VALUES ($1, 'planted', $2)",
                             b, head_b)
    async with database.transaction(Tenant(b), readonly=True) as tx:
        assert [r["name"] for r in await tx.fetch("SELECT name FROM branches")] == ["main"]


async def test_only_the_named_system_paths_cross_workspaces(database: Database) -> None:
    a, b = await two_workspaces(database)
    for path in SYSTEM_PATHS:
        async with database.transaction(path, readonly=True) as tx:
            seen = {r["workspace_id"] for r in await tx.fetch(
                "SELECT workspace_id FROM branches WHERE workspace_id = ANY($1::uuid[])", [a, b])}
        assert seen == {a, b}, path
    async with database.transaction(SystemPath("made-up-path"), readonly=True) as tx:
        assert await tx.fetchval("SELECT count(*) FROM branches") == 0


async def test_a_role_that_bypasses_row_level_security_is_refused(pg_server: PostgresServer) -> None:
    with pytest.raises(ConfigError, match="bypasses row-level security"):
        await Database.open(DatabaseSettings(dsn=pg_server.dsn_for(PG_DATABASE, admin=True), pool_min=1,
                                             pool_max=1))


def test_scopes_cannot_carry_text_into_the_setting() -> None:
    with pytest.raises(TypeError):
        Tenant("00000000-0000-0000-0000-000000000000'); DROP TABLE objects; --")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SystemPath("x'); DROP TABLE objects; --")
