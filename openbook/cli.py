"""The `openbook` command line (SPEC §3). Only this module and `config` read the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from openbook.config import Component, Settings, load_settings
from openbook.errors import ConfigError, OpenBookError

EXIT_CONFIG = 2


def _settings(component: Component) -> Settings:
    try:
        return load_settings(component)
    except ConfigError as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from exc


def cmd_migrate(args: argparse.Namespace) -> int:
    from openbook.db.migrate import apply_migrations

    settings = _settings("migrate")
    applied = apply_migrations(settings.database.dsn)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ", up to date"))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    settings = _settings("api")
    from openbook.server import run_api

    return run_api(settings)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings("worker")
    from openbook.worker.main import run_worker

    return run_worker(settings, burst=args.burst)


def cmd_workspace_create(args: argparse.Namespace) -> int:
    from openbook.db.workspaces import create_workspace_cli

    settings = _settings("migrate")
    ws = asyncio.run(create_workspace_cli(settings.database, args.slug, args.name or args.slug))
    print(json.dumps({"id": str(ws.id), "slug": ws.slug}))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from openbook.api.auth import ROLES, mint_token

    settings = _settings("token")
    assert settings.jwt is not None
    try:
        workspace_id = uuid.UUID(args.workspace)
    except ValueError:
        print(f"openbook: --workspace must be a workspace uuid, got {args.workspace!r}", file=sys.stderr)
        return EXIT_CONFIG
    roles = [r.strip() for part in args.role for r in part.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        print(f"openbook: --role must be among {', '.join(ROLES)}, got {unknown or roles}", file=sys.stderr)
        return EXIT_CONFIG
    if args.ttl <= 0:
        print("openbook: --ttl must be a positive number of seconds", file=sys.stderr)
        return EXIT_CONFIG
    print(mint_token(settings.jwt, workspace_id, args.sub, roles, args.ttl, time.time()))
    return 0


def cmd_login_link(args: argparse.Namespace) -> int:
    from openbook.studio.signin import login_link_cli

    settings = _settings("migrate")
    try:
        workspace_id = uuid.UUID(args.workspace)
    except ValueError:
        print(f"openbook: --workspace must be a workspace uuid, got {args.workspace!r}", file=sys.stderr)
        return EXIT_CONFIG
    base_url = args.base_url
    if base_url is None:
        port = os.environ.get("APP_PORT", "")
        if not port.isdigit():
            print("openbook: login-link needs --base-url (or APP_PORT, for http://127.0.0.1:APP_PORT)",
                  file=sys.stderr)
            return EXIT_CONFIG
        base_url = f"http://127.0.0.1:{port}"
    try:
        print(asyncio.run(login_link_cli(settings.database, workspace_id, args.sub, args.role, base_url)))
    except OpenBookError as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from openbook.db.fsck import run_fsck_cli

    settings = _settings("migrate")
    return asyncio.run(run_fsck_cli(settings.database, args.workspace))


def cmd_gc(args: argparse.Namespace) -> int:
    from openbook.db.gc import run_gc_cli

    settings = _settings("migrate")
    return asyncio.run(run_gc_cli(settings.database, args.workspace, args.grace, args.dry_run))


def cmd_dev(args: argparse.Namespace) -> int:
    from openbook.dev.run import run_dev

    return run_dev(Path(args.data), Path(args.examples), port=args.port, exit_after_publish=args.exit_after_publish)


def cmd_push(args: argparse.Namespace) -> int:
    from openbook.client.push import run_push_cli

    api = args.api or os.environ.get("OPENBOOK_API", "")
    token = args.token or os.environ.get("OPENBOOK_TOKEN", "")
    if not api or not token:
        print("openbook: push needs --api/--token or OPENBOOK_API/OPENBOOK_TOKEN", file=sys.stderr)
        return EXIT_CONFIG
    return run_push_cli(Path(args.dir), args.branch, args.message, api, token)


def cmd_preview(args: argparse.Namespace) -> int:
    from openbook.config import load_themes_path
    from openbook.preview.server import run_preview_cli

    try:
        themes_path = load_themes_path()
    except ConfigError as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    return run_preview_cli(
        Path(args.dir),
        args.theme,
        title=args.title,
        host=args.host,
        port=args.port,
        extra_theme_dirs=themes_path,
    )


def cmd_check(args: argparse.Namespace) -> int:
    from openbook.check.folder import run_check_cli
    from openbook.config import load_themes_path

    try:
        themes_path = load_themes_path()
    except ConfigError as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    return run_check_cli(Path(args.dir), strict=args.strict, themes_path=themes_path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openbook", description="OpenBook publishing engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("api", help="run the HTTP API on APP_PORT").set_defaults(func=cmd_api)
    worker = sub.add_parser("worker", help="run one deployment worker")
    worker.add_argument("--burst", action="store_true", help="drain the stream, then exit")
    worker.set_defaults(func=cmd_worker)

    workspace = sub.add_parser("workspace", help="manage workspaces")
    ws_sub = workspace.add_subparsers(dest="workspace_command", required=True)
    create = ws_sub.add_parser("create", help="create a workspace")
    create.add_argument("slug")
    create.add_argument("--name")
    create.set_defaults(func=cmd_workspace_create)

    token = sub.add_parser("token", help="mint a JWT with JWT_SECRET")
    token.add_argument("--workspace", required=True)
    token.add_argument("--sub", required=True)
    token.add_argument("--role", required=True, action="append", help="reader|writer|publisher|admin")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    link = sub.add_parser("login-link", help="print a one-time web studio sign-in URL, valid 10 minutes")
    link.add_argument("--workspace", required=True)
    link.add_argument("--sub", required=True, help="the name the person acts under (audit rows, commits)")
    link.add_argument("--role", required=True, help="reader|writer|publisher|admin")
    link.add_argument("--base-url", default=None, help="where the API is reached (default http://127.0.0.1:APP_PORT)")
    link.set_defaults(func=cmd_login_link)

    fsck = sub.add_parser("fsck", help="re-hash every object of a workspace and check references")
    fsck.add_argument("--workspace", required=True)
    fsck.set_defaults(func=cmd_fsck)

    gc = sub.add_parser("gc", help="delete objects no branch or unpruned deployment reaches, older than --grace")
    gc.add_argument("--workspace", default=None, help="one workspace's id (default: every workspace)")
    gc.add_argument("--grace", default="24h", help="keep objects younger than this: a number with s, m, h or d")
    gc.add_argument("--dry-run", action="store_true", help="print what would be removed, delete nothing")
    gc.set_defaults(func=cmd_gc)

    dev = sub.add_parser("dev", help="private PostgreSQL + Redis + API + worker, publish examples/")
    dev.add_argument("--data", default=".openbook")
    dev.add_argument("--examples", default="examples")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--exit-after-publish", action="store_true", help="stop once the book is deployed")
    dev.set_defaults(func=cmd_dev)

    push = sub.add_parser("push", help="commit the difference between a folder and a branch head")
    push.add_argument("dir")
    push.add_argument("--branch", required=True)
    push.add_argument("--message", default="push")
    push.add_argument("--api", default=None, help="API base URL (default: OPENBOOK_API)")
    push.add_argument("--token", default=None, help="JWT (default: OPENBOOK_TOKEN)")
    push.set_defaults(func=cmd_push)

    preview = sub.add_parser("preview", help="render a folder with a theme and serve it with live reload")
    preview.add_argument("dir")
    preview.add_argument("--theme", required=True, help="a built-in theme or one in THEMES_PATH")
    preview.add_argument("--port", type=int, default=8000)
    preview.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    preview.add_argument("--title", default=None, help="site title (default: the folder's name)")
    preview.set_defaults(func=cmd_preview)

    check = sub.add_parser("check", help="render a folder as a deployment would and print every problem")
    check.add_argument("dir")
    check.add_argument("--strict", action="store_true", help="exit 1 on any problem, as a strict site would fail")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except OpenBookError as exc:
        print(f"openbook: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
