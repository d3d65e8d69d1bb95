"""Render throughput on a generated book: `python -m tests.render.bench [pages]`."""

from __future__ import annotations

import random
import sys
import time

from openbook.render import SiteSettings, build_site
from openbook.themes_fs import load_theme

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "store",
    "commit",
    "branch",
    "merge",
    "tree",
    "blob",
    "render",
    "theme",
    "page",
    "worker",
    "stream",
    "deploy",
    "nginx",
    "python",
    "markdown",
    "search",
    "index",
    "shard",
    "anchor",
    "link",
]


def generate_book(pages: int, seed: int = 1) -> dict[str, bytes]:
    """About 2 KB of Markdown per page, 20 chapters, links, code, a table."""
    rnd = random.Random(seed)

    def para(n: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(n)).capitalize() + "."

    content = {"index.md": b"# Generated book\n\nWelcome.\n"}
    per = max(1, pages // 20)
    for i in range(pages):
        ch = i // per
        body = [
            f"# Page {i}\n",
            para(70),
            f"\n## Section A {i}\n",
            para(90),
            f"\nSee [the next page](p{i + 1}.md#section-a-{i + 1}) and [chapter](../ch{ch}/index.md).\n",
            f"```python\ndef f{i}(x):\n    return x * {i}\n```\n",
            "| a | b |\n|---|---|\n| 1 | 2 |\n",
            f"\n## Section B {i}\n",
            para(110),
            "\n- item one\n- item **two**\n- item `three`\n",
        ]
        content[f"ch{ch}/p{i}.md"] = "\n".join(body).encode()
        content.setdefault(f"ch{ch}/index.md", f"# Chapter {ch}\n".encode())
    return content


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    content = generate_book(pages)
    avg = sum(len(v) for v in content.values()) / len(content)
    chain = load_theme("book")
    build_site({"index.md": b"# warm up"}, chain, SiteSettings(title="x"))
    t0, c0 = time.perf_counter(), time.process_time()
    result = build_site(content, chain, SiteSettings(title="Bench"))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = result.stats["pages"]
    print(
        f"{n} pages (avg {avg:.0f} B): {dt:.2f}s wall = {n / dt:.0f} pages/s, "
        f"{cpu:.2f}s CPU = {n / cpu:.0f} pages/s per core; "
        f"{result.stats['files']} files, {result.stats['bytes'] / 1e6:.1f} MB, "
        f"search {result.stats['search_index_bytes'] / 1e6:.2f} MB, "
        f"broken {len(result.stats['broken_links'])}"
    )


if __name__ == "__main__":
    main()
