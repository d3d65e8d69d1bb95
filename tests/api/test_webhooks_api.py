"""Webhook endpoints against the real app: bad input, roles, tenancy, private targets at creation."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from openbook.config import Settings, WebhookSettings
from openbook.db.workspaces import create_workspace

Headers = dict[str, str]
SECRET = "s3cret-of-16-bytes!"
GOOD = {"url": "https://hooks.example.com/openbook", "events": ["deployment.finished"], "secret": SECRET}


@pytest.fixture
def h(token_for: Any, workspace_id: uuid.UUID) -> Headers:
    headers: Headers = token_for(workspace_id, "admin")
    return headers


async def hooks(api: Any, h: Headers) -> list[dict[str, Any]]:
    resp = await api.get("/api/webhooks", headers=h)
    assert resp.status == 200, await resp.text()
    found: list[dict[str, Any]] = (await resp.json())["webhooks"]
    return found


async def create(api: Any, h: Headers, body: Any, expect: int = 201) -> dict[str, Any]:
    resp = await api.post("/api/webhooks", json=body, headers=h)
    text = await resp.text()
    assert resp.status == expect, text
    assert SECRET not in text
    answer: dict[str, Any] = await resp.json()
    return answer


async def test_create_list_delete_never_echo_the_secret(api: Any, h: Headers) -> None:
    made = await create(api, h, {**GOOD, "events": ["merge.executed", "branch.updated", "merge.executed"]})
    assert set(made) == {"id", "url", "events", "created_at"}
    assert made["url"] == GOOD["url"] and made["events"] == ["merge.executed", "branch.updated"]
    listed = await hooks(api, h)
    assert listed == [made]
    resp = await api.get(f"/api/webhooks/{made['id']}/deliveries", headers=h)
    assert resp.status == 200 and await resp.json() == {"deliveries": []}
    resp = await api.delete(f"/api/webhooks/{made['id']}", headers=h)
    assert resp.status == 200 and await resp.json() == {"id": made["id"], "deleted": True}
    assert await hooks(api, h) == []
    for method, path in (("DELETE", f"/api/webhooks/{made['id']}"), ("GET", f"/api/webhooks/{made['id']}/deliveries")):
        resp = await api.request(method, path, headers=h)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    audit = (await (await api.get("/api/audit", headers=h)).json())["entries"]
    assert [e["action"] for e in audit[:2]] == ["webhook.deleted", "webhook.created"]
    assert all(SECRET not in str(e) for e in audit)


BAD_BODIES: list[tuple[str, Any]] = [
    ("not an object", ["https://hooks.example.com/"]),
    ("unknown field", {**GOOD, "active": True}),
    ("missing secret", {"url": GOOD["url"], "events": GOOD["events"]}),
    ("missing url", {"events": GOOD["events"], "secret": SECRET}),
    ("url not a string", {**GOOD, "url": 5}),
    ("url ftp", {**GOOD, "url": "ftp://hooks.example.com/x"}),
    ("url file", {**GOOD, "url": "file:///etc/passwd"}),
    ("url without scheme", {**GOOD, "url": "hooks.example.com/x"}),
    ("url without host", {**GOOD, "url": "http:///x"}),
    ("url only scheme", {**GOOD, "url": "https://"}),
    ("url with a space", {**GOOD, "url": "https://hooks.example.com/a b"}),
    ("url bad port", {**GOOD, "url": "https://hooks.example.com:99999/"}),
    ("url too long", {**GOOD, "url": "https://hooks.example.com/" + "a" * 3000}),
    ("events empty", {**GOOD, "events": []}),
    ("events a string", {**GOOD, "events": "deployment.finished"}),
    ("events null", {**GOOD, "events": None}),
    ("events unknown", {**GOOD, "events": ["deployment.finished", "branch.created"]}),
    ("events not strings", {**GOOD, "events": [5]}),
    ("secret short", {**GOOD, "secret": "x" * 15}),
    ("secret short in bytes", {**GOOD, "secret": "é" * 7}),
    ("secret not ASCII", {**GOOD, "secret": "é" * 16}),
    ("secret with a newline", {**GOOD, "secret": "x" * 16 + "\n"}),
    ("secret a number", {**GOOD, "secret": 1234567890123456789}),
    ("secret null", {**GOOD, "secret": None}),
    ("secret too long", {**GOOD, "secret": "x" * 1025}),
]

PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd12:3456::1]/", "http://224.0.0.1/",
    "http://0.0.0.0/", "http://[::]/", "http://240.0.0.1/", "http://100.64.0.1/", "http://[::ffff:127.0.0.1]/",
    "http://0x7f.1/", "http://2130706433/", "http://127.1/", "https://[2002:7f00:1::]/",
]


async def test_bad_input_is_400_with_the_envelope_and_creates_nothing(api: Any, h: Headers) -> None:
    for name, body in BAD_BODIES + [(url, {**GOOD, "url": url}) for url in PRIVATE_URLS]:
        resp = await api.post("/api/webhooks", json=body, headers=h)
        answer = await resp.json()
        assert resp.status == 400, (name, answer)
        assert answer["error"]["code"] == "invalid_request" and answer["error"]["message"], name
    resp = await api.post("/api/webhooks", data=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert resp.status == 400
    assert await hooks(api, h) == []
    audit = (await (await api.get("/api/audit", headers=h)).json())["entries"]
    assert not [e for e in audit if e["action"].startswith("webhook.")]


async def test_a_private_ip_literal_names_the_address(api: Any, h: Headers) -> None:
    answer = await create(api, h, {**GOOD, "url": "http://169.254.169.254/latest"}, 400)
    assert answer["error"]["details"] == {"field": "url", "address": "169.254.169.254"}
    assert "link-local" in answer["error"]["message"] and "WEBHOOK_ALLOW_PRIVATE" in answer["error"]["message"]


async def test_names_are_not_resolved_at_creation(api: Any, h: Headers) -> None:
    # `localhost` is refused when a delivery resolves it (tests/pipeline/test_webhooks.py), not here.
    made = await create(api, h, {**GOOD, "url": "http://localhost:8080/hook"})
    assert made["url"] == "http://localhost:8080/hook"


async def test_private_targets_are_allowed_with_the_flag(aiohttp_client: Any, api_settings: Settings,
                                                         h: Headers) -> None:
    from openbook.server import create_app

    settings = dataclasses.replace(api_settings, webhooks=WebhookSettings(allow_private=True))
    api = await aiohttp_client(create_app(settings))
    for url in ("http://127.0.0.1:9/hook", "http://[::1]:9/", "http://10.0.0.7/"):
        made = await create(api, h, {**GOOD, "url": url})
        assert made["url"] == url


async def test_only_admins_manage_webhooks(api: Any, h: Headers, token_for: Any, workspace_id: uuid.UUID) -> None:
    made = await create(api, h, GOOD)
    for role in ("reader", "writer", "publisher"):
        other: Headers = token_for(workspace_id, role)
        for method, path in (("POST", "/api/webhooks"), ("GET", "/api/webhooks"),
                             ("DELETE", f"/api/webhooks/{made['id']}"),
                             ("GET", f"/api/webhooks/{made['id']}/deliveries")):
            resp = await api.request(method, path, json=GOOD if method == "POST" else None, headers=other)
            assert resp.status == 403, (role, method, path)
    assert await hooks(api, h) == [made]


async def test_another_workspaces_webhook_is_404(api: Any, h: Headers, token_for: Any, database: Any) -> None:
    made = await create(api, h, GOOD)
    other_ws = await create_workspace(database, f"hooks-other-{uuid.uuid4().hex[:8]}", "another tenant")
    mallory: Headers = token_for(other_ws.id, "admin", sub="mallory")
    assert await hooks(api, mallory) == []
    for method, path in (("DELETE", f"/api/webhooks/{made['id']}"), ("GET", f"/api/webhooks/{made['id']}/deliveries"),
                         ("DELETE", "/api/webhooks/not-a-uuid"), ("GET", f"/api/webhooks/{uuid.uuid4()}/deliveries")):
        resp = await api.request(method, path, headers=mallory)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found", (method, path)
    assert await hooks(api, h) == [made]


async def test_deliveries_limit_is_checked(api: Any, h: Headers) -> None:
    made = await create(api, h, GOOD)
    for bad in ("0", "101", "many"):
        resp = await api.get(f"/api/webhooks/{made['id']}/deliveries?limit={bad}", headers=h)
        assert resp.status == 400, bad


async def test_a_workspace_has_at_most_20_webhooks(api: Any, h: Headers) -> None:
    for n in range(20):
        await create(api, h, {**GOOD, "url": f"https://hooks.example.com/{n}"})
    answer = await create(api, h, GOOD, 409)
    assert answer["error"]["code"] == "conflict" and answer["error"]["details"] == {"limit": 20}
    assert len(await hooks(api, h)) == 20


async def test_a_retried_creation_with_an_idempotency_key_creates_one_webhook(api: Any, h: Headers) -> None:
    keyed = {**h, "Idempotency-Key": f"hook-{uuid.uuid4()}"}
    first = await api.post("/api/webhooks", json=GOOD, headers=keyed)
    again = await api.post("/api/webhooks", json=GOOD, headers=keyed)
    assert (first.status, again.status) == (201, 201) and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json() and SECRET not in await again.text()
    assert await hooks(api, h) == [await first.json()]
