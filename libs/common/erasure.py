"""Erasure of a person's data from the backbone tables every schema carries.

A service that erases a person (on `identity.account.deleted`) clears its own tables itself, then
calls `scrub` with the personal values it held: the events, dead letters and remembered responses
that carried them are deleted. Values come in two kinds:

- identifiers (email, phone, passport, card number): unique to the person, so any row holding one
  is theirs, whatever it is about;
- details (names, birth date, address): common to many people ("Marie", "75011"), so they only
  condemn a row that is about this account (keyed by its id, or naming it).

The account id stays: without the erased data it identifies nobody.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

MIN_NEEDLE = 3  # shorter values (initials, a two-letter name) would match unrelated rows

# Outbox rows go whether published or not: an event about an erased person must not leave with
# their data, and once published it is kept only to republish after a broker loss.
_SCRUB = """
WITH ids AS (SELECT convert_to(n, 'UTF8') AS n FROM unnest($2::text[]) AS n),
details AS (SELECT convert_to(n, 'UTF8') AS n FROM unnest($3::text[]) AS n),
outbox_gone AS (
    DELETE FROM outbox o
    WHERE EXISTS (SELECT 1 FROM ids WHERE position(n IN o.payload) > 0)
       OR ((o.key = $1 OR position(convert_to($1, 'UTF8') IN o.payload) > 0)
           AND EXISTS (SELECT 1 FROM details WHERE position(n IN o.payload) > 0))
    RETURNING 1
),
dead_gone AS (
    DELETE FROM dead_letters d
    WHERE EXISTS (SELECT 1 FROM ids WHERE position(n IN d.payload) > 0)
       OR ((d.key = $1 OR position(convert_to($1, 'UTF8') IN d.payload) > 0)
           AND EXISTS (SELECT 1 FROM details WHERE position(n IN d.payload) > 0))
    RETURNING 1
),
responses_gone AS (
    DELETE FROM idempotency_keys k
    WHERE EXISTS (SELECT 1 FROM unnest($2::text[]) AS n WHERE strpos(k.response::text, n) > 0)
       OR ((strpos(k.scope, $1) > 0 OR strpos(k.response::text, $1) > 0)
           AND EXISTS (SELECT 1 FROM unnest($3::text[]) AS n WHERE strpos(k.response::text, n) > 0))
    RETURNING 1
)
SELECT (SELECT count(*) FROM outbox_gone) + (SELECT count(*) FROM dead_gone)
     + (SELECT count(*) FROM responses_gone)
"""


def needles(values: Iterable[object]) -> list[str]:
    """The values worth searching for: non-empty text of at least `MIN_NEEDLE` characters."""
    return sorted({str(v).strip() for v in values if v is not None and len(str(v).strip()) >= MIN_NEEDLE})


async def scrub(
    conn: asyncpg.Connection, account_id: str, identifiers: Iterable[object], details: Iterable[object] = ()
) -> int:
    """Delete the outbox rows, dead letters and remembered responses holding one of the person's
    identifiers, or one of their details in a row about `account_id` (in the caller's transaction);
    return how many rows went."""
    found_ids, found_details = needles(identifiers), needles(details)
    if not found_ids and not found_details:
        return 0
    return int(await conn.fetchval(_SCRUB, account_id, found_ids, found_details))


_FORGET_SECRETS = """
WITH requests_gone AS (
    DELETE FROM outbox WHERE key = $1 AND topic = ANY($2::text[]) RETURNING 1
),
responses_gone AS (
    DELETE FROM idempotency_keys WHERE strpos(scope, $1) > 0 RETURNING 1
)
SELECT (SELECT count(*) FROM requests_gone) + (SELECT count(*) FROM responses_gone)
"""


async def forget_secrets(conn: asyncpg.Connection, account_id: str, topics: Iterable[str]) -> int:
    """Delete what carried the person's secrets that no column holds in clear (codes and PINs are
    kept as digests): the outbox rows keyed by the account on these internal topics, sent or not
    (what was not sent never will be), and the responses remembered for the account's own
    requests. Returns how many rows went."""
    return int(await conn.fetchval(_FORGET_SECRETS, account_id, sorted(topics)))
