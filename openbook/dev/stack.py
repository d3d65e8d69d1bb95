"""Private PostgreSQL and Redis servers for `openbook dev`, `make demo` and tests.

Each server lives in a data folder of its own on a free loopback port and is
stopped cleanly. PostgreSQL refuses to run as root, so when we are root the
server runs as the `postgres` OS user. Redis is installed with apt when
missing (the machine reaches Debian's mirrors, nothing else).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openbook.errors import DevStackError

PG_BIN = Path(os.environ.get("OPENBOOK_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The application role owns the database but is no superuser: row-level
# security (forced on every tenant table) applies to it. The superuser is for
# administration only (backups, tests that damage data on purpose).
PG_USER = "openbook"
PG_PASSWORD = "openbook"
PG_DATABASE = "openbook"
PG_ADMIN = "postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DevStackError(f"server on port {port} exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise DevStackError(f"nothing answered on 127.0.0.1:{port} within {timeout_s:.0f}s")


def ensure_debian_package(binary: str, package: str) -> str:
    """Return the path of `binary`, installing its Debian package first when missing."""
    found = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, Path("/usr/bin") / binary) if p.exists()), None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise DevStackError(f"{binary} is missing; install it with: sudo apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(cmd, env=env, capture_output=True, check=False)
        if result.returncode != 0 and cmd[1] == "install":
            raise DevStackError(f"apt-get install {package} failed: {result.stderr.decode()[-500:]}")
    # Debian starts the packaged service on install; we run private instances only.
    subprocess.run(["service", package, "stop"], capture_output=True, check=False)
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if not found:
        raise DevStackError(f"{package} installed but {binary} not found")
    return found


def _as_postgres(cmd: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(cmd)
    return ["runuser", "-u", "postgres", "--", *cmd]


def postgres_can_reach(path: Path) -> bool:
    """Whether the `postgres` OS user (used when we are root) can traverse down to `path`."""
    if os.geteuid() != 0:
        return True
    return all(os.stat(p).st_mode & 0o001 for p in path.resolve().parents)


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        blocked = [p for p in path.resolve().parents if not os.stat(p).st_mode & 0o001]
        if blocked:
            raise DevStackError(f"the postgres user cannot reach {path}: {blocked[0]} is not world-searchable")
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PostgresServer:
    """A private PostgreSQL 15 cluster in `data_dir`, listening on loopback only."""

    data_dir: Path
    port: int = 0
    max_connections: int = 200

    @property
    def dsn(self) -> str:
        return self.dsn_for(PG_DATABASE)

    def dsn_for(self, database: str, *, admin: bool = False) -> str:
        user = PG_ADMIN if admin else PG_USER
        return f"postgres://{user}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        if not (PG_BIN / "postgres").exists():
            raise DevStackError(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _give_to_postgres(self.data_dir)
        pgdata = self.data_dir / "pgdata"
        sock_dir = self.data_dir / "sock"
        sock_dir.mkdir(exist_ok=True)
        _give_to_postgres(sock_dir)
        fresh = not (pgdata / "PG_VERSION").exists()
        if fresh:
            pwfile = self.data_dir / "pwfile"
            pwfile.write_text(PG_PASSWORD)
            _give_to_postgres(pwfile)
            self._run([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", PG_ADMIN, "--pwfile", str(pwfile),
                       "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"])
            pwfile.unlink()
        self._run([
            str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-l", str(self.data_dir / "postgres.log"), "-w",
            "-t", "60", "-o",
            f"-p {self.port} -k {sock_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections}",
            "start",
        ])
        if fresh:
            self.psql(f"CREATE ROLE {PG_USER} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD '{PG_PASSWORD}'",
                      database="postgres", admin=True)
            self.create_database(PG_DATABASE)
        elif self.psql(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{PG_USER}'", database="postgres",
                       admin=True).strip() != "f":
            self.stop()
            raise DevStackError(
                f"{self.data_dir} holds a cluster of an older OpenBook where {PG_USER!r} is a superuser"
                " (row-level security would not apply); remove it (make clean) to start afresh")
        return self

    def stop(self, mode: str = "fast") -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", mode, "-w", "stop"], check=False)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database owned by the application role; its DSN."""
        sql = f'CREATE DATABASE "{name}" OWNER {PG_USER}' + (f' TEMPLATE "{template}"' if template else "")
        self.psql(sql, database="postgres", admin=True)
        return self.dsn_for(name)

    def psql(self, sql: str, database: str = PG_DATABASE, *, admin: bool = False) -> str:
        """Run `sql` with psql as the application role (or the superuser with `admin`); its output."""
        user = PG_ADMIN if admin else PG_USER
        result = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database, "-v",
             "ON_ERROR_STOP=1", "-Atc", sql],
            env={**os.environ, "PGPASSWORD": PG_PASSWORD}, capture_output=True, check=False,
        )
        if result.returncode != 0:
            raise DevStackError(f"psql failed: {result.stderr.decode().strip()}")
        return result.stdout.decode()

    def _run(self, cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> None:
        result = subprocess.run(_as_postgres(cmd), env={**os.environ, **(env or {})}, capture_output=True,
                                cwd="/", check=False)
        if check and result.returncode != 0:
            raise DevStackError(f"{Path(cmd[0]).name} failed: {result.stderr.decode().strip()[-800:]}")


@dataclass
class RedisServer:
    """A private redis-server in `data_dir` on a loopback port, without persistence."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        binary = ensure_debian_package("redis-server", "redis-server")
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_for_port(self.port, 15, self.process)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Hard-kill (tests of Redis loss); data is gone since nothing is persisted."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
