"""`openbook push DIR --branch B`: commit the difference between a folder and a branch head.

Only changed files travel: local blob ids are computed with the store's own
hashing and compared with the branch's recursive tree listing. The commit is
sent with `expected_head`, so a concurrent change makes the push fail loudly
(409 stale_head) instead of overwriting it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from openbook.store.objects import hash_raw
from openbook.store.paths import validate_path

IGNORED_NAMES = frozenset({"__pycache__"})
# Dot-files (.git, .env, editor state) stay local: the store keeps history
# forever, so a secret pushed once could never be taken back. .well-known/ is
# the exception, since sites publish it on purpose.
PUBLISHED_DOT_NAMES = frozenset({".well-known"})


def _skipped(name: str) -> bool:
    return name in IGNORED_NAMES or (name.startswith(".") and name not in PUBLISHED_DOT_NAMES)


class PushError(Exception):
    """The push could not be done; the message says why (the CLI prints it and exits 1)."""


@dataclass(frozen=True, slots=True)
class PushResult:
    commit: str | None
    added: int
    modified: int
    deleted: int


def scan_folder(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` (symlinks and ignored names skipped), path → bytes."""
    if not root.is_dir():
        raise PushError(f"{root} is not a folder")
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for name in filenames:
            full = Path(dirpath) / name
            if _skipped(name) or full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            files[validate_path(rel)] = full.read_bytes()
    return files


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
    except (PushError, aiohttp.ClientError, OSError) as exc:
        print(f"openbook: push failed: {exc}", file=sys.stderr)
        return 1
    if result.commit is None:
        print(f"{branch}: up to date, nothing to push")
    else:
        print(f"{branch}: {result.commit} (+{result.added} ~{result.modified} -{result.deleted})")
    return 0
