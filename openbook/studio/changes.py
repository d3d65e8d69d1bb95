"""Change requests: a branch compared with its target, the merge button, conflicts resolved in the page.

A change request is not a stored object: it is the branch, the target
(default `main`) and what the branch changed since their merge base (the
files a merge would bring in, as GitHub's "compare" shows). Merging calls the
same `ContentRepository.merge` as `POST /api/merge`; a conflicted merge is
finished with `resolutions`, in one merge commit.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

import merge3
from aiohttp import web

from openbook.db.content import ContentRepository
from openbook.errors import InvalidRequest, MergeConflict, NotFound
from openbook.store.commits import is_ancestor, merge_bases
from openbook.store.diff import DiffEntry, diff_trees
from openbook.store.merge import Conflict, Resolution, merge_commits
from openbook.store.objects import EMPTY_TREE, Commit, ObjectId
from openbook.studio.content import IMAGE_TYPES, form, repo
from openbook.studio.diffs import TextDiff, as_text, diff_text
from openbook.studio.pages import render, see_other, url

FILES_PAGE = 25
MAX_LISTED_BRANCHES = 100
MARKERS = ("<<<<<<< ", "=======", ">>>>>>> ")


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    status: str
    kind: str  # "text" | "image" | "binary"
    diff: TextDiff | None
    old_size: int | None
    new_size: int | None


@dataclass(frozen=True, slots=True)
class Compared:
    source: Commit
    target: Commit
    base: Commit | None
    changes: list[DiffEntry]
    merged: bool  # the target already contains the source


async def compare(content: ContentRepository, branch: str, target: str) -> Compared:
    source = await content.resolve_ref(branch)
    into = await content.resolve_ref(target)
    bases = await merge_bases(content.src, ObjectId(into.id), ObjectId(source.id))
    base = await content.load_commit(bases[0]) if bases else None
    changes = await diff_trees(content.src, base.tree if base else EMPTY_TREE, source.tree)
    merged = await is_ancestor(content.src, ObjectId(source.id), ObjectId(into.id))
    return Compared(source, into, base, changes, merged)


async def file_changes(content: ContentRepository, changes: list[DiffEntry]) -> list[FileChange]:
    """The shown files with their diffs; their blobs are read in one batch (a page is 25 files, 50 blobs)."""
    blobs = await content.read_blobs({b for c in changes for b in (c.old, c.new) if b is not None})
    return [file_change(c, None if c.old is None else blobs[c.old], None if c.new is None else blobs[c.new])
            for c in changes]


def file_change(change: DiffEntry, old: bytes | None, new: bytes | None) -> FileChange:
    ctype, _ = mimetypes.guess_type(change.path)
    sizes = (None if old is None else len(old), None if new is None else len(new))
    if ctype in IMAGE_TYPES:
        return FileChange(change.path, change.status, "image", None, *sizes)
    old_text, new_text = as_text(old), as_text(new)
    if old_text is None or new_text is None:
        return FileChange(change.path, change.status, "binary", None, *sizes)
    return FileChange(change.path, change.status, "text", diff_text(old_text, new_text), *sizes)


def _target(request: web.Request, fields: dict[str, str] | None = None) -> tuple[str, str]:
    source = (fields or request.query).get("branch", "")
    target = (fields or request.query).get("target", "") or "main"
    if not source:
        raise InvalidRequest("which branch? (branch=...)", {"field": "branch"})
    if source == target:
        raise InvalidRequest("a branch cannot be merged into itself", {"field": "target"})
    return source, target


async def change_list(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    rows: list[dict[str, Any]] = []
    branches = [b for b in await content.branches() if b.name != "main"][:MAX_LISTED_BRANCHES]
    main = await content.branch("main")
    for b in branches:
        merged = await is_ancestor(content.src, ObjectId(b.head), ObjectId(main.head))
        rows.append({"branch": b, "merged": merged})
    rows.sort(key=lambda r: (r["merged"], -r["branch"].updated_at.timestamp()))
    return render(request, "changes.html", {"nav": "changes", "rows": rows})


async def change_page(request: web.Request) -> web.Response:
    content, _ = repo(request, "read")
    source, target = _target(request)
    compared = await compare(content, source, target)
    raw_page = request.query.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1
    shown = compared.changes[(page - 1) * FILES_PAGE: page * FILES_PAGE]
    files = await file_changes(content, shown)
    pages = max(1, -(-len(compared.changes) // FILES_PAGE))
    return render(request, "change.html", {
        "nav": "changes", "branch": source, "target": target, "c": compared, "files": files, "page": page,
        "pages": pages, "merged_now": request.query.get("merged"),
        "base_ref": compared.base.id if compared.base else None,
    })


async def merge(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    fields = await form(request)
    source, target = _target(request, fields)
    message = fields.get("message", "").strip() or None
    try:
        outcome = await content.merge(source, target, message, "fail", actor)
    except MergeConflict:
        return see_other(url("conflicts", branch=source, target=target))
    return see_other(url("change", branch=source, target=target, merged=outcome.commit.id[:10]))


# --- Conflicts -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConflictView:
    conflict: Conflict
    base: str | None  # text, or None when absent or binary
    ours: str | None
    theirs: str | None
    text: bool  # every present side is text: the page offers an editor prefilled with markers
    merged: str  # the prefilled text with conflict markers


def _lines(text: str | None) -> list[str]:
    return (text or "").splitlines(keepends=True)


async def _side(content: ContentRepository, blob_id: str | None) -> tuple[str | None, bool]:
    """A side's text (None when absent) and whether it is text at all."""
    if blob_id is None:
        return None, True
    try:
        data = await content.read_blob(blob_id)
    except NotFound:  # the folder side of a file/directory conflict: no text to show
        return None, False
    text = as_text(data)
    return text, text is not None


async def conflict_views(content: ContentRepository, source: str,
                         target: str) -> tuple[Commit, Commit, list[ConflictView]]:
    ours = await content.resolve_ref(target)
    theirs = await content.resolve_ref(source)
    result = await merge_commits(content.src, ObjectId(ours.id), ObjectId(theirs.id), "fail")
    views = []
    for c in result.conflicts:
        (base, b_ok), (o, o_ok), (t, t_ok) = [await _side(content, x) for x in (c.base, c.ours, c.theirs)]
        is_text = b_ok and o_ok and t_ok and c.kind != "file/directory"
        merged = "".join(merge3.Merge3(_lines(base), _lines(o), _lines(t)).merge_lines(
            name_a=target, name_b=source)) if is_text else ""
        views.append(ConflictView(c, base, o, t, is_text, merged))
    return ours, theirs, views


async def conflicts_page(request: web.Request, status: int = 200, problem: str | None = None,
                         posted: dict[str, str] | None = None) -> web.Response:
    content, _ = repo(request, "read")
    source, target = _target(request, posted)
    ours, theirs, views = await conflict_views(content, source, target)
    return render(request, "conflicts.html", {
        "nav": "changes", "branch": source, "target": target, "ours": ours, "theirs": theirs, "views": views,
        "problem": problem, "posted": posted or {},
    }, status=status)


async def conflicts(request: web.Request) -> web.Response:
    return await conflicts_page(request)


def resolutions_from(fields: dict[str, str], paths: list[str]) -> dict[str, Resolution]:
    """The form's choice per conflicting path (`choice-<i>`: ours, theirs, edit, delete; `text-<i>`)."""
    out: dict[str, Resolution] = {}
    for i, path in enumerate(paths):
        choice = fields.get(f"choice-{i}", "")
        if choice == "ours":
            out[path] = Resolution("ours")
        elif choice == "theirs":
            out[path] = Resolution("theirs")
        elif choice == "delete":
            out[path] = Resolution("delete")
        elif choice == "edit":
            text = fields.get(f"text-{i}", "").replace("\r\n", "\n")
            if any(line.startswith(MARKERS) for line in text.splitlines()):
                raise InvalidRequest(f"the merged text of {path} still has conflict markers (<<<<<<<, =======, "
                                     ">>>>>>>): remove them, keeping what should stay", {"path": path})
            out[path] = Resolution("content", text.encode())
    return out


async def resolve(request: web.Request) -> web.StreamResponse:
    content, actor = repo(request, "write")
    fields = await form(request)
    source, target = _target(request, fields)
    paths = [fields[k] for k in sorted((k for k in fields if k.startswith("path-")), key=lambda k: int(k[5:]))]
    try:
        resolutions = resolutions_from(fields, paths)
        missing = [p for p in paths if p not in resolutions]
        if missing:
            raise InvalidRequest(f"choose how to resolve {', '.join(missing)}", {"paths": missing})
        outcome = await content.merge(source, target, fields.get("message", "").strip() or None, "fail", actor,
                                      resolutions=resolutions)
    except MergeConflict:
        return await conflicts_page(request, 409, f"{target} or {source} changed meanwhile and the merge has other "
                                                  "conflicts now: here they are again", fields)
    except InvalidRequest as exc:
        return await conflicts_page(request, 400, exc.message, fields)
    return see_other(url("change", branch=source, target=target, merged=outcome.commit.id[:10]))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/changes", change_list)
    r.add_get("/change", change_page)
    r.add_get("/compare", compare_page)
    r.add_post("/merge", merge)
    r.add_get("/conflicts", conflicts)
    r.add_post("/resolve", resolve)


async def compare_page(request: web.Request) -> web.Response:
    """Line changes between any two refs (a commit against its parent, from the commit page)."""
    content, _ = repo(request, "read")
    a, b = request.query.get("from", ""), request.query.get("to", "")
    if not a or not b:
        raise InvalidRequest("compare needs from= and to=")
    old, new = await content.resolve_ref(a), await content.resolve_ref(b)
    changes = await diff_trees(content.src, old.tree, new.tree)
    files = await file_changes(content, changes[:FILES_PAGE])
    return render(request, "compare.html", {"nav": "branches", "old": old, "new": new, "files": files,
                                            "total": len(changes), "a": a, "b": b})
