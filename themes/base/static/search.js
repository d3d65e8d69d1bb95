/* OpenBook client-side search: plain JavaScript, no dependencies.
   Loads the manifest, then only the index shards a query needs. The tokenizer
   must match openbook/render/search.py: NFKC, lower case, runs of letters,
   digits and marks; CJK runs become overlapping character bigrams. */
(function () {
  "use strict";
  var CJK = /[\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+/g;
  var WORD = /[\p{L}\p{N}\p{M}]+/gu;
  var MAX_TOKEN = 40, MAX_RESULTS = 20, MAX_PREFIX_SHARDS = 4;

  function len(s) { return Array.from(s).length; }
  function tokenize(text) {
    var out = [];
    var words = text.normalize("NFKC").toLowerCase().match(WORD) || [];
    words.forEach(function (w) {
      CJK.lastIndex = 0;
      if (!CJK.test(w)) {
        var n = len(w);
        if ((n > 1 && n <= MAX_TOKEN) || /^\p{Nd}+$/u.test(w)) out.push(w);
        return;
      }
      CJK.lastIndex = 0;
      var pos = 0, m;
      while ((m = CJK.exec(w)) !== null) {
        var rest = w.slice(pos, m.index);
        if (len(rest) > 1) out.push(Array.from(rest).slice(0, MAX_TOKEN).join(""));
        var run = Array.from(m[0]);
        if (run.length === 1) out.push(run[0]);
        for (var i = 0; i + 1 < run.length; i++) out.push(run[i] + run[i + 1]);
        pos = m.index + m[0].length;
      }
      var tail = w.slice(pos);
      if (len(tail) > 1) out.push(Array.from(tail).slice(0, MAX_TOKEN).join(""));
    });
    return out;
  }

  var base = null, manifest = null, manifestWaiters = [], lastData = null, cache = {};
  var api = {
    manifest: function (m) { manifest = m; manifestWaiters.splice(0).forEach(function (f) { f(m); }); },
    tokens: function (data) { lastData = data; },
    docs: function (data) { lastData = data; },
    tokenize: tokenize
  };
  window.OpenBookSearch = api;

  function load(file) {
    if (!cache[file]) {
      cache[file] = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = base + file;
        s.async = true;
        // the shard's script calls api.tokens/api.docs right before its load event
        s.onload = function () { resolve(lastData); lastData = null; };
        s.onerror = function () { delete cache[file]; reject(new Error("cannot load " + file)); };
        document.head.appendChild(s);
      });
    }
    return cache[file];
  }
  function loadManifest(indexUrl) {
    if (manifest) return Promise.resolve(manifest);
    base = indexUrl.slice(0, indexUrl.lastIndexOf("/") + 1);
    return new Promise(function (resolve, reject) {
      manifestWaiters.push(resolve);
      if (manifestWaiters.length > 1) return;
      var s = document.createElement("script");
      s.src = indexUrl;
      s.onerror = function () { reject(new Error("search index unavailable")); };
      document.head.appendChild(s);
    });
  }
  function shardOf(firsts, key) {
    var lo = 0, hi = firsts.length - 1, ans = 0;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (firsts[mid] <= key) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans;
  }
  function postings(token, prefix) {
    var first = shardOf(manifest.tokens, token);
    var last = prefix ? Math.min(shardOf(manifest.tokens, token + "\uffff"), first + MAX_PREFIX_SHARDS - 1) : first;
    var files = [];
    for (var i = first; i <= last; i++) files.push(load(manifest.tokenFiles[i]));
    return Promise.all(files).then(function (shards) {
      var scores = new Map();
      shards.forEach(function (shard) {
        Object.keys(shard).forEach(function (t) {
          if (t === token || (prefix && t.lastIndexOf(token, 0) === 0)) {
            var p = shard[t];
            for (var j = 0; j < p.length; j += 2) {
              scores.set(p[j], Math.max(scores.get(p[j]) || 0, p[j + 1] * (t === token ? 1 : 0.5)));
            }
          }
        });
      });
      return scores;
    });
  }
  function docsFor(ids) {
    return Promise.all(ids.map(function (id) {
      var k = shardOf(manifest.docs, id);
      return load(manifest.docFiles[k]).then(function (d) { return d.docs[id - d.first]; });
    }));
  }
  api.search = function (indexUrl, query) {
    var tokens = tokenize(query);
    if (!tokens.length) return Promise.resolve([]);
    var open = !/\s$/.test(query);
    return loadManifest(indexUrl).then(function () {
      return Promise.all(tokens.map(function (t, i) { return postings(t, open && i === tokens.length - 1); }));
    }).then(function (maps) {
      maps.sort(function (a, b) { return a.size - b.size; });
      var total = new Map(maps[0]);
      for (var i = 1; i < maps.length; i++) {
        total.forEach(function (score, doc) {
          if (maps[i].has(doc)) total.set(doc, score + maps[i].get(doc)); else total.delete(doc);
        });
      }
      var ranked = Array.from(total.entries()).sort(function (a, b) { return b[1] - a[1] || a[0] - b[0]; });
      var ids = ranked.slice(0, MAX_RESULTS).map(function (e) { return e[0]; });
      return docsFor(ids);
    });
  };

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function bind(input) {
    var form = input.closest("[data-ob-search-form]");
    var results = (form || document).querySelector("[data-ob-search-results]");
    var root = document.documentElement.getAttribute("data-root") || "";
    var indexUrl = input.getAttribute("data-ob-index");
    var timer = null, seq = 0;
    if (form) {
      form.hidden = false;
      form.addEventListener("submit", function (e) { e.preventDefault(); });
    }
    function show(items, query) {
      if (!results) return;
      results.hidden = !query;
      if (!query) { results.innerHTML = ""; return; }
      if (!items.length) { results.innerHTML = '<li class="search-empty">No results</li>'; return; }
      results.innerHTML = items.map(function (d) {
        var h = root + d[0];
        return '<li><a href="' + esc(h === "" ? "./" : h) + '">' + esc(d[1]) + "</a><p>" + esc(d[2]) + "</p></li>";
      }).join("");
    }
    function run() {
      var query = input.value, mine = ++seq;
      if (!query.trim()) { show([], ""); return; }
      api.search(indexUrl, query).then(function (items) { if (mine === seq) show(items, query); },
        function () { if (mine === seq && results) { results.hidden = false; results.innerHTML = '<li class="search-empty">Search is unavailable</li>'; } });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 120); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { input.value = ""; show([], ""); input.blur(); }
      if (e.key === "Enter" && results) {
        var first = results.querySelector("a");
        if (first) window.location.href = first.href;
      }
    });
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key === "/" && !(t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) {
        e.preventDefault();
        input.focus();
      }
    });
  }
  function init() {
    var inputs = document.querySelectorAll("[data-ob-search]");
    for (var i = 0; i < inputs.length; i++) bind(inputs[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
