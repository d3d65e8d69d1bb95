"""`openbook push DIR --branch B`: commit the difference between a folder and a branch head.

Only changed files travel: local blob ids are computed with the store's own
hashing and compared with the branch's recursive tree listing. The commit is
sent with `expected_head`, so a concurrent change makes the push fail loudly
(409 stale_head) instead of overwriting it.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from openbook.errors import OpenBookError, PushError
from openbook.fs.scan import scan_folder
from openbook.store.objects import hash_raw


@dataclass(frozen=True, slots=True)
class PushResult:
    commit: str | None
    added: int
    modified: int
    deleted: int


def plan_changes(local: dict[str, bytes], remote: dict[str, str]) -> list[dict[str, Any]]:
    """The commit's `changes`: puts for new or different files, deletes for vanished ones."""
    changes: list[dict[str, Any]] = []
    for path, data in sorted(local.items()):
        if remote.get(path) != hash_raw("blob", data):
            changes.append({"op": "put", "path": path, "content_base64": base64.b64encode(data).decode()})
    changes.extend({"op": "delete", "path": p} for p in sorted(set(remote) - set(local)))
    return changes


async def _json(resp: aiohttp.ClientResponse) -> Any:
    body = await resp.json(content_type=None)
    if resp.status >= 400:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        raise PushError(f"{resp.method} {resp.url.path}: {resp.status} {err.get('code')}: {err.get('message')}")
    return body


async def push(folder: Path, branch: str, message: str, api: str, token: str) -> PushResult:
    local = scan_folder(folder)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(api.rstrip("/"), headers=headers, timeout=timeout) as http:
        head = (await _json(await http.get(f"/api/branches/{branch}")))["head"]
        listing = await _json(await http.get(f"/api/refs/{head}/tree", params={"recursive": "1"}))
        remote = {e["path"]: e["hash"] for e in listing["entries"] if e["kind"] == "blob"}
        changes = plan_changes(local, remote)
        if not changes:
            return PushResult(None, 0, 0, 0)
        body = {"message": message, "expected_head": head, "changes": changes}
        commit = await _json(await http.post(f"/api/branches/{branch}/commits", json=body))
    puts = [c["path"] for c in changes if c["op"] == "put"]
    modified = sum(1 for p in puts if p in remote)
    return PushResult(commit["id"], len(puts) - modified, modified, len(changes) - len(puts))


def run_push_cli(folder: Path, branch: str, message: str, api: str, token: str) -> int:
    try:
        result = asyncio.run(push(folder, branch, message, api, token))
    except (OpenBookError, aiohttp.ClientError, OSError) as exc:
        print(f"openbook: push failed: {exc}", file=sys.stderr)
        return 1
    if result.commit is None:
        print(f"{branch}: up to date, nothing to push")
    else:
        print(f"{branch}: {result.commit} (+{result.added} ~{result.modified} -{result.deleted})")
    return 0
