"""The PostgreSQL adapter's one object: a pool, scoped transactions, translated errors.

    db = await Database.open(settings)
    async with db.transaction(Tenant(workspace_id)) as tx:   # RLS: that workspace's rows only
        ...
    async with db.transaction(SYSTEM_RELAY) as tx:            # a named path that crosses workspaces
        ...

Every transaction says whose rows it may see (SPEC §10): a tenant transaction
sets `app.workspace_id` for its own duration (`set_config(..., true)`), a
system transaction names its path in `app.system_path`. The database's
row-level security policies do the rest, so a query that forgets its
`WHERE workspace_id` still sees one workspace only.

Every failure to reach PostgreSQL — refused or lost connection, timeout, pool
exhausted, too many connections, shutdown, read-only standby — becomes
`Unavailable` here and only here; nothing above this package sees asyncpg.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from openbook.config import DatabaseSettings
from openbook.db.scopes import Scope, SystemPath, Tenant
from openbook.errors import ConfigError, Conflict, Unavailable

Row = Mapping[str, Any]
Isolation = Literal["read_committed", "repeatable_read", "serializable"]

# SQLSTATE classes and codes that mean "PostgreSQL cannot serve us now", not "bad query".
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # asyncpg's command_timeout, pool acquire timeout, connect timeout
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, out of memory, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # 25006: a read-only standby after fail-over
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says PostgreSQL cannot be reached or cannot serve now (retry later)."""
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return True
    # asyncpg raises a bare InterfaceError for a connection or pool closed under us.
    return isinstance(exc, asyncpg.InterfaceError) and ("closed" in str(exc) or "closing" in str(exc))


def translate(exc: BaseException) -> BaseException:
    """The OpenBook error for an asyncpg or socket error (or `exc` itself for others)."""
    if is_unavailable(exc):
        return Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}: {exc}".rstrip(": "),
                           {"backend": "postgres"})
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        # Requests check what they refer to first; a violation means it was deleted meanwhile.
        return Conflict("something this request refers to no longer exists", {"constraint": exc.constraint_name})
    return exc


@contextlib.contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        mapped = translate(exc)
        if mapped is exc:
            raise
        raise mapped from exc


class Tx:
    """One open transaction on one connection; every call translates backend failures."""

    __slots__ = ("_conn", "scope")

    def __init__(self, conn: asyncpg.Connection, scope: Scope) -> None:
        self._conn = conn
        self.scope = scope

    @property
    def workspace_id(self) -> uuid.UUID:
        """The tenant's workspace (tenant transactions only)."""
        if not isinstance(self.scope, Tenant):
            raise TypeError(f"{self.scope} is not a tenant transaction")
        return self.scope.workspace_id

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        with translated():
            rows: list[Row] = await self._conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        with translated():
            row: Row | None = await self._conn.fetchrow(sql, *args)
            return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        with translated():
            return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: object) -> str:
        """Run a statement; its status tag (e.g. `UPDATE 3`)."""
        with translated():
            status: str = await self._conn.execute(sql, *args)
            return status

    async def insert_unique(self, sql: str, *args: object, taken: Conflict) -> Row | None:
        """Run an INSERT; raise `taken` when it violates a unique constraint."""
        try:
            return await self.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise taken from exc

    async def cursor(self, sql: str, *args: object, prefetch: int = 1000) -> AsyncIterator[Row]:
        """Rows of a large result, `prefetch` at a time (inside this transaction)."""
        with translated():
            async for row in self._conn.cursor(sql, *args, prefetch=prefetch):
                yield row


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(frozen=True, slots=True)
class RoleCheck:
    """What the connected role may bypass; RLS holds only when both are false."""

    superuser: bool
    bypass_rls: bool


class Database:
    """The pool and everything that runs on it. Open with `Database.open`, close with `close`."""

    def __init__(self, pool: asyncpg.Pool, settings: DatabaseSettings) -> None:
        self._pool = pool
        self.settings = settings

    @classmethod
    async def open(cls, settings: DatabaseSettings) -> Database:
        """Open the pool, retrying until `startup_wait_s`; then Unavailable.

        Raises ConfigError when the role is a superuser or may bypass row-level
        security: tenancy would then rest on query filters alone.
        """
        deadline = time.monotonic() + settings.startup_wait_s
        delay = 0.2
        while True:
            try:
                pool = await asyncpg.create_pool(
                    settings.dsn,
                    min_size=settings.pool_min,
                    max_size=settings.pool_max,
                    command_timeout=settings.command_timeout_s,
                    timeout=settings.connect_timeout_s,
                    init=_init_connection,
                )
                break
            except Exception as exc:
                if not is_unavailable(exc):
                    raise ConfigError([f"DB_DSN: PostgreSQL refused the connection: {exc}"]) from exc
                if time.monotonic() + delay > deadline:
                    raise Unavailable(f"PostgreSQL did not answer within {settings.startup_wait_s:.0f}s: {exc}",
                                      {"backend": "postgres"}) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        db = cls(pool, settings)
        role = await db.role()
        if role.superuser or role.bypass_rls:
            await db.close()
            raise ConfigError([
                "DB_DSN connects as a role that bypasses row-level security (superuser or BYPASSRLS);"
                " connect as the database's owner role instead (docs/ops/runbook.md, 'Database roles')"])
        return db

    async def close(self) -> None:
        await self._pool.close()

    async def role(self) -> RoleCheck:
        """Whether the connected role is a superuser or bypasses row-level security."""
        async with self._connection() as conn:
            with translated():
                row = await conn.fetchrow(
                    "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        return RoleCheck(superuser=bool(row["rolsuper"]), bypass_rls=bool(row["rolbypassrls"]))

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Raise Unavailable unless PostgreSQL answers within `timeout_s`."""
        with translated():
            async with self._pool.acquire(timeout=timeout_s) as conn:
                await conn.fetchval("SELECT 1", timeout=timeout_s)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        with translated():
            conn = await self._pool.acquire(timeout=self.settings.acquire_timeout_s)
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):  # a broken connection is discarded by the pool
                await self._pool.release(conn)

    @contextlib.asynccontextmanager
    async def transaction(self, scope: Scope, *, readonly: bool = False,
                          isolation: Isolation = "read_committed") -> AsyncIterator[Tx]:
        """One transaction in `scope`, committed when the block ends, rolled back if it raises.

        Raises Unavailable when PostgreSQL cannot be reached (then nothing was committed,
        unless the failure hit the COMMIT itself: an unknown outcome, as for any client).
        """
        async with self._connection() as conn:
            # BEGIN and the scope's setting in one round trip: both values are ours (a uuid
            # or a name from SYSTEM_PATHS), never the caller's text.
            mode = f"ISOLATION LEVEL {isolation.replace('_', ' ').upper()}" + (" READ ONLY" if readonly else "")
            with translated():
                await conn.execute(f"BEGIN {mode}; {scope.setting_sql()}")
            try:
                yield Tx(conn, scope)
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            with translated():
                await conn.execute("COMMIT")



__all__ = ["Database", "Row", "SystemPath", "Tenant", "Tx", "is_unavailable", "translate", "translated"]
