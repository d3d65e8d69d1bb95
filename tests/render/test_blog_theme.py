"""The built-in "blog" theme: date-ordered index, tag pages and an Atom feed, read as a reader would."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import pytest

from openbook.fs.themes import load_theme
from openbook.render import ThemeChain, parallel
from tests.render.conftest import Build, Doc, Site

ATOM = "{http://www.w3.org/2005/Atom}"

POSTS = {
    "about.md": "# About\n\nWho writes here.",
    "posts/hello.md": "---\ntitle: Hello, world\ndate: 2023-11-02\ntags: meta\n---\nThe first post.",
    "posts/rust.md": (
        "---\ntitle: Parsing in Rust\ndate: 2024-03-05\ntags: [rust, Web Dev]\n"
        "description: Lifetimes and error types.\n---\n# Parsing in Rust\n\nBody."
    ),
    "posts/python.md": (
        "---\ntitle: Python packaging\ndate: 2024-06-12 09:30:00\ntags: [python, Web Dev]\nauthor: Ada\n---\n"
        "Packaging got simpler.\n\n## Build backend\n\nPick one."
    ),
    "posts/unfinished.md": ("---\ntitle: Unfinished\ndate: 2024-07-01\ndraft: true\ntags: [python]\n---\nNot yet."),
}


@pytest.fixture(scope="module")
def blog() -> ThemeChain:
    return load_theme("blog")


def _post_titles(doc: Doc) -> list[str]:
    return [el.text.strip() for el in doc.with_class("post-title", "h3")]


def _broken_links(site: Site) -> list[tuple[str, str]]:
    """Every relative href/src in every HTML file that names no output file."""
    broken = []
    for path in sorted(p for p in site.files if p.endswith(".html")):
        for el in site.html(path).elements:
            ref = el.attrs.get("href") or el.attrs.get("src")
            if el.tag not in ("a", "link", "script", "img") or not ref or ref.startswith("#"):
                continue
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc:
                continue
            base = "" if parts.path.startswith("/") else posixpath.dirname(path)
            target = posixpath.normpath(posixpath.join(base, unquote(parts.path).lstrip("/")))
            target = "" if target == "." else target
            if ref.endswith("/") or target == "" or target + "/index.html" in site.files:
                target = posixpath.join(target, "index.html")
            if target not in site.files:
                broken.append((path, ref))
    return broken


def test_blog_extends_base_and_renders_posts_with_their_date(build: Build, blog: ThemeChain) -> None:
    assert [layer.name for layer in blog.layers] == ["blog", "base"]
    site = build(POSTS, theme=blog, extra={"menu": [{"title": "About", "url": "about/"}]})
    post = site.html("posts/python/index.html")
    assert post.find("h1").text == "Python packaging"
    assert [a.attrs["href"] for a in post.find_all("a") if a.text.strip() == "About"] == ["../../about/"]
    assert post.find("time").attrs["datetime"].startswith("2024-06-12")
    assert "12 June 2024" in post.find("time").text
    assert "Ada" in post.with_class("post-meta")[0].text
    assert len(site.html("posts/rust/index.html").find_all("h1")) == 1  # the post's own h1 is not doubled
    assert not post.find_all("nav", class_="breadcrumbs")
    assert "posts/unfinished/index.html" not in site.files


def test_index_lists_dated_posts_newest_first(build: Build, blog: ThemeChain) -> None:
    site = build(POSTS, theme=blog, title="Field Notes")
    home = site.html("index.html")
    assert _post_titles(home) == ["Python packaging", "Parsing in Rust", "Hello, world"]
    assert [h.text for h in home.find_all("h2")] == ["2024", "2023"]
    links = {a.text.strip(): a.attrs["href"] for a in home.find_all("a")}
    assert links["Python packaging"] == "posts/python/"
    assert "About" not in _post_titles(home) and "Unfinished" not in home.find("main").text
    assert "Lifetimes and error types." in home.find("main").text  # description as the summary
    assert "Packaging got simpler." in home.find("main").text  # else the opening text
    feed = home.find("link", rel="alternate")
    assert feed.attrs["type"] == "application/atom+xml" and feed.attrs["href"] == "feed.xml"
    assert not _broken_links(site)


def test_home_page_text_introduces_the_list(build: Build, blog: ThemeChain) -> None:
    site = build({**POSTS, "index.md": "# Welcome\n\nNotes from the field."}, theme=blog)
    home = site.html("index.html")
    assert home.find("h1").text == "Welcome"
    main = home.find("main").text
    assert main.index("Notes from the field.") < main.index("Python packaging")
    assert len(_post_titles(home)) == 3


def test_tag_pages_and_tag_index(build: Build, blog: ThemeChain) -> None:
    site = build(POSTS, theme=blog)
    web = site.html("tags/web-dev/index.html")
    assert "Web Dev" in web.find("h1").text
    assert _post_titles(web) == ["Python packaging", "Parsing in Rust"]
    assert _post_titles(site.html("tags/python/index.html")) == ["Python packaging"]  # the draft is left out
    assert _post_titles(site.html("tags/meta/index.html")) == ["Hello, world"]  # a single tag as a string
    index = site.html("tags/index.html")
    tags = {a.text: a.attrs["href"] for a in index.with_class("tag", "a")}
    slugs = {"meta": "meta", "python": "python", "rust": "rust", "Web Dev": "web-dev"}
    assert tags == {name: f"../tags/{slug}/" for name, slug in slugs.items()}
    counts = [el.text for el in index.with_class("count")]
    assert counts == ["1", "1", "1", "2"]
    post_tags = site.html("posts/rust/index.html").with_class("post-tags")[0]
    assert "rust" in post_tags.text and "Web Dev" in post_tags.text
    post_links = [a.attrs["href"] for a in site.html("posts/rust/index.html").with_class("tag", "a")]
    assert post_links == ["../../tags/rust/", "../../tags/web-dev/"]
    assert not _broken_links(site)


def test_atom_feed_with_absolute_urls(build: Build, blog: ThemeChain) -> None:
    site = build(POSTS, theme=blog, title="Field Notes", base_url="https://blog.example.org/")
    assert site.text("feed.xml").startswith('<?xml version="1.0" encoding="utf-8"?>\n<feed')
    feed = ElementTree.fromstring(site.text("feed.xml"))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "Field Notes"
    assert feed.findtext(f"{ATOM}id") == "https://blog.example.org/"
    assert feed.findtext(f"{ATOM}updated") == "2024-06-12T09:30:00Z"
    self_link = next(link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self")
    assert self_link.get("href") == "https://blog.example.org/feed.xml"
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles == ["Python packaging", "Parsing in Rust", "Hello, world"]
    first = entries[0]
    assert first.find(f"{ATOM}link").get("href") == "https://blog.example.org/posts/python/"  # type: ignore[union-attr]
    assert first.findtext(f"{ATOM}id") == "https://blog.example.org/posts/python/"
    assert first.findtext(f"{ATOM}published") == "2024-06-12T09:30:00Z"
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "Ada"
    assert [c.get("term") for c in first.findall(f"{ATOM}category")] == ["python", "Web Dev"]
    assert entries[1].findtext(f"{ATOM}summary") == "Lifetimes and error types."
    assert entries[2].findtext(f"{ATOM}updated") == "2023-11-02T00:00:00Z"
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == 3
    canonical = site.html("posts/rust/index.html").find("link", rel="canonical")
    assert canonical.attrs["href"] == "https://blog.example.org/posts/rust/"


def test_feed_without_a_domain_uses_relative_links_and_urn_ids(build: Build, blog: ThemeChain) -> None:
    feed = ElementTree.fromstring(build(POSTS, theme=blog, title="Field Notes").text("feed.xml"))
    assert feed.findtext(f"{ATOM}id") == "urn:openbook:Field%20Notes"
    assert not [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    entry = feed.findall(f"{ATOM}entry")[0]
    assert entry.find(f"{ATOM}link").get("href") == "posts/python/"  # type: ignore[union-attr]
    assert entry.findtext(f"{ATOM}id") == "urn:openbook:Field%20Notes:posts/python.md"


def test_an_edited_post_rerenders_the_lists_not_the_other_posts(build: Build, blog: ThemeChain) -> None:
    before = build(POSTS, theme=blog)
    edited = {**POSTS, "posts/hello.md": POSTS["posts/hello.md"].replace("The first post.", "The 1st post.")}
    after = build(edited, theme=blog)
    changed = {p for p in after.keys if after.keys[p] != before.keys.get(p)}
    assert {"posts/hello/index.html", "index.html", "feed.xml", "tags/meta/index.html"} <= changed
    assert "posts/rust/index.html" not in changed and "about/index.html" not in changed


def test_a_child_theme_can_drop_an_output(tmp_path: Path, build: Build) -> None:
    folder = tmp_path / "quiet"
    (folder / "templates").mkdir(parents=True)
    (folder / "theme.toml").write_text(
        'name = "quiet"\nextends = "blog"\n\n[[outputs]]\npath = "feed.xml"\ntemplate = ""\n'
    )
    site = build(POSTS, theme=load_theme("quiet", [tmp_path]))
    assert "feed.xml" not in site.files and "tags/rust/index.html" in site.files


def _many_posts(n: int) -> dict[str, str]:
    posts = {"index.md": "# Home\n\nIntro."}
    for i in range(n):
        posts[f"posts/p{i}.md"] = (
            f"---\ntitle: Post {i}\ndate: 2024-01-{i % 28 + 1:02d}\ntags: [t{i % 3}]\n---\nBody {i}."
        )
    return posts


def test_outputs_are_the_same_serial_and_parallel(
    build: Build, blog: ThemeChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_PAGES", 2)  # the pool renders the pages (index.md too)
    posts = _many_posts(40)
    serial = build(posts, theme=blog, base_url="https://blog.example.org/", workers=1)
    pooled = build(posts, theme=blog, base_url="https://blog.example.org/", workers=2)
    assert {"index.html", "feed.xml", "tags/t0/index.html"} <= set(serial.files)
    assert pooled.files == serial.files and pooled.keys == serial.keys


def test_outputs_with_an_unchanged_key_are_not_rendered(build: Build, blog: ThemeChain) -> None:
    first = build(POSTS, theme=blog)
    again = build(POSTS, theme=blog, previous=first.keys)
    assert again.files == {} and again.keys == first.keys
    retitled = {**POSTS, "posts/rust.md": POSTS["posts/rust.md"].replace("title: Parsing", "title: Lexing")}
    after = build(retitled, theme=blog, previous=first.keys)
    assert {"index.html", "feed.xml", "tags/index.html", "tags/rust/index.html", "tags/meta/index.html"} <= set(
        after.files
    )
    assert "posts/hello/index.html" not in after.files and "about/index.html" not in after.files
