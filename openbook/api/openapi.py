"""GET /api/openapi.json: an OpenAPI 3.1 description of every endpoint that exists.

Each module adds its operations with `document(...)`; the route table and the
description are checked against each other by a test, and schemathesis
(tests/fuzz) checks the server against the description: the constraints
written here (patterns, ranges, item counts) are the ones the handlers
enforce, and every answer matches its response schema.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from openbook.api.bodies import MAX_JSON_DEPTH
from openbook.api.errors import MAX_HEADER_BYTES
from openbook.api.keys import SETTINGS
from openbook.fs.themes import available_themes

Schema = dict[str, Any]
Responses = dict[int, str | tuple[str, Schema]]

ERROR = {"$ref": "#/components/schemas/Error"}
COMMIT = {"$ref": "#/components/schemas/Commit"}
BRANCH = {"$ref": "#/components/schemas/Branch"}
SITE = {"$ref": "#/components/schemas/Site"}
DEPLOYMENT = {"$ref": "#/components/schemas/Deployment"}

# --- Values the handlers check, as JSON Schema -------------------------------------------------------------------

UUID: Schema = {"type": "string", "format": "uuid"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
COMMIT_ID: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "64 lowercase hex digits"}
_RESERVED_SEGMENT = "(?:commits|log|tree|files)"
_BRANCH_BODY = (
    "(?![/-])(?!.*[.][.])(?!.*//)(?!.*/$)"
    f"(?!(?:.*/)?{_RESERVED_SEGMENT}/)(?!.*/{_RESERVED_SEGMENT}$)"
    "[A-Za-z0-9._/-]{1,200}"
)
BRANCH_NAME: Schema = {
    "type": "string", "pattern": f"^(?![0-9a-f]{{64}}$){_BRANCH_BODY}$",
    "description": "1 to 200 of A-Z a-z 0-9 . _ / -; no leading / or -, no trailing /, no .. or //; "
                   "in names with /, no segment commits, log, tree or files; not 64 hex digits",
    "examples": ["draft/intro"],
}
REF: Schema = {"type": "string", "pattern": f"^(?:[0-9a-f]{{64}}|{_BRANCH_BODY})$",
               "description": "a branch name or a full commit id", "examples": ["main"]}
_SEGMENT = r"(?![.][.]?(?:/|$))[^/\\\x00-\x1f\x7f-\x9f]{1,255}"
CONTENT_PATH: Schema = {
    "type": "string", "pattern": f"^{_SEGMENT}(?:/{_SEGMENT})*$", "maxLength": 1024,
    "description": "relative POSIX path, NFC; no . or .. segments, no empty segment, no backslash or control "
                   "character; each segment at most 255 UTF-8 bytes, the path at most 1024",
    "examples": ["guide/intro.md"],
}
DIR_PATH: Schema = {**CONTENT_PATH, "pattern": f"^(?:{_SEGMENT}(?:/{_SEGMENT})*)?$",
                    "description": "a folder, as a content path; empty for the root", "examples": ["guide"]}
SITE_ROOT: Schema = {**CONTENT_PATH, "pattern": f"^/*(?:{_SEGMENT}(?:/{_SEGMENT})*)?/*$",
                     "description": "folder of the tree that holds the site; surrounding slashes are ignored"}
SLUG: Schema = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}
SITE_NAME: Schema = {"type": "string", "minLength": 1, "pattern": r"^[^\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]*$",
                     "description": "1 to 200 printable characters once surrounding whitespace is stripped"}
BASE64: Schema = {"type": "string", "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
                  "contentEncoding": "base64"}


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else "[.]" if c == "." else c for c in word)


_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_RESERVED = "|".join(_any_case(s) for s in ("test", "example", "invalid", "localhost", "local", "onion",
                                            "home.arpa", "internal", "example.com", "example.net", "example.org"))
HOSTNAME: Schema = {
    "type": "string",
    "pattern": (f"^(?=.{{1,253}}$)(?![^.]*--)(?!.*[.](?:[0-9]+|0[xX][0-9A-Fa-f]*)$)(?!(?:.*[.])?(?:{_RESERVED})$)"
                f"{_LABEL}(?:[.]{_LABEL})+$"),
    "description": "a public DNS name (stored lower case): no IP literal, no single label, nothing under a "
                   "reserved name (localhost, test, example, invalid, local, onion, internal, home.arpa, "
                   "example.com/net/org), no -- in the first label (reserved for branch previews)",
}


def limit(default: int) -> dict[str, Any]:
    """The `limit` query parameter of list endpoints."""
    return {"name": "limit", "in": "query", "required": False, "description": f"1 to 1000, default {default}",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": default}}


def nullable(schema: Schema) -> Schema:
    """An optional body field: null means absent."""
    return {"anyOf": [schema, {"type": "null"}]}


def defaulted(schema: Schema, default: str) -> Schema:
    """An optional field where null and the empty string both mean `default`."""
    return {"anyOf": [schema, {"const": ""}, {"type": "null"}], "description": f"null or empty: {default}"}


# Path parameters by name; an operation may override (`/api/commits/{id}` is a commit id).
PATH_PARAMS: dict[str, Schema] = {"name": BRANCH_NAME, "ref": REF, "path": CONTENT_PATH, "id": UUID,
                                  "hostname": {"type": "string"}}

_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {}


def document(method: str, path: str, summary: str, *, role: str, body: Schema | None = None,
             responses: Responses | None = None, params: list[dict[str, Any]] | None = None,
             path_params: dict[str, Schema] | None = None, media: str = "application/json") -> None:
    """Describe one operation (`path` in OpenAPI form, e.g. /api/branches/{name}).

    `responses` maps a status to a description, or to (description, JSON body schema).
    Role `none` means no token is needed.
    """
    op: dict[str, Any] = {"summary": summary, "responses": {}}
    op["description"] = "No token needed." if role == "none" else f"Needs the `{role}` role (or admin)."
    if role == "none":
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    schemas = PATH_PARAMS | (path_params or {})
    parameters = [{"name": n, "in": "path", "required": True, "schema": schemas[n]} for n in _path_params(path)]
    op["parameters"] = parameters + (params or [])
    for status, answer in (responses or {200: "OK"}).items():
        text, schema = (answer, None) if isinstance(answer, str) else answer
        schema = schema or (ERROR if status >= 400 else {"type": "object"})
        kind = "application/json" if status >= 400 else media
        op["responses"][str(status)] = {"description": text, "content": {kind: {"schema": schema}}}
    defaults = [(400, "invalid_request"), (414, "uri_too_long"), (431, "header_too_large")]
    if role != "none":
        defaults += [(401, "unauthorized"), (403, "forbidden"), (503, "unavailable")]
    if body is not None:
        defaults.append((413, "too_large"))
    for status, text in defaults:
        op["responses"].setdefault(str(status), {"description": text,
                                                 "content": {"application/json": {"schema": ERROR}}})
    _OPERATIONS[(method.lower(), path)] = op


def _path_params(path: str) -> list[str]:
    return [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]


def query(name: str, description: str, kind: str = "string", required: bool = False,
          schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": kind}}


def _obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


COMPONENTS: dict[str, Schema] = {
    "Error": _obj(["error"], error=_obj(["code", "message", "details"], code={"type": "string"},
                                        message={"type": "string"}, details={"type": "object"})),
    "Commit": _obj(["id", "tree", "parents", "message", "author", "created_at"],
                   id=COMMIT_ID, tree=COMMIT_ID, parents={"type": "array", "items": COMMIT_ID, "maxItems": 2},
                   message={"type": "string"}, author={"type": "string"}, created_at=TIMESTAMP),
    "Branch": _obj(["name", "head", "updated_at"], name={"type": "string"}, head=COMMIT_ID, updated_at=TIMESTAMP),
    "Site": _obj(["id", "name", "slug", "theme", "branch", "root", "settings", "live_deployment_id", "domains",
                  "created_at", "auto_deploy", "previews"],
                 id=UUID, name={"type": "string"}, slug={"type": "string"}, theme={"type": "string"},
                 branch={"type": "string"}, root={"type": "string"}, settings={"type": "object"},
                 live_deployment_id=nullable(UUID), domains={"type": "array", "items": {"type": "string"}},
                 created_at=TIMESTAMP, auto_deploy={"type": "boolean"}, previews={"type": "boolean"}),
    "Deployment": _obj(["id", "site_id", "commit", "status", "error", "stats", "conditions", "attempts",
                        "created_at", "finished_at"],
                       id=UUID, site_id=UUID, commit=COMMIT_ID,
                       status={"enum": ["pending", "building", "deployed", "failed", "superseded"]},
                       error={"type": ["string", "null"]}, stats={"type": ["object", "null"]},
                       conditions={"type": "array", "items": _obj(["status", "reason", "at"])},
                       attempts={"type": "integer", "minimum": 0}, created_at=TIMESTAMP,
                       finished_at=nullable(TIMESTAMP), trigger={"enum": ["manual", "push", "preview"]},
                       branch={"type": ["string", "null"]}, target={"enum": ["live", "preview"]},
                       pruned_at=nullable(TIMESTAMP)),
}


def spec(themes: list[str] | None = None) -> dict[str, Any]:
    """The whole document; `themes` (the themes this server has) become the enum of every `theme` field."""
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(_OPERATIONS.items()):
        op = copy.deepcopy(op)
        if themes is not None:
            _set_theme_enum(op, themes)
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenBook API", "version": "0.1.0", "description": (
            "Every /api request needs `Authorization: Bearer <JWT>`. Request bodies are JSON objects whose "
            f"strings hold no U+0000 and no lone surrogate, nested at most {MAX_JSON_DEPTH} levels; the same "
            f"holds for path and query parameters. A header may be at most {MAX_HEADER_BYTES} bytes (431 "
            f"header_too_large), the request target as well (414 uri_too_long). Errors carry "
            "`{\"error\": {\"code\", \"message\", \"details\"}}`; every answer carries X-Request-ID.")},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": COMPONENTS,
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _set_theme_enum(op: dict[str, Any], themes: list[str]) -> None:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    theme = body.get("properties", {}).get("theme")
    if theme is not None:
        theme["enum"] = themes


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(spec(available_themes(request.app[SETTINGS].themes_path)))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", get_openapi)


def _one_of_changes() -> Schema:
    path = {"path": CONTENT_PATH}
    return {"oneOf": [
        {"type": "object", "required": ["op", "path", "content"], "not": {"required": ["content_base64"]},
         "properties": {"op": {"const": "put"}, **path, "content": {"type": "string"}}},
        {"type": "object", "required": ["op", "path", "content_base64"], "not": {"required": ["content"]},
         "properties": {"op": {"const": "put"}, **path, "content_base64": BASE64}},
        {"type": "object", "required": ["op", "path"], "properties": {"op": {"const": "delete"}, **path}},
    ]}


def _one_key(name: str, schema: Schema) -> Schema:
    return {"type": "object", "required": [name], "additionalProperties": False, "properties": {name: schema}}


RESOLUTIONS: Schema = {
    "type": "object", "maxProperties": 100_000, "propertyNames": CONTENT_PATH,
    "description": "conflicting path → how to settle it: take one side (absent if that side deleted the "
                   "file), new text or bytes, or no file; a path that does not conflict is a 400, and a "
                   "conflict left out is still listed in the 409",
    "additionalProperties": {"oneOf": [
        _one_key("take", {"enum": ["ours", "theirs"]}),
        _one_key("content", {"type": "string"}),
        _one_key("content_base64", BASE64),
        _one_key("delete", {"const": True}),
    ]},
}
HEALTH = _obj(["status", "checks"], status={"enum": ["ok", "failed"]},
              checks={"type": "object", "additionalProperties": {"type": "string"}},
              failed={"type": "array", "items": {"type": "string"}})
TREE = _obj(["entries"], entries={"type": "array", "items": _obj(
    ["path", "kind", "hash", "size"], path={"type": "string"}, kind={"enum": ["blob", "tree"]}, hash=COMMIT_ID,
    size={"type": ["integer", "null"], "minimum": 0})})
FILE = {"description": "the file's bytes with a content type guessed from its name (text/markdown for .md, "
                       "application/octet-stream when unknown); text types carry charset=utf-8",
        "content": {"text/markdown": {"schema": {"type": "string"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "*/*": {}}}

document("get", "/health", "PostgreSQL and Redis checks", role="none",
         responses={200: ("all checks pass", HEALTH), 500: ("a named check failed", HEALTH)})
document("get", "/api/openapi.json", "This description", role="reader", responses={200: ("OK", {"type": "object"})})
document("post", "/api/branches", "Create a branch", role="writer",
         body={"type": "object", "required": ["name"], "properties": {
             "name": BRANCH_NAME,
             "from": nullable({"type": "string", "description": "a ref; absent, null or empty means main"})}},
         responses={201: ("created", _obj(["name", "head"], name={"type": "string"}, head=COMMIT_ID)),
                    404: "from not found", 409: "already_exists"})
document("get", "/api/branches", "List branches", role="reader",
         responses={200: ("OK", _obj(["branches"], branches={"type": "array", "items": BRANCH}))})
document("get", "/api/branches/{name}", "One branch", role="reader", responses={200: ("OK", BRANCH), 404: "not_found"})
document("delete", "/api/branches/{name}", "Delete a branch and its previews", role="writer",
         responses={200: ("deleted", _obj(["name", "deleted", "previews_removed"], name={"type": "string"},
                                          deleted={"const": True},
                                          previews_removed={"type": "array", "items": {"type": "string"}})),
                    404: "not_found", 409: "conflict: a site publishes this branch"})
document("post", "/api/branches/{name}/commits", "Commit changes to a branch", role="writer",
         body={"type": "object", "required": ["message", "changes"], "properties": {
             "message": {"type": "string"}, "expected_head": nullable(COMMIT_ID),
             "changes": {"type": "array", "minItems": 1, "maxItems": 100_000, "uniqueItems": True,
                         "items": _one_of_changes(), "description": "a path at most once"}}},
         responses={201: ("commit created", COMMIT), 404: "not_found", 409: "stale_head", 413: "too_large"})
document("get", "/api/branches/{name}/log", "Commits newest first", role="reader",
         params=[limit(50)],
         responses={200: ("OK", _obj(["commits"], commits={"type": "array", "items": COMMIT})), 404: "not_found"})
document("get", "/api/commits/{id}", "One commit", role="reader", path_params={"id": COMMIT_ID},
         responses={200: ("OK", COMMIT), 404: "not_found"})
document("get", "/api/refs/{ref}/tree", "List a folder of a branch or commit", role="reader",
         params=[query("path", "folder, default the root", schema=DIR_PATH),
                 query("recursive", "1, true or yes for all levels; anything else for one")],
         responses={200: ("OK", TREE), 404: "not_found"})
document("get", "/api/refs/{ref}/files/{path}", "Raw bytes of one file", role="reader",
         responses={200: "file", 404: "not_found"})
_OPERATIONS[("get", "/api/refs/{ref}/files/{path}")]["responses"]["200"] = FILE
document("get", "/api/diff", "Changed paths between two refs", role="reader",
         params=[query("from", "branch or commit", required=True, schema={**REF, "minLength": 1}),
                 query("to", "branch or commit", required=True, schema={**REF, "minLength": 1})],
         responses={200: ("OK", _obj(["changes"], changes={"type": "array", "items": _obj(
             ["path", "status"], path={"type": "string"}, status={"enum": ["added", "modified", "deleted"]})})),
                    404: "not_found"})
document("post", "/api/merge", "Three-way merge of source into target branch", role="writer",
         body={"type": "object", "required": ["source", "target"], "properties": {
             "source": REF, "target": REF, "message": nullable({"type": "string"}),
             "strategy": defaulted({"enum": ["fail", "ours", "theirs"]}, "fail"),
             "resolutions": nullable(RESOLUTIONS)}},
         responses={201: ("merged", _obj(["result", "commit"], result={"const": "merged"}, commit=COMMIT)),
                    200: ("up_to_date", _obj(["result", "commit"], result={"const": "up_to_date"}, commit=COMMIT)),
                    400: "invalid_request: also a resolution of a path that does not conflict",
                    404: "not_found", 409: "merge_conflict: details.conflicts lists those left unresolved"})
document("get", "/api/audit", "Audit entries newest first", role="reader", params=[limit(100)],
         responses={200: ("OK", _obj(["entries"], entries={"type": "array", "items": _obj(
             ["action", "actor", "target", "details", "created_at", "request_id"],
             action={"type": "string"}, actor={"type": "string"}, target={"type": "string"},
             details={"type": "object"}, created_at=TIMESTAMP,
             request_id={"type": ["string", "null"]})}))})
