"""`openbook check DIR [--strict]`: every problem with file and line, the exit codes of SPEC §14."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from openbook.cli import main
from openbook.errors import RenderError
from openbook.fs.scan import scan_folder
from openbook.fs.themes import load_theme, theme_exists
from openbook.publish import compose


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


BOOK = {
    "book.toml": "[book]\ntitle = 'Checked'\n\n[preprocessor.mermaid]\n",
    "src/SUMMARY.md": "- [Intro](intro.md)\n- [Gone](gone.md)\n",
    "src/intro.md": "# Intro\n\n{{#include ../../secret.txt}}\n{{#include listing.rs:nope}}\n\n"
                    "See [nowhere](nowhere.md) and [nowhere again](nowhere.md).\n",
    "src/listing.rs": "fn main() {}\n",
}


def test_check_lists_every_problem_and_strict_decides_the_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    book = write(tmp_path / "book", BOOK)
    os.symlink(tmp_path / "secret.txt", book / "src" / "linked.txt")  # never followed
    assert main(["check", str(book)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "book.toml:4: preprocessor 'mermaid' is not run by OpenBook: its syntax is left as written",
        "src/SUMMARY.md:2: broken link to gone.md",
        "src/intro.md:3: include of ../../secret.txt: outside the site's folder, not read",
        "src/intro.md:4: include of listing.rs: no anchor 'nope' (no line with `ANCHOR: nope`)",
        "src/intro.md:6: broken link to nowhere.md (2 times)",
    ]
    assert "5 problems" in err and "not strict" in err
    assert "TOP SECRET" not in out + err
    assert main(["check", "--strict", str(book)]) == 1
    assert capsys.readouterr().out.splitlines()[0].startswith("book.toml:4:")

    # fixed, it passes even when strict
    fixed = {**BOOK, "book.toml": "[book]\ntitle = 'Checked'\n", "src/SUMMARY.md": "- [Intro](intro.md)\n",
             "src/intro.md": "# Intro\n\n```rust\n{{#include listing.rs}}\n```\n"}
    clean = write(tmp_path / "clean", fixed)
    assert main(["check", "--strict", str(clean)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "0 problems" in err


def test_a_site_that_is_strict_itself_or_does_not_build_fails_the_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strict = write(tmp_path / "strict", {"openbook.toml": "strict = true\n", "index.md": "[x](missing.md)\n"})
    assert main(["check", str(strict)]) == 1
    assert capsys.readouterr().out == "index.md:1: broken link to missing.md\n"
    broken = write(tmp_path / "broken", {"index.md": "---\ntitle: [unclosed\n---\n"})
    assert main(["check", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("index.md:3: error: invalid front matter (line 3): ") and "fails on the 1 error" in err
    bad_toml = write(tmp_path / "toml", {"openbook.toml": "title = \n", "index.md": "# Hi\n"})
    assert main(["check", str(bad_toml)]) == 1
    assert capsys.readouterr().out == "openbook.toml:1: error: column 9, key title: invalid TOML: invalid value\n"
    assert main(["check", str(tmp_path / "nothing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


MIGRATED = {
    "mkdocs.yml": "site_name: Migrated\nnav: [unclosed\n",
    "openbook.toml": 'title = 1\nhtml = "raw"\n',
    "docs/index.md": "# Home\n\n[Guide](guide.md) and [Setup](setup.md)\n",
    "docs/guide.md": "---\ntitle: Guide\ndraft: maybe\n---\n# Guide\n\nSee [setup](setup.md).\n",
    "docs/setup.md": "---\ntitle: [unclosed\n---\n# Setup\n\n[home](index.md)\n",
    "docs/faq.md": "# FAQ\n\nAsk.\n\nSee [gone](gone.md).\n",
    "docs/custom.md": "---\ntemplate: nope.html\n---\n# Custom\n",
}


def test_check_lists_every_error_a_deployment_would_stop_at_the_first_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path / "migrated", MIGRATED)
    assert main(["check", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "docs/custom.md: error: template 'nope.html' is not in theme 'book'",
        "docs/faq.md:5: broken link to gone.md",
        "docs/guide.md:3: error: invalid front matter: 'draft' must be true or false",
        "docs/setup.md:3: error: invalid front matter (line 3): did not find expected ',' or ']'",
        "mkdocs.yml:3: invalid YAML: expected ',' or ']', but got '<stream end>'; MkDocs' defaults are used",
        "openbook.toml:1: error: key title: must be a string, not an integer",
        "openbook.toml:2: error: key html: must be one of escape, sanitize, trusted, not 'raw'",
    ]
    assert "7 problems; any deployment fails on the 5 errors among them" in err

    # A deployment of the same files stops at the first error, with the message the check lists.
    content = scan_folder(folder)
    row = SimpleNamespace(name="migrated", theme="book", root="", settings={}, domains=())
    with pytest.raises(RenderError) as bad_config:
        compose.configure(row, content, theme_exists)
    assert bad_config.value.message == (
        "openbook.toml: line 1, key title: must be a string, not an integer; "
        "line 2, key html: must be one of escape, sanitize, trusted, not 'raw'")
    del content["openbook.toml"]
    config = compose.configure(row, content, theme_exists)
    with pytest.raises(RenderError) as bad_page:
        compose.render_site(content, config, load_theme("book"), workers=1)
    first = bad_page.value
    assert f"{first.path}:{first.line}: error: {first.cause}" == out.splitlines()[2]
    assert first.message == "docs/guide.md: invalid front matter: 'draft' must be true or false"
