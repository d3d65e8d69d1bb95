"""docs/ops/nginx.conf served by a real nginx (Debian package) from a real STORAGE_PATH."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from openbook.dev.stack import ensure_debian_package, free_port, wait_for_port
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, ws_of

CONF = Path(__file__).resolve().parents[2] / "docs/ops/nginx.conf"


@pytest.fixture
def nginx(stack: Stack, tmp_path: Path) -> Iterator[str]:
    binary = ensure_debian_package("nginx", "nginx")
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    site_conf = CONF.read_text()
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


async def test_nginx_serves_live_sites_by_host(nginx: str, admin: Api, stack: Stack, pool: Any) -> None:
    first = await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "book.openbook-ci.dev"})
    old = await admin.deploy(site["id"])
    assert (await deploy_one(pool, stack.storage, uuid.UUID(old["id"]))).status == "deployed"

    status, headers, body = await fetch(nginx, "/", "Book.OpenBook-CI.dev")
    assert status == 200 and b"Welcome" in body
    assert headers["Content-Type"].startswith("text/html")
    assert headers["X-OpenBook-Commit"] == first and headers["Cache-Control"] == "no-cache"
    status, _, body = await fetch(nginx, "/guide/intro/", "book.openbook-ci.dev")
    assert status == 200 and b"Introduction" in body and b"<table>" in body
    status, headers, _ = await fetch(nginx, "/guide/intro", "book.openbook-ci.dev")
    assert status == 301 and headers["Location"] == "/guide/intro/"
    status, headers, body = await fetch(nginx, "/img/logo.svg", "book.openbook-ci.dev")
    assert status == 200 and body == SAMPLE_BOOK["img/logo.svg"].encode()
    assert headers["Content-Type"] == "image/svg+xml"

    # Hashed theme assets are immutable.
    live = stack.storage / ws_of(admin) / site["id"] / "live"
    asset = next(p for p in (live / "static").rglob("*.css"))
    status, headers, _ = await fetch(nginx, "/" + str(asset.relative_to(live)), "book.openbook-ci.dev")
    assert status == 200 and "immutable" in headers["Cache-Control"]

    # Missing pages get the site's own 404 page; metadata and unknown hosts are 404 too.
    status, _, body = await fetch(nginx, "/no/such/page/", "book.openbook-ci.dev")
    assert status == 404 and body == (live / "404.html").read_bytes()
    status, _, _ = await fetch(nginx, "/.openbook-manifest.json", "book.openbook-ci.dev")
    assert status == 404
    status, _, _ = await fetch(nginx, "/", "unknown.example")
    assert status == 404

    # A new deployment shows at once, and a rollback too.
    second = await admin.commit({"index.md": "# Second edition\n"})
    new = await admin.deploy(site["id"])
    assert (await deploy_one(pool, stack.storage, uuid.UUID(new["id"]))).status == "deployed"
    status, headers, body = await fetch(nginx, "/", "book.openbook-ci.dev")
    assert b"Second edition" in body and headers["X-OpenBook-Commit"] == second
    await admin.call("POST", f"/api/sites/{site['id']}/live", 200, json={"deployment_id": old["id"]})
    status, headers, body = await fetch(nginx, "/", "book.openbook-ci.dev")
    assert b"Welcome" in body and headers["X-OpenBook-Commit"] == first

    # Removing the domain stops serving it.
    await admin.call("DELETE", f"/api/sites/{site['id']}/domains/book.openbook-ci.dev", 200)
    assert (await fetch(nginx, "/", "book.openbook-ci.dev"))[0] == 404
