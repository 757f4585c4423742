"""Erasure of a person's values from the backbone tables every schema carries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

from libs.common import erasure
from libs.common.db import COMMON_MIGRATIONS, load_migrations, migrate
from libs.devstack.testing import Isolated

EMAIL, PHONE, NAME = "claire@pharmacie.test", "+33612345678", "Клэр Дюпон"
ACCOUNT = "7d0c6f8e-5a1b-4c2d-9e3f-0a1b2c3d4e5f"


async def _backbone(isolated: Isolated, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, load_migrations(("common", COMMON_MIGRATIONS)))


async def _add_outbox(
    conn: asyncpg.Connection, data: dict[str, str], published: bool, key: str = ACCOUNT
) -> None:
    await conn.execute(
        "INSERT INTO outbox (topic, key, payload, published_at) VALUES ('t', $1, $2, $3)",
        key,
        json.dumps({"data": data}, ensure_ascii=False).encode(),
        datetime.now(UTC) if published else None,
    )


async def test_scrub_deletes_every_backbone_row_holding_a_personal_value_and_nothing_else(
    isolated: Isolated, pool: asyncpg.Pool
) -> None:
    await _backbone(isolated, pool)
    async with pool.acquire() as conn:
        await _add_outbox(conn, {"email": EMAIL}, published=True)
        await _add_outbox(conn, {"name": NAME}, published=False)  # non-ASCII, not yet published
        await _add_outbox(conn, {"email": "someone@else.test"}, published=True, key="other")
        # Someone else's event naming a common detail the person shares: not theirs, it stays.
        await _add_outbox(conn, {"name": NAME, "email": "namesake@else.test"}, published=False, key="other")
        # An event keyed otherwise but about this account (it names it) with one of their details.
        await _add_outbox(conn, {"account_id": ACCOUNT, "city": "Lyon"}, published=True, key="order-1")
        await conn.execute(
            """INSERT INTO dead_letters (consumer, topic, key, status, event_id, partition, "offset", payload)
               VALUES ('c', 't', 'k', 'dead', $1, 0, 1, $2)""",
            uuid.uuid4(),
            json.dumps({"phone": PHONE}).encode(),
        )
        await conn.execute(
            """INSERT INTO idempotency_keys (scope, key, request_hash, status, response)
               VALUES ('s', 'k1', 'h', 201, $1::jsonb), ('s', 'k2', 'h', 201, '{"id": 1}')""",
            json.dumps({"email": EMAIL}),
        )

        async with conn.transaction():
            scrubbed = await erasure.scrub(conn, ACCOUNT, [EMAIL, PHONE, None, "  "], [NAME, "Lyon", "Al"])
            assert scrubbed == 5

        left = [
            json.loads(bytes(row["payload"]))
            for row in await conn.fetch("SELECT payload FROM outbox ORDER BY id")
        ]
        assert left == [
            {"data": {"email": "someone@else.test"}},
            {"data": {"name": NAME, "email": "namesake@else.test"}},
        ]
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
        assert [r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")] == ["k2"]
        # Nothing left to find: a second pass (a redelivered deletion) does nothing.
        assert await erasure.scrub(conn, ACCOUNT, [EMAIL, PHONE], [NAME, "Lyon"]) == 0


def test_values_too_short_to_be_told_apart_are_not_searched() -> None:
    assert erasure.needles(["Al", None, " Bob ", "bob", 42, "Bob"]) == ["Bob", "bob"]
