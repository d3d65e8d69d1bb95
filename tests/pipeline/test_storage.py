"""The filesystem side: atomic folders, reuse, hard links, symlink switches, failures that damage nothing."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from openbook.errors import InternalError, PublishFailed
from openbook.fs import storage

WS, SITE = uuid.uuid4(), uuid.uuid4()


Output = tuple[str, bytes | None, str]


def keyed(pairs: list[tuple[str, bytes]]) -> list[Output]:
    """Outputs as the renderer gives them: path, bytes, render key (here: the bytes' digest)."""
    return [(p, d, hashlib.sha256(d).hexdigest()) for p, d in pairs]


def files(version: str) -> list[Output]:
    return keyed([("index.html", f"<h1>{version}</h1>".encode()), ("guide/intro/index.html", b"intro"),
                  ("static/app.1234abcd.css", b"body{}")])


def test_publish_writes_everything_and_a_manifest(tmp_path: Path) -> None:
    target = storage.site_dir(tmp_path, WS, SITE) / ("a" * 64)
    result = storage.publish(target, files("one"), "key-1", stats={"pages": 2})
    size = sum(len(d or b"") for _, d, _ in files("one"))
    assert not result.reused and result.written == 3 and result.bytes == size
    assert (target / "guide/intro/index.html").read_bytes() == b"intro"
    manifest = json.loads((target / storage.MANIFEST).read_bytes())
    assert manifest["build_key"] == "key-1" and manifest["stats"] == {"pages": 2, "bytes": size}
    assert set(manifest["files"]) == {p for p, _, _ in files("one")}
    assert manifest["keys"] == {p: k for p, _, k in files("one")}
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp folder left


def test_same_build_key_is_reused_and_a_new_one_swaps_atomically(tmp_path: Path) -> None:
    target = storage.site_dir(tmp_path, WS, SITE) / ("b" * 64)
    storage.publish(target, files("one"), "key-1")
    inode = os.stat(target / "index.html").st_ino
    assert storage.publish(target, files("two"), "key-1").reused
    assert os.stat(target / "index.html").st_ino == inode
    # Same commit, new theme: the folder is exchanged in one step, the old one removed.
    storage.publish(target, files("two"), "key-2")
    assert (target / "index.html").read_bytes() == b"<h1>two</h1>"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_unchanged_files_are_hard_linked_from_the_previous_build(tmp_path: Path) -> None:
    folder = storage.site_dir(tmp_path, WS, SITE)
    old = storage.publish(folder / ("1" * 64), files("one"), "k1")
    new = storage.publish(folder / ("2" * 64), files("two"), "k2", previous=old.path)
    assert new.written == 1 and new.linked == 2
    page = "guide/intro/index.html"
    assert os.stat(old.path / page).st_ino == os.stat(new.path / page).st_ino
    assert (new.path / "index.html").read_bytes() == b"<h1>two</h1>"


def test_skipped_files_are_linked_from_the_previous_build_or_refused(tmp_path: Path) -> None:
    folder = storage.site_dir(tmp_path, WS, SITE)
    old = storage.publish(folder / ("1" * 64), files("one"), "k1")
    assert storage.previous_keys(old.path) == {p: k for p, _, k in files("one")}
    skipped: list[Output] = [(p, None, k) if p != "index.html" else (p, b"<h1>new</h1>", "k-new")
                             for p, _, k in files("one")]
    new = storage.publish(folder / ("2" * 64), skipped, "k2", previous=old.path)
    assert new.written == 1 and new.linked == 2
    assert new.bytes == len(b"<h1>new</h1>") + len(b"intro") + len(b"body{}")
    assert os.stat(old.path / "static/app.1234abcd.css").st_ino == os.stat(new.path / "static/app.1234abcd.css").st_ino
    with pytest.raises(storage.ReuseFailed):
        storage.publish(folder / ("3" * 64), [("missing.html", None, "k")], "k3", previous=old.path)
    with pytest.raises(storage.ReuseFailed):
        storage.publish(folder / ("4" * 64), [("index.html", None, "k")], "k4", previous=None)
    assert sorted(p.name for p in folder.iterdir()) == ["1" * 64, "2" * 64]  # failures left nothing behind
    assert storage.previous_keys(None) == {}


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below `folder`, the manifest but its stats."""
    found: dict[str, bytes | None] = {}
    for path in folder.rglob("*"):
        name = str(path.relative_to(folder))
        found[name] = None if path.is_dir() else path.read_bytes()
    manifest = json.loads(found.pop(storage.MANIFEST) or b"")
    found["manifest files"] = json.dumps(manifest["files"], sort_keys=True).encode()
    return found


def test_a_spare_of_the_previous_build_becomes_the_same_folder_a_new_one_would_be(tmp_path: Path) -> None:
    folder = storage.site_dir(tmp_path, WS, SITE)
    old = storage.publish(folder / ("1" * 64), [*files("one"), *keyed([("gone/only/index.html", b"bye")])], "k1")
    spare = storage.make_spare(old.path, "t")
    assert spare is not None
    # Changed, kept, skipped (by render key), added in a new folder, removed (with its folders).
    outputs: list[Output] = [("guide/intro/index.html", None, files("one")[1][2]),
                             *keyed([("index.html", b"<h1>two</h1>"), ("static/app.1234abcd.css", b"body{}"),
                                     ("new/deep/index.html", b"new")])]
    new = storage.publish(folder / ("2" * 64), outputs, "k2", previous=old.path, spare=spare)
    assert (new.written, new.linked) == (2, 2) and not spare.path.exists()
    fresh = storage.publish(folder / ("3" * 64), outputs, "k2", previous=old.path)
    assert _tree(new.path) == _tree(fresh.path)
    assert (old.path / "index.html").read_bytes() == b"<h1>one</h1>"  # the previous build is never written into
    assert (old.path / "gone/only/index.html").read_bytes() == b"bye"
    # A spare stopped halfway (a job came) is completed by publishing.
    calls = iter(range(100))
    half = storage.make_spare(old.path, "h", lambda: next(calls) >= 2)
    assert half is not None and half.linked == 2
    done = storage.publish(folder / ("5" * 64), outputs, "k5", previous=old.path, spare=half)
    assert _tree(done.path) == _tree(fresh.path) and not half.path.exists()
    # A spare of another build is not used (and left for its owner to discard).
    other = storage.make_spare(fresh.path, "u")
    assert other is not None
    again = storage.publish(folder / ("4" * 64), outputs, "k4", previous=old.path, spare=other)
    assert _tree(again.path) == _tree(fresh.path) and other.path.exists()
    storage.discard(other)
    assert sorted(p.name for p in folder.iterdir()) == ["1" * 64, "2" * 64, "3" * 64, "4" * 64, "5" * 64]
    assert storage.make_spare(folder / ("6" * 64), "w") is None  # no build there


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape.html", "a/../../b", "a//b", "",
                                 ".openbook-manifest.json", "a\\b", "a/./b"])
def test_bad_output_paths_fail_without_touching_anything(tmp_path: Path, bad: str) -> None:
    target = storage.site_dir(tmp_path, WS, SITE) / ("c" * 64)
    with pytest.raises(InternalError):
        storage.publish(target, keyed([("ok.html", b"ok"), (bad, b"evil")]), "k")
    assert not target.exists() and list(target.parent.iterdir()) == []
    assert not (tmp_path / "escape.html").exists()


def test_a_write_error_leaves_the_target_and_no_temp(tmp_path: Path) -> None:
    target = storage.site_dir(tmp_path, WS, SITE) / ("d" * 64)
    storage.publish(target, files("one"), "k1")
    # A file where a folder must go: the write fails like a full disk would, mid-build.
    with pytest.raises(PublishFailed):
        storage.publish(target, keyed([("x.html", b"x"), ("x.html/inner.html", b"y")]), "k2")
    assert (target / "index.html").read_bytes() == b"<h1>one</h1>"
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    with pytest.raises(InternalError):
        storage.publish(target, keyed([("same.html", b"1"), ("same.html", b"2")]), "k3")


def test_live_switch_is_a_rename_and_needs_a_complete_build(tmp_path: Path) -> None:
    folder = storage.site_dir(tmp_path, WS, SITE)
    storage.publish(folder / ("1" * 64), files("one"), "k1")
    storage.publish(folder / ("2" * 64), files("two"), "k2")
    storage.switch_live(tmp_path, WS, SITE, "1" * 64)
    link_inode = os.lstat(folder / "live").st_ino
    storage.switch_live(tmp_path, WS, SITE, "2" * 64)
    assert os.readlink(folder / "live") == "2" * 64
    assert os.lstat(folder / "live").st_ino != link_inode  # a new link renamed over the old one
    assert storage.live_target(tmp_path, WS, SITE) == "2" * 64
    (folder / ("3" * 64)).mkdir()  # no manifest: not a finished build
    with pytest.raises(PublishFailed):
        storage.switch_live(tmp_path, WS, SITE, "3" * 64)
    assert os.readlink(folder / "live") == "2" * 64
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_host_links_follow_the_domains(tmp_path: Path) -> None:
    other = uuid.uuid4()
    storage.reconcile_hosts(tmp_path, [("a.example", WS, SITE), ("b.example", WS, other)])
    assert os.readlink(tmp_path / "_hosts/a.example") == f"../{WS}/{SITE}/live"
    storage.reconcile_hosts(tmp_path, [("b.example", WS, SITE)])
    assert sorted(os.listdir(tmp_path / "_hosts")) == ["b.example"]
    assert os.readlink(tmp_path / "_hosts/b.example") == f"../{WS}/{SITE}/live"
    storage.unlink_host(tmp_path, "b.example")
    storage.unlink_host(tmp_path, "b.example")
    assert os.listdir(tmp_path / "_hosts") == []


def test_never_writes_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = storage.site_dir(tmp_path, WS, SITE) / ("e" * 64)

    class Sneaky:
        """Plants a symlink inside the temp folder between two writes (as a hostile process might)."""

        def __iter__(self):  # type: ignore[no-untyped-def]
            yield "a.html", b"a", "k-a"
            temp = next(p for p in target.parent.iterdir() if p.name.startswith(".tmp-"))
            os.symlink(outside, temp / "dir")
            yield "dir/evil.html", b"evil", "k-evil"

    with pytest.raises(PublishFailed):
        storage.publish(target, Sneaky(), "k")
    assert list(outside.iterdir()) == [] and not target.exists()


def test_reconciling_keeps_the_preview_links_of_each_domain(tmp_path: Path) -> None:
    storage.reconcile_hosts(tmp_path, [("a.example", WS, SITE), ("b.example", WS, SITE)],
                            [("feature-x", WS, SITE)])
    hosts = sorted(os.listdir(tmp_path / "_hosts"))
    assert hosts == ["a.example", "b.example", "feature-x--a.example", "feature-x--b.example"]
    assert os.readlink(tmp_path / "_hosts/feature-x--a.example") == f"../{WS}/{SITE}/previews/feature-x"
    # The preview went away (branch deleted while the worker was down): its links go at the next start.
    storage.reconcile_hosts(tmp_path, [("a.example", WS, SITE)], [])
    assert os.listdir(tmp_path / "_hosts") == ["a.example"]
