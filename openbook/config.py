"""Configuration from the environment, parsed once and validated as a whole.

Only this module (and `cli`) reads `os.environ`. `load_settings` collects every
problem before failing, so an operator fixes them all in one go.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openbook.errors import ConfigError

Component = Literal["api", "worker", "migrate", "token", "db"]

RETENTION_MIN_AGE_S = 3600
BUILD_CACHE_DIRNAME = "_build-cache"  # under STORAGE_PATH, unless BUILD_CACHE_PATH says otherwise
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    dsn: str
    pool_min: int = 2
    pool_max: int = 10
    # Every statement runs under this timeout (asyncpg `command_timeout`).
    command_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    # A request waits this long for a free pooled connection, then answers 503.
    acquire_timeout_s: float = 5.0
    startup_wait_s: float = 30.0


@dataclass(frozen=True, slots=True)
class RedisSettings:
    host: str
    port: int
    password: str
    db: int
    connect_timeout_s: float = 5.0
    startup_wait_s: float = 30.0

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class JwtSettings:
    algorithm: str
    key: str
    issuer: str | None = None
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Outgoing webhook delivery (docs/webhooks.md); only `allow_private` comes from the environment."""

    # WEBHOOK_ALLOW_PRIVATE=1: targets on loopback and private networks are allowed (SSRF guard off).
    allow_private: bool = False
    # One request, connecting included, never takes longer than `timeout_s`.
    connect_timeout_s: float = 5.0
    timeout_s: float = 10.0
    # Deliveries in flight per process: a hanging target holds one slot, never the loop.
    concurrency: int = 8
    # A claimed delivery is another process's to retry once its lease lapses (a crash mid-request).
    lease_s: float = 30.0
    poll_s: float = 1.0
    # Attempt n failed: retry after first_retry_s * 2**(n-1), +-20% jitter; give up after max_attempts.
    max_attempts: int = 8
    first_retry_s: float = 30.0


@dataclass(frozen=True, slots=True)
class BuildLimits:
    """What one build process may use; the operating system enforces each (docs/ops/security.md)."""

    # BUILD_CPU_S: CPU seconds of each build process (and of each of its render processes).
    cpu_s: int = 120
    # BUILD_MEMORY_MB: address space of each of those processes (RLIMIT_AS).
    memory_mb: int = 2048
    # BUILD_WALL_S: a build still running after this many seconds is killed.
    wall_s: int = 300
    # BUILD_MAX_FILE_MB: largest output file; BUILD_MAX_OUTPUT_MB: all files of one deployment.
    max_file_mb: int = 64
    max_output_mb: int = 4096

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def max_output_bytes(self) -> int:
        return self.max_output_mb * 1024 * 1024


# (environment variable, field, lowest, highest): the limits are checked like every setting.
_BUILD_LIMITS = (
    ("BUILD_CPU_S", "cpu_s", 1, 86_400),
    ("BUILD_MEMORY_MB", "memory_mb", 256, 1_048_576),
    ("BUILD_WALL_S", "wall_s", 1, 86_400),
    ("BUILD_MAX_FILE_MB", "max_file_mb", 1, 1_048_576),
    ("BUILD_MAX_OUTPUT_MB", "max_output_mb", 1, 16_777_216),
)


def default_concurrency() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings
    redis: RedisSettings | None = None
    jwt: JwtSettings | None = None
    app_port: int = 8080
    storage_path: Path | None = None
    themes_path: tuple[Path, ...] = ()
    worker_name: str = field(default_factory=socket.gethostname)
    worker_claim_idle_ms: int = 60_000
    # WORKER_METRICS_PORT: where the worker serves GET /metrics (None: not served).
    worker_metrics_port: int | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    # git push (docs/git.md): the largest pack a push may send, and all its objects inflated together.
    git_max_pack_bytes: int = 512 * 1024 * 1024
    git_max_inflated_bytes: int = 2 * 1024 * 1024 * 1024
    webhooks: WebhookSettings = WebhookSettings()
    # A finished deployment's output is never pruned before this age (pages loaded from it still fetch assets).
    retention_min_age_s: int = RETENTION_MIN_AGE_S
    build_limits: BuildLimits = BuildLimits()
    # WORKER_CONCURRENCY: builds one worker runs at once (default: its CPUs).
    worker_concurrency: int = field(default_factory=default_concurrency)
    # BUILD_CACHE_PATH: what builds learnt, kept between build processes (default STORAGE_PATH/_build-cache).
    build_cache_path: Path | None = None


def _int(env: Mapping[str, str], name: str, problems: list[str], *, lo: int, hi: int) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        problems.append(f"{name} is missing")
        return None
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be an integer, got {raw!r}")
        return None
    if not lo <= value <= hi:
        problems.append(f"{name} must be between {lo} and {hi}, got {value}")
        return None
    return value


def _dsn(env: Mapping[str, str], problems: list[str]) -> str | None:
    dsn = env.get("DB_DSN", "")
    if not dsn:
        problems.append("DB_DSN is missing")
        return None
    parsed = urlparse(dsn)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname or not parsed.path.strip("/"):
        problems.append("DB_DSN must look like postgres://user:pw@host:port/dbname")
        return None
    return dsn


def _redis(env: Mapping[str, str], problems: list[str]) -> RedisSettings | None:
    addr = env.get("REDIS_ADDR", "")
    host, port = "", None
    if not addr:
        problems.append("REDIS_ADDR is missing")
    else:
        host, _, port_text = addr.rpartition(":")
        try:
            port = int(port_text)
        except ValueError:
            port = None
        if not host or port is None or not 0 < port < 65536:
            problems.append(f"REDIS_ADDR must be host:port, got {addr!r}")
            port = None
    if "REDIS_PASSWORD" not in env:
        problems.append("REDIS_PASSWORD is missing (set it empty when Redis has no password)")
    db = _int(env, "REDIS_DB", problems, lo=0, hi=1_000_000)
    if port is None or db is None or "REDIS_PASSWORD" not in env:
        return None
    return RedisSettings(host=host, port=port, password=env["REDIS_PASSWORD"], db=db)


def _jwt(env: Mapping[str, str], problems: list[str]) -> JwtSettings | None:
    algorithm = env.get("JWT_ALGORITHM", "HS256") or "HS256"
    if algorithm not in JWT_ALGORITHMS:
        problems.append(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, got {algorithm!r}")
        return None
    if algorithm.startswith("HS"):
        key = env.get("JWT_SECRET", "")
        if not key:
            problems.append("JWT_SECRET is missing")
            return None
        if len(key.encode()) < 32:
            problems.append("JWT_SECRET must be at least 32 bytes")
            return None
        if key.lstrip().startswith(("-----BEGIN", "ssh-", "ecdsa-")):
            # PyJWT refuses such an HMAC key on every request; say so at start instead.
            problems.append(f"JWT_SECRET looks like a public key; for {algorithm} it must be a shared secret"
                            " (set JWT_ALGORITHM=RS256 and JWT_PUBLIC_KEY to verify with a public key)")
            return None
    else:
        key = env.get("JWT_PUBLIC_KEY", "")
        problem = _public_key_problem(algorithm, key)
        if problem is not None:
            problems.append(problem)
            return None
    return JwtSettings(
        algorithm=algorithm,
        key=key,
        issuer=env.get("JWT_ISSUER") or None,
        audience=env.get("JWT_AUDIENCE") or None,
    )


MIN_RSA_BITS = 2048


def _public_key_problem(algorithm: str, pem: str) -> str | None:
    """Why `pem` cannot verify `algorithm` tokens, or None: RS* need an RSA key, ES256 a P-256 key.

    Parsed with the same library PyJWT verifies with, so a key accepted here
    is one every request can use (a broken key would otherwise make every
    token a 401 "Algorithm not supported" or "Could not deserialize key").
    """
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"JWT_PUBLIC_KEY is not a PEM public key ({type(exc).__name__}: {exc})"
    if algorithm.startswith("RS"):
        if not isinstance(key, rsa.RSAPublicKey):
            return f"JWT_PUBLIC_KEY must be an RSA public key for {algorithm}, got {type(key).__name__}"
        if key.key_size < MIN_RSA_BITS:
            return f"JWT_PUBLIC_KEY is a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits are needed"
    elif not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        return f"JWT_PUBLIC_KEY must be an EC P-256 public key for {algorithm}, got {type(key).__name__}"
    return None


def _storage(env: Mapping[str, str], problems: list[str]) -> Path | None:
    return _writable_dir(env, "STORAGE_PATH", problems)


def _writable_dir(env: Mapping[str, str], name: str, problems: list[str]) -> Path | None:
    raw = env.get(name, "")
    if not raw:
        problems.append(f"{name} is missing")
        return None
    path = Path(raw)
    if not path.is_dir():
        problems.append(f"{name} {raw!r} is not an existing directory")
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        problems.append(f"{name} {raw!r} is not writable")
        return None
    return path.resolve()


def _themes_path(env: Mapping[str, str], problems: list[str]) -> tuple[Path, ...]:
    themes = tuple(Path(p) for p in env.get("THEMES_PATH", "").split(":") if p)
    problems.extend(f"THEMES_PATH entry {str(p)!r} is not a directory" for p in themes if not p.is_dir())
    return themes


def load_themes_path(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """THEMES_PATH alone, for commands that need no database (`openbook preview`).

    Raises ConfigError naming every entry that is not a directory.
    """
    problems: list[str] = []
    themes = _themes_path(os.environ if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    return themes


def _build_limits(env: Mapping[str, str], problems: list[str]) -> BuildLimits:
    values: dict[str, int] = {}
    for name, attr, lo, hi in _BUILD_LIMITS:
        if env.get(name):
            value = _int(env, name, problems, lo=lo, hi=hi)
            if value is not None:
                values[attr] = value
    limits = BuildLimits(**values)
    if limits.max_file_mb > limits.max_output_mb:
        problems.append(f"BUILD_MAX_FILE_MB ({limits.max_file_mb}) must not exceed BUILD_MAX_OUTPUT_MB"
                        f" ({limits.max_output_mb})")
    return limits


def load_settings(component: Component, env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment for one component; raise ConfigError naming every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    dsn = _dsn(env, problems) if component != "token" else ""
    needs_redis = component in ("api", "worker")
    redis = _redis(env, problems) if needs_redis else None
    jwt = _jwt(env, problems) if component in ("api", "token") else None
    port = _int(env, "APP_PORT", problems, lo=1, hi=65535) if component == "api" else 8080
    storage = _storage(env, problems) if component in ("api", "worker") else None
    claim_idle = 60_000
    if env.get("WORKER_CLAIM_IDLE_MS"):
        claim_idle = _int(env, "WORKER_CLAIM_IDLE_MS", problems, lo=1000, hi=86_400_000) or claim_idle
    min_age = RETENTION_MIN_AGE_S
    if env.get("RETENTION_MIN_AGE_S"):
        min_age = _int(env, "RETENTION_MIN_AGE_S", problems, lo=0, hi=366 * 86_400) or 0
    themes = _themes_path(env, problems)
    metrics_port = None
    if component == "worker" and env.get("WORKER_METRICS_PORT"):
        metrics_port = _int(env, "WORKER_METRICS_PORT", problems, lo=1, hi=65535)
    limits = _build_limits(env, problems) if component == "worker" else BuildLimits()
    build_cache = None
    if component == "worker":
        build_cache = _writable_dir(env, "BUILD_CACHE_PATH", problems) if env.get("BUILD_CACHE_PATH") else (
            storage / BUILD_CACHE_DIRNAME if storage is not None else None)
    concurrency = default_concurrency()
    if component == "worker" and env.get("WORKER_CONCURRENCY"):
        concurrency = _int(env, "WORKER_CONCURRENCY", problems, lo=1, hi=256) or concurrency
    allow_private = env.get("WEBHOOK_ALLOW_PRIVATE", "") or "0"
    if allow_private not in ("0", "1"):
        problems.append(f"WEBHOOK_ALLOW_PRIVATE must be 0 or 1, got {allow_private!r}")
    if component == "token" and jwt is not None and not jwt.algorithm.startswith("HS"):
        problems.append("openbook token can only sign with an HS* algorithm and JWT_SECRET")
    if problems or dsn is None or (needs_redis and redis is None) or port is None:
        raise ConfigError(problems)
    return Settings(
        database=DatabaseSettings(dsn=dsn),
        redis=redis,
        jwt=jwt,
        app_port=port,
        storage_path=storage,
        themes_path=themes,
        worker_name=env.get("WORKER_NAME") or socket.gethostname(),
        worker_claim_idle_ms=claim_idle,
        worker_metrics_port=metrics_port,
        webhooks=WebhookSettings(allow_private=allow_private == "1"),
        retention_min_age_s=min_age,
        build_limits=limits,
        worker_concurrency=concurrency,
        build_cache_path=build_cache,
    )
