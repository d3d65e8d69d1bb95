"""A private database, Redis database and STORAGE_PATH per test, and real worker processes.

Each test gets a fresh PostgreSQL database (migrated) on the session server and
its own Redis database number, so workers and relays of one test never see
another test's stream or outbox. Workers run as `python -m openbook.cli worker`
subprocesses configured only through environment variables, as in production.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
import redis

from openbook.api.auth import mint_token
from openbook.config import DatabaseSettings, Settings, load_settings
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, ensure_debian_package, free_port, wait_for_port

JWT_SECRET = "pipeline-test-secret-" + "y" * 40
CLAIM_IDLE_MS = 1000
_redis_dbs = itertools.cycle(range(1, 16))

Headers = dict[str, str]
StartWorker = Callable[..., "WorkerProcess"]


@dataclass
class Stack:
    """Where one test's API and workers connect, as environment variables."""

    dsn: str
    admin_dsn: str  # the superuser's, for assertions that look past row-level security
    redis_addr: str
    redis_db: int
    storage: Path
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            "DB_DSN": self.dsn,
            "REDIS_ADDR": self.redis_addr,
            "REDIS_PASSWORD": "",
            "REDIS_DB": str(self.redis_db),
            "APP_PORT": "8080",
            "STORAGE_PATH": str(self.storage),
            "JWT_SECRET": JWT_SECRET,
            "WORKER_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS),
            **self.extra_env,
            **overrides,
        }

    def settings(self, component: Any = "api") -> Settings:
        return load_settings(component, self.env())

    def redis(self) -> redis.Redis:
        host, _, port = self.redis_addr.rpartition(":")
        return redis.Redis(host=host, port=int(port), db=self.redis_db, decode_responses=True)


class WorkerProcess:
    """One `openbook worker` subprocess; its stderr goes to a log file for post-mortems."""

    def __init__(self, stack: Stack, name: str, *args: str) -> None:
        self.stack = stack
        self.name = name
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = stack.logs / f"worker-{name}.log"

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "openbook.cli", "worker", *self.args],
                env=self.stack.env(WORKER_NAME=self.name), stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresServer) -> str:
    """A database with every migration applied, copied for each test (a copy costs less than migrating)."""
    name = f"pl_template_{uuid.uuid4().hex[:8]}"
    apply_migrations(pg_server.create_database(name))
    return name


@pytest.fixture
def stack(pg_server: PostgresServer, redis_server: RedisServer, migrated_template: str,
          tmp_path: Path) -> Iterator[Stack]:
    name = f"pl_{uuid.uuid4().hex[:12]}"
    dsn = pg_server.create_database(name, template=migrated_template)
    admin_dsn = pg_server.dsn_for(name, admin=True)
    db = next(_redis_dbs)
    storage = tmp_path / "storage"
    storage.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    s = Stack(dsn=dsn, admin_dsn=admin_dsn, redis_addr=redis_server.addr, redis_db=db, storage=storage, logs=logs)
    with s.redis() as client:
        client.flushdb()
    yield s


@pytest.fixture
def workers(stack: Stack) -> Iterator[Callable[..., WorkerProcess]]:
    """`workers(name, *args)` starts a worker process; all are killed at teardown."""
    started: list[WorkerProcess] = []

    def start(name: str, *args: str) -> WorkerProcess:
        proc = WorkerProcess(stack, name, *args).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill9()


@pytest.fixture
async def database(stack: Stack) -> AsyncIterator[Database]:
    db = await Database.open(DatabaseSettings(dsn=stack.dsn, pool_min=1, pool_max=5))
    yield db
    await db.close()


@pytest.fixture
async def sql(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """Raw SQL as the superuser on this test's database: sees every workspace's rows."""
    pool = await asyncpg.create_pool(stack.admin_dsn, min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def ws(database: Database) -> uuid.UUID:
    workspace = await create_workspace(database, f"w-{uuid.uuid4().hex[:10]}", "pipeline tests")
    return workspace.id


@pytest.fixture
def token(stack: Stack) -> Callable[..., Headers]:
    settings = stack.settings()

    def make(workspace_id: uuid.UUID, *roles: str, sub: str = "tester") -> Headers:
        assert settings.jwt is not None
        value = mint_token(settings.jwt, workspace_id, sub, roles or ("admin",), 3600, time.time())
        return {"Authorization": f"Bearer {value}"}

    return make


@pytest.fixture
async def client(aiohttp_client: Any, stack: Stack) -> Any:
    """The real API app in this process, on this test's database and Redis database."""
    from openbook.server import create_app

    return await aiohttp_client(create_app(stack.settings()))


class Api:
    """Small helpers over the test client for the calls every test makes."""

    def __init__(self, client: Any, headers: Headers) -> None:
        self.client = client
        self.h = headers

    @property
    def workspace_id(self) -> str:
        token = self.h["Authorization"].split()[1]
        return str(jwt.decode(token, options={"verify_signature": False})["workspace_id"])

    async def call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        kw.setdefault("headers", self.h)
        resp = await self.client.request(method, path, **kw)
        text = await resp.text()
        assert resp.status == expect, f"{method} {path}: {resp.status} {text}"
        return await resp.json()

    async def commit(self, files: dict[str, str], branch: str = "main") -> str:
        changes = [{"op": "put", "path": p, "content": c} for p, c in files.items()]
        raw = json.dumps({"message": "edit", "changes": changes}).encode()
        body = await self.call("POST", f"/api/branches/{branch}/commits", 201, data=io.BytesIO(raw),
                               headers={**self.h, "Content-Type": "application/json"})
        return str(body["id"])

    async def site(self, slug: str = "book", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"name": "The Book", "slug": slug, "theme": "book", **extra}
        site: dict[str, Any] = await self.call("POST", "/api/sites", 201, json=body)
        return site

    async def deploy(self, site_id: str, ref: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"site_id": site_id}
        if ref is not None:
            body["ref"] = ref
        dep: dict[str, Any] = await self.call("POST", "/api/deployments", 202, json=body)
        return dep

    async def pushed(self, commit: str, site_id: str) -> dict[str, Any]:
        """The push deployment a commit set off for the site (deploy on push, SPEC §11)."""
        listed = await self.call("GET", f"/api/commits/{commit}/deployments", 200)
        found = [d for d in listed["deployments"] if d["site_id"] == site_id and d["trigger"] == "push"]
        assert len(found) == 1, listed
        return found[0]

    async def deployment(self, deployment_id: str) -> dict[str, Any]:
        dep: dict[str, Any] = await self.call("GET", f"/api/deployments/{deployment_id}", 200)
        return dep

    async def wait_terminal(self, deployment_ids: list[str],
                            timeout: float = 60) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while True:
            for dep_id in deployment_ids:
                if dep_id not in done:
                    dep = await self.deployment(dep_id)
                    if dep["status"] in ("deployed", "failed", "superseded"):
                        done[dep_id] = dep
            if len(done) == len(deployment_ids):
                return done
            if time.monotonic() > deadline:
                missing = {d: (await self.deployment(d))["status"] for d in deployment_ids if d not in done}
                raise AssertionError(f"deployments not finished after {timeout}s: {missing}")
            await asyncio.sleep(0.1)


@pytest.fixture
def admin(client: Any, token: Callable[..., Headers], ws: uuid.UUID) -> Api:
    return Api(client, token(ws, "admin"))


SAMPLE_BOOK = {
    "index.md": "---\ntitle: Welcome\n---\n# Welcome\n\nThe first page. See [the intro](guide/intro.md).\n",
    "guide/intro.md": "# Introduction\n\nSome *text* and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "guide/usage.md": "# Usage\n\n```python\nprint('hello')\n```\n",
    "img/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
}


def ws_of(api: Api) -> str:
    return api.workspace_id


NGINX_CONF = Path(__file__).resolve().parents[2] / "docs/ops/nginx.conf"


@pytest.fixture
def nginx(stack: Stack, tmp_path: Path) -> Iterator[str]:
    binary = ensure_debian_package("nginx", "nginx")
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    site_conf = NGINX_CONF.read_text()
    assert "listen 80 default_server;" in site_conf and "/srv/openbook/storage" in site_conf
    site_conf = site_conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    site_conf = site_conf.replace("/srv/openbook/storage", str(stack.storage))
    (prefix / "openbook.conf").write_text(site_conf)
    temps = "\n".join(f"  {kind}_temp_path {prefix}/tmp/{kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
{temps}
  include {prefix}/openbook.conf;
}}
""")
    check = subprocess.run([binary, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"),
                            "-c", str(prefix / "nginx.conf")], capture_output=True, check=False)
    assert check.returncode == 0, check.stderr.decode()
    proc = subprocess.Popen([binary, "-p", str(prefix), "-e", str(prefix / "error.log"),
                             "-c", str(prefix / "nginx.conf")])
    try:
        wait_for_port(port, 10, proc)  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def fetch(base: str, path: str, host: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(
            base + path, headers={"Host": host}, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()
