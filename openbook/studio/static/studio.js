/* OpenBook Studio: small progressive enhancements. Every page works without this file
   except the live preview and live deployment status, which fall back to plain links. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); });
  }

  // Forms that change something irreversible ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // Editor: rendered preview beside the text, through the site's renderer and theme.
  var editor = document.querySelector("[data-editor]");
  if (editor) {
    var text = editor.querySelector("textarea[name=content]");
    var frame = document.querySelector("iframe[data-preview]");
    var timing = document.querySelector("[data-preview-time]");
    var pathInput = editor.querySelector("input[name=path]");
    var pending = null, inflight = false, again = false;
    var refresh = function () {
      if (inflight) { again = true; return; }
      inflight = true;
      var started = performance.now();
      post(frame.getAttribute("data-preview"),
           { branch: frame.getAttribute("data-branch"), path: pathInput.value, content: text.value }).then(function (res) {
        if (res.status === 200) {
          frame.srcdoc = res.body.html;
          if (timing) timing.textContent = "updated in " + Math.round(performance.now() - started) + " ms";
        } else if (timing) {
          timing.textContent = res.body.error ? res.body.error.message : "preview failed";
        }
      }).catch(function () { if (timing) timing.textContent = "preview unavailable"; })
        .then(function () { inflight = false; if (again) { again = false; refresh(); } });
    };
    text.addEventListener("input", function () { clearTimeout(pending); pending = setTimeout(refresh, 150); });
    pathInput.addEventListener("change", refresh);
    if (frame) refresh();
  }

  // Deployments: status updates live while any is pending or building.
  var live = document.querySelector("[data-deployments]");
  if (live) {
    var poll = function () {
      getJSON(live.getAttribute("data-deployments")).then(function (data) {
        var busy = false;
        data.deployments.forEach(function (d) {
          var row = document.getElementById("dep-" + d.id);
          if (!row) { if (d.status === "pending" || d.status === "building") busy = true; return; }
          var cell = row.querySelector("[data-status]");
          if (cell && cell.getAttribute("data-status") !== d.status) {
            cell.setAttribute("data-status", d.status);
            cell.className = "status status-" + d.status;
            cell.textContent = d.status;
            var words = row.querySelector("[data-words]");
            if (words) words.textContent = d.words;
            if (d.status === "deployed" || d.status === "failed") row.setAttribute("data-finished", "1");
          }
          if (d.status === "pending" || d.status === "building") busy = true;
        });
        var missing = data.deployments.some(function (d) { return !document.getElementById("dep-" + d.id); });
        if (missing || data.live !== live.getAttribute("data-live")) { location.reload(); return; }
        if (busy) setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    };
    if (live.hasAttribute("data-busy")) setTimeout(poll, 800);
  }
})();
