"""The fake payment provider of the dev stack and the tests: the protocol of `libs.common.payments`,
with test cards that decide the outcome. Never in the production image (libs/devstack is not).

Test cards (spaces allowed): 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined;
4000 0000 0000 0259 pays, but its notice comes `slow_s` seconds later (a slow provider);
4000 0000 0000 0341 pays on the page, but every later charge of it is declined. A payment started
with `save_card` keeps the card for charges.
"""

from __future__ import annotations

import html
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from libs.common.payments import LOCAL_API_KEY, LOCAL_WEBHOOK_SECRET, SIGNATURE_HEADER, sign
from libs.devstack.processes import ServedInThread, ensure_port_free

PAYS, DECLINED, SLOW = "4242424242424242", "4000000000000002", "4000000000000259"
PAYS_ONCE = "4000000000000341"  # pays on the page; charges of the saved card are declined
_PAGE_PAYS = (PAYS, SLOW, PAYS_ONCE)
_CHARGES_PAY = (PAYS, SLOW)
_MAX_BODY = 64 * 1024
_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class _Payment:
    payment_id: str
    amount_minor: int
    currency: str
    reference: str
    description: str
    callback_url: str
    return_url: str
    save_card: bool
    status: str = "pending"
    refunded_minor: int = 0
    refunds: dict[str, str] = field(default_factory=dict)  # our reference -> refund id


@dataclass(frozen=True)
class SentNotice:
    """A notice the provider sent (once, whatever its attempts), signed: a test may post it again."""

    url: str
    body: bytes
    signature: str


class FakePaymentProvider:
    def __init__(self, port: int, slow_s: float = 3.0) -> None:
        self.port = port
        self.slow_s = slow_s
        self.payments: dict[str, _Payment] = {}
        self.sent: list[SentNotice] = []
        self._lock = threading.Lock()
        self._served = ServedInThread()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        ensure_port_free(self.port, "The fake payment provider")
        self._served.serve(_Server(("127.0.0.1", self.port), self), "payments")

    def stop(self) -> None:
        self._served.stop()

    # --- what the handler does ---

    def create(self, data: dict[str, Any]) -> _Payment:
        payment = _Payment(
            payment_id=f"pay_{uuid.uuid4().hex}",
            amount_minor=int(data["amount_minor"]),
            currency=str(data["currency"]),
            reference=str(data["reference"]),
            description=str(data.get("description", "")),
            callback_url=str(data["callback_url"]),
            return_url=str(data.get("return_url", "")),
            save_card=bool(data.get("save_card", False)),
        )
        with self._lock:
            self.payments[payment.payment_id] = payment
        return payment

    def pay(self, payment: _Payment, card: str) -> str:
        """Decide the payment with this card and send its notice; its status."""
        card = "".join(card.split())
        with self._lock:
            if payment.status != "pending":
                return payment.status
            payment.status = "succeeded" if card in _PAGE_PAYS else "failed"
        reason = None if payment.status == "succeeded" else "card declined"
        saved = f"card_{card}" if payment.save_card and payment.status == "succeeded" else None
        self.notify(payment, reason, saved, delay=self.slow_s if card == SLOW else 0.0)
        return payment.status

    def notify(self, payment: _Payment, reason: str | None, card_id: str | None, delay: float) -> None:
        body = json.dumps(
            {
                "notice_id": f"ntc_{uuid.uuid4().hex}",
                "payment_id": payment.payment_id,
                "reference": payment.reference,
                "status": payment.status,
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "reason": reason,
                "card_id": card_id,
            }
        ).encode()
        with self._lock:
            self.sent.append(
                SentNotice(payment.callback_url, body, sign(LOCAL_WEBHOOK_SECRET, body, time.time()))
            )
        if delay == 0.0 and self._deliver(payment.callback_url, body):
            return
        threading.Thread(
            target=self._deliver_with_retries, args=(payment.callback_url, body, delay), daemon=True
        ).start()

    def _deliver(self, url: str, body: bytes) -> bool:
        signature = sign(LOCAL_WEBHOOK_SECRET, body, time.time())  # signed anew at each attempt
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return bool(200 <= answer.status < 300)
        except (urllib.error.URLError, OSError):
            return False

    def _deliver_with_retries(self, url: str, body: bytes, delay: float) -> None:
        time.sleep(delay)
        if self._deliver(url, body):
            return
        for pause in _RETRIES:
            time.sleep(pause)
            if self._deliver(url, body):
                return

    def charge(self, data: dict[str, Any]) -> _Payment:
        """A charge of a saved card; the same reference again is the same charge (charged once)."""
        with self._lock:
            earlier = next((p for p in self.payments.values() if p.reference == str(data["reference"])), None)
        if earlier is not None:
            return earlier
        payment = self.create({**data, "return_url": ""})
        card = str(data["card_id"]).removeprefix("card_")
        payment.status = "succeeded" if card in _CHARGES_PAY else "failed"
        reason = None if payment.status == "succeeded" else "card declined"
        self.notify(payment, reason, None, delay=0.05)  # after the answer, as a provider does
        return payment

    def refund(
        self, payment: _Payment, amount_minor: int, reference: str
    ) -> tuple[HTTPStatus, dict[str, Any]]:
        with self._lock:
            if reference in payment.refunds:
                return HTTPStatus.CREATED, {"refund_id": payment.refunds[reference], "status": "succeeded"}
            if payment.status != "succeeded":
                return HTTPStatus.CONFLICT, {"error": f"the payment is {payment.status}"}
            if not 0 < amount_minor <= payment.amount_minor - payment.refunded_minor:
                return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": "more than what is left to refund"}
            payment.refunded_minor += amount_minor
            refund_id = payment.refunds[reference] = f"re_{uuid.uuid4().hex}"
        return HTTPStatus.CREATED, {"refund_id": refund_id, "status": "succeeded"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], provider: FakePaymentProvider) -> None:
        super().__init__(address, _Handler)
        self.provider = provider

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closed its kept-alive connection is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fake payment</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
input,button{{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}}</style>
</head><body><h1>Fake payment provider</h1>
<p>{description}</p><p><strong>{amount}</strong></p>
<form method="post"><label for="card">Card number</label>
<input id="card" name="card" value="4242 4242 4242 4242" autocomplete="off">
<button type="submit">Pay</button></form>
<p><small>Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined;
4000 0000 0000 0259 pays slowly.</small></p></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        provider = self.server.provider
        if path == "/notices":
            sent = [{"url": n.url, "body": n.body.decode(), "signature": n.signature} for n in provider.sent]
            self._json(HTTPStatus.OK, {"notices": sent})
            return
        payment = self._payment(path.removeprefix("/pay/")) if path.startswith("/pay/") else None
        if payment is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such payment"})
            return
        amount = f"{payment.amount_minor / 100:.2f} {payment.currency}"
        page = _PAGE.format(description=html.escape(payment.description), amount=html.escape(amount))
        self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        provider = self.server.provider
        body = self._body()
        if body is None:
            return
        if path.startswith("/pay/"):
            self._pay(path.removeprefix("/pay/"), body)
            return
        if self.headers.get("Authorization") != f"Bearer {LOCAL_API_KEY}":
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "wrong API key"})
            return
        try:
            data = json.loads(body)
            if path == "/payments":
                payment = provider.create(data)
                redirect = f"{provider.url}/pay/{payment.payment_id}"
                self._json(HTTPStatus.CREATED, {"payment_id": payment.payment_id, "redirect_url": redirect})
            elif path == "/charges":
                payment = provider.charge(data)
                self._json(HTTPStatus.CREATED, {"payment_id": payment.payment_id})
            elif path.startswith("/payments/") and path.endswith("/refunds"):
                found = self._payment(path.split("/")[2])
                if found is None:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "no such payment"})
                    return
                status, answer = provider.refund(found, int(data["amount_minor"]), str(data["reference"]))
                self._json(status, answer)
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such route"})
        except (ValueError, KeyError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc!r}"})

    def _pay(self, payment_id: str, body: bytes) -> None:
        """The buyer pays on the page (a form, then back to the shop) or a test does (JSON)."""
        payment = self._payment(payment_id)
        if payment is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such payment"})
            return
        is_json = (self.headers.get("Content-Type") or "").startswith("application/json")
        try:
            card = json.loads(body)["card"] if is_json else parse_qs(body.decode())["card"][0]
        except (ValueError, KeyError, TypeError, IndexError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "a card number is required"})
            return
        status = self.server.provider.pay(payment, str(card))
        if is_json or not payment.return_url:
            self._json(HTTPStatus.OK, {"payment_id": payment.payment_id, "status": status})
            return
        back = payment.return_url + ("&" if "?" in payment.return_url else "?")
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", back + urlencode({"payment": payment.reference}))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _payment(self, payment_id: str) -> _Payment | None:
        return self.server.provider.payments.get(payment_id)

    def _body(self) -> bytes | None:
        try:
            size = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            size = -1
        if not 0 <= size <= _MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"}, close=True)
            return None
        return self.rfile.read(size)

    def _json(self, status: HTTPStatus, body: dict[str, Any], *, close: bool = False) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", close=close)

    def _send(self, status: HTTPStatus, payload: bytes, content_type: str, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet, like the other sinks."""
