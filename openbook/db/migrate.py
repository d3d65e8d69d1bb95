"""Apply the yoyo migrations shipped inside the package (idempotent)."""

from __future__ import annotations

import importlib.resources
from urllib.parse import urlparse, urlunparse

from yoyo import get_backend, read_migrations


def yoyo_url(dsn: str) -> str:
    """yoyo reads `postgresql+psycopg://` as psycopg 3 (plain postgresql:// means psycopg2)."""
    return urlunparse(urlparse(dsn)._replace(scheme="postgresql+psycopg"))


def apply_migrations(dsn: str) -> list[str]:
    """Apply pending migrations; return the ids applied (empty when up to date)."""
    with importlib.resources.as_file(importlib.resources.files("openbook.migrations")) as folder:
        migrations = read_migrations(str(folder))
        with get_backend(yoyo_url(dsn)) as backend, backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
            return [m.id for m in pending]
