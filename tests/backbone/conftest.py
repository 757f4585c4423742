"""Helpers of the backbone tests: the probe service's schema, its processes and its effects."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from libs.common import outbox
from libs.common.db import migrate, service_migrations
from libs.common.events import envelope
from libs.devstack.testing import Isolated
from tests.backbone.probe import SPEC, ItemChanged

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def probe_db(isolated: Isolated, pool: asyncpg.Pool) -> asyncpg.Pool:
    """The test's schema with the backbone tables and the probe's own tables."""
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, service_migrations(SPEC.folder))
    return pool


async def write_events(
    pool: asyncpg.Pool, items: list[tuple[str, int]], *, fail: set[tuple[str, int]] = frozenset()
) -> None:  # type: ignore[assignment]
    """Commit one transaction per (key, seq), as a service would for each change."""
    for key, seq in items:
        async with pool.acquire() as conn, conn.transaction():
            event = ItemChanged(key=key, seq=seq, fail=(key, seq) in fail, written_at=datetime.now(UTC))
            wrapped = envelope("probe", event, subject=key, tenant_id="t1", event_id=event_id(key, seq))
            await outbox.append(conn, ItemChanged.topic, wrapped)


def event_id(key: str, seq: int) -> uuid.UUID:
    """Deterministic, so a writer unsure whether its commit landed can look."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"probe:{key}:{seq}")


async def effect_counts(pool: asyncpg.Pool) -> tuple[int, int]:
    """(effects, distinct events applied)."""
    row = await pool.fetchrow("SELECT count(*) AS total, count(DISTINCT event_id) AS distinct_ FROM effects")
    assert row is not None
    return int(row["total"]), int(row["distinct_"])


async def applied_sequences(pool: asyncpg.Pool) -> dict[str, list[int]]:
    """Per key, the sequence numbers in the order they were applied."""
    per_key: dict[str, list[int]] = {}
    for row in await pool.fetch("SELECT key, seq FROM effects ORDER BY id"):
        per_key.setdefault(row["key"], []).append(row["seq"])
    return per_key


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_for_effects(pool: asyncpg.Pool, expected: int, timeout: float = 60) -> None:
    async def enough() -> bool:
        return (await effect_counts(pool))[1] >= expected

    await wait_until(enough, timeout, f"{expected} events applied")


@dataclass
class ProbeProcess:
    """The probe service as a separate OS process, so that a test can SIGKILL it."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @classmethod
    def start(cls, isolated: Isolated, role: str, tmp_path: Path, **settings: Any) -> ProbeProcess:
        env = isolated.environ("probe", role=role, **settings)
        port = int(env["HTTP_PORT"])
        log_path = tmp_path / f"probe-{role}-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.backbone.probe", "run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        return cls(proc, port, log_path)

    async def wait_ready(self, timeout: float = 30) -> None:
        async def healthy() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"probe exited {self.proc.returncode}:\n{self.log()}")
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{self.port}/healthz") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(healthy, timeout, "the probe process to start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last commit."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM: graceful shutdown."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
def probes(isolated: Isolated, tmp_path: Path) -> Iterator[Callable[..., ProbeProcess]]:
    """Start probe processes; whatever is left running is killed at the end of the test."""
    started: list[ProbeProcess] = []

    def start(role: str = "worker", **settings: Any) -> ProbeProcess:
        probe = ProbeProcess.start(isolated, role, tmp_path, **settings)
        started.append(probe)
        return probe

    yield start
    for probe in started:
        probe.kill()


@pytest.fixture
async def switch(probe_db: asyncpg.Pool) -> AsyncIterator[Callable[[str, bool], Awaitable[None]]]:
    async def flip(name: str, on: bool) -> None:
        await probe_db.execute(
            "INSERT INTO probe_switches (name, on_) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET on_ = EXCLUDED.on_",
            name,
            on,
        )

    yield flip
