"""Loyalty's HTTP API of vouchers: a member takes a reward online for a code; a shop redeems a code."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from libs.common import idempotency
from libs.common.api import AUTHENTICATED, Endpoint, owned
from libs.common.auth import principal
from libs.common.clock import now
from libs.common.errors import Conflict
from libs.common.http import json_response, read_json
from libs.common.runtime import POOL
from services.loyalty import counter, directory, store, vouchers
from services.loyalty.counter_api import STAFF, program_owner
from services.loyalty.directory import Member
from services.loyalty.rewards import Program
from services.loyalty.vouchers import Voucher

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40)]


class VoucherView(BaseModel):
    voucher_id: uuid.UUID = Field(description="The voucher")
    program_id: uuid.UUID = Field(description="The reward it comes from")
    code_hint: str = Field(description="The code's last four characters (the code is shown once)")
    points: int = Field(description="Points it cost")
    issued_at: datetime = Field(description="When (UTC)")
    expires_at: datetime = Field(description="When its code stops working (UTC)")
    redeemed_at: datetime | None = Field(description="When a shop used it; null while usable")

    @classmethod
    def of(cls, voucher: Voucher) -> VoucherView:
        return cls.model_validate(voucher.model_dump(include=set(cls.model_fields)))


class IssuedVoucher(VoucherView):
    code: str = Field(description="The single-use code: shown this once and emailed to her")


class VoucherList(RootModel[list[VoucherView]]):
    """The caller's vouchers, newest first."""


class RedeemVoucher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="The code as the customer gives it (case, dashes and spaces ignored)")
    shop_id: str | None = Field(None, description="For the manager: the shop; staff: their own")


class Nothing(BaseModel):
    """No body."""

    model_config = ConfigDict(extra="forbid")


async def take_online(request: web.Request) -> web.Response:
    caller = principal(request)
    program = owned(request, Program)
    conn = await idempotency.once(request, Nothing())
    member = await directory.member(conn, caller.tenant_id, caller.account_id) or Member(
        account_id=caller.account_id, roles=sorted(caller.roles), changed_at=now(request)
    )
    account = await store.open_account(conn, caller.tenant_id, caller.account_id)
    if account.closed:
        raise Conflict("account-closed", "Account closed", "this account was deleted")
    standing = await counter.standing(conn, caller.tenant_id, member, account.balance, None)
    voucher, code = await vouchers.issue(conn, caller.tenant_id, member, program, standing, now(request))
    return json_response(IssuedVoucher(**VoucherView.of(voucher).model_dump(), code=code), status=201)


async def my_vouchers(request: web.Request) -> web.Response:
    caller = principal(request)
    found = await vouchers.of_member(request.app[POOL], caller.tenant_id, caller.account_id)
    return json_response(VoucherList([VoucherView.of(v) for v in found]))


async def redeem(request: web.Request) -> web.Response:
    caller = principal(request)
    body = await read_json(request, RedeemVoucher)
    shop_id = body.shop_id if caller.has_role("admin") else caller.organisation_id
    async with request.app[POOL].acquire() as conn, conn.transaction():
        voucher = await vouchers.redeem(
            conn, caller.tenant_id, body.code, caller.account_id, shop_id, now(request)
        )
    return json_response(VoucherView.of(voucher))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/rewards/{program_id}/vouchers",
        take_online,
        "Take a reward online: its points are spent and a single-use code is answered (once) and emailed",
        roles=AUTHENTICATED,
        response=IssuedVoucher,
        status=201,
        idempotent=True,
        owner=program_owner,
        problems={409: "the reward cannot be taken now (points or conditions)"},
    ),
    Endpoint(
        "GET",
        "/vouchers",
        my_vouchers,
        "The caller's vouchers, newest first (codes shown by their last four characters)",
        roles=AUTHENTICATED,
        response=VoucherList,
    ),
    Endpoint(
        "POST",
        "/vouchers/redemptions",
        redeem,
        "A shop uses a voucher's code, once: 404 unknown, 409 used already, 410 expired",
        roles=STAFF,
        body=RedeemVoucher,
        response=VoucherView,
        problems={404: "no voucher of this tenant has this code", 409: "used already", 410: "expired"},
    ),
]
