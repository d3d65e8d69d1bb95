"""GET /api/openapi.json: an OpenAPI 3.1 description of every endpoint that exists.

Each module adds its operations with `document(...)`; the route table and the
description are checked against each other by a test.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

ERROR = {"$ref": "#/components/schemas/Error"}
COMMIT = {"$ref": "#/components/schemas/Commit"}
BRANCH = {"$ref": "#/components/schemas/Branch"}

_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {}


def document(method: str, path: str, summary: str, *, role: str, body: dict[str, Any] | None = None,
             responses: dict[int, str] | None = None, params: list[dict[str, Any]] | None = None) -> None:
    """Describe one operation (`path` in OpenAPI form, e.g. /api/branches/{name})."""
    op: dict[str, Any] = {"summary": summary, "description": f"Needs the `{role}` role (or admin).",
                          "responses": {}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _path_params(path)]
    op["parameters"] = parameters + (params or [])
    for status, text in (responses or {200: "OK"}).items():
        schema = ERROR if status >= 400 else {"type": "object"}
        op["responses"][str(status)] = {"description": text, "content": {"application/json": {"schema": schema}}}
    for status, text in ((400, "invalid_request"), (401, "unauthorized"), (403, "forbidden")):
        op["responses"].setdefault(str(status), {"description": text,
                                                 "content": {"application/json": {"schema": ERROR}}})
    _OPERATIONS[(method.lower(), path)] = op


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]


def query(name: str, description: str, kind: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": kind}}


def spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(_OPERATIONS.items()):
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenBook API", "version": "0.1.0"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "details"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "details": {"type": "object"}}}}},
                "Commit": {"type": "object", "properties": {
                    k: {"type": "string"} for k in ("id", "tree", "message", "author", "created_at")
                } | {"parents": {"type": "array", "items": {"type": "string"}}}},
                "Branch": {"type": "object", "properties": {
                    k: {"type": "string"} for k in ("name", "head", "updated_at")}},
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", get_openapi)


CHANGE = {"type": "object", "required": ["op", "path"], "properties": {
    "op": {"enum": ["put", "delete"]}, "path": {"type": "string"},
    "content": {"type": "string"}, "content_base64": {"type": "string"}}}

document("get", "/health", "PostgreSQL and Redis checks", role="none",
         responses={200: "all checks pass", 500: "a named check failed"})
document("get", "/api/openapi.json", "This description", role="reader")
document("post", "/api/branches", "Create a branch", role="writer",
         body={"type": "object", "required": ["name"], "properties": {
             "name": {"type": "string"}, "from": {"type": "string", "default": "main"}}},
         responses={201: "created", 404: "from not found", 409: "already_exists"})
document("get", "/api/branches", "List branches", role="reader")
document("get", "/api/branches/{name}", "One branch", role="reader", responses={200: "OK", 404: "not_found"})
document("delete", "/api/branches/{name}", "Delete a branch and its previews", role="writer",
         responses={200: "deleted", 404: "not_found", 409: "conflict: a site publishes this branch"})
document("post", "/api/branches/{name}/commits", "Commit changes to a branch", role="writer",
         body={"type": "object", "required": ["message", "changes"], "properties": {
             "message": {"type": "string"}, "expected_head": {"type": "string"},
             "changes": {"type": "array", "items": CHANGE}}},
         responses={201: "commit created", 404: "not_found", 409: "stale_head", 413: "too_large"})
document("get", "/api/branches/{name}/log", "Commits newest first", role="reader",
         params=[query("limit", "1..1000, default 50", "integer")], responses={200: "OK", 404: "not_found"})
document("get", "/api/commits/{id}", "One commit", role="reader", responses={200: "OK", 404: "not_found"})
document("get", "/api/refs/{ref}/tree", "List a folder of a branch or commit", role="reader",
         params=[query("path", "folder, default the root"), query("recursive", "1 for all levels")],
         responses={200: "OK", 404: "not_found"})
document("get", "/api/refs/{ref}/files/{path}", "Raw bytes of one file", role="reader",
         responses={200: "the file with a content type", 404: "not_found"})
document("get", "/api/diff", "Changed paths between two refs", role="reader",
         params=[query("from", "branch or commit", required=True), query("to", "branch or commit", required=True)],
         responses={200: "OK", 404: "not_found"})
document("post", "/api/merge", "Three-way merge of source into target branch", role="writer",
         body={"type": "object", "required": ["source", "target"], "properties": {
             "source": {"type": "string"}, "target": {"type": "string"}, "message": {"type": "string"},
             "strategy": {"enum": ["fail", "ours", "theirs"]}}},
         responses={201: "merged", 200: "up_to_date", 404: "not_found", 409: "merge_conflict"})
document("get", "/api/audit", "Audit entries newest first", role="reader",
         params=[query("limit", "1..1000, default 100", "integer")])
