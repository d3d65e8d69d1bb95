"""Isolated builds (issue 8): a tenant's runaway template is killed at an OS limit; the others build on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import free_port
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Headers, Stack, StartWorker
from tests.pipeline.test_metrics import samples

# Finding 1 of issue 8: ~29 s of CPU inside three filter calls, where no cooperative check runs.
PATHOLOGICAL = "{{ ('ab' * 400000)|wordwrap(1)|length }}\n" * 3


async def test_a_runaway_template_is_killed_at_the_cpu_limit_and_other_tenants_deploy(
        admin: Api, client: Any, token: Callable[..., Headers], database: Database, stack: Stack,
        workers: StartWorker) -> None:
    port = free_port()
    stack.extra_env.update(BUILD_CPU_S="2", BUILD_WALL_S="60", WORKER_METRICS_PORT=str(port))
    worker = workers("w1")
    other = Api(client, token((await create_workspace(database, f"b-{uuid.uuid4().hex[:8]}", "B")).id, "admin"))
    await admin.commit({"index.md": "# Home\n", "_theme/templates/page.html": PATHOLOGICAL})
    await other.commit(SAMPLE_BOOK)
    attacked = await admin.deploy((await admin.site())["id"])
    victim = await other.deploy((await other.site())["id"])

    bad = (await admin.wait_terminal([attacked["id"]], 60))[attacked["id"]]
    good = (await other.wait_terminal([victim["id"]], 60))[victim["id"]]
    assert bad["status"] == "failed", bad
    assert bad["error"].startswith("_theme/templates/page.html: line 1: CPU time limit of 2 s"), bad["error"]
    assert "BUILD_CPU_S" in bad["error"] and "while rendering index.md" in bad["error"]
    assert bad["conditions"][-1]["reason"] == "limit exceeded"
    assert good["status"] == "deployed", good
    assert worker.alive()
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        got = samples(await resp.text())
    assert got[("openbook_builds_killed_total", (("limit", "cpu"),))] == 1
