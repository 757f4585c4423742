"""Business limits on amounts: the largest money and quantities the platform accepts anywhere.

Far above any real order of a brand's partners, and far below what PostgreSQL's bigint holds, so no
sum of them can overflow. Each service enforces them where amounts come in (its request models, its
readings of other services' events, CHECK constraints); a later kind of amount (a gift card, a
voucher, a balance) takes the limit of its kind here rather than a number of its own.
docs/contracts.md states them.
"""

from __future__ import annotations

from typing import Final

MAX_UNIT_PRICE_MINOR: Final = 10**8
"""A unit price, in minor units (1,000,000.00 EUR)."""
MAX_ORDER_TOTAL_MINOR: Final = 10**11
"""An order's total, and so any of its line totals, in minor units (1,000,000,000.00 EUR)."""
MAX_LINE_QUANTITY: Final = 10**5
"""Units of one product on one order line."""
MAX_ENTRY_POINTS: Final = 10**9
"""Points moved by one ledger entry (an earning, a redemption, an adjustment)."""
MAX_BALANCE: Final = 10**12
"""Any balance, either way: points on an account, money on a gift card or a voucher."""
