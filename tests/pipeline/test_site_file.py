"""openbook.toml through the real pipeline: API → deployment → worker → published folder."""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from openbook.db.database import Database
from openbook.db.sites import Sites
from openbook.fs import storage
from openbook.worker.build import build
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, StartWorker, ws_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "site-file.md"


def documented_example() -> str:
    """The ```toml block of the "A complete example" section of docs/site-file.md."""
    section = DOC.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    found = re.search(r"^```toml\n(.*?)^```$", section, re.M | re.S)
    assert found, "docs/site-file.md has no toml example"
    return found.group(1)


async def deploy(api: Api, stack: Stack, database: Database, site_id: str, ref: str | None = None) -> dict[str, Any]:
    dep = await api.deploy(site_id, ref)
    await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))
    return await api.deployment(dep["id"])


async def delete(api: Api, path: str) -> str:
    raw = json.dumps({"message": "delete", "changes": [{"op": "delete", "path": path}]}).encode()
    body = await api.call("POST", "/api/branches/main/commits", 201, data=io.BytesIO(raw),
                          headers={**api.h, "Content-Type": "application/json"})
    return str(body["id"])


def live_dir(api: Api, stack: Stack, site: dict[str, Any]) -> Path:
    return stack.storage / ws_of(api) / site["id"] / "live"


def redirect_target(page: str) -> str:
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]*)">', page)
    assert refresh, page
    assert f'<link rel="canonical" href="{refresh.group(1)}">' in page
    assert f'<a href="{refresh.group(1)}">' in page
    return refresh.group(1)


def uses_book_theme(folder: Path) -> bool:
    return any(p.name.startswith("book.") for p in folder.rglob("*.css"))


async def test_the_documented_example_deploys_as_documented(admin: Api, workers: StartWorker,
                                                             stack: Stack) -> None:
    worker = workers("w1")
    example = documented_example()
    await admin.commit({
        "docs/openbook.toml": example,
        "docs/index.md": "# Welcome\n\nStart with [installing](guide/install.md). <b onclick=\"x()\">Bold</b>\n",
        "docs/guide/install.md": "# Installing\n\nRun it.\n",
    })
    # The API says otherwise about everything the file sets.
    site = await admin.site("notes", name="API name", theme="base", root="docs",
                            settings={"html": "escape", "strict": False, "params": {"footer": "API footer"}})
    dep = await admin.deploy(site["id"])
    done = (await admin.wait_terminal([dep["id"]], 60))[dep["id"]]
    assert done["status"] == "deployed", (done, worker.output())
    assert done["stats"]["redirects"] == 2 and done["stats"]["broken_links"] == []

    live = live_dir(admin, stack, site)
    home = (live / "index.html").read_text()
    assert "<title>Welcome · Field Notes</title>" in home
    assert uses_book_theme(live)
    assert '<span class="site-subtitle">A field guide</span>' in home
    assert "<p>Written in the open.</p>" in home and "API footer" not in home
    assert 'href="https://git.example.org/field-notes"' in home
    assert "<b>Bold</b>" in home and "onclick" not in home  # html = "sanitize"
    assert "<loc>https://notes.example.org/guide/install/</loc>" in (live / "sitemap.xml").read_text()
    assert redirect_target((live / "setup/index.html").read_text()) == "../guide/install/"
    assert redirect_target((live / "old/faq/index.html").read_text()) == "https://help.example.org/faq"
    assert not (live / "openbook.toml").exists()


async def test_the_build_outcome_carries_keep_deployments_and_redirects(admin: Api, stack: Stack,
                                                                        database: Database) -> None:
    commit = await admin.commit({"docs/openbook.toml": documented_example(), "docs/index.md": "# Home\n",
                                 "docs/guide/install.md": "# Install\n"})
    created = await admin.site("notes", root="docs")
    site = await Sites(database, uuid.UUID(admin.workspace_id)).get(uuid.UUID(created["id"]))
    outcome = await build(database, stack.storage, (), site, commit, None)
    assert outcome.site.keep_deployments == 10
    assert [(r.source, r.target) for r in outcome.site.redirects] == [
        ("setup.md", "guide/install.md"), ("old/faq.md", "https://help.example.org/faq")]
    assert outcome.site.site_file == "docs/openbook.toml"


async def test_an_invalid_file_fails_the_deployment_and_live_stays(admin: Api, stack: Stack,
                                                                   database: Database) -> None:
    good = await admin.commit({**SAMPLE_BOOK, "openbook.toml": 'title = "Good"\n'})
    site = await admin.site()
    first = await deploy(admin, stack, database, site["id"])
    assert first["status"] == "deployed"
    live = live_dir(admin, stack, site)
    assert os.readlink(live) == good

    await admin.commit({"openbook.toml": 'title = "Good"\n\ntheme = "nope"\ncolour = "red"\n'})
    bad = await deploy(admin, stack, database, site["id"])
    assert bad["status"] == "failed"
    assert bad["error"] == (
        "openbook.toml: line 3, key theme: unknown theme 'nope' (neither a built-in theme nor one in THEMES_PATH);"
        " line 4, key colour: unknown key (known: title, theme, base_url, html, strict, params, redirects,"
        " keep_deployments)")
    assert bad["conditions"][-1]["reason"] == "RenderError"

    await admin.commit({"openbook.toml": 'title = "Good"\nstrict = yes\n'})
    syntax = await deploy(admin, stack, database, site["id"])
    assert syntax["status"] == "failed"
    assert syntax["error"] == "openbook.toml: line 2, column 10, key strict: invalid TOML: invalid value"

    assert os.readlink(live) == good
    assert (await admin.call("GET", f"/api/sites/{site['id']}", 200))["live_deployment_id"] == first["id"]
    built = {p.name for p in live.parent.iterdir()}
    assert bad["commit"] not in built and syntax["commit"] not in built


async def test_the_file_changes_title_theme_and_params_and_leaving_it_out_restores_the_api(
        admin: Api, stack: Stack, database: Database) -> None:
    await admin.commit({"index.md": "Home text.\n", "intro.md": "# Intro\n"})
    site = await admin.site(name="API title", theme="base",
                            settings={"params": {"footer": "API footer", "subtitle": "API subtitle"}})
    live = live_dir(admin, stack, site)

    assert (await deploy(admin, stack, database, site["id"]))["status"] == "deployed"
    home = (live / "index.html").read_text()
    assert "<title>API title</title>" in home and "<p>API footer</p>" in home and not uses_book_theme(live)

    await admin.commit({"openbook.toml": 'title = "File title"\ntheme = "book"\n[params]\nsubtitle = "File sub"\n'})
    assert (await deploy(admin, stack, database, site["id"]))["status"] == "deployed"
    home = (live / "index.html").read_text()
    assert "<title>File title</title>" in home and "API title" not in home and uses_book_theme(live)
    assert '<span class="site-subtitle">File sub</span>' in home
    assert "<p>API footer</p>" in home  # params merge key by key

    await delete(admin, "openbook.toml")
    assert (await deploy(admin, stack, database, site["id"]))["status"] == "deployed"
    home = (live / "index.html").read_text()
    assert "<title>API title</title>" in home and "File title" not in home and not uses_book_theme(live)


async def test_the_build_key_changes_with_the_site_file(admin: Api, stack: Stack, database: Database) -> None:
    one = await admin.commit({**SAMPLE_BOOK, "openbook.toml": 'title = "One"\n'})
    site = await admin.site()
    first = await deploy(admin, stack, database, site["id"])
    two = await admin.commit({"openbook.toml": 'title = "Two"\n'})  # the pages are unchanged
    second = await deploy(admin, stack, database, site["id"])
    assert first["status"] == second["status"] == "deployed"
    folder = live_dir(admin, stack, site).parent

    def key(commit: str) -> object:
        manifest = storage.read_manifest(folder / commit)
        assert manifest is not None
        return manifest["build_key"]

    assert key(one) != key(two)
    assert second["stats"]["folder_reused"] is False
    assert "Two" in (folder / two / "index.html").read_text()
    assert "One" in (folder / one / "index.html").read_text()
    # The same commit again: the same key, so the folder is reused as it is.
    again = await deploy(admin, stack, database, site["id"], ref=one)
    assert again["status"] == "deployed" and again["stats"]["folder_reused"] is True


async def test_redirects_broken_targets_and_pages_still_present(admin: Api, stack: Stack,
                                                                database: Database) -> None:
    toml = '[redirects]\n"guide/start.md" = "guide/intro.md"\n"old.md" = "gone.md"\n'
    await admin.commit({**SAMPLE_BOOK, "openbook.toml": toml})
    site = await admin.site()
    done = await deploy(admin, stack, database, site["id"])
    assert done["status"] == "deployed", done
    assert done["stats"]["redirects"] == 1
    assert {"path": "openbook.toml", "line": 3, "target": "gone.md", "count": 1} in done["stats"]["broken_links"]
    live = live_dir(admin, stack, site)
    assert redirect_target((live / "guide/start/index.html").read_text()) == "../../guide/intro/"
    assert not (live / "old").exists()
    live_commit = os.readlink(live)

    await admin.commit({"guide/start.md": "# Back again\n"})
    clash = await deploy(admin, stack, database, site["id"])
    assert clash["status"] == "failed"
    assert clash["error"] == ('openbook.toml: line 2, key redirects."guide/start.md": guide/start.md is a page of'
                              " the site; remove the page or the redirect")
    assert os.readlink(live) == live_commit

    await admin.commit({"openbook.toml": "strict = true\n" + toml, "guide/start.md": "# Moved\n"})
    await delete(admin, "guide/start.md")
    strict = await deploy(admin, stack, database, site["id"])
    assert strict["status"] == "failed"
    assert strict["error"] == 'openbook.toml: line 4, key redirects."old.md": gone.md is not a page of the site'
    assert os.readlink(live) == live_commit
