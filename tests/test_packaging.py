"""`pip install .` gives a working openbook: themes and migrations ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_themes_and_migrations(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("openbook-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {p.name for p in (ROOT / "migrations").glob("*.sql")}
    assert migrations and {f"openbook/migrations/{m}" for m in migrations} <= names
    for theme in (ROOT / "themes").iterdir():
        if (theme / "theme.toml").exists():
            assert f"openbook/themes/{theme.name}/theme.toml" in names
            for template in (theme / "templates").glob("*.html"):
                assert f"openbook/themes/{theme.name}/templates/{template.name}" in names
    studio = ROOT / "openbook" / "studio"
    for page in [*studio.glob("templates/*.html"), *studio.glob("static/*")]:
        assert f"openbook/studio/{page.parent.name}/{page.name}" in names, page.name
    assert any(n.endswith("entry_points.txt") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "openbook = openbook.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_wheel_finds_themes_and_migrations_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("openbook-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = (
        "import openbook, importlib.resources as r\n"
        "from openbook.fs.themes import available_themes\n"
        "print(openbook.__file__)\n"
        "print(sorted(p.name for p in r.files('openbook.migrations').iterdir() if p.name.endswith('.sql')))\n"
        "print(available_themes())\n"
    )
    # -I ignores the checkout's editable install; the venv's dependencies are added back explicitly.
    deps = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(site)!r}, {str(deps)!r}]\n"
                          + probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    module_file, migrations, themes = out.stdout.splitlines()
    assert module_file.startswith(str(site))
    assert "0001_content_store.sql" in migrations
    assert "book" in themes and "base" in themes
