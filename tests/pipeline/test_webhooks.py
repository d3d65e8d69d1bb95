"""Webhook deliveries end to end: a real receiving HTTP server, the API's and real workers' delivery loops.

The receiver is an aiohttp server on loopback, so the loops run with
`WEBHOOK_ALLOW_PRIVATE=1` except where the guard itself is under test. Tests
that need quick retries or short timeouts build the API with their own
`WebhookSettings` (the loop is the same code, with other numbers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from openbook.config import WebhookSettings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.webhooks import EVENTS, Webhooks
from openbook.store.trees import Change
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Headers, Stack, StartWorker

ROOT = Path(__file__).resolve().parents[2]
SECRET = "receiver-secret-0123456789"
QUICK = WebhookSettings(allow_private=True, connect_timeout_s=2.0, timeout_s=5.0, lease_s=20.0, poll_s=0.1,
                        max_attempts=3, first_retry_s=0.2)

Verify = Callable[[bytes, bytes, str], bool]


def docs_verify() -> Verify:
    """The `verify` function of docs/webhooks.md, executed as a reader would paste it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in block)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    verify: Verify = namespace["verify"]
    return verify


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def delivery(self) -> str:
        return self.headers["X-OpenBook-Delivery"]

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


class Receiver:
    """A real HTTP server that records every POST and answers per path as `plan` says.

    `plan[path]` lists the statuses of successive requests (the last repeats);
    None blocks the request until the test ends.
    """

    def __init__(self) -> None:
        self.got: list[Received] = []
        self.plan: dict[str, list[int | None]] = {}
        self.release = asyncio.Event()
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.lstrip("/")
        seen = sum(1 for r in self.got if r.path == path)
        self.got.append(Received(path, CIMultiDict(request.headers), await request.read()))
        statuses = self.plan.get(path, [200])
        status = statuses[min(seen, len(statuses) - 1)]
        if status is None:
            await self.release.wait()
            status = 200
        # A redirect points at /redirected, which a client that followed it would then POST to.
        headers = {"Location": "/redirected"} if 300 <= status < 400 else {}
        return web.Response(status=status, text="thanks", headers=headers)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.got if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.on(path)) < count:
            assert time.monotonic() < deadline, f"/{path} got {len(self.on(path))} request(s), expected {count}"
            await asyncio.sleep(0.05)
        return self.on(path)


@pytest.fixture
async def receiver(aiohttp_server: Any) -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", r.handle)  # any method: a followed redirect may GET
    server = await aiohttp_server(app)
    r.port = server.port
    yield r
    r.release.set()


@pytest.fixture
def private_ok(stack: Stack) -> Stack:
    """The stack with WEBHOOK_ALLOW_PRIVATE=1 for every process started from it (the receiver is on loopback)."""
    stack.extra_env["WEBHOOK_ALLOW_PRIVATE"] = "1"
    return stack


async def start_api(aiohttp_client: Any, stack: Stack, token: Callable[..., Headers], ws: uuid.UUID,
                    webhooks: WebhookSettings | None = None) -> Api:
    """The real app on this test's stack; its delivery loop runs with `webhooks` when given."""
    from openbook.server import create_app

    settings = stack.settings()
    if webhooks is not None:
        settings = dataclasses.replace(settings, webhooks=webhooks)
    return Api(await aiohttp_client(create_app(settings)), token(ws, "admin"))


async def subscribe(api: Api, url: str, events: list[str]) -> str:
    hook = await api.call("POST", "/api/webhooks", 201, json={"url": url, "events": events, "secret": SECRET})
    return str(hook["id"])


async def deliveries(api: Api, hook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.call("GET", f"/api/webhooks/{hook_id}/deliveries?limit=100",
                                                  200))["deliveries"]
    return found


async def wait_settled(api: Api, hook_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The webhook's deliveries once there are `count` and none is pending."""
    deadline = time.monotonic() + timeout
    while True:
        found = await deliveries(api, hook_id)
        if len(found) == count and all(d["status"] != "pending" for d in found):
            return found
        assert time.monotonic() < deadline, f"deliveries not settled after {timeout}s: {found}"
        await asyncio.sleep(0.1)


def check_request(got: Received, verify: Verify) -> None:
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-OpenBook-Event"] == got.doc["event"]
    uuid.UUID(got.delivery)
    assert verify(SECRET.encode(), got.body, got.headers["X-OpenBook-Signature-256"])
    assert not verify(SECRET.encode(), got.body + b" ", got.headers["X-OpenBook-Signature-256"])
    assert not verify(b"another-secret-of-some-length", got.body, got.headers["X-OpenBook-Signature-256"])


async def test_commit_merge_and_deployment_are_delivered_signed(aiohttp_client: Any, private_ok: Stack,
                                                                token: Callable[..., Headers], ws: uuid.UUID,
                                                                workers: StartWorker, receiver: Receiver,
                                                                sql: Any) -> None:
    api = await start_api(aiohttp_client, private_ok, token, ws)
    worker = workers("w1")  # its delivery loop and the API's both run: leases keep each delivery to one
    hook = await subscribe(api, receiver.url("all"), list(EVENTS))
    first = await api.commit(SAMPLE_BOOK)
    site = await api.site()
    await api.call("POST", "/api/branches", 201, json={"name": "draft", "from": "main"})
    draft = await api.commit({"guide/intro.md": "# Introduction, revised\n"}, branch="draft")
    merged = (await api.call("POST", "/api/merge", 201, json={"source": "draft", "target": "main"}))["commit"]["id"]

    listed = await wait_settled(api, hook, 6)
    got = receiver.on("all")
    assert sorted(r.delivery for r in got) == sorted(d["id"] for d in listed), "each delivery sent exactly once"
    assert Counter(r.doc["event"] for r in got) == {"branch.updated": 4, "merge.executed": 1,
                                                   "deployment.finished": 1}
    verify = docs_verify()
    for r in got:
        check_request(r, verify)
        stored = await sql.fetchval("SELECT body FROM webhook_deliveries WHERE id = $1", uuid.UUID(r.delivery))
        assert r.body == stored
    data = {(r.doc["event"], r.doc["data"].get("branch"), r.doc["data"].get("after")): r.doc["data"] for r in got}
    assert data[("branch.updated", "main", first)]["before"] is not None
    assert data[("branch.updated", "draft", first)]["before"] is None  # a new branch
    assert data[("branch.updated", "draft", draft)]["actor"] == "tester"
    assert data[("branch.updated", "main", merged)]["before"] == first
    merge = data[("merge.executed", "main", None)]
    assert (merge["commit"], merge["source"], merge["source_commit"]) == (merged, "draft", draft)
    finished = data[("deployment.finished", "main", None)]
    assert (finished["commit"], finished["status"], finished["site_id"]) == (merged, "deployed", site["id"])
    assert finished["live"] is True and finished["trigger"] == "push" and finished["finished_at"] is not None
    for d in listed:
        assert d["status"] == "delivered" and d["finished_at"] is not None and d["next_attempt_at"] is None
        assert [(a["attempt"], a["status_code"], a["error"]) for a in d["attempts"]] == [(1, 200, None)]
    assert [d["created_at"] for d in listed] == sorted((d["created_at"] for d in listed), reverse=True)
    assert worker.alive(), worker.output()


async def test_a_failing_target_is_retried_then_given_up_and_redirects_are_not_followed(
        aiohttp_client: Any, private_ok: Stack, token: Callable[..., Headers], ws: uuid.UUID,
        receiver: Receiver) -> None:
    api = await start_api(aiohttp_client, private_ok, token, ws, QUICK)
    receiver.plan = {"flaky": [500, 200], "down": [503], "moved": [301]}
    flaky = await subscribe(api, receiver.url("flaky"), ["branch.updated"])
    down = await subscribe(api, receiver.url("down"), ["branch.updated"])
    moved = await subscribe(api, receiver.url("moved"), ["branch.updated"])
    await api.commit({"index.md": "# Hello\n"})

    (delivered,) = await wait_settled(api, flaky, 1)
    assert delivered["status"] == "delivered"
    assert [(a["attempt"], a["status_code"], a["error"]) for a in delivered["attempts"]] == [(1, 500, None),
                                                                                           (2, 200, None)]
    first, second = receiver.on("flaky")
    assert first.delivery == second.delivery == delivered["id"] and first.body == second.body

    (failed,) = await wait_settled(api, down, 1)
    assert failed["status"] == "failed" and failed["finished_at"] is not None and failed["next_attempt_at"] is None
    assert [(a["attempt"], a["status_code"]) for a in failed["attempts"]] == [(1, 503), (2, 503), (3, 503)]
    assert len(receiver.on("down")) == QUICK.max_attempts

    (redirected,) = await wait_settled(api, moved, 1)
    assert redirected["status"] == "failed"
    assert [a["status_code"] for a in redirected["attempts"]] == [301, 301, 301]
    assert receiver.on("redirected") == [], "a redirect was followed"


async def test_a_hanging_target_times_out_and_does_not_hold_up_the_others(aiohttp_client: Any, private_ok: Stack,
                                                                          token: Callable[..., Headers],
                                                                          ws: uuid.UUID, receiver: Receiver) -> None:
    api = await start_api(aiohttp_client, private_ok, token, ws, QUICK)
    receiver.plan = {"hang": [None]}
    hang = await subscribe(api, receiver.url("hang"), ["branch.updated"])
    await api.commit({"index.md": "# One\n"})
    await receiver.wait_for("hang", 1)
    # The first request now hangs; a delivery queued after it goes out while it does.
    ok = await subscribe(api, receiver.url("ok"), ["branch.updated"])
    await api.commit({"index.md": "# Two\n"})

    (sent,) = await wait_settled(api, ok, 1)
    hung = await deliveries(api, hang)
    assert sent["status"] == "delivered"
    oldest = hung[-1]
    deadline = time.monotonic() + 30
    while not oldest["attempts"]:
        assert time.monotonic() < deadline, oldest
        await asyncio.sleep(0.1)
        oldest = (await deliveries(api, hang))[-1]
    attempt = oldest["attempts"][0]
    assert attempt["status_code"] is None and attempt["error"] == f"no answer within {QUICK.timeout_s:g}s"
    assert datetime.fromisoformat(sent["finished_at"]) < datetime.fromisoformat(attempt["at"]), \
        "the hanging request held up another delivery"
    assert oldest["status"] == "pending" and oldest["next_attempt_at"] is not None


async def test_private_targets_are_refused_at_delivery(aiohttp_client: Any, stack: Stack, database: Database,
                                                       token: Callable[..., Headers], ws: uuid.UUID,
                                                       receiver: Receiver) -> None:
    guarded = dataclasses.replace(QUICK, allow_private=False, max_attempts=1)
    api = await start_api(aiohttp_client, stack, token, ws, guarded)
    # A name is accepted at creation and refused once it resolves to loopback.
    named = await subscribe(api, receiver.url("named", host="localhost"), ["branch.updated"])
    # An IP literal is refused at creation; one stored anyway (the flag was on then) is refused at delivery.
    literal = await Webhooks(database, ws).create("tester", receiver.url("literal"), ("branch.updated",), SECRET)
    await api.commit({"index.md": "# Hello\n"})

    for hook_id, cause in ((named, "localhost resolves to"), (str(literal.id), "127.0.0.1 is a loopback")):
        (refused,) = await wait_settled(api, hook_id, 1)
        assert refused["status"] == "failed"
        (attempt,) = refused["attempts"]
        assert attempt["status_code"] is None and attempt["error"].startswith("refused: "), attempt
        assert cause in attempt["error"] and "loopback" in attempt["error"], attempt
    assert receiver.got == []


@pytest.mark.slow
async def test_a_crash_mid_delivery_loses_nothing(private_ok: Stack, database: Database, ws: uuid.UUID,
                                                  workers: StartWorker, receiver: Receiver, sql: Any) -> None:
    receiver.plan = {"hook": [None, 200]}  # the first request is still unanswered when the worker dies
    await Webhooks(database, ws).create("tester", receiver.url("hook"), ("branch.updated",), SECRET)
    head = await ContentRepository(database, ws).commit("main", [Change.put("index.md", b"# Hi\n")], "edit",
                                                        "tester", None)
    worker = workers("w1")
    (first,) = await receiver.wait_for("hook", 1, timeout=60)
    worker.kill9()
    row = await sql.fetchrow("SELECT id, status, attempts, lease_until > now() AS leased FROM webhook_deliveries")
    assert (row["status"], row["attempts"], row["leased"]) == ("pending", 0, True)

    restarted = workers("w1")
    deadline = time.monotonic() + 90
    while await sql.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", row["id"]) != "delivered":
        assert time.monotonic() < deadline, restarted.output()
        await asyncio.sleep(0.2)
    again = receiver.on("hook")[1]
    assert again.delivery == first.delivery == str(row["id"])
    assert again.body == first.body and first.doc["data"]["after"] == head.id
    verify = docs_verify()
    check_request(first, verify)
    check_request(again, verify)
    attempts = await sql.fetch("SELECT attempt, status_code, error FROM webhook_attempts WHERE delivery_id = $1",
                               row["id"])
    assert [tuple(a) for a in attempts] == [(1, 200, None)]
