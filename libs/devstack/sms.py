"""The SMS sink: a local SMS provider that keeps every text as a JSON file."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from libs.devstack.processes import ServedInThread, ensure_port_free


@dataclass(frozen=True)
class Sms:
    """One text message the SMS sink received."""

    id: str
    to: str
    text: str
    reference: str
    received_at: datetime


SMS_FIELDS = ("to", "text", "reference")
_SMS_MAX_BODY = 64 * 1024


def read_sms(folder: Path) -> list[Sms]:
    """Every SMS stored in an SMS sink's folder, oldest first (a sink need not be running)."""
    found = []
    for path in sorted(folder.glob("*.json")):  # names start with the arrival time
        data = json.loads(path.read_text(encoding="utf-8"))
        found.append(
            Sms(
                id=data["id"],
                to=data["to"],
                text=data["text"],
                reference=data["reference"],
                received_at=datetime.fromisoformat(data["received_at"]),
            )
        )
    return found


class SmsSink:
    """A local SMS provider: `POST /messages` with JSON `{"to", "text", "reference"}` answers 202
    `{"id": ...}` and keeps the message as a JSON file in `folder`; malformed JSON or a missing or
    empty field answers 400 and keeps nothing. `messages()` reads them back, oldest first."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self._served = ServedInThread()
        self._lock = threading.Lock()
        self._last_ns = 0

    @property
    def url(self) -> str:
        """The endpoint services post to (their SMS_URL)."""
        return f"http://127.0.0.1:{self.port}/messages"

    def start(self) -> None:
        ensure_port_free(self.port, "The SMS sink")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._served.serve(_SmsServer(("127.0.0.1", self.port), self), "sms-sink")

    def stop(self) -> None:
        self._served.stop()

    def messages(self) -> list[Sms]:
        """Every SMS received so far, oldest first."""
        return read_sms(self.folder)

    def store(self, to: str, text: str, reference: str) -> str:
        """Keep one message; its file name starts with a strictly increasing arrival time."""
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            arrived = self._last_ns
        sms_id = uuid.uuid4().hex
        record = {
            "id": sms_id,
            "to": to,
            "text": text,
            "reference": reference,
            "received_at": datetime.fromtimestamp(arrived / 1e9, UTC).isoformat(),
        }
        name = f"{arrived:020d}-{sms_id}.json"
        # Written aside then renamed: a reader never sees half a message.
        partial = self.folder / f".{name}.tmp"
        partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.folder / name)
        return sms_id


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _SmsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sink: SmsSink) -> None:
        super().__init__(address, _SmsRequestHandler)
        self.sink = sink


class _SmsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the dispatcher sends a batch over one connection
    server: _SmsServer

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/messages":
            self._answer(HTTPStatus.NOT_FOUND, {"error": "messages are posted to /messages"}, close=True)
            return
        try:
            size = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "a Content-Length is required"}, close=True)
            return
        if not 0 <= size <= _SMS_MAX_BODY:
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"}, close=True)
            return
        try:
            data = json.loads(self.rfile.read(size))
        except (ValueError, UnicodeDecodeError):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
            return
        if not isinstance(data, dict):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "the body must be a JSON object"})
            return
        missing = [name for name in SMS_FIELDS if not _filled(data.get(name))]
        if missing:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"missing or empty fields: {', '.join(missing)}"})
            return
        sms_id = self.server.sink.store(data["to"], data["text"], data["reference"])
        self._answer(HTTPStatus.ACCEPTED, {"id": sms_id})

    def _refuse_method(self) -> None:
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only POST /messages"}, close=True)

    do_GET = do_PUT = do_PATCH = do_DELETE = _refuse_method

    def _answer(self, status: HTTPStatus, body: dict[str, Any], *, close: bool = False) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if close:  # the request body may be unread: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `make run` prints the services' logs, not one line per SMS."""
