from __future__ import annotations

import pytest

from openbook.errors import InvalidPath, InvalidRef
from openbook.store.paths import (
    is_commit_id,
    parse_object_id,
    split_path,
    validate_branch_name,
    validate_dir_path,
    validate_path,
)


@pytest.mark.parametrize(
    "path",
    ["index.md", "a/b/c.md", "docs/Ünïcode.md", ".hidden", "a/..b/c", "x" * 255, "/".join(["d" * 200] * 5)],
)
def test_good_paths(path: str) -> None:
    assert validate_path(path) == path


def test_paths_are_nfc_normalised() -> None:
    assert validate_path("cafe\u0301.md") == "caf\u00e9.md"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/abs.md",
        "a//b",
        "a/",
        "./a",
        "a/./b",
        "..",
        "a/../b",
        "a/..",
        "a\\b",
        "nul\0.md",
        "tab\t.md",
        "new\nline",
        "del\x7f",
        "c1\x85",
        "é" * 128,  # 256 bytes in one segment
        "x" * 256,
        "/".join(["d" * 200] * 6),  # > 1024 bytes
    ],
)
def test_bad_paths_name_the_path(path: str) -> None:
    with pytest.raises(InvalidPath) as e:
        validate_path(path)
    assert e.value.details == {"path": path}
    assert repr(path)[:20] in e.value.message


def test_dir_path_allows_root() -> None:
    assert validate_dir_path("") == ""
    assert validate_dir_path("a/b") == "a/b"
    with pytest.raises(InvalidPath):
        validate_dir_path("a/")


def test_split_path() -> None:
    assert split_path("a/b/c") == ("a/b", "c")
    assert split_path("c") == ("", "c")


@pytest.mark.parametrize("name", ["main", "feature/x-1", "release-1.2", "a_b", "A" * 200, "x.y/z"])
def test_good_branch_names(name: str) -> None:
    assert validate_branch_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A" * 201, "a..b", "/main", "-x", "main/", "a//b", "sp ace", "tab\t", "ü", "a:b", "a~1", "a^", "a*"],
)
def test_bad_branch_names(name: str) -> None:
    with pytest.raises(InvalidRef) as e:
        validate_branch_name(name)
    assert e.value.details == {"ref": name}


def test_commit_ids() -> None:
    good = "a" * 64
    assert is_commit_id(good) and parse_object_id(good) == good
    for bad in ["A" * 64, "a" * 63, "a" * 65, "g" * 64, ""]:
        assert not is_commit_id(bad)
        with pytest.raises(InvalidRef):
            parse_object_id(bad)
