"""`openbook gc` (SPEC §11): what it keeps, what it removes, and that it is safe while commits are written.

"Time passes" in these tests by moving every stored object's `created_at`
two days back (superuser SQL), between rounds of writes: in production a
writer's objects stay young from its write to its head move (milliseconds),
which is what the rounds preserve.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import asyncpg
import pytest

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.deployments import Deployments
from openbook.db.fsck import fsck_workspace
from openbook.db.gc import GcReport, collect, parse_grace
from openbook.db.gclock import protect
from openbook.db.objects import PgObjectSource, write_objects
from openbook.db.scopes import Tenant
from openbook.db.workspaces import Workspace, create_workspace
from openbook.errors import InvalidRequest, NotFound
from openbook.store.commits import make_commit
from openbook.store.objects import Leaf, ObjectId, RawObject, decode_commit, decode_node
from openbook.store.trees import Change, apply_changes, iter_files
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack

DAY_S = 86_400
GRACE_S = 3600.0


def openbook(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openbook.cli", *args], env=stack.env(), capture_output=True,
                          text=True, timeout=120)


async def age_everything(sql: asyncpg.Pool, ws: uuid.UUID, days: int = 2) -> None:
    await sql.execute("UPDATE objects SET created_at = created_at - make_interval(days => $2)"
                      " WHERE workspace_id = $1", ws, days)


async def stored(sql: asyncpg.Pool, ws: uuid.UUID) -> set[str]:
    return {r["hash"] for r in await sql.fetch("SELECT hash FROM objects WHERE workspace_id = $1", ws)}


async def files_of(database: Database, ws: uuid.UUID, ref: str) -> dict[str, bytes]:
    """Every file of a branch or commit, read from the database (no process cache)."""
    repo = ContentRepository(database, ws)
    commit = await repo.resolve_ref(ref)
    src = PgObjectSource(database, ws, cache=None)
    found = await iter_files(src, commit.tree)
    blobs = await src.get_many([e.hash for _, e in found])
    assert len(blobs) == len({e.hash for _, e in found}), f"{ref}: blobs missing"
    return {path: blobs[e.hash].payload for path, e in found}


async def assert_clean(database: Database, ws: uuid.UUID) -> None:
    report = await fsck_workspace(database, ws)
    assert report.ok, report.problems
    for branch in await ContentRepository(database, ws).branches():
        await files_of(database, ws, branch.name)


async def scratch(admin: Api, content: dict[str, str]) -> str:
    """Commit `content` on a branch that is then deleted: its new objects become garbage."""
    name = f"scratch-{uuid.uuid4().hex[:8]}"
    await admin.call("POST", "/api/branches", 201, json={"name": name, "from": "main"})
    commit = await admin.commit(content, branch=name)
    await admin.call("DELETE", f"/api/branches/{name}", 200)
    return commit


def test_grace_is_a_number_with_a_unit_and_at_least_an_hour() -> None:
    assert parse_grace("24h") == DAY_S
    assert parse_grace("90m") == 5400
    assert parse_grace("1.5d") == 1.5 * DAY_S
    assert parse_grace("3600s") == 3600
    for bad in ("", "24", "h", "1w", "-1h", "1 h", "24hours", "59m", "0d"):
        with pytest.raises(InvalidRequest):
            parse_grace(bad)


async def test_cli_dry_run_then_gc_then_fsck(admin: Api, stack: Stack, ws: uuid.UUID, sql: asyncpg.Pool) -> None:
    await admin.commit(SAMPLE_BOOK)
    await scratch(admin, {"gone/a.md": "garbage a\n", "gone/b.md": "garbage b\n"})
    restored = await scratch(admin, {"again.md": "restored\n"})
    await age_everything(sql, ws)
    # The same change on the same head: the same tree and blob again, re-stamped (the commit is new).
    young = await scratch(admin, {"again.md": "restored\n"})
    before = await stored(sql, ws)

    dry = openbook(stack, "gc", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and report["grace_s"] == DAY_S and report["errors"] == []
    [mine] = report["workspaces"]
    assert mine["workspace"] == str(ws)
    # gone/'s two blobs and tree, its root tree and commit; of `restored` only its commit.
    assert {k: v["objects"] for k, v in mine["would_remove"].items()} == {"blob": 2, "commit": 2, "tnode": 0,
                                                                          "tree": 2}
    assert mine["would_remove"]["blob"]["bytes"] == len(b"garbage a\n") + len(b"garbage b\n")
    assert await stored(sql, ws) == before

    real = openbook(stack, "gc", "--workspace", str(ws), "--grace", "1h")
    assert real.returncode == 0, real.stderr
    [done] = json.loads(real.stdout)["workspaces"]
    assert done["removed"] == mine["would_remove"] and done["objects"] == 6
    after = await stored(sql, ws)
    assert len(before - after) == 6 and not after - before
    assert restored not in after and young in after
    fsck = openbook(stack, "fsck", "--workspace", str(ws))
    assert fsck.returncode == 0 and json.loads(fsck.stdout)["ok"], fsck.stdout

    again = openbook(stack, "gc", "--grace", "1h")
    assert json.loads(again.stdout)["workspaces"][0]["objects"] == 0


async def test_without_workspace_every_workspace_is_collected(database: Database, stack: Stack,
                                                              sql: asyncpg.Pool) -> None:
    slugs = [f"gc-{n}-{uuid.uuid4().hex[:6]}" for n in range(2)]
    for slug in slugs:
        ws = (await create_workspace(database, slug, slug)).id
        repo = ContentRepository(database, ws)
        await repo.create_branch("tmp", "main", "tester")
        await repo.commit("tmp", [Change.put("tmp.md", slug.encode())], "tmp", "tester", None)
        await repo.delete_branch("tmp", "tester")
    await sql.execute("UPDATE objects SET created_at = created_at - interval '2 days'")
    done = openbook(stack, "gc", "--grace", "1h")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["workspaces"]
    assert [(w["slug"], w["objects"]) for w in report] == [(slug, 3) for slug in slugs]


async def test_cli_refuses_bad_arguments_with_exit_2(stack: Stack) -> None:
    for args, message in ((["--grace", "24"], "--grace must be a number with s, m, h or d"),
                          (["--grace", "1w"], "--grace must be a number with s, m, h or d"),
                          (["--grace", "10m"], "--grace must be at least 60m"),
                          (["--workspace", "nope"], "--workspace must be a workspace uuid"),
                          (["--workspace", str(uuid.uuid4())], "does not exist")):
        done = openbook(stack, "gc", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("openbook: ") and message in done.stderr, done.stderr
        assert done.stdout == ""


async def test_pruned_deployments_release_their_commits_unpruned_ones_keep_them(
        admin: Api, database: Database, ws: uuid.UUID, sql: asyncpg.Pool) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    kept = await scratch(admin, {"kept.md": "an unpruned deployment's page\n"})
    released = await scratch(admin, {"released.md": "a pruned deployment's page\n"})
    deps = {c: (await admin.deploy(site["id"], c))["id"] for c in (kept, released)}
    await sql.execute("UPDATE deployments SET status = 'deployed', finished_at = now(), pruned_at = now()"
                      " WHERE id = $1", uuid.UUID(deps[released]))
    await age_everything(sql, ws)

    report = await collect(database, Workspace(ws, "w", "w"), GRACE_S)
    assert report.removed["commit"].objects == 1 and report.removed["blob"].objects == 1
    after = await stored(sql, ws)
    assert kept in after and released not in after
    assert (await files_of(database, ws, kept))["kept.md"] == b"an unpruned deployment's page\n"
    await assert_clean(database, ws)


async def test_reused_old_objects_are_restamped_and_survive(database: Database, ws: uuid.UUID,
                                                            sql: asyncpg.Pool, admin: Api) -> None:
    await admin.commit(SAMPLE_BOOK)
    restored = {"notes.md": "restored later\n"}
    old = await scratch(admin, restored)  # same change on the same head: the same tree again below
    await age_everything(sql, ws)
    repo = ContentRepository(database, ws)
    head = await repo.load_commit((await repo.branch("main")).head)
    tree, objects = await apply_changes(repo.src, head.tree, [Change.put(p, c.encode()) for p, c in restored.items()])
    assert tree == (await repo.load_commit(old)).tree
    commit, raw = make_commit(tree, [head], "restore", "tester", head.created_at)
    objects[commit.id] = raw

    async with database.transaction(Tenant(ws)) as tx:
        assert await write_objects(tx, objects) == len(objects)  # the old ones re-stamped, the commit new
    ages = await sql.fetch("SELECT hash, now() - created_at < interval '1 minute' AS young FROM objects"
                           " WHERE workspace_id = $1 AND hash = ANY($2::text[])", ws, list(objects))
    assert len(ages) == len(objects) and all(r["young"] for r in ages)
    xmin = await sql.fetchval("SELECT xmin::text FROM objects WHERE workspace_id = $1 AND hash = $2", ws, tree)
    async with database.transaction(Tenant(ws)) as tx:
        assert await write_objects(tx, objects) == 0  # young already: not written at all
    assert await sql.fetchval("SELECT xmin::text FROM objects WHERE workspace_id = $1 AND hash = $2",
                              ws, tree) == xmin

    # A sweep between the write and the head move keeps the re-stamped objects.
    report = await collect(database, Workspace(ws, "w", "w"), GRACE_S)
    assert report.removed["commit"].objects == 1  # the scratch commit itself
    assert old not in await stored(sql, ws)
    async with database.transaction(Tenant(ws)) as tx:
        await protect(tx, [commit.id])
        await tx.execute("UPDATE branches SET head = $2 WHERE workspace_id = $1 AND name = 'main'", ws, commit.id)
    assert (await files_of(database, ws, "main"))["notes.md"] == b"restored later\n"
    await assert_clean(database, ws)


async def test_a_young_object_keeps_what_it_references(admin: Api, database: Database, ws: uuid.UUID,
                                                      sql: asyncpg.Pool) -> None:
    await admin.commit(SAMPLE_BOOK)
    garbage = await scratch(admin, {"late.md": "written with its commit\n"})
    # The commit was written with its tree and blob, but those were not re-stamped (stamped
    # less than REFRESH_AFTER_S before): the commit is still young, they are just too old.
    await sql.execute("UPDATE objects SET created_at = now() - make_interval(mins => CASE WHEN hash = $2"
                      " THEN 55 ELSE 65 END) WHERE workspace_id = $1", ws, garbage)
    report = await collect(database, Workspace(ws, "w", "w"), GRACE_S)
    assert report.objects == 0 and report.kept_old > 0
    assert (await files_of(database, ws, garbage))["late.md"] == b"written with its commit\n"
    await assert_clean(database, ws)


async def test_a_sweep_waits_for_a_head_move_in_flight(database: Database, ws: uuid.UUID, sql: asyncpg.Pool,
                                                       admin: Api) -> None:
    await admin.commit(SAMPLE_BOOK)
    garbage = await scratch(admin, {"x.md": "x\n"})
    await age_everything(sql, ws)
    sweep: asyncio.Task[GcReport] | None = None
    async with database.transaction(Tenant(ws)) as tx:
        await protect(tx, [garbage])  # a head move to an old unreachable commit, in flight
        sweep = asyncio.create_task(collect(database, Workspace(ws, "w", "w"), GRACE_S))
        while not await sql.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
            assert not sweep.done(), sweep.result()
            await asyncio.sleep(0.02)
        await tx.execute("INSERT INTO branches (workspace_id, name, head) VALUES ($1, 'revived', $2)", ws, garbage)
    report = await sweep
    assert report.objects == 0
    assert (await files_of(database, ws, "revived"))["x.md"] == b"x\n"
    await assert_clean(database, ws)


async def test_commits_computed_from_collected_objects_are_refused(database: Database, ws: uuid.UUID,
                                                                   sql: asyncpg.Pool, admin: Api) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    gone = await scratch(admin, {"gone.md": "collected\n"})
    repo = ContentRepository(database, ws)
    # An API process read it (its object cache holds it), then gc removed it from the database.
    assert (await repo.diff("main", gone))[0].path == "gone.md"
    await repo.tree(gone, "", recursive=True)
    await age_everything(sql, ws)
    await collect(database, Workspace(ws, "w", "w"), GRACE_S)
    assert gone not in await stored(sql, ws)

    with pytest.raises(NotFound, match="parent commit"):
        await repo.merge(gone, "main", None, "fail", "tester")
    with pytest.raises(NotFound, match="does not exist"):
        await repo.create_branch("again", gone, "tester")
    with pytest.raises(NotFound, match="does not exist"):
        await Deployments(database, ws).create("tester", uuid.UUID(site["id"]), gone, gone)
    await assert_clean(database, ws)


async def test_a_damaged_store_is_refused_and_nothing_deleted(admin: Api, stack: Stack, ws: uuid.UUID,
                                                             sql: asyncpg.Pool) -> None:
    await admin.commit(SAMPLE_BOOK)
    await scratch(admin, {"garbage.md": "garbage\n"})
    await age_everything(sql, ws)
    repo_tree = await sql.fetchval(
        "SELECT hash FROM objects WHERE workspace_id = $1 AND kind = 'tree' AND convert_from(data, 'UTF8')"
        " LIKE '[[\"intro.md\"%'", ws)  # guide/: reachable from main
    await sql.execute("DELETE FROM objects WHERE workspace_id = $1 AND hash = $2", ws, repo_tree)
    before = await stored(sql, ws)
    done = openbook(stack, "gc", "--workspace", str(ws))
    assert done.returncode == 1
    assert "reachable object(s) missing" in done.stderr and "nothing was deleted" in done.stderr
    assert json.loads(done.stdout)["errors"] and await stored(sql, ws) == before


ROUNDS = 4
WRITERS = 4


async def pushed_objects(database: Database, ws: uuid.UUID, commit_id: str) -> dict[ObjectId, RawObject]:
    """What re-pushing a scratch commit sends: the commit, its root tree and the scratch blob."""
    src = PgObjectSource(database, ws, cache=None)
    oid = ObjectId(commit_id)
    raw = (await src.get_many([oid]))[oid]
    tree_id = decode_commit(oid, raw).tree
    tree = (await src.get_many([tree_id]))[tree_id]
    node = decode_node(tree_id, tree)
    assert isinstance(node, Leaf)
    blob_id = node.entries["scratch.md"].hash
    return {oid: raw, tree_id: tree, blob_id: (await src.get_many([blob_id]))[blob_id]}


async def test_gc_is_safe_while_several_clients_commit(admin: Api, database: Database, ws: uuid.UUID,
                                                       sql: asyncpg.Pool) -> None:
    """Clients commit (to one shared branch, to their own, restoring garbage, re-pushing deleted
    branches) while gc sweeps in a loop; then fsck is clean and every branch reads back."""
    await admin.commit(SAMPLE_BOOK)
    for k in range(WRITERS):
        await admin.call("POST", "/api/branches", 201, json={"name": f"w{k}", "from": "main"})
    workspace = Workspace(ws, "w", "w")
    repo = ContentRepository(database, ws)
    reports: list[GcReport] = []
    scratches: dict[int, str] = {}

    async def client(k: int, r: int) -> None:
        if r:
            # Restore what the last round's scratch branch held: old, unreachable objects (the
            # same tree, since w{k} did not move since) that gc is sweeping right now.
            await admin.commit({"scratch.md": f"scratch {k} {r - 1}\n"}, branch=f"w{k}")
        for n in range(3):
            await admin.commit({f"shared/{k}.md": f"round {r} client {k} edit {n}\n"})
        await admin.commit({"own.md": f"own {k} {r}\n"}, branch=f"w{k}")
        name = f"s{k}-{r}"
        await admin.call("POST", "/api/branches", 201, json={"name": name, "from": f"w{k}"})
        scratches[k] = await admin.commit({"scratch.md": f"scratch {k} {r}\n"}, branch=name)
        await admin.call("DELETE", f"/api/branches/{name}", 200)

    async def pusher(k: int, r: int, objects: dict[ObjectId, RawObject], commit_id: str) -> None:
        # A push of a branch deleted last round: every object it sends is old garbage.
        async with database.transaction(Tenant(ws)) as tx:
            await write_objects(tx, objects)
        await asyncio.sleep(0.02)  # a push stores its objects first, then moves its refs
        await repo.create_branch(f"pushed-{k}-{r}", commit_id, "pusher")

    async def sweeping(stop: asyncio.Event) -> None:
        while not stop.is_set():
            reports.append(await collect(database, workspace, GRACE_S))
            await asyncio.sleep(0.01)

    for r in range(ROUNDS):
        pushes = [(k, await pushed_objects(database, ws, c), c) for k, c in scratches.items()]
        await age_everything(sql, ws)
        stop = asyncio.Event()
        sweeper = asyncio.create_task(sweeping(stop))
        try:
            await asyncio.gather(*(client(k, r) for k in range(WRITERS)),
                                 *(pusher(k, r, objects, c) for k, objects, c in pushes))
        finally:
            stop.set()
            await sweeper
    await age_everything(sql, ws)
    reports.append(await collect(database, workspace, GRACE_S))

    assert len(reports) > ROUNDS and sum(r.objects for r in reports) > 0
    assert sum(r.removed["blob"].objects for r in reports) >= WRITERS  # the last round's scratch blobs at least
    await assert_clean(database, ws)
    main = await files_of(database, ws, "main")
    assert {k: main[f"shared/{k}.md"] for k in range(WRITERS)} == {
        k: f"round {ROUNDS - 1} client {k} edit 2\n".encode() for k in range(WRITERS)}
    for k in range(WRITERS):
        own = await files_of(database, ws, f"w{k}")
        assert own["scratch.md"] == f"scratch {k} {ROUNDS - 2}\n".encode()
        assert own["own.md"] == f"own {k} {ROUNDS - 1}\n".encode()
        for r in range(1, ROUNDS):
            assert (await files_of(database, ws, f"pushed-{k}-{r}"))["scratch.md"] == f"scratch {k} {r - 1}\n".encode()
    history = await repo.log("main", 1000)
    assert len(history) == 2 + ROUNDS * WRITERS * 3
