"""`openbook dev` / `make demo`: the whole stack on one machine, publishing `examples/`.

Starts a private PostgreSQL and Redis under the data folder, migrates, runs
`openbook api` and `openbook worker` as child processes with a generated
environment, creates a workspace, pushes the example book, creates a site,
deploys it, serves the live folder, and prints where to look. Ctrl-C stops
every child cleanly. State (database, secret, storage) survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from openbook.api.auth import mint_token
from openbook.client.push import push
from openbook.config import JwtSettings
from openbook.db.migrate import apply_migrations
from openbook.dev.stack import (
    PostgresServer,
    RedisServer,
    free_port,
    postgres_can_reach,
    wait_for_port,
)
from openbook.dev.static import static_app
from openbook.errors import DevStackError, ToolError

SITE_SLUG = "book"
DEPLOY_TIMEOUT_S = 120


def _pg_dir(data: Path) -> Path:
    """The cluster's folder: inside the data folder unless the postgres user cannot reach it
    (a checkout under root's private home); then a stable folder under the system temp dir."""
    if postgres_can_reach(data):
        return data / "pg"
    digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"openbook-dev-pg-{digest}"


def _secret(data: Path) -> str:
    path = data / "jwt_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "openbook.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _login_link(env: dict[str, str], workspace_id: str) -> str:
    """A studio sign-in link for the demo workspace, as an operator would make one."""
    made = subprocess.run([sys.executable, "-m", "openbook.cli", "login-link", "--workspace", workspace_id,
                           "--sub", "demo", "--role", "admin"], env=env, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise ToolError(f"login-link failed: {made.stderr.strip()}")
    return made.stdout.strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    async with http.request(method, path, **kw) as resp:
        body = await resp.json(content_type=None)
        if resp.status >= 400:
            raise ToolError(f"{method} {path} answered {resp.status}: {body}")
        return body


async def _publish(api: str, token: str, examples: Path, state_file: Path) -> dict[str, Any]:
    """Create the site (once), push examples/: the push itself deploys it (deploy on push)."""
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(api, headers=headers) as http:
        if "site_id" not in state:
            site = await _call(http, "POST", "/api/sites",
                               json={"name": "The OpenBook Book", "slug": SITE_SLUG, "theme": "book",
                                     "previews": True})
            state["site_id"] = site["id"]
            state_file.write_text(json.dumps(state))
        result = await push(examples, "main", "Publish the example book", api, token)
        pushed = []
        if result.commit is not None:
            listed = await _call(http, "GET", f"/api/commits/{result.commit}/deployments")
            pushed = [d for d in listed["deployments"] if d["site_id"] == state["site_id"]]
        started = time.monotonic()
        # Nothing changed since the last run: deploy the branch as it is (live may be missing).
        deployment = pushed[0] if pushed else await _call(http, "POST", "/api/deployments",
                                                          json={"site_id": state["site_id"]})
        while deployment["status"] not in ("deployed", "failed", "superseded"):
            if time.monotonic() - started > DEPLOY_TIMEOUT_S:
                raise ToolError(f"deployment {deployment['id']} still {deployment['status']} after "
                               f"{DEPLOY_TIMEOUT_S}s; see the worker log")
            await asyncio.sleep(0.1)
            deployment = await _call(http, "GET", f"/api/deployments/{deployment['id']}")
        if deployment["status"] == "failed":
            raise ToolError(f"deployment failed: {deployment['error']}")
    state["deployment"] = deployment
    state["pushed"] = result.commit
    return state


def run_dev(data: Path, examples: Path, port: int = 8080, *, exit_after_publish: bool = False) -> int:
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    storage = data / "storage"
    storage.mkdir(exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    pg = PostgresServer(_pg_dir(data))
    redis = RedisServer(data / "redis")
    try:
        print("starting PostgreSQL and Redis ...", flush=True)
        pg.start()
        redis.start()
        apply_migrations(pg.dsn)
        secret = _secret(data)
        env = {**os.environ, "DB_DSN": pg.dsn, "REDIS_ADDR": redis.addr, "REDIS_PASSWORD": "", "REDIS_DB": "0",
               "APP_PORT": str(port), "STORAGE_PATH": str(storage), "JWT_SECRET": secret,
               "WORKER_NAME": "dev-worker"}
        workspace_file = data / "workspace.json"
        if not workspace_file.exists():
            created = subprocess.run([sys.executable, "-m", "openbook.cli", "workspace", "create", "demo",
                                      "--name", "Demo"], env=env, capture_output=True, text=True, check=False)
            if created.returncode != 0:
                raise ToolError(f"workspace create failed: {created.stderr.strip()}")
            workspace_file.write_text(created.stdout)
        workspace = json.loads(workspace_file.read_text())
        children.append(_spawn(["api"], env, data / "api.log"))
        children.append(_spawn(["worker"], env, data / "worker.log"))
        wait_for_port(port, 30, children[0])
        token = mint_token(JwtSettings("HS256", secret), workspace["id"], "demo", ["admin"], 7 * 86400,
                           time.time())
        api = f"http://127.0.0.1:{port}"
        state = asyncio.run(_publish(api, token, examples, data / "site.json"))
        live = storage / workspace["id"] / state["site_id"] / "live"
        stats = state["deployment"].get("stats", {})
        studio = _login_link(env, workspace["id"])
        if exit_after_publish:
            print(json.dumps({"live": str(live), "api": api, "site_id": state["site_id"], "stats": stats,
                              "trigger": state["deployment"]["trigger"], "studio": studio}))
            return 0
        site_port = free_port() if port != 8081 else 8082
        print(f"""
OpenBook is running.
  studio {studio}
         (a one-time sign-in link, valid 10 minutes; for another one:
          DB_DSN='{pg.dsn}' APP_PORT={port} openbook login-link --workspace {workspace["id"]} --sub demo --role admin)
  site   http://127.0.0.1:{site_port}/   (the live deployment, {stats.get('pages', '?')} pages)
  API    {api}   (see docs/api.md)
  token  {token}
  git    git clone http://demo:{token}@127.0.0.1:{port}/git/{workspace["slug"]}.git
  files  {live}
  logs   {data}/api.log, {data}/worker.log
The site redeploys itself on every push (deploy on push): edit a page under
{examples} and run
  openbook push {examples} --branch main --api {api} --token <token above>
then reload the site, or commit and `git push` in the clone above (docs/git.md).
Other branches get previews (docs/gitops.md).
Try:  curl -H "Authorization: Bearer $TOKEN" {api}/api/branches
Ctrl-C stops everything.""", flush=True)
        web.run_app(static_app(lambda: live if live.exists() else None), host="127.0.0.1", port=site_port,
                    print=None, access_log=None)
        return 0
    except ToolError as exc:
        print(f"openbook dev: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            _stop(child)
        with contextlib.suppress(DevStackError):
            redis.stop()
            pg.stop()
