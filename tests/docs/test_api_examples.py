"""docs/api.md is executable: every http-example block runs, in order, against the real app.

The examples tell one story in one fresh workspace (branch, commit, read, diff,
merge, conflict, sites, deployments, audit), so a response that drifts from
the reference fails here with the line of the example in docs/api.md.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from openbook.cli import build_parser
from openbook.db.workspaces import create_workspace
from tests.docs.httpexamples import ExampleError, match, parse, substitute

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
CLI_MD = ROOT / "docs" / "cli.md"
ROLES = ("reader", "writer", "publisher", "admin")


def _bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def tokens(token_for: Any, workspace_id: uuid.UUID, database: Any) -> dict[str, str]:
    """`$READER_TOKEN` ... `$ADMIN_TOKEN` for the story's workspace, `$OTHER_TOKEN` for another one."""
    other = await create_workspace(database, f"docs-other-{uuid.uuid4().hex[:8]}", "another tenant")
    found = {f"{role.upper()}_TOKEN": _bearer(token_for(workspace_id, role, sub="alice")) for role in ROLES}
    found["OTHER_TOKEN"] = _bearer(token_for(other.id, "admin", sub="mallory"))
    return found


def test_examples_parse_and_tell_a_long_enough_story() -> None:
    examples = parse(API_MD.read_text())
    assert len(examples) >= 30
    # Every ```http-example fence was understood (none silently skipped).
    assert API_MD.read_text().count("```http-example") == len(examples)


async def test_every_http_example_in_docs_api_md(api: Any, tokens: dict[str, str]) -> None:
    captured: dict[str, str] = {}
    for ex in parse(API_MD.read_text()):
        where = f"docs/api.md line {ex.line}: {ex.method} {ex.path}"
        path = substitute(ex.path, captured)
        headers = {k: substitute(v, captured, tokens) for k, v in ex.headers.items()}
        data = substitute(ex.body, captured).encode() if ex.body is not None else None
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        resp = await api.request(ex.method, path, headers=headers, data=data)
        raw = await resp.read()
        text = raw.decode(errors="replace")
        try:
            if resp.status != ex.status:
                raise ExampleError(f"status {resp.status}, documented {ex.status}")
            for name, value in ex.response_headers.items():
                match(substitute(value, captured), resp.headers.get(name), captured, f"header {name}")
            if ex.expected is not None:
                expected = substitute(ex.expected, captured)
                if expected.lstrip().startswith(("{", "[")):
                    match(json.loads(expected), json.loads(raw), captured)
                elif text.rstrip("\n") != expected.rstrip("\n"):
                    raise ExampleError(f"body {text!r}, documented {expected!r}")
        except (ExampleError, KeyError, ValueError) as exc:
            pytest.fail(f"{where}\n  {exc}\n  response: {resp.status} {text[:2000]}")


async def test_every_operation_of_the_openapi_description_is_documented(api: Any,
                                                                        tokens: dict[str, str]) -> None:
    resp = await api.get("/api/openapi.json", headers={"Authorization": f"Bearer {tokens['READER_TOKEN']}"})
    described = {f"{method.upper()} {path}" for path, ops in (await resp.json())["paths"].items()
                 for method in ops}
    heading = re.compile(r"^#{2,4} `?((?:GET|POST|PUT|PATCH|DELETE) /\S+?)`?$", re.M)
    headings = set(heading.findall(API_MD.read_text()))
    assert described - headings == set(), "operations without a heading in docs/api.md"
    assert headings - described == set(), "docs/api.md documents operations the API does not describe"


def test_every_cli_command_is_documented() -> None:
    text = CLI_MD.read_text()
    commands = next(a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [name for name in commands if not re.search(rf"^#+ `openbook {name}\b", text, re.M)]
    assert missing == []
    for variable in ("DB_DSN", "REDIS_ADDR", "REDIS_PASSWORD", "REDIS_DB", "APP_PORT", "STORAGE_PATH",
                     "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_ALGORITHM", "JWT_ISSUER", "JWT_AUDIENCE",
                     "THEMES_PATH", "WORKER_NAME", "WORKER_CLAIM_IDLE_MS", "WORKER_METRICS_PORT",
                     "WEBHOOK_ALLOW_PRIVATE", "OPENBOOK_API",
                     "OPENBOOK_TOKEN"):
        assert f"`{variable}`" in text, variable
