"""`openbook push`: only the difference travels, dot-files stay local, a moved branch fails loudly."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from openbook.client.push import push
from openbook.errors import InvalidRequest, PushError


def write(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


async def test_push_sends_only_the_difference(api: Any, token_for: Any, workspace_id: uuid.UUID,
                                              tmp_path: Path) -> None:
    h = token_for(workspace_id, "writer")
    token = h["Authorization"].split()[1]
    url = str(api.make_url("")).rstrip("/")
    write(tmp_path, {"index.md": b"# Home\n", "guide/a.md": b"a\n", "img/x.png": b"\x89PNG",
                     ".env": b"SECRET=1\n", ".git/config": b"[core]\n", ".well-known/security.txt": b"c\n"})
    first = await push(tmp_path, "main", "first", url, token)
    assert (first.added, first.modified, first.deleted) == (4, 0, 0)
    tree = await (await api.get("/api/refs/main/tree?recursive=1", headers=h)).json()
    files = {e["path"] for e in tree["entries"] if e["kind"] == "blob"}
    assert files == {"index.md", "guide/a.md", "img/x.png", ".well-known/security.txt"}

    again = await push(tmp_path, "main", "again", url, token)
    assert again.commit is None

    (tmp_path / "guide/a.md").write_bytes(b"a2\n")
    (tmp_path / "img/x.png").unlink()
    write(tmp_path, {"guide/b.md": b"b\n"})
    third = await push(tmp_path, "main", "third", url, token)
    assert (third.added, third.modified, third.deleted) == (1, 1, 1)
    diff = await (await api.get(f"/api/diff?from={first.commit}&to=main", headers=h)).json()
    assert diff["changes"] == [{"path": "guide/a.md", "status": "modified"},
                               {"path": "guide/b.md", "status": "added"},
                               {"path": "img/x.png", "status": "deleted"}]


async def test_push_to_unknown_branch_or_with_bad_token_fails_clearly(api: Any, token_for: Any,
                                                                      workspace_id: uuid.UUID,
                                                                      tmp_path: Path) -> None:
    token = token_for(workspace_id, "writer")["Authorization"].split()[1]
    url = str(api.make_url("")).rstrip("/")
    write(tmp_path, {"a.md": b"a\n"})
    with pytest.raises(PushError, match="not_found"):
        await push(tmp_path, "nope", "m", url, token)
    with pytest.raises(PushError, match="unauthorized"):
        await push(tmp_path, "main", "m", url, "bad-token")
    with pytest.raises(InvalidRequest, match="not a folder"):
        await push(tmp_path / "missing", "main", "m", url, token)
