"""Session credentials, CSRF tokens and roles (pure logic, no server)."""

from __future__ import annotations

import uuid

from openbook.studio.credentials import Credential, csrf_matches, csrf_token, role_permissions, same_origin


def test_credential_round_trips_and_rejects_anything_else() -> None:
    ws = uuid.uuid4()
    cred = Credential.new(ws)
    assert Credential.parse(str(cred)) == cred and cred.workspace_id == ws
    assert len(cred.digest()) == 32 and cred.digest() != Credential.new(ws).digest()
    for bad in (None, "", "x", f"{ws}.", f"{ws}.{cred.secret}x", f"{ws}.{cred.secret[:-1]}!", f"{ws}{cred.secret}",
                f"{str(ws).upper()}.{cred.secret}", f"{ws}.{cred.secret}\n"):
        assert Credential.parse(bad) is None, bad


def test_csrf_token_is_per_session_and_checked_in_constant_time() -> None:
    a, b = Credential.new(uuid.uuid4()), Credential.new(uuid.uuid4())
    assert csrf_token(a) == csrf_token(a) != csrf_token(b)
    assert csrf_matches(a, csrf_token(a))
    assert not csrf_matches(a, csrf_token(b))
    assert not csrf_matches(a, None) and not csrf_matches(a, "") and not csrf_matches(a, csrf_token(a)[:-1])
    assert not csrf_matches(a, "é" * 64)
    # The token says nothing about the secret it was made from.
    assert a.secret not in csrf_token(a)


def test_origin_must_be_this_server_when_the_browser_names_one() -> None:
    assert same_origin(None, "http", "studio.test:8080")
    assert same_origin("http://studio.test:8080", "http", "studio.test:8080")
    assert not same_origin("http://evil.test", "http", "studio.test:8080")
    assert not same_origin("https://studio.test:8080", "http", "studio.test:8080")
    assert not same_origin("null", "http", "studio.test:8080")


def test_studio_roles_are_the_api_roles() -> None:
    assert role_permissions("reader") == {"read"}
    assert role_permissions("writer") == {"read", "write"}
    assert role_permissions("publisher") == {"read", "publish"}
    assert role_permissions("admin") == {"read", "write", "publish", "admin"}
    assert role_permissions("owner") == frozenset()
