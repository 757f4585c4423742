"""The platform under load: every service its own process (as `make run` starts them), driven through
the gateway by the load generator, itself in another process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg

from bench import cpu
from bench.load import LoadResult, LoadSpec, Request, percentiles, run_load_async
from libs.common.db import drop_service
from libs.devstack.devrun import Platform, free_platform_ports, runnable_services
from libs.devstack.payments import PAYS
from libs.devstack.stack import LocalStack
from tests.e2e.conftest import PASSWORD, Api, eventually, raised_limits

Progress = Callable[[str], None]
TENANT = "bench"
PARTNERS = 20
PRODUCTS = [("BENCH-1", 1290), ("BENCH-2", 2450), ("BENCH-3", 890)]
ORDER_LINES = [{"code": "BENCH-1", "quantity": 2}, {"code": "BENCH-2", "quantity": 1}]
# As in production: warnings and errors only; the services never write an access log.
PRODUCTION_ENV = {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"}
# The load generator is one client address: the gateway's limit per address would measure itself.
# Each step first runs this long at its rate, not counted: the first burst after idle opens
# connections (generator → gateway → service → its database pool), a cost the step's figures would
# otherwise charge to its first second. The warm-up's own p99 is in the results and the table.
WARMUP_S = 1.0


@dataclass
class Partner:
    email: str
    token: str
    account_id: str = ""


@dataclass
class Bench:
    """A running platform with its seeded tenant, and an admin connection to look at every schema."""

    platform: Platform
    db: asyncpg.Pool
    http: aiohttp.ClientSession
    partners: list[Partner] = field(default_factory=list)
    meter: cpu.CpuMeter = field(init=False)

    def __post_init__(self) -> None:
        self.meter = cpu.CpuMeter(self.platform, self.db)

    @property
    def gateway(self) -> str:
        return self.platform.gateway_url

    def table(self, service: str, table: str) -> str:
        return f"{self.platform.schema(service)}.{table}"

    async def relogin(self) -> None:
        """Fresh tokens for every partner (they live 15 minutes)."""
        api = Api(self.http, self.gateway, self.platform.stack, self.platform.platform_key)
        tokens = await asyncio.gather(*(api.login(TENANT, p.email) for p in self.partners))
        for partner, token in zip(self.partners, tokens, strict=True):
            partner.token = token

    def quote_requests(self) -> list[Request]:
        return [
            Request(
                "/api/ordering/checkout/quotes",
                "POST",
                {"Authorization": f"Bearer {p.token}"},
                {"lines": ORDER_LINES, "reference": "BENCH"},
            )
            for p in self.partners
        ]

    def order_requests(self) -> list[Request]:
        return [
            Request(
                "/api/ordering/orders",
                "POST",
                {"Authorization": f"Bearer {p.token}"},
                {"lines": ORDER_LINES},
            )
            for p in self.partners
        ]

    async def counts(self) -> dict[str, int]:
        """Orders written, relayed to the broker, credited with points, emailed (handed to SMTP)."""
        row = await self.db.fetchrow(
            f"SELECT (SELECT count(*) FROM {self.table('ordering', 'orders')}) AS orders,"
            # Each order publishes two events in one transaction: submitted, then confirmed.
            f" (SELECT count(*) / 2 FROM {self.table('ordering', 'outbox')}"
            "   WHERE topic = 'ordering.order.v1' AND published_at IS NOT NULL) AS relayed,"
            f" (SELECT count(*) FROM {self.table('loyalty', 'ledger')}"
            "   WHERE kind = 'earn' AND cause_type = 'order') AS points,"
            f" (SELECT count(*) FROM {self.table('notify', 'messages')}"
            "   WHERE kind = 'order_copy' AND sent_at IS NOT NULL) AS emails"
        )
        assert row is not None
        return dict(row)

    async def relayed(self, progress: Progress, timeout: float = 60) -> bool:
        """Wait until every order's event is on the broker."""
        return await self._until(lambda c: c["relayed"] >= c["orders"], "relayed", progress, timeout, 0.05)

    async def drain(self, progress: Progress, timeout: float = 60) -> bool:
        """Wait until every order has its points and its email (events of a load still flowing)."""

        def drained(c: dict[str, int]) -> bool:
            return c["points"] >= c["orders"] and c["emails"] >= c["orders"]

        return await self._until(drained, "drained", progress, timeout, 0.5)

    async def _until(
        self,
        done: Callable[[dict[str, int]], bool],
        what: str,
        progress: Progress,
        timeout: float,
        every: float,
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not done(counts := await self.counts()):
            if time.monotonic() > deadline:
                progress(f"pipeline not {what} after {timeout:.0f} s: {counts}")
                return False
            await asyncio.sleep(every)
        return True


@contextlib.asynccontextmanager
async def running_platform(stack: LocalStack, log: IO[str], progress: Progress) -> AsyncIterator[Bench]:
    namespace = f"bench_{uuid.uuid4().hex[:8]}"
    services = runnable_services()
    platform = Platform(
        stack,
        services,
        ports=free_platform_ports(services),
        namespace=namespace,
        log=log,
        extra_env=PRODUCTION_ENV | raised_limits("make bench"),
    )
    progress(f"starting {', '.join(services)} as processes (namespace {namespace})")
    await platform.start()
    db = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
    assert db is not None
    try:
        await platform.wait_ready()
        async with aiohttp.ClientSession() as http:
            bench = Bench(platform, db, http)
            await seed(bench, progress)
            yield bench
    finally:
        await db.close()
        await platform.stop()
        for name in services:
            if name != "gateway":
                schema = platform.schema(name)
                await drop_service(stack.database_url, role=schema, schema=schema)


async def settings_differing(bench: Bench) -> dict[str, dict[str, str]]:
    """Every setting of this run that is not its default: the services' environment beyond what
    `make run` gives them (production logging, the raised limits per client address), and
    PostgreSQL's settings not at their built-in value (durability among them: fsync,
    synchronous_commit)."""
    rows = await bench.db.fetch(
        "SELECT name, setting, unit FROM pg_settings"
        " WHERE source NOT IN ('default', 'override', 'client', 'session')"
        " OR name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level') ORDER BY name"
    )
    postgres = {r["name"]: f"{r['setting']}{r['unit'] or ''}" for r in rows}
    return {"services": dict(bench.platform.extra_env), "postgres": postgres}


async def seed(bench: Bench, progress: Progress) -> None:
    """A tenant, its products, and partners who registered, activated their account and logged in."""
    api = Api(bench.http, bench.gateway, bench.platform.stack, bench.platform.platform_key)
    progress(f"seeding tenant '{TENANT}', {len(PRODUCTS)} products, {PARTNERS} activated partners")
    admin = await api.create_tenant(TENANT)
    for code, price in PRODUCTS:
        await api.create_product(admin, code, price)
    emails = [f"partner{i:02d}-{uuid.uuid4().hex[:6]}@bench.test" for i in range(PARTNERS)]
    accounts = await asyncio.gather(*(api.register_and_activate(TENANT, email) for email in emails))
    bench.partners = [
        Partner(email, token, str(account_id))
        for email, (account_id, token) in zip(emails, accounts, strict=True)
    ]
    # One order per partner: waits until ordering's read model knows the products, warms every path.
    for partner in bench.partners:
        await api.order(partner.token, ORDER_LINES, key=uuid.uuid4().hex)
    await bench.drain(progress)


# --- memory ---


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemoryWatch:
    """Samples every service's RSS; keeps the peak over each named phase."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.peaks: dict[str, float] = {}

    def sample(self) -> dict[str, float]:
        return {name: rss_mb(child.proc.pid) for name, child in self.platform.children.items()}

    @contextlib.asynccontextmanager
    async def peak(self) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                for name, value in self.sample().items():
                    self.peaks[name] = max(self.peaks.get(name, 0.0), value)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            stop.set()
            await task


# --- the measurements ---


async def submission_alone(bench: Bench, rate: int, seconds: float, progress: Progress) -> dict[str, Any]:
    """Orders at a steady rate with the consumers of orders paused: the CPU of submitting them
    (gateway, ordering and its relay, PostgreSQL, the broker taking the events) per order."""
    await bench.relogin()
    await bench.drain(progress)
    progress(
        f"order submission alone: {rate}/s for {seconds:.0f} s, {' and '.join(cpu.ORDER_CONSUMERS)} paused"
    )
    with cpu.paused(bench.platform, cpu.ORDER_CONSUMERS):
        async with cpu.measured(bench.meter) as used:
            result = await run_load_async(
                LoadSpec(bench.gateway, bench.order_requests(), seconds, rate=rate, idempotency_key=True)
            )
            await bench.relayed(progress)  # the relay's last batch too
    progress("  letting the paused consumers catch up")
    await bench.drain(progress)
    return {
        "target_per_s": rate,
        "submission": result.summary(window_s=seconds),
        "cpu": cpu.account(used["cpu"], used["elapsed_s"], per=len(result.samples)),
    }


async def flame_graphs(
    bench: Bench, rate: int, seconds: float, folder: Path, fmt: str, progress: Progress
) -> list[str]:
    """Orders at a steady rate while py-spy samples every Python process: one flame graph each."""
    await bench.relogin()
    progress(f"flame graphs: {rate} orders/s for {seconds:.0f} s under py-spy, into {folder}")
    with cpu.flame_graphs(bench.platform, folder, seconds, fmt) as written:
        await run_load_async(
            LoadSpec(bench.gateway, bench.order_requests(), seconds, rate=rate, idempotency_key=True)
        )
    await bench.drain(progress)
    return [str(path) for path in written]


def _rate_row(rate: float, seconds: float, result: LoadResult) -> dict[str, Any]:
    return {"target_per_s": rate, **result.summary(window_s=seconds)}


async def order_ramp(
    bench: Bench, rates: list[int], seconds: float, p99_limit_ms: float, progress: Progress
) -> list[dict[str, Any]]:
    """Orders at rising rates, until p99 passes the limit or errors appear."""
    rows: list[dict[str, Any]] = []
    for rate in rates:
        await bench.relogin()
        progress(f"orders: {rate}/s for {seconds:.0f} s, open loop")
        result = await run_load_async(
            LoadSpec(
                bench.gateway,
                bench.order_requests(),
                seconds,
                rate=rate,
                idempotency_key=True,
                warmup_s=WARMUP_S,
            )
        )
        row = _rate_row(rate, seconds, result)
        rows.append(row)
        progress(
            f"  → {row['achieved_per_s']:.0f} orders/s, p50 {row['p50_ms']:.1f} ms,"
            f" p99 {row['p99_ms']:.1f} ms, {row['errors']} errors"
        )
        progress("  letting the pipeline drain before the next rate")
        await bench.drain(progress)
        if row["errors"] or not row["p99_ms"] <= p99_limit_ms:
            break
    return rows


async def checkout_ramp(
    bench: Bench, rates: list[int], seconds: float, p99_limit_ms: float, progress: Progress
) -> list[dict[str, Any]]:
    """Checkout in two steps at rising rates: quotes of the partners' lines at `rate`/s, then the
    confirmation of each of those quotes at the same rate (each a fresh order). Each step's latency,
    until a step's p99 passes the limit or errors appear."""
    rows: list[dict[str, Any]] = []
    for rate in rates:
        await bench.relogin()
        progress(f"checkout: {rate} quotes/s for {seconds:.0f} s, open loop")
        quoting = await run_load_async(
            LoadSpec(bench.gateway, bench.quote_requests(), seconds, rate=rate, idempotency_key=True)
        )
        quotes = [s.body["quote_id"] for s in quoting.ok if s.body and "quote_id" in s.body]
        owners = dict(
            await bench.db.fetch(
                f"SELECT quote_id::text, account_id FROM {bench.table('ordering', 'quotes')}"
                " WHERE quote_id = ANY($1::uuid[])",
                quotes,
            )
        )
        tokens = {p.account_id: p.token for p in bench.partners}
        confirms = [
            Request(
                f"/api/ordering/checkout/quotes/{quote_id}/confirm",
                "POST",
                {"Authorization": f"Bearer {tokens[owners[quote_id]]}"},
                {},
            )
            for quote_id in quotes
        ]
        progress(f"  confirming the {len(confirms)} quotes at {rate}/s")
        confirming = await run_load_async(
            LoadSpec(bench.gateway, confirms, len(confirms) / rate, rate=rate, idempotency_key=True)
        )
        row = {
            "quote": _rate_row(rate, seconds, quoting),
            "confirm": _rate_row(rate, len(confirms) / rate, confirming),
        }
        rows.append(row)
        progress(
            f"  → quote p99 {row['quote']['p99_ms']:.1f} ms ({row['quote']['errors']} errors),"
            f" confirm p99 {row['confirm']['p99_ms']:.1f} ms ({row['confirm']['errors']} errors)"
        )
        await bench.drain(progress)
        worst = max(row["quote"]["p99_ms"], row["confirm"]["p99_ms"])
        if row["quote"]["errors"] or row["confirm"]["errors"] or not worst <= p99_limit_ms:
            break
    return rows


BALANCE_BUYERS = 50
TOP_UP_MINOR = 1_000_000  # 10,000.00: enough for every order a buyer places in the spending run


async def balance(bench: Bench, seconds: float, progress: Progress) -> dict[str, Any]:
    """The account balance: `BALANCE_BUYERS` partners of one organisation top up by card at the fake
    provider (ten at a time), each timed from her payment to her balance showing it; then all of them
    order from their balance at once, back to back, for `seconds` (closed loop). Afterwards, every
    balance must still be the sum of its entries and none below zero."""
    api = Api(bench.http, bench.gateway, bench.platform.stack, bench.platform.platform_key)
    admin = await api.login(TENANT, f"admin@{TENANT}.test")
    modes = {"payment_modes": ["cash_on_delivery", "account_balance"]}  # the default stays
    await api.call("PUT", "/api/ordering/checkout/settings", token=admin, expect=200, json=modes)
    organisation = await api.organisation(admin, f"BAL-{uuid.uuid4().hex[:6]}")
    progress(f"balance: {BALANCE_BUYERS} partners of one organisation top up by card")
    emails = [f"buyer{i:02d}-{uuid.uuid4().hex[:6]}@bench.test" for i in range(BALANCE_BUYERS)]
    for email in emails:
        await api.invite(admin, email, "partner", organisation)
    tokens = await asyncio.gather(*(api.login(TENANT, email) for email in emails))

    async def top_up(token: str) -> tuple[float, float]:
        """(ms to start the top-up, ms from paying to the balance showing it)."""
        started_at = time.perf_counter()
        _, started = await api.call(
            "POST",
            "/api/ordering/balance/top-ups",
            token=token,
            expect=201,
            json={"amount_minor": TOP_UP_MINOR},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        paying_at = time.perf_counter()
        async with bench.http.post(started["redirect_url"], json={"card": PAYS}) as paid:
            assert paid.status == 200, await paid.text()
        while True:
            _, held = await api.call("GET", "/api/ordering/balance?limit=1", token=token, expect=200)
            if held["balance_minor"] >= TOP_UP_MINOR:
                break
            await asyncio.sleep(0.002)
        done = time.perf_counter()
        return (paying_at - started_at) * 1000, (done - paying_at) * 1000

    gate = asyncio.Semaphore(10)

    async def limited(token: str) -> tuple[float, float]:
        async with gate:
            return await top_up(token)

    timings = await asyncio.gather(*(limited(token) for token in tokens))
    top_ups = {
        "buyers": BALANCE_BUYERS,
        "start": percentiles([t[0] for t in timings]),
        "paid_to_visible": percentiles([t[1] for t in timings]),
    }
    progress(
        f"  → start p99 {top_ups['start']['p99_ms']:.1f} ms,"
        f" paid → balance visible p99 {top_ups['paid_to_visible']['p99_ms']:.1f} ms"
    )

    progress(f"  {BALANCE_BUYERS} buyers order from their balance at once for {seconds:.0f} s, closed loop")
    orders = [
        Request(
            "/api/ordering/orders",
            "POST",
            {"Authorization": f"Bearer {token}"},
            {"lines": ORDER_LINES, "payment_mode": "account_balance"},
        )
        for token in tokens
    ]
    spending = await run_load_async(
        LoadSpec(bench.gateway, orders, seconds, concurrency=BALANCE_BUYERS, idempotency_key=True)
    )
    spend = spending.summary()
    ledger = await bench.db.fetchrow(
        f"SELECT (SELECT count(*) FROM {bench.table('ordering', 'balances')} b"
        f"  WHERE b.balance_minor <> (SELECT coalesce(sum(e.amount_minor), 0)"
        f"   FROM {bench.table('ordering', 'balance_entries')} e"
        "   WHERE e.tenant_id = b.tenant_id AND e.account_id = b.account_id)) AS off_sum,"
        f" (SELECT count(*) FROM {bench.table('ordering', 'balances')} WHERE balance_minor < 0) AS negative"
    )
    assert ledger is not None
    progress(
        f"  → {spend['achieved_per_s']:.0f} orders/s paid from balances, p50 {spend['p50_ms']:.1f} ms,"
        f" p99 {spend['p99_ms']:.1f} ms, {spend['errors']} errors; balances off their entries:"
        f" {ledger['off_sum']}, negative: {ledger['negative']}"
    )
    await bench.drain(progress)
    return {
        "top_ups": top_ups,
        "spend": spend,
        "balances_off_their_entries": ledger["off_sum"],
        "negative_balances": ledger["negative"],
    }


async def catalog_reads(bench: Bench, rate: int, seconds: float, progress: Progress) -> dict[str, Any]:
    await bench.relogin()
    progress(f"catalog read by code: {rate}/s for {seconds:.0f} s")
    requests = [
        Request(f"/api/catalog/products/by-code/{code}", headers={"Authorization": f"Bearer {p.token}"})
        for p in bench.partners
        for code, _ in PRODUCTS
    ]
    result = await run_load_async(LoadSpec(bench.gateway, requests, seconds, rate=rate, warmup_s=WARMUP_S))
    return _rate_row(rate, seconds, result)


async def logins(bench: Bench, rate: int, seconds: float, progress: Progress) -> dict[str, Any]:
    progress(f"login: {rate}/s for {seconds:.0f} s")
    requests = [
        Request(
            "/api/identity/sessions",
            "POST",
            json={"tenant_id": TENANT, "email": p.email, "password": PASSWORD},
        )
        for p in bench.partners
    ]
    before = await loop_lag_buckets(bench.http, bench.platform.url("identity"))
    result = await run_load_async(LoadSpec(bench.gateway, requests, seconds, rate=rate, warmup_s=WARMUP_S))
    after = await loop_lag_buckets(bench.http, bench.platform.url("identity"))
    return _rate_row(rate, seconds, result) | {"identity_loop_lag": lag_summary(before, after)}


async def loop_lag_buckets(http: aiohttp.ClientSession, service_url: str) -> dict[float, float]:
    """The cumulative buckets of a service's event-loop lag histogram (upper bound in s → count)."""
    async with http.get(f"{service_url}/metrics") as resp:
        text = await resp.text()
    buckets = {}
    for line in text.splitlines():
        if line.startswith("comptoir_event_loop_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def lag_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """Probes taken between two scrapes, and the bucket bounds holding their p50, p99 and maximum
    (a histogram gives bounds, not exact values: "≤ 5 ms")."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts.get(float("inf"), 0.0)

    def bound_of(share: float) -> float:
        return next((b for b, c in counts.items() if total and c >= share * total), float("inf"))

    worst = next((b for b, c in counts.items() if c >= total), float("inf"))
    return {
        "probes": total,
        "p50_le_ms": bound_of(0.5) * 1000,
        "p99_le_ms": bound_of(0.99) * 1000,
        "max_le_ms": worst * 1000,
    }


@contextlib.asynccontextmanager
async def backlog_watch(bench: Bench, every: float = 0.5) -> AsyncIterator[list[dict[str, float]]]:
    """Every `every` seconds: orders not yet relayed (relay backlog), not yet credited by loyalty
    and not yet emailed by notify (consumer lag, in orders)."""
    samples: list[dict[str, float]] = []
    base = await bench.counts()
    start = time.monotonic()
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            c = await bench.counts()
            samples.append(
                {
                    "at_s": time.monotonic() - start,
                    "orders": c["orders"] - base["orders"],
                    "relay_backlog": c["orders"] - c["relayed"],
                    "loyalty_lag": c["orders"] - c["points"],
                    "notify_lag": c["orders"] - c["emails"],
                }
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    task = asyncio.create_task(loop())
    try:
        yield samples
    finally:
        stop.set()
        await task


# Notify keeps no order id on a sent message: its source event is ordering's outbox row of the order's
# confirmation, the last of the two rows its transaction wrote (submitted, then confirmed). An order
# submitted through POST /orders is confirmed in that same transaction: `submitted_at` is the moment.
_PIPELINE = """
SELECT o.order_id, extract(epoch FROM o.submitted_at) AS submitted,
       extract(epoch FROM ob.published_at) AS published,
       extract(epoch FROM l.created_at) AS points, extract(epoch FROM m.created_at) AS queued,
       extract(epoch FROM m.sent_at) AS email
FROM {orders} o
LEFT JOIN (
    SELECT DISTINCT ON (key) key, event_id, published_at FROM {outbox}
    WHERE topic = 'ordering.order.v1' ORDER BY key, id DESC
) ob ON ob.key = o.order_id::text
LEFT JOIN {ledger} l ON l.cause_id = o.order_id::text AND l.kind = 'earn' AND l.cause_type = 'order'
LEFT JOIN {messages} m ON m.kind = 'order_copy' AND m.source_event_id = ob.event_id
WHERE o.order_id = ANY ($1::uuid[])
ORDER BY o.submitted_at
"""


def _after(row: asyncpg.Record, column: str) -> float | None:
    """Milliseconds from the order's submission to `column`, None when it has not happened."""
    value = row[column]
    return None if value is None else (float(value) - float(row["submitted"])) * 1000


async def pipeline(bench: Bench, rate: int, seconds: float, progress: Progress) -> dict[str, Any]:
    """Orders at a steady rate; per order, its commit → points credited and → email handed to SMTP."""
    await bench.relogin()
    progress(f"event pipeline: {rate} orders/s for {seconds:.0f} s")
    statements = cpu.Statements(bench.db, bench.platform)
    await statements.reset()
    async with cpu.measured(bench.meter) as used, backlog_watch(bench) as backlog:
        result = await run_load_async(
            LoadSpec(
                bench.gateway,
                bench.order_requests(),
                seconds,
                rate=rate,
                idempotency_key=True,
                warmup_s=WARMUP_S,
            )
        )
        progress("  waiting for every order's points and email")
        drained = await bench.drain(progress, timeout=90)
    counted = result.warmup_ok + len(result.ok)  # warm-up orders cost CPU too
    order_ids = [uuid.UUID(s.body["order_id"]) for s in result.ok if s.body]
    rows = await bench.db.fetch(
        _PIPELINE.format(
            orders=bench.table("ordering", "orders"),
            outbox=bench.table("ordering", "outbox"),
            ledger=bench.table("loyalty", "ledger"),
            messages=bench.table("notify", "messages"),
        ),
        order_ids,
    )
    start = float(rows[0]["submitted"]) if rows else 0.0
    series = [
        {
            "at_s": float(r["submitted"]) - start,
            "published_ms": _after(r, "published"),
            "points_ms": _after(r, "points"),
            "queued_ms": _after(r, "queued"),
            "email_ms": _after(r, "email"),
        }
        for r in rows
    ]
    queued = [s["queued_ms"] for s in series if s["queued_ms"] is not None]
    points = [s["points_ms"] for s in series if s["points_ms"] is not None]
    emails = [s["email_ms"] for s in series if s["email_ms"] is not None]
    published = [s["published_ms"] for s in series if s["published_ms"] is not None]
    return {
        "target_per_s": rate,
        "seconds": seconds,
        "submission": result.summary(window_s=seconds),
        "orders": len(rows),
        "drained": drained,
        "points_missing": len(rows) - len(points),
        "emails_missing": len(rows) - len(emails),
        "order_to_published": percentiles(published),
        "order_to_points": percentiles(points),
        "order_to_queued": percentiles(queued),  # notify composed it; then its dispatcher sends it
        "order_to_email": percentiles(emails),
        # From the first order to the last email: the machine's busy share of all its cores, and
        # each kind of process's CPU per order.
        "cpu": cpu.account(used["cpu"], used["elapsed_s"], per=counted),
        "statements": await statements.per_order(counted),
        "series": series,
        "backlog": backlog,
    }


# --- the web portal ---

PORTAL_PARTNERS = 5
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


async def _portal_session(bench: Bench, partner: Partner) -> str:
    """Sign a partner in through the portal's form, as a browser does; the session cookie's value."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{bench.gateway}/{TENANT}/sign-in") as resp:
            found = CSRF_FIELD.search(await resp.text())
            assert found, "no CSRF field on the sign-in page"
        form = {"_csrf": found.group(1), "login": partner.email, "password": PASSWORD}
        async with browser.post(
            f"{bench.gateway}/{TENANT}/sign-in", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 303, await resp.text()
        return next(c.value for c in browser.cookie_jar if c.key == "comptoir_session")


async def portal_pages(bench: Bench, rate: int, seconds: float, progress: Progress) -> dict[str, Any]:
    """The catalog page and an order's page at `rate` pages/s each, through the gateway, signed in:
    latency, and the portal's CPU per page (the platform's too: each page calls the API)."""
    await bench.relogin()
    api = Api(bench.http, bench.gateway, bench.platform.stack, bench.platform.platform_key)
    partners = bench.partners[:PORTAL_PARTNERS]
    cookies = [await _portal_session(bench, p) for p in partners]
    orders = [await api.order(p.token, ORDER_LINES) for p in partners]
    pages = {
        "catalog": [f"/{TENANT}/catalog" for _ in partners],
        "order": [f"/{TENANT}/orders/{order['order_id']}" for order in orders],
    }
    out: dict[str, Any] = {}
    for name, paths in pages.items():
        progress(f"portal: the {name} page at {rate}/s for {seconds:.0f} s")
        requests = [
            Request(path, headers={"Cookie": f"comptoir_session={cookie}"})
            for path, cookie in zip(paths, cookies, strict=True)
        ]
        async with cpu.measured(bench.meter) as m:
            result = await run_load_async(
                LoadSpec(bench.gateway, requests, seconds, rate=rate, warmup_s=WARMUP_S)
            )
        pages_done = max(len(result.ok), 1)
        account = cpu.account(m["cpu"], m["elapsed_s"], per=pages_done)
        out[name] = _rate_row(rate, seconds, result) | {
            "portal_cpu_ms_per_page": account["platform"].get("portal", 0.0),
            "platform_cpu_ms_per_page": account["platform_ms"],
        }
        row = out[name]
        progress(
            f"  → p99 {row['p99_ms']:.1f} ms, portal {row['portal_cpu_ms_per_page']:.2f} ms CPU/page,"
            f" platform {row['platform_cpu_ms_per_page']:.1f} ms/page, {row['errors']} errors"
        )
    out["portal_rss_mb"] = rss_mb(bench.platform.children["portal"].proc.pid)
    return out


COUNTER_RATE = 50  # card scans/s: the rate of the counter's target
COUNTER_CUSTOMERS = 200
CODE_RACERS = 100


async def counter(bench: Bench, seconds: float, progress: Progress) -> dict[str, Any]:
    """The shop counter: a shop's staff record purchases on `COUNTER_CUSTOMERS` cards at
    `COUNTER_RATE` scans/s (open loop), each answered with the points earned and the balance after
    them (scan → points visible), with the platform's CPU per scan; then `CODE_RACERS` redemptions of
    one voucher's code at once: exactly one must win."""
    api = Api(bench.http, bench.gateway, bench.platform.stack, bench.platform.platform_key)
    admin = await api.login(TENANT, f"admin@{TENANT}.test")
    _, shop = await api.call(
        "POST",
        "/api/identity/organisations",
        token=admin,
        expect=201,
        json={"name": f"Shop {uuid.uuid4().hex[:6]}", "kind": "shop"},
    )
    staff = f"staff-{uuid.uuid4().hex[:6]}@bench.test"
    await api.invite(admin, staff, "shop", shop["organisation_id"])
    rule = {"name": "1 point per euro", "earns": "per_amount", "points": 1}
    await api.call("POST", "/api/loyalty/counter/rules", token=admin, expect=201, json=rule)
    progress(f"counter: {COUNTER_CUSTOMERS} customers with cards")
    prefix = uuid.uuid4().hex[:6].upper()
    cards = [f"B{prefix}{i:05d}" for i in range(COUNTER_CUSTOMERS)]
    gate = asyncio.Semaphore(10)

    async def register(card: str) -> None:
        async with gate:
            body = {"email": f"{card.lower()}@bench.test", "display_name": card, "card_number": card}
            await api.call("POST", "/api/identity/accounts/customers", token=admin, expect=201, json=body)

    await asyncio.gather(*(register(card) for card in cards))
    token = await api.login(TENANT, staff)

    async def known() -> bool:
        status, _ = await api.call("GET", f"/api/loyalty/cards/{cards[-1]}", token=token)
        return status == 200

    await eventually(known, "the customers' cards known to loyalty", timeout=60)
    scans = [
        Request(
            f"/api/loyalty/cards/{card}/visits",
            "POST",
            {"Authorization": f"Bearer {token}"},
            {"kind": "purchase", "amount_minor": 4590},
        )
        for card in cards
    ]
    progress(f"  purchases at the counter: {COUNTER_RATE} scans/s for {seconds:.0f} s, open loop")
    async with cpu.measured(bench.meter) as used:
        result = await run_load_async(
            LoadSpec(
                bench.gateway, scans, seconds, rate=COUNTER_RATE, idempotency_key=True, warmup_s=WARMUP_S
            )
        )
    account = cpu.account(used["cpu"], used["elapsed_s"], per=max(len(result.ok), 1))
    row = _rate_row(COUNTER_RATE, seconds, result) | {
        "platform_cpu_ms_per_scan": account["platform_ms"],
        "loyalty_cpu_ms_per_scan": account["platform"].get("loyalty", 0.0),
    }
    progress(
        f"  → scan → points visible p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms,"
        f" {row['platform_cpu_ms_per_scan']:.1f} ms CPU/scan (loyalty {row['loyalty_cpu_ms_per_scan']:.1f}),"
        f" {row['errors']} errors"
    )

    # One customer takes a reward online; then many tills try her code at once.
    program = {"title": "Bench gift", "kind": "gift", "gift": "A pen", "points_cost": 1}
    _, made = await api.call("POST", "/api/loyalty/counter/programs", token=admin, expect=201, json=program)
    racer = f"racer-{prefix.lower()}@bench.test"
    await api.invite(admin, racer, "customer", card_number=f"R{prefix}")
    customer_token = await api.login(TENANT, racer)

    async def card_known() -> bool:
        status, _ = await api.call("GET", f"/api/loyalty/cards/R{prefix}", token=token)
        return status == 200

    await eventually(card_known, "the racer's card", timeout=60)
    await api.call(
        "POST",
        f"/api/loyalty/cards/R{prefix}/visits",
        token=token,
        expect=201,
        json={"kind": "purchase", "amount_minor": 1000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    _, voucher = await api.call(
        "POST",
        f"/api/loyalty/rewards/{made['program_id']}/vouchers",
        token=customer_token,
        expect=201,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )

    async def redeem() -> int:
        async with bench.http.post(
            bench.gateway + "/api/loyalty/vouchers/redemptions",
            json={"code": voucher["code"]},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            return resp.status

    progress(f"  {CODE_RACERS} redemptions of one code at once")
    statuses = await asyncio.gather(*(redeem() for _ in range(CODE_RACERS)))
    race = {"racers": CODE_RACERS, "won": statuses.count(200), "refused_409": statuses.count(409)}
    others = CODE_RACERS - race["won"] - race["refused_409"]
    progress(f"  → {race['won']} won, {race['refused_409']} refused (409), others: {others}")
    await bench.drain(progress)
    return {"scans": row, "code_race": race}


LOYALTY_CHECKOUT_RATE = 50  # checkouts/s: the rate of the saga's target
LOYALTY_BUYERS = 50
# Each checkout crosses two consumers before it is confirmed. After a quiet spell a consumer fetches
# with its idle wait (1 s), which the local broker holds up to half of before answering even when data
# comes (a Kafka broker answers at once): the first second's checkouts wait on that, and the backlog
# it leaves takes another second to clear. Two seconds at the rate, not counted, reported apart.
LOYALTY_WARMUP_S = 2.0
GIFT_CARD_MINOR = 100_000  # each buyer's card: 1,000.00, 1.00 taken per checkout


async def loyalty_checkout(
    bench: Bench, seconds: float, progress: Progress, rate: int = LOYALTY_CHECKOUT_RATE
) -> dict[str, Any]:
    """Paying with loyalty end to end: `LOYALTY_BUYERS` partners, each with points and a gift card of
    her own, check out at `rate`/s (open loop) paying 1 point and 1.00 of the card: a quote, its
    confirmation with the card's number and PIN, then the order read with `Prefer: wait=5` (answered
    once ordering and loyalty have agreed) until confirmed. Timed from the quote to the order seen
    confirmed, with the platform's CPU and PostgreSQL's statements per checkout."""
    api = Api(bench.http, bench.gateway, bench.platform.stack, bench.platform.platform_key)
    await bench.relogin()
    admin = await api.login(TENANT, f"admin@{TENANT}.test")
    buyers = bench.partners[:LOYALTY_BUYERS]
    count, warm = int(rate * seconds), int(rate * LOYALTY_WARMUP_S)
    per_buyer = (count + warm) // len(buyers) + 2  # each checkout spends 1 point
    progress(f"loyalty checkout: {len(buyers)} buyers earn points and get a gift card")

    async def balance(buyer: Partner) -> int:
        _, account = await api.call("GET", "/api/loyalty/accounts/me", token=buyer.token)
        return int(account.get("balance", 0)) if account else 0

    async def earned(buyer: Partner, points: int) -> bool:
        return await balance(buyer) >= points

    # What one order of ORDER_LINES earns depends on the tenant's rule: read it off the first one,
    # then every buyer orders as many times as her checkouts need.
    await api.order(buyers[0].token, ORDER_LINES)
    await eventually(functools.partial(earned, buyers[0], 1), "the first buyer's points", timeout=60)
    orders = -(-per_buyer // await balance(buyers[0]))
    for i, buyer in enumerate(buyers):
        for _ in range(orders - (i == 0)):
            await api.order(buyer.token, ORDER_LINES)
    for buyer in buyers:
        await eventually(functools.partial(earned, buyer, per_buyer), "the buyers' points", timeout=60)
    cards = []
    for _ in buyers:
        _, card = await api.call(
            "POST",
            "/api/loyalty/gift-cards/sales",
            token=admin,
            expect=201,
            json={"amount_minor": GIFT_CARD_MINOR},
        )
        cards.append({"number": card["number"], "pin": card["pin"]})
    latencies: list[float] = []
    warming: list[float] = []  # the warm-up's checkouts, reported apart
    errors: list[str] = []

    async def checkout(i: int) -> None:
        buyer, card = buyers[i % len(buyers)], cards[i % len(buyers)]
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {buyer.token}"}
        ask = {"lines": ORDER_LINES, "points": 1, "gift_card_minor": 100}
        try:
            async with bench.http.post(
                bench.gateway + "/api/ordering/checkout/quotes", json=ask, headers=headers
            ) as r:
                quote = await r.json()
                if r.status != 201:
                    raise AssertionError(f"quote {r.status}")
            path = f"/api/ordering/checkout/quotes/{quote['quote_id']}/confirm"
            async with bench.http.post(bench.gateway + path, json={"gift_card": card}, headers=headers) as r:
                order = await r.json()
                if r.status != 201:
                    raise AssertionError(f"confirm {r.status}")
            while True:  # each read answers once the order has left `pending`, or after 5 s
                async with bench.http.get(
                    bench.gateway + f"/api/ordering/orders/{order['order_id']}",
                    headers=headers | {"Prefer": "wait=5"},
                ) as r:
                    status = (await r.json())["status"]
                if status == "confirmed":
                    break
                if status != "pending" or time.monotonic() - started > 30:
                    raise AssertionError(f"order {status}")
        except (AssertionError, aiohttp.ClientError, KeyError) as failed:
            errors.append(str(failed))
            return
        (warming if i < warm else latencies).append((time.monotonic() - started) * 1000)

    statements = cpu.Statements(bench.db, bench.platform)
    await statements.reset()
    progress(
        f"  checkouts with 1 point and 1.00 of a gift card: {rate}/s for {LOYALTY_WARMUP_S:g} s (warm-up),"
        f" then {seconds:.0f} s"
    )
    async with cpu.measured(bench.meter) as used:
        began, running = time.monotonic(), []
        for i in range(warm + count):
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            running.append(asyncio.create_task(checkout(i)))
        await asyncio.gather(*running)
    done = max(len(warming) + len(latencies), 1)  # the warm-up's checkouts cost CPU too
    account = cpu.account(used["cpu"], used["elapsed_s"], per=done)
    row = {
        "target_per_s": rate,
        "checkouts": count,
        "errors": len(errors),
        **percentiles(latencies),
        "warmup": {"seconds": LOYALTY_WARMUP_S, "ok": len(warming), **percentiles(warming)},
        "platform_cpu_ms_per_checkout": account["platform_ms"],
        "per_service_cpu_ms": account["platform"],
        "statements": await statements.per_order(done),
    }
    progress(
        f"  → quote → order confirmed p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms"
        f" (warm-up p99 {row['warmup']['p99_ms']:.1f} ms),"
        f" {row['platform_cpu_ms_per_checkout']:.1f} ms CPU/checkout, {row['errors']} errors"
    )
    await bench.drain(progress)
    return row
