"""Limits of this machine, measured in the same run as the services.

- pgbench on the stack's PostgreSQL runs the SQL of one order submission, as ordering runs it
  (services/ordering/api.py `submit_order`): in one transaction, the idempotency claim, the pricing
  read, the order, its lines, the outbox row with its NOTIFY, and the stored idempotent response.
  The statements are taken from the code; their values are those of a real two-line order.
- An aiohttp hello-world in its own process, driven by the load generator in another.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.load import LoadSpec, Request, run_load_async
from libs.common import outbox
from libs.common.db import (
    create_pool,
    drop_service,
    migrate,
    provision_service,
    service_migrations,
    url_for_role,
)
from libs.common.events import envelope
from libs.common.idempotency import fingerprint
from libs.devstack.postgres import _pginstall
from libs.devstack.processes import free_port, port_is_open
from services.ordering import store
from services.ordering.api import OrderView, SubmitOrder
from services.ordering.domain import Order, PricedLine
from services.ordering.events import SERVICE, OrderSubmitted, SubmittedLine

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench"
PRODUCTS = [("BENCH-1", "Crème bench 1", 1290), ("BENCH-2", "Sérum bench 2", 2450)]
# libs/common/idempotency.py `claim` and `remember` (inline there).
_CLAIM = (
    "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)"
    " ON CONFLICT DO NOTHING RETURNING true"
)
_REMEMBER = "UPDATE idempotency_keys SET status = $3, response = $4::jsonb WHERE scope = $1 AND key = $2"


def _literal(value: str) -> str:
    """A SQL string literal; pgbench would take `:word` inside it for a variable, so those colons
    end the literal and a concatenation carries on."""
    quoted = "'" + re.sub(r":(?=\w)", ":' || '", value.replace("'", "''")) + "'"
    return f"({quoted})" if "' || '" in quoted else quoted


def _array(values: list[str]) -> str:
    """An array of SQL string literals; the statement casts it to the column's type."""
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]"


def _bind(sql: str, *values: str) -> str:
    """`sql` with $1..$n replaced by SQL expressions, on one line, ending with a semicolon."""
    for n in range(len(values), 0, -1):
        sql = sql.replace(f"${n}", values[n - 1])
    return " ".join(sql.split()) + ";"


def order_script(product_ids: list[uuid.UUID]) -> str:
    """The pgbench script of one order submission (two lines), every id fresh per transaction."""
    lines = [
        PricedLine(
            product_id=pid,
            code=code,
            name=name,
            quantity=q,
            unit_price_minor=price,
            line_total_minor=q * price,
        )
        for pid, (code, name, price), q in zip(product_ids, PRODUCTS, (2, 1), strict=True)
    ]
    order = Order(
        order_id=uuid.uuid4(),
        tenant_id=TENANT,
        account_id="acct-0000000000000000",
        organisation_id=None,
        status="confirmed",
        lines=lines,
        total_minor=sum(line.line_total_minor for line in lines),
        currency="EUR",
        submitted_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    body = SubmitOrder.model_validate(
        {"lines": [{"code": "BENCH-1", "quantity": 2}, {"code": "BENCH-2", "quantity": 1}]}
    )
    event = envelope(
        SERVICE,
        OrderSubmitted(
            order_id=order.order_id,
            account_id=order.account_id,
            organisation_id=None,
            lines=[SubmittedLine.model_validate(line.model_dump()) for line in lines],
            total_minor=order.total_minor,
            currency=order.currency,
            submitted_at=order.submitted_at,
        ),
        subject=str(order.order_id),
        tenant_id=TENANT,
    )
    response = json.dumps(OrderView.of(order).model_dump(mode="json"))
    order_id = "md5(CAST(:client_id AS text) || '-' || CAST(:r AS text))::uuid"
    scope = _literal(f"{TENANT}:{order.account_id}:submit_order")
    key = "CAST(:r AS text)"
    statements = [
        "\\set r random(1, 4000000000000000000)",
        "BEGIN;",
        _bind(_CLAIM, scope, key, _literal(fingerprint(body.model_dump()))),
        # The checkout's read: the tenant's settings, zone, closed days and the buyer's default address.
        _bind(
            store._CONTEXT, _literal(TENANT), "(current_date - 1)", "'account'", _literal(order.account_id)
        ),
        _bind(store._OFFERS, _literal(TENANT), _literal("{BENCH-1,BENCH-2}"), "NULL", "now()"),
        _bind(
            store._INSERT_ORDER,
            order_id,
            _literal(TENANT),
            _literal(order.account_id),
            "NULL",
            "'confirmed'",
            str(order.total_minor),
            "'EUR'",
            "now()",
            "NULL",  # no reference
            _literal("{}"),  # the checkout's record, of the size that matters little here
            "'confirm'",
            _array([str(line.product_id) for line in lines]),
            _array([line.code for line in lines]),
            _array([line.name for line in lines]),
            _array([str(line.quantity) for line in lines]),
            _array([str(line.unit_price_minor) for line in lines]),
            _array([str(line.line_total_minor) for line in lines]),
            "ARRAY[" + ", ".join("NULL" for _ in lines) + "]",  # priced by no list: the base price
            _array(["0" for _ in lines]),
            _array(["false" for _ in lines]),
        ),
        _bind(
            outbox._APPEND,
            _literal(OrderSubmitted.topic),
            f"{order_id}::text",
            "md5(CAST(:client_id AS text) || '-e-' || CAST(:r AS text))::uuid",
            "'\\x" + event.to_bytes().hex() + "'::bytea",
            "'[]'",
        ),
        _bind(  # the confirmation, about twice the submission's size
            outbox._APPEND,
            _literal(OrderSubmitted.topic),
            f"{order_id}::text",
            "md5(CAST(:client_id AS text) || '-c-' || CAST(:r AS text))::uuid",
            "'\\x" + event.to_bytes().hex() * 2 + "'::bytea",
            "'[]'",
        ),
        _bind(_REMEMBER, scope, key, "201", _literal(response)),
        "COMMIT;",
    ]
    return "\n".join(statements) + "\n"


async def scratch_schema(admin_url: str) -> tuple[str, list[uuid.UUID]]:
    """A role and schema with ordering's tables (its migrations) and the products the script orders."""
    name = f"bench_pg_{uuid.uuid4().hex[:8]}"
    await provision_service(admin_url, role=name, schema=name)
    pool = await create_pool(url_for_role(admin_url, name), name, max_size=1)
    product_ids = [uuid.uuid4() for _ in PRODUCTS]
    try:
        async with pool.acquire() as conn:
            await migrate(conn, name, service_migrations(ROOT / "services" / "ordering"))
            for pid, (code, product_name, price) in zip(product_ids, PRODUCTS, strict=True):
                await conn.execute(
                    "INSERT INTO products (tenant_id, product_id, code, name, price_minor, currency, active,"
                    " version, changed_at) VALUES ($1, $2, $3, $4, $5, 'EUR', true, 1, now())",
                    TENANT,
                    pid,
                    code,
                    product_name,
                    price,
                )
    finally:
        await pool.close()
    return name, product_ids


def _pgbench(port: int, role: str, script: Path, clients: int, seconds: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            str(_pginstall() / "bin" / "pgbench"),
            *("-h", "127.0.0.1", "-p", str(port), "-U", role),
            *("-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)),
            *("-f", str(script)),
            "comptoir",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {proc.stderr[-2000:]}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", proc.stdout)
    failed = re.search(r"number of failed transactions: ([0-9]+)", proc.stdout)
    assert tps is not None, proc.stdout
    return {
        "clients": clients,
        "seconds": seconds,
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


async def pgbench_orders(
    admin_url: str, port: int, progress: Any, clients: tuple[int, ...] = (1, 16), seconds: int = 10
) -> dict[str, Any]:
    name, product_ids = await scratch_schema(admin_url)
    script = order_script(product_ids)
    results: dict[str, Any] = {"script": script}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "order.sql"
            path.write_text(script)
            for n in clients:
                progress(f"pgbench: one order submission's SQL, {n} client(s), {seconds} s")
                results[f"clients_{n}"] = await asyncio.to_thread(_pgbench, port, name, path, n, seconds)
        conn = await asyncpg.connect(admin_url)
        try:
            results["orders_written"] = await conn.fetchval(f"SELECT count(*) FROM {name}.orders")
        finally:
            await conn.close()
    finally:
        await drop_service(admin_url, role=name, schema=name)
    return results


async def hello_world(progress: Any, seconds: float = 5, workers: int = 64) -> dict[str, Any]:
    """Requests/s of an aiohttp hello-world in its own process, closed loop from the load generator."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.hello", str(port), cwd=ROOT)
    try:
        for _ in range(200):
            if port_is_open(port):
                break
            await asyncio.sleep(0.05)
        progress(f"aiohttp hello-world: {workers} concurrent requests back to back for {seconds:.0f} s")
        result = await run_load_async(
            LoadSpec(f"http://127.0.0.1:{port}", [Request("/")], seconds, concurrency=workers)
        )
        return result.summary() | {"workers": workers}
    finally:
        proc.terminate()
        await proc.wait()
