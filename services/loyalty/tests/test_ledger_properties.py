"""The ledger's invariants for any sequence of entries (hypothesis), on the real PostgreSQL: the
balance is always the sum of the member's entries, a cause is entered once, and nothing is ever
updated or deleted."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.loyalty import store
from services.loyalty.domain import reversal

pytestmark = pytest.mark.fast

# (what, points, cause): earn credits, spend debits what the balance holds, reverse takes back an
# earlier earning as far as the balance allows; a cause drawn twice is entered once.
Operation = tuple[str, int, int]
operations = st.lists(
    st.tuples(st.sampled_from(["earn", "spend", "reverse"]), st.integers(1, 1000), st.integers(0, 8)),
    max_size=25,
)


class _Rollback(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
async def test_the_balance_is_always_the_sum_of_the_entries(
    db: asyncpg.Connection, ops: list[Operation]
) -> None:
    try:
        async with db.transaction():  # each example leaves nothing behind
            expected, seen = 0, set()
            for what, points, cause in ops:
                account = await store.open_account(db, "t", "ana")
                if what == "earn":
                    entry = await store.post_entry(db, "t", "ana", "earn", points, "order", str(cause))
                elif what == "spend":
                    if points > account.balance:
                        continue  # the use cases refuse it: nothing is written
                    entry = await store.post_entry(db, "t", "ana", "redeem", -points, "reward", str(cause))
                else:
                    taken, shortfall = reversal(points, account.balance)
                    if taken == 0 and shortfall == 0:
                        continue
                    entry = await store.post_entry(
                        db, "t", "ana", "reverse", taken, "order-cancelled", str(cause), shortfall
                    )
                key = (what, cause)
                assert (entry is None) == (key in seen), "a cause is entered once"
                seen.add(key)
                if entry is not None:
                    expected += entry.points
                found = await store.find_account(db, "t", "ana")
                assert found is not None
                total = await db.fetchval(
                    "SELECT coalesce(sum(points), 0) FROM ledger WHERE account_id = 'ana'"
                )
                assert found.balance == total == expected and found.balance >= 0
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                async with db.transaction():
                    await db.execute("UPDATE ledger SET points = points + 1")
            raise _Rollback
    except _Rollback:
        pass
