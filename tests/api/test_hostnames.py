"""Which hostnames a site may claim (issue 8, finding 7): the pure rules, then through the API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from openbook.api.hostnames import parse_hostname, validate_hostname
from openbook.errors import InvalidRequest


@pytest.mark.parametrize("raw, expected", [
    ("docs.openbook-ci.dev", "docs.openbook-ci.dev"),
    ("Docs.OpenBook-CI.Dev", "docs.openbook-ci.dev"),
    ("a.b.c.d.openbook-ci.dev", "a.b.c.d.openbook-ci.dev"),
    ("x-y.openbook-ci.dev", "x-y.openbook-ci.dev"),
    ("live.openbook-ci.dev", "live.openbook-ci.dev"),
    ("docs.xn--mnchen-3ya.de", "docs.xn--mnchen-3ya.de"),
    ("1password.com", "1password.com"),
    ("example.co.uk", "example.co.uk"),
    ("myexample.com", "myexample.com"),
    ("deadbeef.org", "deadbeef.org"),
])
def test_public_names_are_accepted_and_normalised(raw: str, expected: str) -> None:
    assert validate_hostname(raw) == expected


@pytest.mark.parametrize("raw, reason", [
    ("127.0.0.1", "ip_literal"),
    ("10.0.0.8", "ip_literal"),
    ("127.1", "ip_literal"),
    ("2130706433", "ip_literal"),
    ("0x7f.1", "ip_literal"),
    ("0x7f000001", "ip_literal"),
    ("0177.0.0.1", "ip_literal"),
    ("docs.0x10", "ip_literal"),
    ("::1", "ip_literal"),
    ("[::1]", "ip_literal"),
    ("::ffff:127.0.0.1", "ip_literal"),
    ("fe80::1%eth0", "ip_literal"),
    ("localhost", "reserved"),
    ("LOCALHOST", "reserved"),
    ("app.localhost", "reserved"),
    ("docs.test", "reserved"),
    ("book.example", "reserved"),
    ("printer.local", "reserved"),
    ("x.invalid", "reserved"),
    ("example.com", "reserved"),
    ("docs.example.com", "reserved"),
    ("www.example.net", "reserved"),
    ("example.org", "reserved"),
    ("router.home.arpa", "reserved"),
    ("hidden.onion", "reserved"),
    ("wiki.internal", "reserved"),
    ("live", "single_label"),
    ("intranet", "single_label"),
    ("previews", "single_label"),
    ("main--docs.openbook-ci.dev", "preview_form"),
    ("a--b.openbook-ci.dev", "preview_form"),
    ("xn--mnchen-3ya.de", "preview_form"),
    ("_hosts.openbook-ci.dev", "syntax"),
    ("_hosts", "syntax"),
    (".tmp-x", "syntax"),
    ("..", "syntax"),
    ("", "syntax"),
    ("trailing.dot.", "syntax"),
    ("a/b.dev", "syntax"),
    ("é.openbook-ci.dev", "syntax"),
    ("\u212a.openbook-ci.dev", "syntax"),
    (" docs.openbook-ci.dev", "syntax"),
    ("docs.openbook-ci.dev\n", "syntax"),
    ("x" * 64 + ".dev", "syntax"),
    (("a." * 127) + "dev", "syntax"),
    (7, "syntax"),
    (None, "syntax"),
])
def test_refused_names_say_why(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_hostname(raw)
    assert info.value.details == {"field": "hostname", "hostname": raw, "reason": reason}
    assert repr(raw) in info.value.message


def test_parse_only_checks_syntax_so_old_claims_stay_removable() -> None:
    assert parse_hostname("Book.Example") == "book.example"
    assert parse_hostname("127.0.0.1") == "127.0.0.1"
    with pytest.raises(InvalidRequest):
        parse_hostname("a..b")


async def test_the_api_refuses_reserved_names_and_accepts_public_ones(api: Any, token_for: Any,
                                                                      workspace_id: uuid.UUID) -> None:
    h = token_for(workspace_id, "admin")
    site = await (await api.post("/api/sites", json={"name": "S", "slug": "s", "theme": "book"}, headers=h)).json()
    domains = f"/api/sites/{site['id']}/domains"
    for bad, reason in (("localhost", "reserved"), ("127.0.0.1", "ip_literal"), ("2130706433", "ip_literal"),
                        ("live", "single_label"), ("docs.example.com", "reserved"),
                        ("main--docs.openbook-ci.dev", "preview_form")):
        resp = await api.post(domains, json={"hostname": bad}, headers=h)
        assert resp.status == 400, bad
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_request"
        assert error["details"] == {"field": "hostname", "hostname": bad, "reason": reason}
    # Hostnames are unique across workspaces, and other tests share this database.
    label = f"docs-{uuid.uuid4().hex[:12]}"
    ok = await api.post(domains, json={"hostname": f"{label.upper()}.OpenBook-CI.dev"}, headers=h)
    assert ok.status == 201 and (await ok.json())["hostname"] == f"{label}.openbook-ci.dev"
    got = await (await api.get(f"/api/sites/{site['id']}", headers=h)).json()
    assert got["domains"] == [f"{label}.openbook-ci.dev"]
