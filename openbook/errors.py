"""Every error OpenBook raises on purpose, under one root.

    OpenBookError
    ├── ConfigError          configuration invalid (cli exits 2)
    ├── InvalidRequest       bad input: 400 invalid_request
    │   ├── InvalidPath      a content path breaks the path rules
    │   ├── InvalidRef       a malformed branch name or commit id
    │   ├── RenderError      the author's content cannot be rendered (file + cause)
    │   │   ├── TemplateTimeout  a content template ran past its time limit
    │   │   └── BuildLimitExceeded  a build went over an OS-enforced limit (CPU, memory, time, output)
    │   ├── TargetRefused    a webhook target is not a public address (SSRF guard)
    │   └── PushRefused      git push: a pack or one ref cannot be stored (the message is git's to print)
    ├── Unauthorized         401: missing, expired or forged token
    ├── Forbidden            403: valid token without the role
    ├── NotFound             404: absent, or another workspace's
    ├── Conflict             409 conflict
    │   ├── AlreadyExists    409 already_exists
    │   ├── StaleHead        409 stale_head (details.current_head)
    │   ├── MergeConflict    409 merge_conflict (details.conflicts)
    │   └── KeyTaken         a concurrent request stored its answer under the idempotency key first
    ├── IdempotencyMismatch  422: an idempotency key reused with another request
    ├── TooLarge             413 too_large
    ├── Unavailable          503: a backend (PostgreSQL, Redis) cannot be reached; retry
    ├── MirrorFailed         a mirror could not fetch its external repository (network, refused)
    ├── PublishFailed        writing a build's output failed (disk full, permissions)
    │   └── ReuseFailed      a file to reuse is missing from the earlier build
    ├── CorruptObject        500: a stored object is missing or undecodable
    ├── InternalError        500: an OpenBook bug, never the author's fault
    └── ToolError            a command-line tool failed; the message is for its user
        ├── PushError        `openbook push` could not push
        └── DevStackError    a private server of `openbook dev` could not start

The API maps these to HTTP in exactly one place (`openbook.api.errors`). The
adapters (`openbook.db`, `openbook.stream`, `openbook.fs`) translate their
libraries' exceptions into these at their boundary: nothing above them sees
an asyncpg, redis or unexpected OSError.

Every error pickles with its attributes: an isolated build process
(`openbook.worker.isolate`) sends the one it met to the worker as it is.
"""

from __future__ import annotations

from typing import Any


class OpenBookError(Exception):
    """Root of all OpenBook errors; carries an API code and JSON details."""

    code = "internal"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments: rebuild without calling __init__,
        # then restore every attribute (message, details, path, cause...).
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[OpenBookError], args: tuple[Any, ...]) -> OpenBookError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    return exc


class ConfigError(OpenBookError):
    """Raised by `openbook.config` with every problem found, one per line."""

    code = "config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems), {"problems": problems})
        self.problems = problems


class InvalidRequest(OpenBookError):
    code = "invalid_request"


class InvalidPath(InvalidRequest):
    """A content path is not a clean relative POSIX path (details.path)."""


class InvalidRef(InvalidRequest):
    """A branch name or commit id is malformed (details.ref)."""


class PushRefused(InvalidRequest):
    """A git push is refused: a bad pack (nothing stored), or one ref (that ref unchanged).

    Raised by `openbook.gitmap` (paths, symlinks, submodules, sizes, missing or
    malformed objects) and `openbook.db.gitremote` (stale or non-fast-forward
    updates); the message is sent to the git client, which prints it.
    """


class RenderError(InvalidRequest):
    """Content cannot be rendered; message names the file and the cause.

    `line` is the line of `path` the cause is at (0 when unknown or the whole file), for
    `openbook check`'s `file:line:` list; the message keeps whatever line the cause names.
    """

    def __init__(self, path: str, cause: str, line: int = 0) -> None:
        super().__init__(f"{path}: {cause}", {"path": path, "cause": cause})
        self.path = path
        self.cause = cause
        self.line = line


class TargetRefused(InvalidRequest):
    """A webhook URL names or resolves to a loopback, private or otherwise non-public address.

    Raised by `openbook.pipeline.targets` when a webhook is created (IP literals)
    and when a delivery resolves its host (then recorded as the attempt's error).
    """


class Unauthorized(OpenBookError):
    code = "unauthorized"


class Forbidden(OpenBookError):
    code = "forbidden"


class NotFound(OpenBookError):
    code = "not_found"


class Conflict(OpenBookError):
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class StaleHead(Conflict):
    """The branch head is not the expected one (details.current_head)."""

    code = "stale_head"


class MergeConflict(Conflict):
    """A merge with strategy `fail` met conflicts (details.conflicts)."""

    code = "merge_conflict"


class KeyTaken(Conflict):
    """Raised inside an effect's transaction so that it rolls back: the caller replays the stored answer."""

    code = "conflict"


class IdempotencyMismatch(OpenBookError):
    """An `Idempotency-Key` already answered a request with another method, path or body."""

    code = "idempotency_mismatch"


class TooLarge(OpenBookError):
    code = "too_large"


class MirrorFailed(OpenBookError):
    """A mirror's sync could not fetch from its URL; the message says why (for the mirror's events)."""

    code = "mirror_failed"


class Unavailable(OpenBookError):
    code = "unavailable"


class PublishFailed(OpenBookError):
    """Writing a build's output failed (disk full, permissions...): the deployment fails, never retried."""

    code = "publish_failed"


class ReuseFailed(PublishFailed):
    """A file the renderer skipped (same render key) is missing from the earlier build: render it."""


class InternalError(OpenBookError):
    """OpenBook itself misbehaved (a renderer bug): reported as ours, never blamed on content."""

    code = "internal"


class ToolError(OpenBookError):
    """A command-line tool could not do its job; the CLI prints the message and exits 1."""

    code = "tool"


class PushError(ToolError):
    """`openbook push` could not push (bad folder, the API refused)."""


class DevStackError(ToolError):
    """A private server of `openbook dev` or the tests could not be installed, started or reached."""


class CorruptObject(OpenBookError):
    """The content store met a missing or undecodable object (details.id).

    Raised by `openbook.store` when a reference inside the store does not
    resolve; an integrity failure (see `openbook fsck`), never bad input.
    """

    code = "corrupt_object"


class TemplateTimeout(RenderError):
    """A sandboxed template (from a site's `_theme/`) ran past its time limit; names the template and line."""


class BuildLimitExceeded(RenderError):
    """A build went over a limit the operating system enforces on its process (docs/ops/security.md).

    `path` is what the build was doing (the template, else the page or output
    file), `limit` one of LIMITS: the label of `openbook_builds_killed_total`.
    Raised in the build process (`openbook.worker.child`: the CPU-time signal,
    MemoryError, an output over its size) or by the worker that killed it
    (`openbook.worker.isolate`: wall-clock time, a process the kernel killed).
    """

    LIMITS = ("cpu", "memory", "wall", "file_size", "output_size", "killed")

    def __init__(self, path: str, cause: str, limit: str) -> None:
        super().__init__(path, cause)
        self.limit = limit
        self.details["limit"] = limit
