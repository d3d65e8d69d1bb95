"""Image dimensions read from file headers, so `<img>` gets width and height.

Browsers reserve an image's box before it loads when the tag carries its
intrinsic size (no layout shift; the themes' `height: auto` keeps the ratio).
Only the first bytes of PNG, GIF, JPEG, WebP and the root tag of SVG are
read; anything unreadable simply gets no attributes.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from openbook.render.markdown import IMAGE_TAG_RE

Size = tuple[int, int]

# JPEG start-of-frame markers (SOF0-15 minus DHT, JPG and DAC): they carry the size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SVG_TAG_RE = re.compile(rb"<svg\b([^>]*)>", re.I)
_SVG_ATTR_RE = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SVG_LENGTH_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(px)?\s*$")
_SVG_HEAD = 64 * 1024
_MAX_SIDE = 1 << 16


def image_size(data: bytes) -> Size | None:
    """(width, height) in CSS pixels of a PNG, GIF, JPEG, WebP or SVG; None when unknown."""
    size: Size | None
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            size = struct.unpack(">II", data[16:24])
        elif data[:6] in (b"GIF87a", b"GIF89a"):
            size = struct.unpack("<HH", data[6:10])
        elif data.startswith(b"\xff\xd8"):
            size = _jpeg_size(data)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            size = _webp_size(data)
        elif _looks_like_svg(data):
            size = _svg_size(data)
        else:
            size = None
    except (struct.error, IndexError):
        return None
    if size is None or not (0 < size[0] <= _MAX_SIDE and 0 < size[1] <= _MAX_SIDE):
        return None
    return size


def _jpeg_size(data: bytes) -> Size | None:
    pos, swap = 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\0\0"):
            swap = _exif_orientation(segment[6:]) in (5, 6, 7, 8)
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", segment[1:5])
            # browsers apply EXIF orientation (image-orientation: from-image)
            return (height, width) if swap else (width, height)
        pos += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, _type, _n, value = struct.unpack(order + "HHIH", entry[:10])
        if tag == 0x0112:
            return int(value)
    return None


def _webp_size(data: bytes) -> Size | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg"))


def _svg_size(data: bytes) -> Size | None:
    """From the root tag: width/height in px, else the viewBox (scaled to a given side)."""
    m = _SVG_TAG_RE.search(data[:_SVG_HEAD])
    if m is None:
        return None
    attrs = {k.lower(): a or b for k, a, b in _SVG_ATTR_RE.findall(m.group(1).decode("utf-8", "replace"))}
    width, height = _svg_length(attrs.get("width")), _svg_length(attrs.get("height"))
    box = [float(v) for v in re.split(r"[\s,]+", attrs.get("viewbox", "").strip()) if _is_number(v)]
    ratio = box[2] / box[3] if len(box) == 4 and box[2] > 0 and box[3] > 0 else None
    if width is None and height is None and ratio is not None:
        width, height = box[2], box[3]
    elif width is None and height is not None and ratio is not None:
        width = height * ratio
    elif height is None and width is not None and ratio is not None:
        height = width / ratio
    if width is None or height is None:
        return None
    return round(width), round(height)


def _svg_length(value: str | None) -> float | None:
    m = _SVG_LENGTH_RE.match(value or "")
    return float(m.group(1)) if m else None  # %, em, mm...: no intrinsic pixel size


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


class ImageSizes:
    """Sizes of the content's image files, read lazily and once per path."""

    def __init__(self, content: Mapping[str, bytes]) -> None:
        self._content = content
        self._cache: dict[str, Size | None] = {}

    def of(self, url: str | None) -> Size | None:
        """Size of the content file at a resolved, site-root-relative URL (query and fragment ignored)."""
        if url is None:
            return None
        path = unquote(url.partition("#")[0].partition("?")[0])
        if path not in self._cache:
            data = self._content.get(path)
            self._cache[path] = None if data is None else image_size(data)
        return self._cache[path]

    def for_links(self, links: Sequence[tuple[str, str]], urls: Sequence[str | None]) -> list[Size | None]:
        """One entry per `ParsedDoc.links` item: the image's size, None for links and unknown images."""
        return [self.of(url) if kind == "img" else None for (kind, _), url in zip(links, urls, strict=True)]


def add_sizes(html: str, sizes: Sequence[Size | None]) -> str:
    """Give each placeholder `<img>` of a rendered body the width and height of its image.

    `sizes[i]` belongs to placeholder number i (`ParsedDoc.links`); run this before the
    placeholders are replaced by URLs.
    """

    def attrs(m: re.Match[str]) -> str:
        i = int(m.group(1))
        size = sizes[i] if i < len(sizes) else None
        return m.group(0) if size is None else f'{m.group(0)} width="{size[0]}" height="{size[1]}"'

    return IMAGE_TAG_RE.sub(attrs, html)
