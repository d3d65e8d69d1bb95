"""Markdown features, raw HTML modes and code highlighting, read back through an HTML parser."""

from __future__ import annotations

import pytest

from openbook.errors import RenderError
from tests.render.conftest import Build, Doc, Element


def test_raw_html_is_escaped_by_default(build: Build) -> None:
    site = build({"index.md": "# Home\n\n<script>alert(1)</script>\n\nhi <b onclick=x>bold</b>\n"})
    doc = site.html("index.html")
    assert not [s for s in doc.find_all("script") if "alert" in s.text]
    assert not doc.find_all("b")
    assert "<script>alert(1)</script>" in doc.find("article").text


def test_sanitize_keeps_safe_tags_and_drops_dangerous_ones(build: Build) -> None:
    md = (
        '# Home\n\n<div class="box"><b onclick="x()">bold</b><script>alert(1)</script></div>\n\n'
        "[a](javascript:alert(1))\n"
    )
    doc = build({"index.md": md}, html="sanitize").html("index.html")
    bold = doc.find("b")
    assert bold.text == "bold" and "onclick" not in bold.attrs
    assert doc.with_class("box", "div")
    assert not [s for s in doc.find_all("script") if "alert" in s.text]
    assert not [a for a in doc.find_all("a") if a.attrs.get("href", "").startswith("javascript")]


def test_trusted_passes_raw_html_through(build: Build) -> None:
    doc = build(
        {"index.md": '# Home\n\n<iframe src="https://example.org/x"></iframe>\n'}, html="trusted"
    ).html("index.html")
    assert doc.find("iframe").attrs["src"] == "https://example.org/x"


def test_code_fences_are_highlighted_with_css_classes(build: Build) -> None:
    doc = build(
        {"index.md": "# Code\n\n```python\ndef f():\n    return 1\n```\n\n```nosuchlang\n<x>\n```\n"}
    ).html("index.html")
    pres = doc.with_class("highlight", "pre")
    assert len(pres) == 2
    code = doc.find("code", class_="language-python")
    assert "def f():" in code.text
    assert any(el.attrs.get("class") == "k" and el.text == "def" for el in doc.find_all("span"))
    assert "<x>" in pres[1].text  # unknown language: escaped, not dropped
    assert not doc.find_all("x")


def test_headings_get_stable_unique_ids_and_a_toc(build: Build) -> None:
    md = "# Title\n\n## Getting Started\n\n### Détails 中文\n\n## Getting Started\n\n#### Deep\n"
    doc = build({"index.md": md}).html("index.html")
    assert [h.attrs["id"] for h in doc.find_all("h2")] == ["getting-started", "getting-started-1"]
    assert doc.find("h3").attrs["id"] == "détails-中文"
    toc = [a.attrs["href"] for a in _toc_links(doc)]
    assert toc == ["#getting-started", "#détails-中文", "#getting-started-1"]


def _toc_links(doc: Doc) -> list[Element]:
    inside = []
    capture = False
    for el in doc.elements:
        if el.tag == "aside" and "page-toc" in el.attrs.get("class", ""):
            capture = True
        elif capture and el.tag == "a":
            inside.append(el)
        elif capture and el.tag == "footer":
            break
    return inside


def test_extensions_tables_strike_tasks_footnotes_deflists_admonitions(build: Build) -> None:
    md = (
        "# X\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] todo\n\n"
        "Text[^n].\n\n[^n]: The note.\n\nTerm\n: Definition\n\n"
        "::: warning Mind the gap\nCareful.\n:::\n\n:::tip\nHi\n:::\n"
    )
    doc = build({"index.md": md}).html("index.html")
    assert [td.text for td in doc.find_all("td")] == ["1", "2"]
    assert doc.find("s").text == "gone"
    boxes = doc.with_class("task-list-item-checkbox", "input")
    assert len(boxes) == 2 and "checked" in boxes[0].attrs and "checked" not in boxes[1].attrs
    assert doc.find("li", id="fn1").text.strip().startswith("The note.")
    assert doc.find("dt").text == "Term" and doc.find("dd").text == "Definition"
    warning = doc.with_class("admonition", "div")
    assert "warning" in warning[0].attrs["class"] and "Mind the gap" in warning[0].text
    assert "tip" in warning[1].attrs["class"] and "Tip" in warning[1].text


def test_unknown_html_mode_is_refused(build: Build) -> None:
    with pytest.raises(RenderError):
        build({"index.md": "# Home"}, html="anything")
