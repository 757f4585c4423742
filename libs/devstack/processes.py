"""Child processes of the local stack: free ports, starting, waiting for a port, stopping."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child must not import


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


def ensure_port_free(port: int, what: str) -> None:
    if port_is_open(port):
        raise PortTaken(
            f"{what} cannot start: port 127.0.0.1:{port} is already taken. "
            f"Stop whatever listens there or choose another port."
        )


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
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


def terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
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


class ServedInThread:
    """A local HTTP server (`http.server`) serving from a daemon thread until stopped: the sinks and
    the fake providers of the dev stack."""

    def __init__(self) -> None:
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, server: socketserver.BaseServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
