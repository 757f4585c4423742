"""The order's life as one state machine: which action leads from which state to which."""

from __future__ import annotations

from typing import Literal

from libs.common.errors import Conflict

Status = Literal[
    "pending", "awaiting_approval", "refused", "confirmed", "cancelled", "shipped", "delivered", "returned"
]
"""Where an order stands. Before it is an order, the buyer's cart is priced as a quote. `pending`:
loyalty is asked to hold what pays part of it (points, a code, a gift card)."""

Action = Literal["reserve", "hold", "confirm", "approve", "refuse", "modify", "cancel", "ship", "deliver"]

# From each state, the actions allowed and the state each leads to. An order is created by `hold`
# (it waits for approval), `confirm` (it goes straight through) or `reserve` (it waits for loyalty,
# then is held or confirmed, or refused when loyalty refuses).
TRANSITIONS: dict[Status | None, dict[Action, Status]] = {
    None: {"hold": "awaiting_approval", "confirm": "confirmed", "reserve": "pending"},
    "pending": {
        "hold": "awaiting_approval",
        "confirm": "confirmed",
        "refuse": "refused",
        "cancel": "cancelled",
    },
    "awaiting_approval": {
        "approve": "confirmed",
        "refuse": "refused",
        "modify": "awaiting_approval",
        "cancel": "cancelled",
    },
    "confirmed": {"cancel": "cancelled", "ship": "shipped", "deliver": "delivered"},
    "shipped": {"deliver": "delivered"},
    "refused": {},
    "cancelled": {},
    "delivered": {},
    "returned": {},
}


class TransitionForbidden(Conflict):
    """The action does not apply to an order in its current state."""

    def __init__(self, status: Status, action: Action) -> None:
        super().__init__(
            "order-state-conflict",
            "The order is not in a state that allows this",
            f"an order that is {status.replace('_', ' ')} cannot be {PAST[action]}",
            extensions={"order_status": status},
        )
        self.status = status
        self.action = action


PAST: dict[Action, str] = {
    "reserve": "submitted for payment",
    "hold": "held for approval",
    "confirm": "confirmed",
    "approve": "approved",
    "refuse": "refused",
    "modify": "modified",
    "cancel": "cancelled",
    "ship": "shipped",
    "deliver": "delivered",
}


def next_status(status: Status | None, action: Action) -> Status:
    """The state `action` leads to from `status`, or TransitionForbidden (a 409 naming the state)."""
    allowed = TRANSITIONS[status]
    if action not in allowed:
        assert status is not None  # every action but hold/confirm needs an existing order
        raise TransitionForbidden(status, action)
    return allowed[action]


def first_action(threshold_minor: int | None, goods_minor: int, *, by_validator: bool) -> Action:
    """How a new order enters its life under its organisation's approval policy: it waits for a
    validator (`hold`) when the organisation has a policy, the orderer is not one of its validators
    and the goods (excluding VAT) exceed the threshold; a threshold of 0 holds every order."""
    if threshold_minor is None or by_validator:
        return "confirm"
    return "hold" if threshold_minor == 0 or goods_minor > threshold_minor else "confirm"
