"""The dispatcher (worker role): sends queued messages, email over SMTP and SMS over the provider's
HTTP API, and records what happened. One mechanism for both: each channel is a `Transport` whose
sends either succeed, are refused (retried later, failed after MAX_ATTEMPTS) or meet an outage
(the channel's messages stay queued and the channel pauses with back-off, the other goes on)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, parseaddr
from typing import ClassVar, Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib
import asyncpg
import structlog

from libs.common.clock import Clock, utc_now
from libs.common.db import Doorbell, doorbell_channel, is_infrastructure_error
from libs.common.stopping import pause
from services.notify import store
from services.notify.domain import CHANNELS, Channel, Retry, after_refusal
from services.notify.settings import Settings

log = structlog.get_logger(__name__)

SMTP_TIMEOUT_S = 15.0
MAX_PAUSE_S = 30.0  # longest wait between tries while a provider or the database is away
# The SMS provider is busy, not refusing: wait and try again without counting a refusal.
SMS_RETRY_LATER = frozenset({408, 425, 429})


class Refused(Exception):
    """The provider refused this message. `final`: no retry can help (it cannot even be composed)."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.final = final


class Unavailable(Exception):
    """The provider cannot be reached or cannot take messages now: nothing is refused, all waits."""


Send = Callable[[store.OutgoingMessage], Awaitable[None]]
"""Sends one message; raises `Refused` or `Unavailable` when it does not."""


class Transport(Protocol):
    """How one channel's messages leave: `connect` opens (or reuses) what a batch shares and yields
    `send`; `close` lets go of what is kept between batches."""

    def connect(self) -> contextlib.AbstractAsyncContextManager[Send]: ...

    async def close(self) -> None: ...


# Email.


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from a URL: smtp://[user:password@]host[:port], or smtps:// for implicit TLS."""

    hostname: str
    port: int
    use_tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if use_tls else 25),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            username=self.username,
            password=self.password,
            timeout=SMTP_TIMEOUT_S,
        )


def message_id_header(message_id: uuid.UUID, mail_from: str) -> str:
    """The Message-ID of a message: the same on every try, so a duplicate after a crash shows as one."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "comptoir.local"
    return f"<{message_id}@{domain}>"


# The legacy (compat32) API of the email package: it writes headers as given instead of parsing each
# one into objects, 4 times cheaper per email than EmailMessage (measured: 0.43 vs 1.8 ms), which
# matters at hundreds of emails a second. 8bit body: links stay whole on one line, readable raw too.
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP
_UTF8.body_encoding = None  # type: ignore[assignment]  # None: no transfer encoding (8bit)


def compose(message: store.OutgoingMessage, mail_from: str, now: datetime) -> bytes:
    """The email as it goes on the wire."""
    if message.subject is None:
        raise ValueError("an email needs a subject")
    if message.recipient is None or any(c in message.recipient for c in "\r\n"):
        raise ValueError("an email needs one recipient address")
    mail = MIMENonMultipart("text", "plain")
    mail.set_payload(message.body, _UTF8)
    mail["From"] = mail_from
    mail["To"] = message.recipient
    # A Header, which the generator folds after "Subject: " (RFC 2047 when not ASCII); typeshed
    # only knows str values, the compat32 API takes both.
    mail["Subject"] = Header(message.subject, _UTF8)  # type: ignore[assignment]
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id_header(message.id, mail_from)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to notifications
    return mail.as_bytes()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


@dataclass
class SmtpTransport:
    """Email: one SMTP connection, kept between batches while they follow each other closely (the
    dispatcher wakes for every few queued messages); closed after KEEP_OPEN_S idle, and at once
    after any trouble."""

    server: SmtpServer
    mail_from: str
    clock: Clock
    _smtp: aiosmtplib.SMTP | None = field(default=None, init=False, repr=False)
    _last_used: float = field(default=0.0, init=False, repr=False)

    KEEP_OPEN_S: ClassVar[float] = 5.0  # far below the 5 minutes a server must wait (RFC 5321 4.5.3.2.7)

    @property
    def envelope_from(self) -> str:
        return parseaddr(self.mail_from)[1]

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Send]:
        smtp = await self._connection()

        async def send(message: store.OutgoingMessage) -> None:
            try:
                mail = compose(message, self.mail_from, self.clock())
            except ValueError as exc:  # a header the email library refuses: no retry can help
                raise Refused(f"cannot compose: {exc}", final=True) from exc
            try:
                await smtp.sendmail(self.envelope_from, [str(message.recipient)], mail)
            except OSError as exc:  # disconnected or timed out (before SMTPException: both match)
                await self.close()
                raise Unavailable(f"SMTP server unavailable: {_describe(exc)}") from exc
            except aiosmtplib.SMTPException as exc:
                raise Refused(_describe(exc)) from exc  # sendmail has reset the envelope

        try:
            yield send
        except BaseException:
            await self.close()
            raise
        self._last_used = time.monotonic()

    async def _connection(self) -> aiosmtplib.SMTP:
        smtp = self._smtp
        if smtp is not None and smtp.is_connected and time.monotonic() - self._last_used < self.KEEP_OPEN_S:
            return smtp
        await self.close()
        smtp = self.server.client()
        try:
            await smtp.connect()
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise Unavailable(f"SMTP server unavailable: {_describe(exc)}") from exc
        self._smtp = smtp
        return smtp

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            if smtp.is_connected:
                with contextlib.suppress(OSError, aiosmtplib.SMTPException):
                    await smtp.quit()
            smtp.close()


# SMS.


@dataclass(frozen=True)
class SmsTransport:
    """SMS: `POST url` with JSON {"to", "text", "reference"} (the message id, the same on every try,
    so a provider can drop a duplicate after a timeout). 2xx sent; 4xx refused (408, 425 and 429
    excepted: busy); anything else, a timeout or no connection is an outage."""

    url: str
    timeout_s: float

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Send]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:

            async def send(message: store.OutgoingMessage) -> None:
                payload = {"to": message.recipient, "text": message.body, "reference": str(message.id)}
                try:
                    async with http.post(self.url, json=payload, allow_redirects=False) as resp:
                        if 200 <= resp.status < 300:
                            return
                        detail = " ".join((await resp.text(errors="replace"))[:300].split())
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise Unavailable(f"SMS provider unavailable: {_describe(exc)}") from exc
                answer = f"{resp.status} {resp.reason or ''} {detail}".strip()
                if 400 <= resp.status < 500 and resp.status not in SMS_RETRY_LATER:
                    raise Refused(f"SMS provider refused: {answer}")
                raise Unavailable(f"SMS provider unavailable: {answer}")

            yield send

    async def close(self) -> None:
        """Nothing is kept between batches."""


Ways = Mapping[Channel, Sequence[Transport]]
"""Per channel, the transports a batch is sent over at once, each over its own connection."""


def transports(settings: Settings, clock: Clock) -> Ways:
    lanes = range(settings.dispatch_connections)
    return {
        "email": [
            SmtpTransport(SmtpServer.from_url(settings.smtp_url), settings.mail_from, clock) for _ in lanes
        ],
        "sms": [SmsTransport(settings.sms_url, settings.sms_timeout_s) for _ in lanes],
    }


async def close_transports(ways: Ways) -> None:
    for lanes in ways.values():
        for transport in lanes:
            await transport.close()


# One pass over the queue.


@dataclass
class DispatchResult:
    """What one pass over the queue did; `outages` says, per channel, why its provider was not usable."""

    claimed: int = 0
    sent: int = 0
    refused: int = 0
    outages: dict[Channel, str] = field(default_factory=dict)

    @property
    def outage(self) -> str | None:
        return "; ".join(self.outages.values()) or None


async def dispatch_once(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    channels: Collection[Channel] = CHANNELS,
    ways: Ways | None = None,
) -> DispatchResult:
    """Claim a batch of due messages of these channels, send each channel's over one connection,
    record each outcome.

    The claimed rows stay locked (SKIP LOCKED for other dispatchers) until their outcome commits.
    An unreachable provider is an outage: its messages stay queued with the error, and do not fail.
    A message the provider refuses is retried later and fails after MAX_ATTEMPTS tries.
    `ways`: transports kept between passes (the worker loop's); by default, this pass's own.
    """
    own = ways is None
    ways = transports(settings, clock) if ways is None else ways
    result = DispatchResult()
    try:
        async with pool.acquire() as conn, conn.transaction():
            batch = await store.claim_due(
                conn, clock(), settings.dispatch_batch, [c for c in CHANNELS if c in channels]
            )
            result.claimed = len(batch)
            for channel in CHANNELS:
                messages = [m for m in batch if m.channel == channel]
                if messages:
                    await _send_all(conn, channel, ways[channel], messages, result, clock)
    finally:
        if own:
            await close_transports(ways)
    return result


async def _send_all(
    conn: asyncpg.Connection,
    channel: Channel,
    lanes: Sequence[Transport],
    messages: list[store.OutgoingMessage],
    result: DispatchResult,
    clock: Clock,
) -> None:
    """Send over every lane at once (sending is mostly waiting for the provider's answers), then
    record the outcomes in the batch's transaction."""
    shares = [messages[i :: len(lanes)] for i in range(len(lanes))]
    sent: list[tuple[uuid.UUID, datetime]] = []
    for lane in await asyncio.gather(
        *(_send_lane(t, share, clock) for t, share in zip(lanes, shares, strict=True) if share)
    ):
        sent += lane.sent
        for message, refusal in lane.refused:
            retry = (
                Retry("failed", clock()) if refusal.final else after_refusal(message.attempts + 1, clock())
            )
            await _record_refusal(conn, message, str(refusal), retry)
            result.refused += 1
        if lane.unsent:
            await _record_outage(conn, channel, lane.unsent, lane.outage, result)
    await store.mark_sent(conn, sent)
    result.sent += len(sent)


@dataclass
class _Lane:
    """What one lane did with its share of a batch."""

    sent: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    refused: list[tuple[store.OutgoingMessage, Refused]] = field(default_factory=list)
    unsent: list[store.OutgoingMessage] = field(default_factory=list)  # held back by an outage
    outage: str = ""


async def _send_lane(transport: Transport, messages: list[store.OutgoingMessage], clock: Clock) -> _Lane:
    lane = _Lane()
    try:
        async with transport.connect() as send:
            for index, message in enumerate(messages):
                try:
                    await send(message)
                except Refused as exc:
                    lane.refused.append((message, exc))
                except Unavailable as exc:  # the rest of this share waits
                    lane.unsent, lane.outage = messages[index:], str(exc)
                    break
                else:
                    lane.sent.append((message.id, clock()))
    except Unavailable as exc:  # could not even connect
        lane.unsent, lane.outage = messages, str(exc)
    return lane


async def _record_outage(
    conn: asyncpg.Connection,
    channel: Channel,
    messages: list[store.OutgoingMessage],
    error: str,
    result: DispatchResult,
) -> None:
    result.outages[channel] = error
    await store.record_outage(conn, [m.id for m in messages], error[:2000])


async def _record_refusal(
    conn: asyncpg.Connection, message: store.OutgoingMessage, error: str, retry: Retry
) -> None:
    log.warning(
        "message refused",
        message_id=str(message.id),
        channel=message.channel,
        error=error,
        status=retry.status,
    )
    await store.record_refusal(
        conn,
        message.id,
        attempts=message.attempts + 1,
        error=error[:2000],
        status=retry.status,
        next_attempt_at=retry.next_attempt_at,
    )


# The worker loop.


@dataclass
class _Backoff:
    """Pauses something that keeps failing: the poll interval doubled per failure, up to MAX_PAUSE_S."""

    failures: int = 0
    resume_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.resume_at

    def fail(self, now: float, base: float) -> None:
        self.failures = min(self.failures + 1, 10)
        self.resume_at = now + min(base * 2**self.failures, MAX_PAUSE_S)

    def succeed(self) -> None:
        self.failures, self.resume_at = 0, 0.0


async def dispatch_messages(
    pool: asyncpg.Pool, stopping: asyncio.Event, *, settings: Settings, clock: Clock = utc_now
) -> None:
    """Worker loop: send queued messages until `stopping` is set. Looks as soon as a message is
    queued (the queue's doorbell rings) — `dispatch_linger_s` after the last pass, so that a pass
    sends what gathered meanwhile — at the latest every `dispatch_poll_s`, at once after a full
    batch. A channel whose provider is away pauses with back-off while the other goes on; a
    database outage pauses everything; neither ends the loop.

    """
    doorbell = Doorbell(pool, doorbell_channel("queue", settings.db_schema))  # migrations/0003
    ways = transports(settings, clock)
    try:
        await _dispatch_until_stopped(pool, settings, stopping, doorbell, ways, clock)
    finally:
        await doorbell.close()
        await close_transports(ways)


async def _dispatch_until_stopped(
    pool: asyncpg.Pool,
    config: Settings,
    stopping: asyncio.Event,
    doorbell: Doorbell,
    ways: Ways,
    clock: Clock,
) -> None:
    loop = asyncio.get_running_loop()
    database = _Backoff()
    paused = {channel: _Backoff() for channel in CHANNELS}
    while not stopping.is_set():
        ready = [channel for channel in CHANNELS if paused[channel].ready(loop.time())]
        claimed = 0
        if ready and database.ready(loop.time()):
            try:
                result = await dispatch_once(pool, config, clock=clock, channels=ready, ways=ways)
            except Exception as exc:  # the loop outlives any failure; the messages stay queued
                if is_infrastructure_error(exc):
                    log.warning("dispatch paused: database unavailable", error=repr(exc))
                else:
                    log.exception("dispatch failed")
                database.fail(loop.time(), config.dispatch_poll_s)
            else:
                database.succeed()
                claimed = result.claimed
                for channel in ready:
                    if channel in result.outages:
                        log.warning(
                            "provider unavailable, messages stay queued",
                            channel=channel,
                            error=result.outages[channel],
                        )
                        paused[channel].fail(loop.time(), config.dispatch_poll_s)
                    else:
                        paused[channel].succeed()
        if claimed >= config.dispatch_batch:
            continue
        if claimed:
            await pause(stopping, config.dispatch_linger_s)
        now = loop.time()
        if database.ready(now) and any(channel.ready(now) for channel in paused.values()):
            await doorbell.wait(config.dispatch_poll_s, stopping)  # a message queued rings it
        else:  # pausing after failures: new messages do not cut the pause short
            await pause(stopping, _resume_in(now, database, paused.values()))


def _resume_in(now: float, database: _Backoff, channels: Collection[_Backoff]) -> float:
    """Seconds until the database's pause ends, or else until the first channel may send again."""
    if not database.ready(now):
        return database.resume_at - now
    return min(channel.resume_at for channel in channels) - now
