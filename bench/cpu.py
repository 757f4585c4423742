"""The CPU account: where each order's CPU goes, per process, from /proc.

Kinds of process: each service and the gateway, PostgreSQL (all its processes; its backends also
split by the service they serve), the broker — together "the platform" — and apart from it the
bench's own tools: the load generator and this bench process, which hosts the SMTP sink.

Measured three ways (`make bench`):
- idle: everything started, no traffic, CPU per second;
- order submission alone: the consumers of orders (identity, loyalty, notify) paused with SIGSTOP while
  orders come at a steady rate, so that the CPU counted is the submission's (gateway, ordering and
  its relay, PostgreSQL, the broker taking the events), then resumed and drained;
- the whole pipeline (order → points → emails): in `platform_load.pipeline`, every consumer running.
Flame graphs: py-spy samples every Python process while orders flow, one SVG each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg

from libs.devstack.devrun import Platform

Progress = Callable[[str], None]
TOOLS = ("load generator", "bench + SMTP sink")
"""Not the platform: what the bench adds to drive and receive the load."""
ORDER_CONSUMERS = ("identity", "loyalty", "notify")  # every consumer of ordering.order.v1
_TICK = os.sysconf("SC_CLK_TCK")
_SUFFIX = {"flamegraph": "svg", "speedscope": "speedscope.json", "raw": "txt"}


def service_roles(platform: Platform) -> dict[str, str]:
    """The service each PostgreSQL login role of the platform is (role → service)."""
    return {platform.schema(name): name for name in platform.services}


def _process_cpu(pid: int) -> tuple[str, str, float, float] | None:
    """(name, command line, own CPU s, finished children's CPU s) of a process; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # ended meanwhile
        return None
    # Fields after "(comm)": state is 3rd in the man page, utime 14th, stime 15th, cutime 16th...
    fields = stat[stat.rindex(")") + 2 :].split()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    own = (int(fields[11]) + int(fields[12])) / _TICK
    children = (int(fields[13]) + int(fields[14])) / _TICK
    return name, command, own, children


class CpuMeter:
    """Reads CPU seconds used so far by every kind of process of a running platform.

    `backends` maps the pids of the stack's PostgreSQL to the service each serves (its login
    role), refreshed with `refresh_backends`; the backends of no service (and PostgreSQL's own
    workers: WAL writer, checkpointer…) count as "postgres: (shared)"."""

    def __init__(self, platform: Platform, db: asyncpg.Pool) -> None:
        self.platform = platform
        self.db = db
        self.backends: dict[int, str] = {}
        self._roles = service_roles(platform)

    async def refresh_backends(self) -> None:
        """Every process of the stack's PostgreSQL server (pg_stat_activity lists its backends and
        its own workers: WAL writer, checkpointer…; not the postmaster, which only forks), with the
        service it serves, if any. Another server's processes on the machine are not the platform's."""
        rows = await self.db.fetch("SELECT pid, usename FROM pg_stat_activity")
        self.backends = {r["pid"]: self._roles.get(r["usename"], "(shared)") for r in rows}

    def postgres_processes(self) -> dict[int, tuple[float, str]]:
        """CPU seconds so far and kind ("postgres: <service>" or "postgres: (shared)") of every
        process of the stack's PostgreSQL alive now."""
        found = {}
        for pid, served in self.backends.items():
            read = _process_cpu(pid)
            if read is not None:
                found[pid] = (read[2], f"postgres: {served}")
        return found

    def seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) by kind of process but PostgreSQL's (`postgres_processes`
        follows those one by one); `machine busy` from /proc/stat, all cores together."""
        services = {child.proc.pid: name for name, child in self.platform.children.items()}
        totals: dict[str, float] = {}

        def add(kind: str, value: float) -> None:
            totals[kind] = totals.get(kind, 0.0) + value

        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            read = _process_cpu(pid)
            if read is None:
                continue
            _, command, own, children = read
            if pid in services:
                add(services[pid], own)
            elif "tansu" in command:
                add("broker", own)
            elif pid == os.getpid():
                add("bench + SMTP sink", own)
                add("load generator", children)  # the bench's finished children
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(t) for t in cpu]
        totals["machine busy"] = (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # all but idle, iowait
        return totals


def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {kind: after[kind] - before.get(kind, 0.0) for kind in after}


def account(cpu: dict[str, float], elapsed_s: float, per: float) -> dict[str, Any]:
    """CPU used over `elapsed_s`, divided by `per` (orders, or seconds for idle), in ms.

    `platform_ms` sums the platform's processes (each PostgreSQL process counted once);
    `tools_ms` the bench's own."""
    cpu = dict(cpu)
    busy = cpu.pop("machine busy", 0.0)
    by_kind = {kind: used_s * 1000 / per for kind, used_s in sorted(cpu.items(), key=lambda kv: -kv[1])}
    postgres_split = {k: v for k, v in by_kind.items() if k.startswith("postgres: ")}
    processes = {k: v for k, v in by_kind.items() if not k.startswith("postgres: ")}
    tools = {k: v for k, v in processes.items() if k in TOOLS}
    platform = {k: v for k, v in processes.items() if k not in TOOLS}
    return {
        "seconds": elapsed_s,
        "machine_busy_share": busy / (elapsed_s * (os.cpu_count() or 1)) if elapsed_s else 0.0,
        "platform_ms": sum(platform.values()),
        "tools_ms": sum(tools.values()),
        "platform": platform,
        "tools": tools,
        "postgres_by_client": postgres_split,
    }


@contextlib.asynccontextmanager
async def measured(meter: CpuMeter, every_s: float = 0.5) -> AsyncIterator[dict[str, Any]]:
    """CPU seconds used by each kind, and the wall time, over the block: in the yielded dict.

    PostgreSQL is followed process by process every `every_s`: a backend that ends meanwhile (a
    pool closes connections idle for a while) counts with its last sample, under the service it
    served, instead of vanishing from the sum."""
    await meter.refresh_backends()
    before, started = meter.seconds(), time.monotonic()
    postgres_before = meter.postgres_processes()
    postgres_last = dict(postgres_before)
    stop = asyncio.Event()

    async def follow() -> None:
        while not stop.is_set():
            await meter.refresh_backends()
            postgres_last.update(meter.postgres_processes())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    task = asyncio.create_task(follow())
    out: dict[str, Any] = {}
    try:
        yield out
    finally:
        stop.set()
        await task
    await meter.refresh_backends()
    postgres_last.update(meter.postgres_processes())
    cpu = used(before, meter.seconds())
    cpu["postgres"] = 0.0
    for pid, (seconds, kind) in postgres_last.items():
        spent = seconds - postgres_before.get(pid, (0.0, kind))[0]
        cpu["postgres"] += spent
        cpu[kind] = cpu.get(kind, 0.0) + spent
    out["cpu"] = cpu
    out["elapsed_s"] = time.monotonic() - started


async def idle(meter: CpuMeter, seconds: float, progress: Progress) -> dict[str, Any]:
    """Everything started and nothing asked: CPU per second of each kind."""
    progress(f"idle CPU: {seconds:.0f} s without traffic")
    async with measured(meter) as m:
        await asyncio.sleep(seconds)
    return account(m["cpu"], m["elapsed_s"], per=m["elapsed_s"])


@contextlib.contextmanager
def paused(platform: Platform, services: tuple[str, ...]) -> Iterator[None]:
    """Stop the services' processes (SIGSTOP) for the block, then let them go on (SIGCONT).

    Kept well under the consumers' session timeout, so that no group rebalances meanwhile."""
    pids = [platform.children[name].proc.pid for name in services if name in platform.children]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def flame_graphs(
    platform: Platform, folder: Path, seconds: float, fmt: str = "flamegraph", rate_hz: int = 50
) -> Iterator[list[Path]]:
    """py-spy samples each Python process (services, gateway) for `seconds`, without stopping them
    (`--nonblocking`); one flame graph each in `folder` (SVG; or `fmt` speedscope JSON, or raw
    collapsed stacks as text), listed in the yielded list at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    written: list[Path] = []
    procs: list[tuple[Path, subprocess.Popen[bytes]]] = []
    for name, child in platform.children.items():
        path = folder / f"{name}.{_SUFFIX[fmt]}"
        command = [str(spy), "record", "--pid", str(child.proc.pid), "--duration", str(int(seconds))]
        command += ["--rate", str(rate_hz), "--nonblocking", "--format", fmt, "--output", str(path)]
        procs.append((path, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    try:
        yield written
    finally:
        for path, proc in procs:
            try:
                _, err = proc.communicate(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                continue
            if proc.returncode == 0 and path.exists():
                written.append(path)
            else:
                print(
                    f"py-spy failed for {path.stem}: {err.decode(errors='replace')[-300:]}", file=sys.stderr
                )


class Statements:
    """PostgreSQL's statements over a window, from pg_stat_statements: calls per order and the
    busiest statements, per service (its login role). The local stack preloads the extension."""

    def __init__(self, db: asyncpg.Pool, platform: Platform) -> None:
        self.db = db
        self.roles = service_roles(platform)
        self.unavailable: str | None = None

    async def reset(self) -> None:
        try:
            await self.db.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await self.db.execute("SELECT pg_stat_statements_reset()")
        except asyncpg.PostgresError as exc:  # not preloaded on this server
            self.unavailable = str(exc)

    async def per_order(self, orders: int, top: int = 60) -> dict[str, Any]:
        if self.unavailable is not None:
            return {"unavailable": self.unavailable}
        rows = await self.db.fetch(
            "SELECT r.rolname AS role, s.query, s.calls, s.total_exec_time AS ms FROM pg_stat_statements s"
            " JOIN pg_roles r ON r.oid = s.userid ORDER BY s.calls DESC"
        )
        mine = [r for r in rows if r["role"] in self.roles]
        by_service: dict[str, float] = {}
        for r in mine:
            service = self.roles[r["role"]]
            by_service[service] = by_service.get(service, 0.0) + r["calls"] / orders
        return {
            "calls_per_order": sum(r["calls"] for r in mine) / orders,
            "exec_ms_per_order": sum(r["ms"] for r in mine) / orders,
            "calls_per_order_by_service": dict(sorted(by_service.items(), key=lambda kv: -kv[1])),
            "top": [
                {
                    "service": self.roles[r["role"]],
                    "calls_per_order": r["calls"] / orders,
                    "mean_ms": r["ms"] / r["calls"] if r["calls"] else 0.0,
                    "query": " ".join(r["query"].split())[:160],
                }
                for r in mine[:top]
            ],
        }
