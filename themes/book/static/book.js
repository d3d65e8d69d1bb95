/* OpenBook "book" theme: light/dark toggle, heading anchors, current section in the
   page TOC, copy buttons, and closing the sidebar on small screens. Every page reads
   fine without this file. */
(function () {
  "use strict";
  var doc = document.documentElement;
  var KEY = "openbook-theme";

  function saved() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; } /* private mode */
  }
  function apply(mode) {
    doc.setAttribute("data-theme", mode);
    if (toggle) toggle.setAttribute("aria-pressed", String(mode === "dark"));
  }
  var toggle = document.querySelector("[data-ob-theme-toggle]");
  if (toggle) {
    toggle.hidden = false;
    apply(doc.getAttribute("data-theme") || "light");
    toggle.addEventListener("click", function () {
      var next = doc.getAttribute("data-theme") === "dark" ? "light" : "dark";
      apply(next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* private mode */ }
    });
  }
  // Until the reader picks a mode, an "auto" site follows the system as it changes.
  if (window.matchMedia && doc.getAttribute("data-theme-default") === "auto") {
    var query = matchMedia("(prefers-color-scheme: dark)");
    var follow = function () { if (!saved()) apply(query.matches ? "dark" : "light"); };
    if (query.addEventListener) query.addEventListener("change", follow);
  }

  // A "#" link on headings, to copy a link to a section.
  document.querySelectorAll(".content :is(h2, h3, h4, h5, h6)[id]").forEach(function (h) {
    var a = document.createElement("a");
    a.className = "heading-anchor";
    a.href = "#" + encodeURIComponent(h.id);
    a.setAttribute("aria-label", "Link to this section");
    a.textContent = "#";
    h.appendChild(a);
  });

  // Highlight the section being read in the "On this page" list.
  var links = document.querySelectorAll(".page-toc a");
  if (links.length && "IntersectionObserver" in window) {
    var byId = {};
    links.forEach(function (a) { byId[decodeURIComponent(a.hash.slice(1))] = a; });
    var visible = new Set();
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) visible.add(e.target.id); else visible.delete(e.target.id); });
      var current = null;
      Object.keys(byId).forEach(function (id) { if (!current && visible.has(id)) current = id; });
      if (current) links.forEach(function (a) { a.classList.toggle("active", a === byId[current]); });
    }, { rootMargin: "0px 0px -70% 0px" });
    Object.keys(byId).forEach(function (id) { var h = document.getElementById(id); if (h) observer.observe(h); });
  }

  // A copy button on code blocks.
  if (navigator.clipboard) {
    document.querySelectorAll(".content pre").forEach(function (pre) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "copy-code";
      b.textContent = "Copy";
      b.addEventListener("click", function () {
        navigator.clipboard.writeText((pre.querySelector("code") || pre).innerText).then(function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 1500);
        });
      });
      pre.appendChild(b);
    });
  }

  // On small screens the sidebar overlays the page: close it on Escape or when a link is followed.
  var sidebar = document.getElementById("sidebar-toggle");
  if (sidebar) {
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") sidebar.checked = false; });
    document.addEventListener("click", function (e) {
      if (e.target.closest && e.target.closest(".sidebar a")) sidebar.checked = false;
    });
  }
})();
