"""A workspace deleted in the database stops authenticating (finding 6 of issue 8), and never causes a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from openbook.api import app as app_module
from openbook.db.workspaces import create_workspace


async def delete_workspace(admin_sql: Any, workspace_id: uuid.UUID) -> None:
    async with admin_sql.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        for table in ("audit_log", "branches", "objects"):
            await conn.execute(f"DELETE FROM {table} WHERE workspace_id = $1", workspace_id)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
        await conn.execute("DELETE FROM workspaces WHERE id = $1", workspace_id)


@pytest.mark.parametrize("ttl_s", [0.0, 3600.0])
async def test_a_deleted_workspace_is_401_after_the_cache_and_never_500(
        aiohttp_client: Any, api_settings: Any, token_for: Any, database: Any, admin_sql: Any,
        monkeypatch: pytest.MonkeyPatch, ttl_s: float) -> None:
    monkeypatch.setattr(app_module, "WORKSPACE_TTL_S", ttl_s)
    api = await aiohttp_client(app_module.create_api(api_settings))
    ws = await create_workspace(database, f"gone-{uuid.uuid4().hex[:8]}", "soon gone")
    h = token_for(ws.id, "admin")
    assert (await api.get("/api/branches", headers=h)).status == 200  # now known to the cache
    await delete_workspace(admin_sql, ws.id)
    site = {"name": "S", "slug": "s", "theme": "book"}
    resp = await api.post("/api/sites", json=site, headers=h)
    if ttl_s == 0.0:
        assert resp.status == 401, await resp.text()
    else:
        # Still cached as existing: the request fails cleanly, as a conflict, never as a 500.
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "conflict", await resp.text()
