"""Precedence: a value in the site file wins over the same setting given through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from openbook.db.sites import Site
from openbook.siteconf import Redirect, SiteConfig, SiteFile, combine


def site(settings: dict[str, Any] | None = None, domains: tuple[str, ...] = ()) -> Site:
    return Site(id=uuid.uuid4(), workspace_id=uuid.uuid4(), name="API title", slug="s", theme="base",
                branch="main", root="docs", settings=settings or {}, live_deployment_id=None,
                created_at=datetime.now(UTC), domains=domains)


def test_without_a_file_the_api_decides() -> None:
    api = site({"html": "trusted", "strict": True, "base_url": "https://api.example/",
                "params": {"footer": "api"}}, domains=("docs.example",))
    assert combine(api, None) == SiteConfig(
        root="docs", title="API title", theme="base", base_url="https://api.example/", html="trusted",
        strict=True, params={"footer": "api"})


def test_defaults_without_either() -> None:
    assert combine(site(), None) == SiteConfig(root="docs", title="API title", theme="base", base_url=None,
                                               html="sanitize", strict=False)
    assert combine(site(domains=("a.example", "b.example")), None).base_url == "https://a.example/"


def test_each_value_of_the_file_wins() -> None:
    api = site({"html": "trusted", "strict": True, "base_url": "https://api.example/"}, domains=("d.example",))
    file = SiteFile(path="docs/openbook.toml", title="File title", theme="book",
                    base_url="https://file.example/", html="sanitize", strict=False,
                    redirects=(Redirect("a.md", "b.md", 3),), keep_deployments=7)
    assert combine(api, file) == SiteConfig(
        root="docs", title="File title", theme="book", base_url="https://file.example/", html="sanitize",
        strict=False, redirects=(Redirect("a.md", "b.md", 3),), keep_deployments=7,
        site_file="docs/openbook.toml")


def test_a_key_the_file_leaves_out_keeps_the_api_value() -> None:
    api = site({"html": "trusted", "strict": True}, domains=("d.example",))
    got = combine(api, SiteFile(path="openbook.toml", title="File title"))
    assert (got.title, got.theme, got.html, got.strict, got.base_url) == (
        "File title", "base", "trusted", True, "https://d.example/")
    assert got.site_file == "openbook.toml" and got.keep_deployments is None and got.redirects == ()
    # false is a value: it wins over the API's true.
    assert combine(api, SiteFile(path="openbook.toml", strict=False)).strict is False


def test_params_merge_key_by_key_with_the_file_winning() -> None:
    api = site({"params": {"footer": "api footer", "subtitle": "api subtitle", "menu": [{"title": "A"}]}})
    file = SiteFile(path="openbook.toml", params={"footer": "file footer", "font": "serif",
                                                  "menu": [{"title": "F"}]})
    assert combine(api, file).params == {"footer": "file footer", "subtitle": "api subtitle", "font": "serif",
                                         "menu": [{"title": "F"}]}
    assert combine(api, SiteFile(path="openbook.toml")).params == api.settings["params"]
