"""The local stack: clear errors, readiness, and no process left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from libs.common.kafka import ensure_topics
from libs.common.stack import LocalStack, StackConfig, StackError, TansuBroker, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StackError, match=f"port 127.0.0.1:{port} is already taken"):
            TansuBroker(port).start()


def test_a_failing_component_stops_the_ones_already_started(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = StackConfig(
            data_dir=tmp_path,
            broker_port=free_port(),
            smtp_port=busy.getsockname()[1],
            database_url="postgresql://unused@127.0.0.1:1/x",
        )
        stack = LocalStack(config)
        with pytest.raises(StackError, match="SMTP sink"):
            stack.start()
    assert stack.broker is not None
    assert _nothing_listens(config.broker_port)


def _nothing_listens(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def test_topics_are_provisioned_with_the_configured_partition_count(stack: LocalStack) -> None:
    name = f"t{time.time_ns()}.partitions"
    await ensure_topics(stack.kafka_bootstrap_servers, [name], partitions=7)
    await ensure_topics(stack.kafka_bootstrap_servers, [name], partitions=7)  # again: no error
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await producer.start()
    try:
        assert len(await producer.partitions_for(name)) == 7
    finally:
        await producer.stop()


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path("/proc").glob("[0-9]*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(task.name)
            found |= {child, *_descendants(child)}
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_make_run_leaves_no_process_behind(sig: signal.Signals) -> None:
    """`make run`'s launcher with one service: after Ctrl-C, SIGTERM or even SIGKILL, all are gone."""
    data = Path(tempfile.mkdtemp(prefix="comptoir-run-"))
    data.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "KAFKA_", "SMTP_"))} | {
        "COMPTOIR_DATA_DIR": str(data),
        "COMPTOIR_POSTGRES_PORT": str(free_port()),
        "COMPTOIR_BROKER_PORT": str(free_port()),
        "COMPTOIR_SMTP_PORT": str(free_port()),
        "COMPTOIR_PORT_BASE": str(free_port() + 10),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "libs.common.devrun", "--no-seed", "loyalty"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    deadline = time.monotonic() + 60
    for line in launcher.stdout:
        if "service started" in line or time.monotonic() > deadline:
            break
    children = _descendants(launcher.pid)
    assert len(children) >= 3, "postgres, the broker and the service should be running"

    launcher.send_signal(sig)
    launcher.wait(30)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if _alive(pid)] == []
    if sig != signal.SIGKILL:
        assert launcher.returncode == 0
