"""Images get width and height when the file is in the content and its header is readable."""

from __future__ import annotations

import struct
import zlib

import pytest

from openbook.render.images import ImageSizes, add_sizes, image_size
from openbook.render.markdown import PLACEHOLDER_RE, render_markdown
from tests.render.conftest import Build, Doc


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def gif(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b";"


def jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    out = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    if orientation is not None:
        ifd = struct.pack("<H", 1) + struct.pack("<HHIH", 0x0112, 3, 1, orientation) + b"\0\0" + b"\0" * 4
        exif = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
        out += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    out += b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
    return out + b"\xff\xd9"


def webp(kind: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + kind + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(3, 2), (3, 2)),
        (png(1200, 800), (1200, 800)),
        (gif(5, 4), (5, 4)),
        (jpeg(640, 480), (640, 480)),
        (jpeg(640, 480, orientation=1), (640, 480)),
        (jpeg(640, 480, orientation=6), (480, 640)),  # rotated: browsers show it 480 wide
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"></svg>', (120, 80)),
        (b'<?xml version="1.0"?>\n<svg width="10.6px" height=\'20px\'/>', (11, 20)),
        (b'<svg viewBox="0 0 300 150"><rect/></svg>', (300, 150)),
        (b'<svg width="600" viewBox="0,0,300,150"></svg>', (600, 300)),
        (b'<svg width="100%" height="100%" viewBox="0 0 40 30"></svg>', (40, 30)),
        (webp(b"VP8X", b"\0\0\0\0" + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")), (100, 50)),
        (webp(b"VP8L", b"\x2f" + struct.pack("<I", (16 - 1) | ((9 - 1) << 14))), (16, 9)),
        (webp(b"VP8 ", b"\0\0\0\x9d\x01\x2a" + struct.pack("<HH", 32, 24)), (32, 24)),
    ],
)
def test_image_size_from_header_bytes(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        png(3, 2)[:20],  # truncated header
        png(0, 2),
        b"\xff\xd8\xff\xe0\x00",  # JPEG cut inside a segment
        b"\xff\xd8\xff\xd9",  # JPEG without a frame
        b'<svg width="10em" height="2em"></svg>',  # no pixel size, no viewBox
        b"<svg></svg>",
        b'<!doctype html><html><svg width="5" height="5"></svg></html>',  # an HTML page, not an SVG
        b"GIF89a\x01",
        b"RIFF\0\0\0\0WEBPVP8Z",
    ],
)
def test_unreadable_images_have_no_size(data: bytes) -> None:
    assert image_size(data) is None


def test_add_sizes_fills_only_known_images_in_every_html_mode() -> None:
    md = '![pic](images/pic.png "A title") ![gone](missing.png) ![far](https://example.org/x.png)\n\n[a](b.md)\n'
    for mode in ("escape", "sanitize", "trusted"):
        doc = render_markdown(md, mode)
        assert [kind for kind, _ in doc.links] == ["img", "img", "a"]
        urls = ["images/pic.png", None, "b/"]
        sizes = ImageSizes({"images/pic.png": png(3, 2), "b.md": b"# B"}).for_links(doc.links, urls)
        assert sizes == [(3, 2), None, None]
        html = PLACEHOLDER_RE.sub(lambda m: f"/u{m.group(1)}", add_sizes(doc.html, sizes))
        imgs = {el.attrs["alt"]: el.attrs for el in Doc(html).find_all("img")}
        assert imgs["pic"]["src"] == "/u0" and imgs["pic"]["title"] == "A title", mode
        assert (imgs["pic"]["width"], imgs["pic"]["height"]) == ("3", "2"), mode
        assert "width" not in imgs["gone"] and "width" not in imgs["far"], mode


def test_image_sizes_reads_each_file_once_and_ignores_query_and_fragment() -> None:
    class Counting(dict[str, bytes]):
        reads = 0

        def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
            self.reads += 1
            return super().get(key, default)

    content = Counting({"a b.gif": gif(7, 3)})
    sizes = ImageSizes(content)
    assert sizes.of("a%20b.gif?v=2#x") == (7, 3)
    assert sizes.of("a%20b.gif") == (7, 3)
    assert content.reads == 1
    assert sizes.of(None) is None and sizes.of("nope.png") is None


def test_built_pages_carry_image_sizes(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home\n\n![logo](img/logo.svg)",
            "guide/intro.md": "# Intro\n\n![shot](../img/shot.png) ![remote](https://example.org/a.png)\n"
            "![text](notes.txt)",
            "guide/notes.txt": "not an image",
            "img/shot.png": png(3, 2),
            "img/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 32"></svg>',
        }
    )
    imgs = {el.attrs["alt"]: el.attrs for el in site.html("guide/intro/index.html").find_all("img")}
    assert imgs["shot"]["src"] == "../../img/shot.png"
    assert (imgs["shot"]["width"], imgs["shot"]["height"]) == ("3", "2")
    assert "width" not in imgs["remote"] and "height" not in imgs["text"]
    logo = site.html("index.html").find("img", alt="logo")
    assert (logo.attrs["width"], logo.attrs["height"]) == ("64", "32")


def test_resizing_an_image_changes_the_render_key_of_pages_showing_it(build: Build) -> None:
    pages = {"index.md": "# Home", "a.md": "# A\n\n![p](p.png)", "b.md": "# B"}
    one = build({**pages, "p.png": png(3, 2)})
    two = build({**pages, "p.png": png(6, 4)})
    assert one.keys["a/index.html"] != two.keys["a/index.html"]
    assert one.keys["b/index.html"] == two.keys["b/index.html"]
    assert two.html("a/index.html").find("img").attrs["width"] == "6"
