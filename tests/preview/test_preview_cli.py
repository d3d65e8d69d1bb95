"""`openbook preview` refuses bad arguments before serving anything, with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from openbook.cli import main


def test_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-book"
    assert main(["preview", str(missing), "--theme", "book"]) == 2
    err = capsys.readouterr().err
    assert f"{missing} is not a folder" in err


def test_unknown_theme_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(tmp_path), "--theme", "nosuchtheme"]) == 2
    err = capsys.readouterr().err
    assert "unknown theme 'nosuchtheme'" in err
    assert "base" in err and "book" in err


def test_theme_from_themes_path_is_known(
    tmp_path: Path, themes_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THEMES_PATH", str(themes_dir))
    assert main(["preview", str(tmp_path / "missing"), "--theme", "tinted"]) == 2
    assert "is not a folder" in capsys.readouterr().err  # the theme itself was found
    assert main(["preview", str(tmp_path), "--theme", "nosuchtheme"]) == 2
    assert "tinted" in capsys.readouterr().err


def test_bad_themes_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THEMES_PATH", str(tmp_path / "nowhere"))
    assert main(["preview", str(tmp_path), "--theme", "book"]) == 2
    assert "THEMES_PATH entry" in capsys.readouterr().err
