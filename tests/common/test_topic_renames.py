"""Rows kept under the topic and event names used before internal topics were prefixed are renamed."""

from __future__ import annotations

import json
import uuid

import asyncpg

from libs.common.db import COMMON_MIGRATIONS, load_migrations, migrate
from libs.devstack.testing import Isolated


def _envelope(event_type: str) -> bytes:
    return json.dumps(
        {"id": str(uuid.uuid4()), "type": event_type, "dataschema": f"urn:comptoir:event:{event_type}:v1"},
        separators=(",", ":"),
    ).encode()


async def test_outbox_and_dead_letters_move_to_the_new_names(isolated: Isolated, pool: asyncpg.Pool) -> None:
    everything = load_migrations(("common", COMMON_MIGRATIONS))
    before = [m for m in everything if m.name < "common/0004"]
    async with pool.acquire() as conn:
        await migrate(conn, isolated.name, before)
        await conn.executemany(
            "INSERT INTO outbox (topic, key, payload, published_at) VALUES ($1, 'k', $2, now())",
            [
                ("identity.contact.v1", _envelope("identity.contact.changed")),
                ("identity.account.v1", _envelope("identity.account.membership.changed")),
                ("notify.requests.v1", _envelope("identity.activation.code.requested")),
                ("catalog.price.v1", _envelope("catalog.price-list.changed")),
                ("catalog.price.v1.dlq", b"\xff not json"),
                ("ordering.order.v1.dlq", b"\xff not json"),
            ],
        )
        await conn.execute(
            "INSERT INTO dead_letters (consumer, topic, key, status, event_id, event_type, partition,"
            " \"offset\", payload) VALUES ('ordering', 'catalog.price.v1', 'k', 'dead', $1,"
            " 'catalog.price-list.changed', 0, 7, $2)",
            uuid.uuid4(),
            _envelope("catalog.price-list.changed"),
        )
        await conn.execute("INSERT INTO outbox_relay_state (marker_offset) VALUES (41)")

        await migrate(conn, isolated.name, everything)

        outbox = [
            (row["topic"], json.loads(row["payload"])["type"] if row["payload"][:1] == b"{" else None)
            for row in await conn.fetch("SELECT topic, payload FROM outbox ORDER BY id")
        ]
        dead = await conn.fetchrow("SELECT topic, event_type, payload FROM dead_letters")
        markers = await conn.fetchval("SELECT count(*) FROM outbox_relay_state")
    assert outbox == [
        ("internal.identity.contact.v1", "identity.contact.changed"),
        ("identity.account.v1", "identity.account.membership_changed"),
        ("internal.notify.requests.v1", "identity.activation.code_requested"),
        ("catalog.price_list.v1", "catalog.price_list.changed"),
        ("internal.catalog.price_list.v1.dlq", None),
        ("internal.ordering.order.v1.dlq", None),
    ]
    assert (dead["topic"], dead["event_type"]) == ("catalog.price_list.v1", "catalog.price_list.changed")
    assert json.loads(dead["payload"])["dataschema"] == "urn:comptoir:event:catalog.price_list.changed:v1"
    assert markers == 0  # the marker topic is new: its first offset is no sign of a lost broker
