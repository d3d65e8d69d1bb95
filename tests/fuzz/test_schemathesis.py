"""The fuzzing gate (issue 8, item 6): schemathesis against `openbook api` on a real port.

`openbook api` runs as a process configured only through the environment (as
in production) on the suite's PostgreSQL and Redis. schemathesis reads
`/api/openapi.json` and runs every phase (examples, coverage, fuzzing,
stateful) with every check, as an admin of a fresh workspace. Any 5xx, any
answer that breaks the document (status, content type, headers, body schema),
any valid request refused or invalid request accepted fails the test, with
schemathesis' report (each failure with a curl line to replay it) and the
tail of the server's log.

The run is deterministic (fixed seed, no example database) so that the gate
never flakes; OPENBOOK_FUZZ_SEED and OPENBOOK_FUZZ_EXAMPLES explore further
by hand.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openbook.dev.stack import PostgresServer, RedisServer, free_port
from tests.conftest import JWT_TEST_SECRET

MAX_EXAMPLES = os.environ.get("OPENBOOK_FUZZ_EXAMPLES", "100")
SEED = os.environ.get("OPENBOOK_FUZZ_SEED", "8")
RUN_TIMEOUT_S = 600
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def api_url(pg_server: PostgresServer, redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    """`openbook api` as a subprocess; its log is `tmp_path/api.log`."""
    storage = tmp_path / "api-storage"
    storage.mkdir()
    port = free_port()
    env = {**os.environ, "DB_DSN": pg_server.dsn, "REDIS_ADDR": redis_server.addr, "REDIS_PASSWORD": "",
           "REDIS_DB": "0", "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": JWT_TEST_SECRET}
    with open(tmp_path / "api.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "openbook.cli", "api"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "openbook api did not become healthy"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _call(api_url: str, authorization: str, method: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"{api_url}{path}", method=method, data=json.dumps(body).encode(),
                                     headers={"Authorization": authorization, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def seed(api_url: str, authorization: str) -> None:
    """Content the document's examples name (`main`, `guide/intro.md`, `draft/intro`), a site, a deployment."""
    files = {"index.md": "# Home\n\nSee [intro](guide/intro.md).\n", "guide/intro.md": "# Intro\n\nHello.\n",
             "data.json": "{}\n"}
    changes = [{"op": "put", "path": p, "content": c} for p, c in files.items()]
    changes.append({"op": "put", "path": "img/logo.png", "content_base64": base64.b64encode(b"\x89PNG\r\n").decode()})
    _call(api_url, authorization, "POST", "/api/branches/main/commits", {"message": "seed", "changes": changes})
    _call(api_url, authorization, "POST", "/api/branches", {"name": "draft/intro"})
    _call(api_url, authorization, "POST", "/api/branches/draft/intro/commits", {"message": "edit", "changes": [
        {"op": "put", "path": "guide/intro.md", "content": "# Intro\n\nHello again.\n"}]})
    site = _call(api_url, authorization, "POST", "/api/sites", {"name": "Docs", "slug": "docs", "theme": "book"})
    # Hostnames are unique across workspaces, and other tests share this database.
    hostname = f"docs-{uuid.uuid4().hex[:12]}.openbook-ci.dev"
    _call(api_url, authorization, "POST", f"/api/sites/{site['id']}/domains", {"hostname": hostname})
    _call(api_url, authorization, "POST", "/api/deployments", {"site_id": site["id"]})


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        api_url: str, token_for: Any, workspace_id: uuid.UUID, tmp_path: Path) -> None:
    authorization = token_for(workspace_id, "admin")["Authorization"]
    await asyncio.to_thread(seed, api_url, authorization)
    st = Path(sys.executable).parent / "st"
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(st), "--config-file", str(CONFIG), "run", f"{api_url}/api/openapi.json",
        "--header", f"Authorization: {authorization}",
        "--max-examples", MAX_EXAMPLES,
        "--seed", SEED,
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    report = out.decode(errors="replace")
    server_log = (tmp_path / "api.log").read_text(errors="replace")
    print(f"schemathesis ran {time.monotonic() - started:.0f}s\n{report}")
    assert proc.returncode == 0, f"{report[-30000:]}\n--- openbook api log (tail) ---\n{server_log[-5000:]}"
