"""Imported by the fork server of `parallel` when it starts, and by nothing else (it warms up).

The fork server must outlive a SIGTERM sent to the worker's whole process
group (systemd does that, so does a terminal): the pool it serves notices its
death and breaks the build the worker is finishing. Ignoring the signal here,
in the fork server's main thread, also covers every pool process from the
moment it is forked (an ignored signal stays ignored across fork).
"""

import signal

import openbook.render.parallel  # noqa: F401  (preloaded: pool processes start with it imported)
from openbook.render import markdown

signal.signal(signal.SIGTERM, signal.SIG_IGN)
# Every process forked from here (isolated builds, pool processes) starts with the Markdown
# parsers built and the usual lexers imported, instead of paying for them on its first page.
markdown.warm_up()
