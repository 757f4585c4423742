"""End to end through the gateway: register → activate → order → points → emails, on the real stack."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from asyncio.subprocess import PIPE, STDOUT
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.devrun import ROOT, Platform
from libs.devstack.processes import free_port
from tests.e2e.conftest import Api, eventually, mail_text

pytestmark = [pytest.mark.asyncio(loop_scope="package"), pytest.mark.slow]


async def balance(api: Api, token: str) -> int:
    _, body = await api.call("GET", "/api/loyalty/accounts/me", token=token, expect=200)
    return int(body["balance"])


async def test_partner_registers_activates_orders_and_gets_points_and_emails(api: Api, unique: str) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"SKU{unique}", price_minor=1250)
    address = f"claire.{unique}@pharmacie.test"

    _, partner = await api.register_and_activate(tenant, address)
    order = await api.order(partner, [{"code": f"sku{unique}", "quantity": 2}])

    assert order["total_minor"] == 2500  # priced by the server, from catalog's events
    assert await eventually(lambda: _balance_is(api, partner, 25), "the points of the order") == 25
    order_mails = await eventually(
        lambda: _mails_mentioning(api, address, order["order_id"][:8]), "the order copy"
    )
    assert "25,00" in mail_text(order_mails[0])
    points_mails = await eventually(lambda: _points_mails(api, address), "the points email")
    assert "25" in str(points_mails[0]["Subject"]) + mail_text(points_mails[0])


async def _balance_is(api: Api, token: str, expected: int) -> int | None:
    current = await balance(api, token)
    return current if current == expected else None


async def _points_mails(api: Api, address: str) -> list[Any] | None:
    return [m for m in api.mails_to(address) if "point" in str(m["Subject"]).lower()] or None


async def _mails_mentioning(api: Api, address: str, needle: str) -> list[Any] | None:
    found = [m for m in api.mails_to(address) if needle in mail_text(m) or needle in str(m["Subject"])]
    return found or None


async def test_same_order_twice_with_one_idempotency_key_is_one_order_one_award_one_email(
    api: Api, unique: str
) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"IDEM{unique}", price_minor=1000)
    address = f"idem.{unique}@pharmacie.test"
    _, partner = await api.register_and_activate(tenant, address)

    first = await api.order(partner, [{"code": f"IDEM{unique}", "quantity": 1}], key=f"order-{unique}")
    _, again = await api.call(
        "POST",
        "/api/ordering/orders",
        token=partner,
        expect=201,
        headers={"Idempotency-Key": f"order-{unique}"},
        json={"lines": [{"code": f"IDEM{unique}", "quantity": 1}]},
    )
    assert again["order_id"] == first["order_id"]

    await eventually(lambda: _balance_is(api, partner, 10), "the points of the order")
    await eventually(lambda: _mails_mentioning(api, address, first["order_id"][:8]), "the order copy")
    await asyncio.sleep(2)  # a duplicate award or email would arrive by now
    _, orders = await api.call("GET", "/api/ordering/orders", token=partner, expect=200)
    assert [o["order_id"] for o in orders] == [first["order_id"]]
    _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger", token=partner, expect=200)
    assert len(ledger) == 1 and ledger[0]["cause_id"] == first["order_id"]
    assert await balance(api, partner) == 10
    copies = [m for m in api.mails_to(address) if first["order_id"][:8] in mail_text(m) + str(m["Subject"])]
    assert len(copies) == 1
    await eventually(lambda: _points_mails(api, address), "the points email")
    assert len(await _points_mails(api, address) or []) == 1


async def test_a_token_of_another_tenant_cannot_read_orders_or_balances_by_their_real_ids(
    api: Api, unique: str
) -> None:
    tenant_a, tenant_b = f"brand-a-{unique}", f"brand-b-{unique}"
    admin_a, admin_b = await api.create_tenant(tenant_a), await api.create_tenant(tenant_b)
    await api.create_product(admin_a, f"ISO{unique}", price_minor=500)
    partner_a_id, partner_a = await api.register_and_activate(tenant_a, f"a.{unique}@pharmacie.test")
    _, partner_b = await api.register_and_activate(tenant_b, f"b.{unique}@pharmacie.test")
    order = await api.order(partner_a, [{"code": f"ISO{unique}", "quantity": 1}])
    await eventually(lambda: _balance_is(api, partner_a, 5), "the points of the order")

    for token in (partner_b, admin_b):
        status, _ = await api.call("GET", f"/api/ordering/orders/{order['order_id']}", token=token)
        assert status == 404
    for path in (f"/api/loyalty/accounts/{partner_a_id}", f"/api/loyalty/accounts/{partner_a_id}/ledger"):
        status, _ = await api.call("GET", path, token=admin_b)
        assert status == 404
        status, _ = await api.call("GET", path, token=admin_a)
        assert status == 200
    status, _ = await api.call("GET", "/api/notify/messages", token=partner_a)
    assert status == 403


async def test_restarting_loyalty_while_orders_flow_loses_no_award_and_doubles_none(
    api: Api, platform: Platform, unique: str
) -> None:
    tenant = f"brand-{unique}"
    admin = await api.create_tenant(tenant)
    await api.create_product(admin, f"FLOW{unique}", price_minor=100)
    _, partner = await api.register_and_activate(tenant, f"flow.{unique}@pharmacie.test")
    await api.order(partner, [{"code": f"FLOW{unique}", "quantity": 1}])  # 1 point; products are known

    async def place(count: int) -> None:
        for _ in range(count):
            await api.order(partner, [{"code": f"FLOW{unique}", "quantity": 1}])

    placing = asyncio.create_task(place(30))
    await asyncio.sleep(0.5)
    await platform.stop_service("loyalty", signal.SIGKILL)
    await asyncio.sleep(1)
    await platform.start_service("loyalty")
    await placing
    await platform.wait_ready()

    assert await eventually(lambda: _balance_is(api, partner, 31), "every order's points", timeout=60) == 31
    await asyncio.sleep(1.5)
    _, ledger = await api.call("GET", "/api/loyalty/accounts/me/ledger", token=partner, expect=200)
    assert len(ledger) == 31
    assert len({entry["cause_id"] for entry in ledger}) == 31
    assert await balance(api, partner) == 31


README = Path(__file__).parents[2] / "README.md"
README_GATEWAY = "GW=http://127.0.0.1:8080\n"


def readme_walkthrough() -> str:
    """The shell block of the README's walkthrough, as a newcomer pastes it."""
    section = README.read_text(encoding="utf-8").split("## Walkthrough", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found is not None, "the README's walkthrough has no sh block"
    assert README_GATEWAY in found.group(1), "the walkthrough no longer sets GW as this test expects"
    return found.group(1)


async def bash(script: str, cwd: Path, *options: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", *options, "-c", script, cwd=cwd, stdout=PIPE, stderr=STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
def newcomer_dir(platform: Platform, tmp_path: Path) -> Path:
    """A folder laid out like the repository after `make run`: .data/mail and .data/platform-key."""
    data = tmp_path / ".data"
    data.mkdir()
    (data / "mail").symlink_to(platform.stack.maildir)
    (data / "platform-key").write_text(platform.platform_key + "\n")
    return tmp_path


@pytest.fixture
def empty_newcomer_dir(tmp_path: Path) -> Path:
    """The same, before `make run` did anything: no mail, no platform key."""
    (tmp_path / ".data" / "mail" / "new").mkdir(parents=True)
    return tmp_path


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the README needs curl and jq")
async def test_the_readme_walkthrough_works_pasted_as_written_after_the_demo_data(
    platform: Platform, api: Api, newcomer_dir: Path
) -> None:
    seed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo.seed",
        cwd=ROOT,
        env=os.environ
        | {
            "GATEWAY_URL": platform.gateway_url,
            "COMPTOIR_MAILDIR": str(platform.stack.maildir),
            "PLATFORM_KEY": platform.platform_key,
        },
    )
    assert await asyncio.wait_for(seed.wait(), 120) == 0
    script = readme_walkthrough().replace(README_GATEWAY, f"GW={platform.gateway_url}\n")

    code, out = await bash(script, newcomer_dir, "-e", "-o", "pipefail")

    assert code == 0, out
    _, lea = await api.call(
        "POST",
        "/api/identity/sessions",
        expect=200,
        json={"tenant_id": "demo", "email": "lea@pharmacie.test", "password": "Lea-Password-1"},
    )
    _, me = await api.call("GET", "/api/identity/me", token=lea["access_token"], expect=200)
    assert me["organisation_id"] is not None, "Léa did not join the pharmacy of code C-1001"
    assert await balance(api, lea["access_token"]) > 0
    assert '"tenant_id":"second-brand"' in out.replace(" ", ""), out
    assert "gave up waiting" not in out


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the README needs curl and jq")
async def test_each_readme_step_says_what_failed_instead_of_going_on_with_empty_values(
    empty_newcomer_dir: Path,
) -> None:
    """Pasted into an interactive shell (which goes on after an error), with nothing listening: every
    step fails with a message of its own, and none sends a request with an empty token or link."""
    script = readme_walkthrough().replace(README_GATEWAY, f"GW=http://127.0.0.1:{free_port()}\n")
    _, out = await bash(script.replace("seq 50", "seq 2"), empty_newcomer_dir, "--norc", "-i")

    assert "Failed to connect" in out or "Couldn't connect" in out, out
    assert "gave up waiting for: activation_token" in out, out
    assert "log in first (step 3)" in out, out
    assert "the admin could not log in" in out, out
    assert "malformed" not in out.lower(), out
