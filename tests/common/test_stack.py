"""The local stack: clear errors, readiness, and no process left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from libs.common.kafka import ensure_topics
from libs.common.settings import ServiceSettings
from libs.devstack.broker import TansuBroker
from libs.devstack.devrun import Platform
from libs.devstack.processes import StackError, free_port, free_ports, port_is_open
from libs.devstack.sms import SmsSink, read_sms
from libs.devstack.stack import LocalStack, StackConfig
from libs.devstack.testing import Isolated, _started

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StackError, match=f"port 127.0.0.1:{port} is already taken"):
            TansuBroker(port).start()


def test_free_ports_are_distinct() -> None:
    ports = free_ports(64)
    assert len(set(ports)) == 64


def test_a_stack_whose_port_was_taken_meanwhile_starts_on_other_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        offers = iter([[1, 2, 3, taken, 5], free_ports(5)])
        monkeypatch.setattr("libs.devstack.testing.free_ports", lambda count: next(offers))
        config = StackConfig(
            data_dir=tmp_path,
            database_url="postgresql://unused@127.0.0.1:1/x",
            kafka_bootstrap_servers="127.0.0.1:1",
            smtp_url="smtp://127.0.0.1:1",
        )
        stack = _started(config)
    try:
        assert stack.sms is not None
        assert config.sms_port != taken
        assert port_is_open(config.sms_port)
    finally:
        stack.stop()


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


@pytest.fixture
def sms_sink(tmp_path: Path) -> Iterator[SmsSink]:
    """A sink of its own: the session's sink is shared by every test that sends SMS."""
    sink = SmsSink(tmp_path / "sms", free_port())
    sink.start()
    yield sink
    sink.stop()


async def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, bytes) else None
        async with http.post(url, json=None if data else body, data=data) as resp:
            return resp.status, await resp.json(content_type=None)


async def test_sms_sink_keeps_each_posted_message_and_lists_them_oldest_first(sms_sink: SmsSink) -> None:
    sent = [
        {"to": "+33612345678", "text": "Bonjour Camille, votre code : 123456", "reference": "m-1"},
        {"to": "+79161234567", "text": "Здравствуйте! Код: 654321", "reference": "m-2"},
    ]
    answers = [await _post(sms_sink.url, body) for body in sent]

    assert [status for status, _ in answers] == [202, 202]
    received = sms_sink.messages()
    assert [(m.to, m.text, m.reference) for m in received] == [tuple(b.values()) for b in sent]
    assert [m.id for m in received] == [answer["id"] for _, answer in answers]
    assert received[0].received_at < received[1].received_at
    assert read_sms(sms_sink.folder) == received, "the folder alone tells what was sent"
    assert len(list(sms_sink.folder.glob("*.json"))) == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (["+33612345678", "text"], "JSON object"),
        ({"to": "+33612345678", "text": "hi"}, "reference"),
        ({"to": " ", "text": "hi", "reference": "m-1"}, "to"),
        ({"to": "+33612345678", "text": 42, "reference": "m-1"}, "text"),
    ],
)
async def test_sms_sink_answers_400_to_a_malformed_message_and_keeps_nothing(
    sms_sink: SmsSink, body: Any, error: str
) -> None:
    status, answer = await _post(sms_sink.url, body)

    assert status == 400
    assert error in answer["error"]
    assert sms_sink.messages() == []


async def test_sms_sink_only_takes_posts_to_messages(sms_sink: SmsSink) -> None:
    other = sms_sink.url.replace("/messages", "/elsewhere")
    async with aiohttp.ClientSession() as http:
        async with http.post(other, json={"to": "+1", "text": "t", "reference": "r"}) as resp:
            assert resp.status == 404
        async with http.get(sms_sink.url) as resp:
            assert resp.status == 405
    assert sms_sink.messages() == []


def test_sms_sink_messages_outlive_a_restart(tmp_path: Path) -> None:
    first = SmsSink(tmp_path, free_port())
    first.start()
    first.store("+33612345678", "Code : 111111", "m-1")
    first.stop()
    again = SmsSink(tmp_path, free_port())
    again.start()
    try:
        again.store("+33612345678", "Code : 222222", "m-2")
        assert [m.reference for m in again.messages()] == ["m-1", "m-2"]
    finally:
        again.stop()


def test_sms_sink_on_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(StackError, match="SMS sink cannot start"):
            SmsSink(tmp_path, busy.getsockname()[1]).start()


def test_the_stack_starts_the_sms_sink_and_hands_its_url_to_services(stack: LocalStack) -> None:
    assert stack.sms is not None, "the session's stack runs the sink"
    assert stack.sms_url == stack.sms.url and stack.sms.folder == stack.sms_dir
    assert stack.sms_dir == stack.config.data_dir / "sms"
    assert stack.environ()["SMS_URL"] == stack.sms_url
    assert stack.environ()["COMPTOIR_SMS_DIR"] == str(stack.sms_dir)

    isolated = Isolated.on(stack, "t_sms")
    assert isolated.settings("notify")["sms_url"] == stack.sms_url
    assert isolated.environ("notify")["SMS_URL"] == stack.sms_url
    assert isolated.sms_dir == stack.sms_dir
    assert Platform(stack, ["notify"]).environ("notify")["SMS_URL"] == stack.sms_url


def test_the_stack_starts_the_fake_payment_provider_and_hands_its_url_to_services(stack: LocalStack) -> None:
    assert stack.payments is not None, "the session's stack runs the fake provider"
    assert stack.payment_provider_url == stack.payments.url == stack.environ()["PAYMENT_PROVIDER_URL"]
    isolated = Isolated.on(stack, "t_payments")
    assert isolated.settings("ordering")["payment_provider_url"] == stack.payment_provider_url
    assert (
        Platform(stack, ["ordering"]).environ("ordering")["PAYMENT_PROVIDER_URL"]
        == stack.payment_provider_url
    )


def test_the_local_payment_keys_are_refused_for_a_provider_elsewhere() -> None:
    with pytest.raises(ValidationError, match="PAYMENT_WEBHOOK_SECRET"):
        ServiceSettings(service_name="x", payment_provider_url="https://payments.example/v1")
    remote = ServiceSettings(
        service_name="x",
        payment_provider_url="https://payments.example/v1",
        payment_api_key="k-123",
        payment_webhook_secret="s-456",
    )
    assert remote.payment_webhook_secret.get_secret_value() == "s-456"


def test_an_sms_provider_named_by_sms_url_replaces_the_sink(tmp_path: Path) -> None:
    provider = "https://sms.example/v1/messages"
    config = StackConfig.from_environ(
        {
            "COMPTOIR_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://unused@127.0.0.1:1/x",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "SMTP_URL": "smtp://127.0.0.1:1",
            "SMS_URL": provider,
            "COMPTOIR_SMS_PORT": "1999",
        }
    )
    assert (config.sms_url, config.sms_port) == (provider, 1999)
    with LocalStack(config) as stack:
        assert stack.sms is None
        assert stack.sms_url == provider == stack.environ()["SMS_URL"]
    assert StackConfig.from_environ({}).sms_port == 1026
    assert ServiceSettings(service_name="x").sms_url == "http://127.0.0.1:1026/messages"


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
    outside = ("DATABASE_", "KAFKA_", "SMTP_", "SMS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(outside)} | {
        "COMPTOIR_DATA_DIR": str(data),
        "COMPTOIR_POSTGRES_PORT": str(free_port()),
        "COMPTOIR_BROKER_PORT": str(free_port()),
        "COMPTOIR_SMTP_PORT": str(free_port()),
        "COMPTOIR_SMS_PORT": str(free_port()),
        "COMPTOIR_PORT_BASE": str(free_port() + 10),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "libs.devstack.devrun", "--no-seed", "loyalty"],
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


def test_only_identity_gets_the_platform_key_a_new_one_per_platform(stack: LocalStack) -> None:
    platform = Platform(stack, ["identity", "catalog", "gateway"])
    identity, catalog, gateway = (platform.environ(name) for name in ("identity", "catalog", "gateway"))
    assert len(platform.platform_key) >= 40 and identity["PLATFORM_KEY"] == platform.platform_key
    assert identity["DATABASE_URL"] and identity["DATABASE_SCHEMA"] == "identity"
    assert "PLATFORM_KEY" not in catalog and "PLATFORM_KEY" not in gateway
    assert gateway["PLATFORM_KEY_FORWARDING"] == "true"
    assert Platform(stack, ["identity"]).platform_key != platform.platform_key
