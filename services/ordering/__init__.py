"""Ordering service: carts, orders, approvals, balances and parties."""
