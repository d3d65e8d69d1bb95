"""`openbook fsck` finds hash mismatches and dangling references (exit 1), passes clean data."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from openbook.db.migrate import apply_migrations
from openbook.dev.stack import PostgresServer
from openbook.store.objects import TreeEntry, encode_leaf


def fsck(dsn: str, workspace: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openbook.cli", "fsck", "--workspace", workspace],
                          env={"DB_DSN": dsn, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120)


def test_fsck_reports_damage(pg_server: PostgresServer, tmp_path: Path) -> None:
    name = f"fsck_{uuid.uuid4().hex[:8]}"
    dsn = pg_server.create_database(name)
    apply_migrations(dsn)
    created = subprocess.run([sys.executable, "-m", "openbook.cli", "workspace", "create", "docs"],
                             env={"DB_DSN": dsn, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                             timeout=120)
    assert created.returncode == 0, created.stderr
    ws = json.loads(created.stdout)["id"]

    clean = fsck(dsn, ws)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["objects"] == 2  # empty tree + root commit

    # A tree pointing at a blob that was never stored.
    tree = encode_leaf([TreeEntry("lost.md", "blob", "a" * 64, 3)])  # type: ignore[arg-type]
    pg_server.psql(
        f"INSERT INTO objects (workspace_id, hash, kind, data) VALUES ('{ws}', '{tree.id}', 'tree', "
        f"'\\x{tree.payload.hex()}'::bytea)", database=name, admin=True)
    dangling = fsck(dsn, ws)
    assert dangling.returncode == 1
    assert f"dangling reference: {tree.id} -> {'a' * 64}" in dangling.stdout

    # Bit rot below the CHECK constraint (dropped to simulate damage the database did not catch).
    pg_server.psql("ALTER TABLE objects DROP CONSTRAINT objects_check", database=name)
    pg_server.psql(f"UPDATE objects SET data = '\\x5b5d20'::bytea WHERE hash = '{tree.id}'",
                   database=name, admin=True)
    rotten = fsck(dsn, ws)
    assert rotten.returncode == 1
    assert f"hash mismatch: tree {tree.id}" in rotten.stdout

    unknown = fsck(dsn, str(uuid.uuid4()))
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr
