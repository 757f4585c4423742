"""`make run`'s supervisor: a service that dies is started again with a back-off; SIGTERM stops all."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from libs.devstack.devrun import ROOT, Backoff, Platform, Supervisor
from libs.devstack.stack import LocalStack, StackConfig
from libs.devstack.testing import wait_until


def _offline_stack(data_dir: Path) -> LocalStack:
    """A stack that is never started: the dummy services below need none of it."""
    return LocalStack(
        StackConfig(
            data_dir=data_dir,
            database_url="postgresql://postgres@127.0.0.1:9/comptoir",
            kafka_bootstrap_servers="127.0.0.1:9",
            smtp_url="smtp://127.0.0.1:9",
            sms_url="http://127.0.0.1:9/messages",
            payment_provider_url="http://127.0.0.1:9",
        )
    )


async def test_a_service_that_dies_is_started_again_later_each_time(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    script = f"import time; open({str(starts)!r}, 'a').write(f'{{time.monotonic()}}\\n'); raise SystemExit(3)"
    log = io.StringIO()
    platform = Platform(
        _offline_stack(tmp_path),
        ["loyalty", "notify"],
        log=log,
        command=lambda name: [
            sys.executable,
            "-c",
            script if name == "loyalty" else "import time; time.sleep(60)",
        ],
    )
    for name in platform.services:
        await platform.start_service(name)
    supervisor = Supervisor(platform, Backoff(first=0.1, longest=0.4, steady=60))
    running = asyncio.create_task(supervisor.run())
    try:

        async def started_five_times() -> bool:
            return starts.exists() and len(starts.read_text().split()) >= 5

        await wait_until(started_five_times, "five starts of the dying service", timeout=20)
        times = [float(t) for t in starts.read_text().split()]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4 and gaps[3] >= 0.4, gaps
        assert gaps[3] < 0.4 + 1.5, gaps  # capped at `longest` (plus a Python start-up)
        assert "loyalty died (exit code 3) after" in log.getvalue()
        assert "restarting it in 0.1 s" in log.getvalue() and "restarting it in 0.4 s" in log.getvalue()
        assert platform.children["notify"].proc.returncode is None  # the others keep running
    finally:
        supervisor.stop()
        assert await asyncio.wait_for(running, 5) == 0
        await platform.stop()


_LAUNCHER = """
import asyncio, sys, tempfile
from pathlib import Path
from libs.devstack.devrun import Platform, Supervisor
from tests.common.test_devrun import _offline_stack

async def main():
    platform = Platform(
        _offline_stack(Path(tempfile.mkdtemp())),
        ["loyalty", "notify"],
        command=lambda name: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    for name in platform.services:
        await platform.start_service(name)
    print("pids", *(c.proc.pid for c in platform.children.values()), flush=True)
    supervisor = Supervisor(platform)
    try:
        with supervisor.signals():
            return await supervisor.run()
    finally:
        await platform.stop()

sys.exit(asyncio.run(main()))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_stops_every_service_and_restarts_none() -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_LAUNCHER)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    first = launcher.stdout.readline()
    assert first.startswith("pids"), first
    pids = [int(pid) for pid in first.split()[1:]]
    for line in launcher.stdout:  # the supervisor's signal handlers are in place once it says so
        if "started again after a pause" in line:
            break

    launcher.send_signal(signal.SIGTERM)
    output = launcher.communicate(timeout=30)[0]

    assert launcher.returncode == 0, output
    assert "stopping" in output and "restarting" not in output
    assert [pid for pid in pids if _alive(pid)] == []
