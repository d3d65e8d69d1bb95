"""`make demo` (= `openbook dev`) brings the stack up from nothing and publishes the example book."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from openbook.dev.run import _pg_dir
from openbook.dev.stack import free_port

ROOT = Path(__file__).resolve().parent.parent


class Titles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_title = False
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data


def test_dev_publishes_the_example_book_and_restarts_on_its_own_data(tmp_path: Path) -> None:
    data = tmp_path / "dev"
    book = tmp_path / "book"
    shutil.copytree(ROOT / "examples", book)
    cmd = [sys.executable, "-m", "openbook.cli", "dev", "--data", str(data), "--examples", str(book),
           "--port", str(free_port()), "--exit-after-publish"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    live = Path(report["live"])
    assert live.is_symlink()
    index = (live / "index.html").read_text()
    parser = Titles()
    parser.feed(index)
    assert "OpenBook" in parser.title
    pages = sorted(p.relative_to(live).as_posix() for p in live.rglob("index.html"))
    assert len(pages) >= 10 and report["stats"]["pages"] >= 10
    assert (live / "404.html").exists() and (live / "sitemap.xml").exists()
    assert report["trigger"] == "push", "the push itself deployed the site"
    assert report["studio"].startswith(f"{report['api']}/studio/signin/"), "make demo prints a studio sign-in link"

    # Second start: same data folder, nothing to push, a fresh deployment all the same.
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["site_id"] == report["site_id"] and again["trigger"] == "manual"

    # An edited page is pushed, and the push redeploys the site by itself.
    (book / "README.md").write_text((book / "README.md").read_text() + "\nA line added by the test.\n")
    third = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert json.loads(third.stdout.strip().splitlines()[-1])["trigger"] == "push"
    assert "A line added by the test." in (live / "index.html").read_text()
    pg_dir = _pg_dir(data.resolve())
    assert not (pg_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL left running"
    shutil.rmtree(pg_dir, ignore_errors=True)
