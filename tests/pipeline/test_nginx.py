"""docs/ops/nginx.conf served by a real nginx (Debian package) from a real STORAGE_PATH."""

from __future__ import annotations

import uuid
from typing import Any

from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, fetch, ws_of


async def test_nginx_serves_live_sites_by_host(nginx: str, admin: Api, stack: Stack, database: Any) -> None:
    first = await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "book.openbook-ci.dev"})
    old = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(old["id"]))).status == "deployed"

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
    assert (await deploy_one(database, stack.storage, uuid.UUID(new["id"]))).status == "deployed"
    status, headers, body = await fetch(nginx, "/", "book.openbook-ci.dev")
    assert b"Second edition" in body and headers["X-OpenBook-Commit"] == second
    await admin.call("POST", f"/api/sites/{site['id']}/live", 200, json={"deployment_id": old["id"]})
    status, headers, body = await fetch(nginx, "/", "book.openbook-ci.dev")
    assert b"Welcome" in body and headers["X-OpenBook-Commit"] == first

    # Removing the domain stops serving it.
    await admin.call("DELETE", f"/api/sites/{site['id']}/domains/book.openbook-ci.dev", 200)
    assert (await fetch(nginx, "/", "book.openbook-ci.dev"))[0] == 404
