"""Prometheus metrics on the API port and on WORKER_METRICS_PORT: series operators need, no tenant text."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from openbook.dev.stack import free_port
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, StartWorker


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by (name, sorted labels): parsed with the client library's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_the_api_counts_requests_by_route_template_never_by_path(admin: Api, client: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    await admin.call("POST", "/api/branches", 201, json={"name": "secret-project/launch"})
    await admin.call("GET", "/api/branches/secret-project/launch", 200)
    await admin.call("GET", "/api/branches/no-such-branch", 404)
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "secret-project" not in text and "no-such-branch" not in text, "tenant text in a label"
    got = samples(text)
    route = "/api/branches/{name}"
    assert got[("openbook_http_requests_total", (("method", "GET"), ("route", route), ("status", "200")))] >= 1
    assert got[("openbook_http_requests_total", (("method", "GET"), ("route", route), ("status", "404")))] >= 1
    assert got[("openbook_http_request_seconds_count", (("method", "GET"), ("route", route)))] >= 2
    assert ("openbook_outbox_unpublished", ()) in got


async def test_the_worker_serves_deployments_and_build_phases(admin: Api, stack: Stack,
                                                              workers: StartWorker) -> None:
    port = free_port()
    stack.extra_env["WORKER_METRICS_PORT"] = str(port)
    workers("w1")
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    dep = await admin.deploy(site["id"])
    assert (await admin.wait_terminal([dep["id"]], 60))[dep["id"]]["status"] == "deployed"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    text = await resp.text()
                break
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline, "the worker never served its metrics"
                await asyncio.sleep(0.1)
    got = samples(text)
    assert got[("openbook_deployments_finished_total", (("status", "deployed"), ("trigger", "manual")))] == 1
    for phase in ("start", "load", "configure", "build", "render", "write", "publish"):
        assert got[("openbook_build_phase_seconds_count", (("phase", phase),))] >= 1, phase
    assert got[("openbook_stream_pending", ())] == 0
    assert site["id"] not in text and admin.workspace_id not in text
