"""Other tools' configuration files: book.toml, mkdocs.yml, .gitbook.yaml, read into OpenBook's terms."""

from __future__ import annotations

from openbook.render.nav import NavEntry, NavSpec
from openbook.render.problems import Problem
from openbook.siteconf import Redirect, SiteFile, combine, read_book_file
from tests.siteconf.test_precedence import site


def book(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


BOOK_TOML = """\
[book]
title = "The Guide"
authors = ["A. Writer"]
src = "pages"

[output.html]
site-url = "https://guide.example/"

[output.html.redirect]
"/old/setup.html" = "../install.html"
"/moved.html" = "https://elsewhere.example/moved.html"
"/ch/index.html" = "../intro.html"

[preprocessor.katex]
after = ["links"]

[preprocessor.links]
"""


def test_book_toml_gives_title_source_url_redirects_and_reports_preprocessors() -> None:
    found = read_book_file(book({"book.toml": BOOK_TOML, "pages/intro.md": "# I", "pages/ch/index.md": "# C"}))
    assert found is not None and found.tool == "mdBook"
    assert (found.title, found.source, found.base_url) == ("The Guide", "pages", "https://guide.example/")
    assert found.redirects == (
        Redirect("old/setup.md", "install.md", 10, "book.toml"),
        Redirect("moved.md", "https://elsewhere.example/moved.html", 11, "book.toml"),
        Redirect("ch/index.md", "intro.md", 12, "book.toml"),  # the folder page that exists
    )
    # mdBook's own `links` preprocessor is what OpenBook does; katex is not run, and says so
    assert found.problems == (Problem("book.toml", 14, "config",
                                      "preprocessor 'katex' is not run by OpenBook: its syntax is left as written"),)


def test_book_toml_defaults_and_a_malformed_file_is_reported_with_its_line() -> None:
    found = read_book_file(book({"book.toml": "[book]\ntitle = 'T'\n", "src/a.md": "# A"}))
    assert found is not None and (found.title, found.source, found.problems) == ("T", "src", ())
    broken = read_book_file(book({"book.toml": "[book]\ntitle = 'T'\nsrc = \n", "src/a.md": "# A"}))
    assert broken is not None and broken.source == "src"  # mdBook's default still finds the pages
    assert [(p.path, p.line) for p in broken.problems] == [("book.toml", 3)]
    assert "invalid TOML" in broken.problems[0].message
    outside = read_book_file(book({"book.toml": "[book]\nsrc = '../elsewhere'\n"}))
    assert outside is not None and outside.source == "src" and outside.problems[0].line == 2


MKDOCS_YML = """\
site_name: My Docs
site_url: https://docs.example/
docs_dir: documentation
theme:
  name: material
markdown_extensions:
  - admonition
  - pymdownx.tabbed:
      alternate_style: true
  - pymdownx.emoji:
      emoji_generator: !!python/name:material.extensions.emoji.to_svg
plugins:
  - search
  - redirects:
      redirect_maps:
        old.md: guide/new.md
  - macros
extra:
  analytics: !ENV [GOOGLE_ANALYTICS_KEY, 'none']
nav:
  - Home: index.md
  - 'User guide':
      - guide/install.md
      - 'Writing': guide/writing.md
      - Deeper:
          - guide/deep/index.md
  - Issues: https://github.com/example/docs/issues
"""


def test_mkdocs_yml_gives_title_folder_url_nav_and_redirects_and_runs_no_tag() -> None:
    found = read_book_file(book({"mkdocs.yml": MKDOCS_YML}))
    assert found is not None and found.tool == "MkDocs"
    assert (found.title, found.source, found.base_url) == ("My Docs", "documentation", "https://docs.example/")
    assert found.nav == NavSpec("mkdocs.yml", (
        NavEntry("Home", "index.md", (), 21),
        NavEntry("User guide", None, (
            NavEntry(None, "guide/install.md", (), 23),
            NavEntry("Writing", "guide/writing.md", (), 24),
            NavEntry("Deeper", None, (NavEntry(None, "guide/deep/index.md", (), 26),), 25),
        ), 22),
        NavEntry("Issues", "https://github.com/example/docs/issues", (), 27),
    ))
    assert found.redirects == (Redirect("old.md", "guide/new.md", 14, "mkdocs.yml"),)
    assert [(p.line, p.message.split(":")[0]) for p in found.problems] == [
        (8, "markdown extension 'pymdownx.tabbed' is not rendered by OpenBook"),
        (10, "markdown extension 'pymdownx.emoji' is not rendered by OpenBook"),
        (17, "plugin 'macros' is not run by OpenBook"),
    ]


def test_malformed_mkdocs_yml_and_nav_entries_are_reported_with_their_lines() -> None:
    broken = read_book_file(book({"mkdocs.yml": "site_name: x\nnav:\n  - a.md\n - b.md\n"}))
    assert broken is not None and broken.source == "docs" and broken.nav is None
    assert broken.problems[0].path == "mkdocs.yml" and broken.problems[0].line == 4
    assert "invalid YAML" in broken.problems[0].message
    odd = read_book_file(book({"mkdocs.yml": "site_name: x\nnav:\n  - a.md\n  - {A: a.md, B: b.md}\n  - 3\n"}))
    assert odd is not None and odd.nav == NavSpec("mkdocs.yml", (NavEntry(None, "a.md", (), 3),
                                                                NavEntry(None, "3", (), 5)))
    assert [p.line for p in odd.problems] == [4]
    assert read_book_file(book({"mkdocs.yml": "- a\n- b\n"})).problems[0].line == 1  # type: ignore[union-attr]


def test_gitbook_yaml_gives_root_structure_and_redirects() -> None:
    text = ("root: ./content/\nstructure:\n  readme: intro.md\n  summary: toc.md\n"
            "redirects:\n  previous/page: ./new/page.md\n  help: https://help.example/\n")
    found = read_book_file(book({".gitbook.yaml": text}))
    assert found is not None and found.tool == "GitBook"
    assert (found.source, found.home, found.summary) == ("content", "intro.md", "toc.md")
    assert found.redirects == (Redirect("previous/page.md", "new/page.md", 6, ".gitbook.yaml"),
                               Redirect("help.md", "https://help.example/", 7, ".gitbook.yaml"))


def test_site_file_wins_over_the_book_file_which_wins_over_the_api() -> None:
    found = read_book_file(book({"book.toml": BOOK_TOML, "pages/intro.md": "# I"}))
    assert found is not None
    assert combine(site(), None, found).title == "The Guide"
    file = SiteFile(path="openbook.toml", title="Site file title",
                    redirects=(Redirect("moved.md", "intro.md", 4),))
    config = combine(site(), file, found)
    assert config.title == "Site file title" and config.source == "pages" and config.book_file == "book.toml"
    # the same old page: the site file's redirect wins; the book's others stay
    assert Redirect("moved.md", "intro.md", 4) in config.redirects
    assert Redirect("old/setup.md", "install.md", 10, "book.toml") in config.redirects
    assert len(config.redirects) == 3
    assert config.problems == found.problems
