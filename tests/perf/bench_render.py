"""Rendering benchmarks: OpenBook beside MkDocs and Hugo on the same generated book.

`python -m tests.perf.bench_render [pages] [--no-peers]` prints the table;
`--sites` prints only the two-site rows. `run()` returns the rows for `make bench`.
The book: PAGES pages of ~2 KB Markdown in 20 folders (headings, prose over a
3,000-word vocabulary, a Python code block, a table, links to the next page's
section and to a chapter index).

What each figure measures:
- OpenBook: a child process that does only this: read the folder, `build_site`
  with 2 worker processes, write every file. Peak memory is that process's
  VmHWM plus the peak of its pool processes (sampled every 20 ms).
- One-page edit: in the same process (warm parse cache, as the worker runs),
  one page changes and the site is rebuilt with the first build's render keys
  as `previous`; the time includes writing the rendered files. The cold figure
  is a fresh process doing the same rebuild (a restarted worker).
- Two sites in turn: one process (a worker) holds two SITES_PAGES-page books,
  both built once, then rebuilds them after one-page edits (render + write),
  each with its own `site_key` as the worker passes its site id, in the order
  A, A, B, A, B, B (SITE_ROUNDS times): a build right after one of the same
  site counts as "alone", right after the other site's as "in turn", so both
  figures see the same load on a shared machine. Then A, B, A, B... with no
  site key (one shared cache). Each edit changes another page; the median
  wall and CPU time are reported, and the lowest share of reused files.
- MkDocs: `mkdocs build` with its default theme and plugins, no `nav` in
  mkdocs.yml (so the automatic nav, which lists every page on every page).
- Hugo: `hugo` with three minimal layouts (home, list, single), since it writes
  no pages without layouts. Hugo takes `index.md` in a folder as a leaf bundle,
  hiding the folder's other pages, so there it is named `_index.md` (its
  section page): the same pages, published.
MkDocs is installed into the venv here when missing (never a project
dependency), Hugo with apt-get.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from openbook.fs.themes import load_theme
from openbook.render import SiteSettings, ThemeChain, build_site

PAGES = 5000
WORKERS = 2
EDITS = 3  # one-page edits timed in the warm process (the median is reported)
SITES_PAGES = 2000  # pages of each of the two sites built in turn
SITE_ROUNDS = 4  # rounds of A, A, B, A, B, B one-page edits in the two-site scenario

# (measure, target, OpenBook, MkDocs, Hugo, verdict)
Row = tuple[str, str, str, str, str, str]


def _vocabulary(rnd: random.Random, n: int) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rnd.choice(letters[: rnd.randint(8, 26)]) for _ in range(rnd.randint(2, 11))))
    return sorted(words)


def generate_book(pages: int = PAGES, seed: int = 7) -> dict[str, bytes]:
    """~2 KB pages in 20 chapter folders, each with an index page."""
    rnd = random.Random(seed)
    vocab = _vocabulary(rnd, 3000)
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like, as in prose

    def para(n: int) -> str:
        return " ".join(rnd.choices(vocab, weights, k=n)).capitalize() + "."

    per = max(1, pages // 20)
    content: dict[str, bytes] = {"index.md": f"# Generated book\n\n{para(40)}\n".encode()}
    for i in range(pages):
        ch = i // per
        nxt = i + 1 if (i + 1) // per == ch else i
        body = [
            f"# Page {i}: {para(3)[:-1]}\n",
            para(60),
            f"\n## Section {i}\n",
            para(70),
            f"\nSee [the next page](p{nxt}.md#section-{nxt}) and the [chapter](../ch{(ch + 1) % 20:02d}/index.md).\n",
            f"```python\ndef handler_{i}(request):\n    total = sum(x * {i} for x in request.items)\n"
            f"    return {{'id': {i}, 'total': total}}\n```\n",
            "| option | default | meaning |\n|---|---|---|\n"
            f"| `size` | {i % 97} | {para(4)} |\n| `mode` | fast | {para(5)} |\n",
            f"\n### Notes {i}\n",
            para(60),
            "\n- first item\n- second **item**\n- third `item`\n",
        ]
        content[f"ch{ch:02d}/p{i}.md"] = "\n".join(body).encode()
        content.setdefault(f"ch{ch:02d}/index.md", f"# Chapter {ch}\n\n{para(30)}\n".encode())
    return content


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --- the OpenBook child process ------------------------------------------------------------


def _status_kb(pid: int | str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class _TreeMemory:
    """Peak of (this process's RSS + its descendants' RSS), sampled."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            total = _status_kb(me, "VmRSS") + sum(_status_kb(p, "VmRSS") for p in _descendants(me))
            self.peak_kb = max(self.peak_kb, total)


def _child(src: Path, out: Path, mode: str, keys_file: Path) -> dict[str, Any]:
    chain = load_theme("book")
    settings = SiteSettings(title="Bench book")
    report: dict[str, Any] = {}
    content = read_tree(src)
    if mode == "full":
        with _TreeMemory() as mem:
            start = time.perf_counter()
            result = build_site(content, chain, settings, workers=WORKERS)
            rendered = time.perf_counter()
            write_tree(out, {f.path: f.data for f in result.files if f.data is not None})
            done = time.perf_counter()
        report["bytes"] = tree_bytes(out)
        report.update(
            render_s=rendered - start,
            total_s=done - start,
            pages=result.stats["pages"],
            files=len(result.files),
            vm_hwm_kb=_status_kb("self", "VmHWM"),
            tree_peak_kb=mem.peak_kb,
        )
        previous = {f.path: f.render_key for f in result.files}
        keys_file.write_text(json.dumps(previous))
    else:
        previous = json.loads(keys_file.read_text())
    return _edits(report, content, chain, settings, previous, out, edits=1 if mode == "cold" else EDITS)


def _edits(
    report: dict[str, Any],
    content: dict[str, bytes],
    chain: ThemeChain,
    settings: SiteSettings,
    previous: dict[str, str],
    out: Path,
    edits: int,
) -> dict[str, Any]:
    # One-page edits, each rebuilt against the keys of the build before it, as deployments go.
    chapters = sorted(p for p in content if "/p" in p)
    times, counts = [], []
    for n, page in enumerate(chapters[len(chapters) // 2 :][:edits]):
        content = {**content, page: content[page] + f"\nOne more sentence, edit {n}.\n".encode()}
        start = time.perf_counter()
        again = build_site(content, chain, settings, workers=WORKERS, previous=previous)
        write_tree(out, {f.path: f.data for f in again.files if f.data is not None})
        times.append(time.perf_counter() - start)
        counts.append((again.stats["rendered"], again.stats["reused"], again.stats["parsed"]))
        previous = {f.path: f.render_key for f in again.files}
    report.update(edit_s=statistics.median(times), edit_all_s=times, edit_counts=counts)
    return report


def _sites_child(src: Path, out: Path) -> dict[str, Any]:
    chain = load_theme("book")
    books = {name: read_tree(src / name) for name in ("a", "b")}
    settings = {name: SiteSettings(title=f"Bench book {name.upper()}") for name in books}
    previous: dict[str, dict[str, str]] = {}
    for name, content in books.items():
        result = build_site(content, chain, settings[name], workers=WORKERS, site_key=name)
        write_tree(out / name, {f.path: f.data for f in result.files if f.data is not None})
        previous[name] = {f.path: f.render_key for f in result.files}
    edits = _EditRun(books, chain, settings, previous, out)
    mixed = edits.run(["a", "a", "b", "a", "b", "b"] * SITE_ROUNDS, own_keys=True)
    edits.run(["a", "b"], own_keys=False)  # fills the shared cache first, as a worker's would be
    shared = edits.run(["a", "b"] * SITE_ROUNDS, own_keys=False)
    return {
        "alone": [b for b in mixed if b["after_same_site"]],
        "in_turn": [b for b in mixed if not b["after_same_site"]],
        "shared": shared,
    }


class _EditRun:
    """One-page edits of the sites, each rebuilt against its site's previous keys and written."""

    def __init__(
        self,
        books: dict[str, dict[str, bytes]],
        chain: ThemeChain,
        settings: dict[str, SiteSettings],
        previous: dict[str, dict[str, str]],
        out: Path,
    ) -> None:
        self.books, self.chain, self.settings, self.previous, self.out = books, chain, settings, previous, out
        self.pages = {name: sorted(p for p in book if "/p" in p) for name, book in books.items()}
        self.edits = 0
        self.last = list(books)[-1]

    def run(self, order: list[str], own_keys: bool) -> list[dict[str, Any]]:
        """Wall and CPU seconds, files rendered and reused, pages parsed of each build."""
        out = []
        for name in order:
            book, pages = self.books[name], self.pages[name]
            page = pages[(len(pages) // 2 + self.edits) % len(pages)]
            self.edits += 1
            book[page] += f"\nOne more sentence, edit {self.edits}.\n".encode()
            start, cpu = time.perf_counter(), time.process_time()
            result = build_site(
                book,
                self.chain,
                self.settings[name],
                workers=WORKERS,
                previous=self.previous[name],
                site_key=name if own_keys else "",
            )
            write_tree(self.out / name, {f.path: f.data for f in result.files if f.data is not None})
            stats = result.stats
            out.append(
                {
                    "s": time.perf_counter() - start,
                    "cpu_s": time.process_time() - cpu,
                    "rendered": stats["rendered"],
                    "reused": stats["reused"],
                    "parsed": stats["parsed"],
                    "after_same_site": self.last == name,
                }
            )
            self.previous[name] = {f.path: f.render_key for f in result.files}
            self.last = name
        return out


def _sites(work: Path) -> dict[str, Any]:
    for name, seed in (("a", 11), ("b", 12)):
        write_tree(work / "sites" / name, generate_book(SITES_PAGES, seed=seed))
    out = work / "sites-out"
    cmd = [sys.executable, "-m", "tests.perf.bench_render", "--child-sites", str(work / "sites"), str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2])
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def sites_rows(report: dict[str, Any]) -> list[Row]:
    """The two-site scenario beside one site alone."""

    def summary(builds: list[dict[str, Any]]) -> tuple[float, float, float, str]:
        seconds = statistics.median(b["s"] for b in builds)
        cpu = statistics.median(b["cpu_s"] for b in builds)
        reused = min(b["reused"] / (b["rendered"] + b["reused"]) for b in builds)
        parsed = max(b["parsed"] for b in builds)
        detail = f"median of {len(builds)}, CPU {cpu:.2f} s; {reused:.2%} reused at least, {parsed} parsed at most"
        return seconds, cpu, reused, detail

    na = "-"
    alone_s, alone_cpu, alone_reused, alone_detail = summary(report["alone"])
    turn_s, turn_cpu, turn_reused, turn_detail = summary(report["in_turn"])
    shared_s, shared_cpu, _, shared_detail = summary(report["shared"])
    ok = turn_reused >= 0.99 and turn_s <= 1.5 * alone_s
    return [
        (
            f"one-page edit, one {SITES_PAGES:,}-page site alone",
            ">= 99% reused",
            f"{alone_s:.2f} s",
            na,
            na,
            ("ok " if alone_reused >= 0.99 else "MISS ") + alone_detail,
        ),
        (
            f"one-page edit, two {SITES_PAGES:,}-page sites in turn",
            "each >= 99% reused, <= 1.5x alone",
            f"{turn_s:.2f} s",
            na,
            na,
            ("ok " if ok else "MISS ") + f"{turn_s / alone_s:.2f}x alone (CPU {turn_cpu / alone_cpu:.2f}x); "
            + turn_detail,
        ),
        (
            "  the same, no site key (one shared cache)",
            "-",
            f"{shared_s:.2f} s",
            na,
            na,
            f"{shared_s / alone_s:.1f}x alone (CPU {shared_cpu / alone_cpu:.1f}x): what a caller passing no "
            f"site_key gets; {shared_detail}",
        ),
    ]


def _openbook(src: Path, work: Path, mode: str) -> dict[str, Any]:
    out = work / f"openbook-{mode}"
    cmd = [sys.executable, "-m", "tests.perf.bench_render", "--child", str(src), str(out), mode, str(work / "keys")]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parents[2])
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# --- peers ------------------------------------------------------------------------------------


def _ensure_mkdocs() -> list[str]:
    probe = subprocess.run([sys.executable, "-m", "mkdocs", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mkdocs"], check=True)
        probe = subprocess.run([sys.executable, "-m", "mkdocs", "--version"], capture_output=True, text=True)
    return [sys.executable, "-m", "mkdocs"] if probe.returncode == 0 else []


def _ensure_hugo() -> str | None:
    if shutil.which("hugo") is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "hugo"], capture_output=True)
    return shutil.which("hugo")


def _mkdocs(book: dict[str, bytes], work: Path) -> tuple[float, int, str] | None:
    mkdocs = _ensure_mkdocs()
    if not mkdocs:
        return None
    root = work / "mkdocs"
    write_tree(root / "docs", book)
    (root / "mkdocs.yml").write_text("site_name: Bench book\n")
    start = time.perf_counter()
    subprocess.run([*mkdocs, "build", "-q"], cwd=root, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    said = subprocess.run([*mkdocs, "--version"], capture_output=True, text=True).stdout.split()
    version = "mkdocs " + said[said.index("version") + 1]
    size = tree_bytes(root / "site")
    shutil.rmtree(root)
    return seconds, size, version


_HUGO_LAYOUTS = {
    "layouts/index.html": "<!doctype html><title>{{ .Site.Title }}</title>{{ .Content }}",
    "layouts/_default/list.html": "<!doctype html><title>{{ .Title }}</title>{{ .Content }}",
    "layouts/_default/single.html": "<!doctype html><title>{{ .Title }}</title><main>{{ .Content }}</main>",
}


def _hugo(book: dict[str, bytes], work: Path) -> tuple[float, int, str] | None:
    hugo = _ensure_hugo()
    if hugo is None:
        return None
    root = work / "hugo"
    pages = {}
    for path, data in book.items():
        folder, _, name = path.rpartition("/")
        pages[f"content/{folder}/_index.md".replace("//", "/") if name == "index.md" else f"content/{path}"] = data
    write_tree(root, {**pages, **{k: v.encode() for k, v in _HUGO_LAYOUTS.items()}})
    (root / "hugo.toml").write_text('baseURL = "https://example.org/"\ntitle = "Bench book"\n')
    start = time.perf_counter()
    subprocess.run([hugo, "--quiet"], cwd=root, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    version = "hugo " + subprocess.run([hugo, "version"], capture_output=True, text=True).stdout.split()[1]
    size = tree_bytes(root / "public")
    shutil.rmtree(root)
    return seconds, size, version


# --- the table --------------------------------------------------------------------------------


def run(pages: int = PAGES, peers: bool = True) -> list[Row]:
    """The table's rows; `peers=False` skips MkDocs (12 minutes at 5,000 pages) and Hugo."""
    book = generate_book(pages)
    with tempfile.TemporaryDirectory(prefix="ob-bench-render-") as tmp:
        work = Path(tmp)
        write_tree(work / "src", book)
        full = _openbook(work / "src", work, "full")
        cold = _openbook(work / "src", work, "cold")
        sites = _sites(work)
        mk = _mkdocs(book, work) if peers else None
        hu = _hugo(book, work) if peers else None

    def secs(x: float) -> str:
        return f"{x:.2f} s"

    def mb(n: float) -> str:
        return f"{n / 1e6:.0f} MB"

    n = full["pages"]
    ob_s = full["total_s"]
    mk_s, hu_s = (mk[0] if mk else None), (hu[0] if hu else None)
    ratio = f"{mk_s / ob_s:.1f}x faster than MkDocs" if mk_s else "MkDocs not run"
    peak_mb = full["tree_peak_kb"] * 1024 / 1e6
    rendered, reused_n, parsed = max(full["edit_counts"])
    reused = reused_n / (reused_n + rendered)
    c_rendered, c_reused, c_parsed = cold["edit_counts"][0]
    cold_reused = c_reused / (c_reused + c_rendered)
    na = "-"
    return [
        (
            f"full build, {n:,} pages (render + write)",
            ">= 3x faster than MkDocs",
            secs(ob_s),
            secs(mk_s) if mk_s else na,
            secs(hu_s) if hu_s else na,
            ("" if not mk_s else "ok " if mk_s >= 3 * ob_s else "MISS ") + ratio,
        ),
        (
            "  pages per second",
            "-",
            f"{n / ob_s:,.0f}",
            f"{n / mk_s:,.0f}" if mk_s else na,
            f"{n / hu_s:,.0f}" if hu_s else na,
            f"render only {secs(full['render_s'])}, {WORKERS} worker processes",
        ),
        (
            "  output size",
            "linear in pages",
            mb(full["bytes"]),
            mb(mk[1]) if mk else na,
            mb(hu[1]) if hu else na,
            f"{full['files']:,} files",
        ),
        (
            "peak memory of the full build",
            "<= 500 MB",
            f"{peak_mb:.0f} MB",
            na,
            na,
            ("ok" if peak_mb <= 500 else "MISS")
            + f" (build process alone: {full['vm_hwm_kb'] * 1024 / 1e6:.0f} MB; + pool processes)",
        ),
        (
            "one-page edit, warm process (render + write)",
            ">= 99% reused",
            secs(full["edit_s"]),
            na,
            na,
            ("ok " if reused >= 0.99 else "MISS ")
            + f"{reused:.2%} reused ({rendered} rendered, {parsed} parsed); median of "
            + ", ".join(secs(t) for t in full["edit_all_s"]),
        ),
        (
            "one-page edit, fresh process",
            ">= 99% reused",
            secs(cold["edit_s"]),
            na,
            na,
            ("ok " if cold_reused >= 0.99 else "MISS ")
            + f"{cold_reused:.2%} reused; all {c_parsed:,} pages parsed (parse cache empty)",
        ),
        *sites_rows(sites),
        (
            "setup",
            "",
            "book theme",
            mk[2] if mk else na,
            hu[2] if hu else na,
            f"MkDocs: default theme, automatic nav; Hugo: 3 minimal layouts; "
            f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ),
    ]


def print_rows(rows: list[Row]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    head = ("measure", "target", "OpenBook", "MkDocs", "Hugo")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [
            c.rjust(w) for c, w in zip(row[2:5], widths[2:], strict=True)
        ]
        print("  ".join(cells) + "  " + row[5])
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        src, out, mode, keys = argv[1:5]
        print(json.dumps(_child(Path(src), Path(out), mode, Path(keys))))
        return 0
    if argv[:1] == ["--child-sites"]:
        print(json.dumps(_sites_child(Path(argv[1]), Path(argv[2]))))
        return 0
    if "--sites" in argv:
        print(f"\nRendering: two generated {SITES_PAGES:,}-page books built in turn by one process")
        with tempfile.TemporaryDirectory(prefix="ob-bench-sites-") as tmp:
            print_rows(sites_rows(_sites(Path(tmp))))
        return 0
    peers = "--no-peers" not in argv
    numbers = [a for a in argv if a.isdigit()]
    pages = int(numbers[0]) if numbers else PAGES
    print(f"\nRendering: a generated {pages:,}-page book (~2 KB pages), OpenBook vs MkDocs vs Hugo")
    print_rows(run(pages, peers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
