"""The renderer's version, part of every render key and build-cache snapshot.

Bump it whenever the renderer writes other bytes for the same inputs
(`keys.py` says why). A module of its own so that the caches can name it
without importing the keys (which import the settings, which import the nav,
the pages and the search index, which use the caches).
"""

# 4: every output showing a page gets the same page variables; toc.js URLs are quoted.
# 5: admonitions as <aside role="note">, fence attributes and titles, hidden Rust lines, nav links out.
RENDERER_VERSION = "5"
