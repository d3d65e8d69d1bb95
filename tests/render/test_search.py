"""The search index: tokens, CJK bigrams, sharding under a size limit."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openbook.render.cache import SiteCache
from openbook.render.search import MAX_POSTINGS, SearchDoc, build_index, tokenize
from tests.render.conftest import Build


def _payload(data: bytes) -> Any:
    m = re.fullmatch(rb"OpenBookSearch\.(\w+)\((.*)\);\n", data, re.S)
    assert m, data[:80]
    return json.loads(m.group(2))


def test_tokenize_is_unicode_aware() -> None:
    assert tokenize("Hello, WÖRLD! naïve café x 42") == ["hello", "wörld", "naïve", "café", "42"]
    assert tokenize("ﬁle") == ["file"]  # NFKC
    assert tokenize("हिन्दी") == ["हिन्दी"]  # combining marks stay inside the word


def test_tokenize_cjk_as_bigrams() -> None:
    assert tokenize("全文搜索") == ["全文", "文搜", "搜索"]
    assert tokenize("中") == ["中"]
    assert tokenize("abc中文def") == ["abc", "中文", "def"]
    assert tokenize("カタカナ") == ["カタ", "タカ", "カナ"]


def test_site_search_index_finds_pages(build: Build) -> None:
    site = build(
        {
            "index.md": "# Home\n\nWelcome.",
            "install.md": "# Installation\n\nUse the package manager.\n\n## Troubleshooting\n",
            "zh.md": "# 中文页面\n\n全文搜索引擎。",
        }
    )
    manifest = _payload(site.files["_openbook/search/index.js"])
    assert isinstance(manifest, dict) and manifest["count"] == 3
    tokens: dict[str, list[int]] = {}
    for name in manifest["tokenFiles"]:
        tokens.update(_payload(site.files[f"_openbook/search/{name}"]))
    docs = _payload(site.files[f"_openbook/search/{manifest['docFiles'][0]}"])["docs"]
    install = [d[0] for d in docs].index("install/")
    assert install in tokens["installation"][0::2]
    assert install in tokens["troubleshooting"][0::2]
    zh = [d[0] for d in docs].index("zh/")
    assert zh in tokens["搜索"][0::2]
    assert site.stats["search_index_bytes"] == sum(
        len(d) for p, d in site.files.items() if p.startswith("_openbook/search/")
    )


def test_index_is_sharded_under_the_limit() -> None:
    docs = [
        SearchDoc(url=f"p{i}/", title=f"Page {i}", headings=(f"Section {i}",), text=f"word{i} common text " * 20)
        for i in range(400)
    ]
    limit = 4096
    files = build_index(docs, shard_limit=limit)
    assert all(len(data) <= limit for data in files.values())
    manifest = _payload(files["_openbook/search/index.js"])
    assert isinstance(manifest, dict)
    assert len(manifest["tokenFiles"]) > 3 and len(manifest["docFiles"]) > 3
    # shards hold sorted, disjoint token ranges starting at the manifest's boundaries
    seen: list[str] = []
    for first, name in zip(manifest["tokens"], manifest["tokenFiles"], strict=True):
        shard = _payload(files[f"_openbook/search/{name}"])
        assert isinstance(shard, dict)
        keys = list(shard)
        assert keys[0] == first and keys == sorted(keys)
        seen.extend(keys)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert "word399" in seen


def test_site_stats_report_sharded_index(build: Build) -> None:
    content = {"index.md": "# Home"}
    content.update({f"p{i}.md": f"# Page {i}\n\n" + " ".join(f"term{i}x{j}" for j in range(50)) for i in range(60)})
    site = build(content, search_shard_limit=8192)
    search_files = [d for p, d in site.files.items() if p.startswith("_openbook/search/")]
    assert len(search_files) > 4 and max(len(d) for d in search_files) <= 8192
    assert site.stats["search_index_bytes"] == sum(len(d) for d in search_files)


_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "über", "naïve", "全文搜索", "x1", "y2"]
_doc_text = st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join)
_doc = st.tuples(st.sampled_from(_WORDS), _doc_text, st.lists(st.sampled_from(_WORDS), max_size=2))


def _docs(specs: list[tuple[str, str, list[str]]]) -> list[SearchDoc]:
    return [
        SearchDoc(url=f"p{i}/", title=title, headings=tuple(headings), text=text)
        for i, (title, text, headings) in enumerate(specs)
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_doc, min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(min_value=0, max_value=7), _doc), max_size=6),
)
def test_a_patched_index_equals_one_built_from_scratch(
    first: list[tuple[str, str, list[str]]], edits: list[tuple[int, tuple[str, str, list[str]]]]
) -> None:
    cache = SiteCache()
    specs = list(first)
    build_index(_docs(specs), shard_limit=400, cache=cache)  # kept, then patched by each following build
    for at, spec in edits:
        specs[at % len(specs)] = spec
        patched = build_index(_docs(specs), shard_limit=400, cache=cache)
        assert patched == build_index(_docs(specs), shard_limit=400)  # built from scratch


def test_postings_beyond_the_cap_keep_the_best_scores_after_patches() -> None:
    cache = SiteCache()
    docs = [SearchDoc(f"p{i}/", "T", (), "common " * (1 + i % 25)) for i in range(MAX_POSTINGS + 50)]
    build_index(docs, cache=cache)
    docs[7] = SearchDoc("p7/", "T", (), "common " * 30)
    docs[MAX_POSTINGS + 10] = SearchDoc(f"p{MAX_POSTINGS + 10}/", "T", (), "other")
    patched = build_index(docs, cache=cache)
    assert patched == build_index(docs)
