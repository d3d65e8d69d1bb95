"""What this process's build is doing right now: the file it works on and how.

The renderer says where it is (`at`) before each step that content can make
slow: parsing a page, rendering a template, each stage of the build. An
isolated build process (`openbook.worker.child`) reads it when the CPU-time
signal arrives, and records it where the worker can read it should the
process be killed, so a build stopped at a limit names the template and the
page instead of "the build". Without an observer this costs one assignment.
"""

from __future__ import annotations

from collections.abc import Callable

# (path, activity), e.g. ("_theme/templates/page.html", "rendering guide/intro.md")
Where = tuple[str, str]
Observer = Callable[[str, str], None]

_where: Where = ("the build", "starting")
_observer: Observer | None = None


def at(path: str, activity: str) -> None:
    """The build now works on `path` (a template, page or output), doing `activity`."""
    global _where
    _where = (path, activity)
    if _observer is not None:
        _observer(path, activity)


def idle() -> None:
    """This process waits for work (a render process between chunks): it is in nothing."""
    at("", "")


def where() -> Where:
    """What `at` said last in this process."""
    return _where


def observe(observer: Observer | None) -> None:
    """Call `observer(path, activity)` on every `at` from now on (in this process and its forks)."""
    global _observer
    _observer = observer
