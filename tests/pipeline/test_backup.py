"""docs/ops/backup.md, run as written: back up, restore into a fresh database and folder, serve again."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from openbook.config import DatabaseSettings
from openbook.db.database import Database
from openbook.dev.stack import PostgresServer
from openbook.fs import storage
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, ws_of

DOC = Path(__file__).resolve().parents[2] / "docs/ops/backup.md"


def shell_block(heading: str) -> str:
    """The first ```sh block after `## heading` in backup.md."""
    text = DOC.read_text()
    section = text[text.index(f"## {heading}\n"):]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, heading
    return match.group(1)


def run(script: str, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", "-c", script], env={**os.environ, **env}, capture_output=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def test_backup_and_restore_as_documented(admin: Api, stack: Stack, database: Any, sql: Any,
                                                pg_server: PostgresServer, tmp_path: Path) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "backup.openbook-ci.dev"})
    dep = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))).status == "deployed"

    backups = tmp_path / "backups"
    backups.mkdir()
    run(shell_block("Backup"), {"DB_DSN": stack.dsn, "STORAGE_PATH": str(stack.storage),
                                "BACKUP_DIR": str(backups)})
    assert len(list(backups.glob("openbook-*.dump"))) == 1
    assert len(list(backups.glob("storage-*.tar.gz"))) == 1

    restored_dsn = pg_server.create_database(f"restored_{uuid.uuid4().hex[:8]}")
    restored_storage = tmp_path / "restored"
    restored_storage.mkdir()
    run(shell_block("Restore"), {"DB_DSN": restored_dsn, "STORAGE_PATH": str(restored_storage),
                                 "BACKUP_DIR": str(backups)})

    ws = ws_of(admin)
    site_dir = restored_storage / ws / site["id"]
    assert os.readlink(site_dir / "live") == dep["commit"]
    original = stack.storage / ws / site["id"] / "live/index.html"
    assert (site_dir / "live/index.html").read_bytes() == original.read_bytes()
    assert (restored_storage / "_hosts/backup.openbook-ci.dev/index.html").is_file()

    restored_name = restored_dsn.rsplit("/", 1)[1]
    raw = await asyncpg.connect(pg_server.dsn_for(restored_name, admin=True))
    restored = await Database.open(DatabaseSettings(dsn=restored_dsn, pool_min=1, pool_max=2))
    try:
        assert await raw.fetchval("SELECT live_deployment_id FROM sites WHERE id = $1",
                                  uuid.UUID(site["id"])) == uuid.UUID(dep["id"])
        assert await raw.fetchval("SELECT count(*) FROM audit_log") == await sql.fetchval(
            "SELECT count(*) FROM audit_log")
        # Row-level security came back with the tables: the application role sees nothing unscoped.
        assert await raw.fetchval("SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class"
                                  " WHERE relname IN ('objects', 'branches', 'sites', 'deployments')")
        # The restored system deploys again (content store and outbox intact).
        new_id = uuid.uuid4()
        await raw.execute(
            "INSERT INTO deployments (id, workspace_id, site_id, commit_id) SELECT $1, workspace_id, site_id,"
            " commit_id FROM deployments WHERE id = $2", new_id, uuid.UUID(dep["id"]))
        result = await deploy_one(restored, restored_storage, new_id)
        assert result.status == "deployed"
        storage.reconcile_hosts(restored_storage, [])
        assert not (restored_storage / "_hosts/backup.openbook-ci.dev").exists()
    finally:
        await restored.close()
        await raw.close()
