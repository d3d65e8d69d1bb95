/* OpenBook "book" theme: light/dark toggle, current section in the page TOC. */
(function () {
  "use strict";
  var doc = document.documentElement;

  var toggle = document.querySelector("[data-ob-theme-toggle]");
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var next = doc.getAttribute("data-theme") === "dark" ? "light" : "dark";
      doc.setAttribute("data-theme", next);
      try { localStorage.setItem("openbook-theme", next); } catch (e) { /* private mode */ }
    });
  }

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
  document.querySelectorAll(".content pre").forEach(function (pre) {
    if (!navigator.clipboard) return;
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
})();
