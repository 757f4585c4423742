"""The mail dispatcher (worker role): sends queued messages over SMTP and records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg
import structlog

from libs.common.db import is_infrastructure_error
from libs.common.settings import ServiceSettings
from services.notify import store
from services.notify.domain import Retry, after_refusal
from services.notify.settings import Settings

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
SMTP_TIMEOUT_S = 15.0
MAX_PAUSE_S = 30.0  # longest wait between tries while the SMTP server or the database is away


def utc_now() -> datetime:
    return datetime.now(UTC)


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


def compose(message: store.OutgoingMessage, mail_from: str, now: datetime) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id_header(message.id, mail_from)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to notifications
    # 8bit, not quoted-printable: links stay whole on one line, readable in the raw file too.
    mail.set_content(message.body, cte="8bit")
    return mail


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


@dataclass
class DispatchResult:
    """What one pass over the queue did; `outage` says why the SMTP server could not be used."""

    claimed: int = 0
    sent: int = 0
    refused: int = 0
    outage: str | None = None


async def dispatch_once(pool: asyncpg.Pool, settings: Settings, *, clock: Clock = utc_now) -> DispatchResult:
    """Claim a batch of due messages, send them over one SMTP connection, record each outcome.

    The claimed rows stay locked (SKIP LOCKED for other dispatchers) until their outcome commits.
    An unreachable server is an outage: the messages stay queued with the error, and do not fail.
    A message the server refuses is retried later and fails after MAX_ATTEMPTS tries.
    """
    server = SmtpServer.from_url(settings.smtp_url)
    result = DispatchResult()
    async with pool.acquire() as conn, conn.transaction():
        batch = await store.claim_due(conn, clock(), settings.dispatch_batch)
        result.claimed = len(batch)
        if not batch:
            return result
        smtp = server.client()
        try:
            await smtp.connect()
        except (OSError, aiosmtplib.SMTPException) as exc:
            result.outage = _describe(exc)
            await store.record_outage(
                conn, [m.id for m in batch], f"SMTP server unavailable: {result.outage}"
            )
            return result
        try:
            for index, message in enumerate(batch):
                try:
                    mail = compose(message, settings.mail_from, clock())
                except ValueError as exc:  # a header the email library refuses: no retry can help
                    await _record_refusal(conn, message, f"cannot compose: {exc}", Retry("failed", clock()))
                    result.refused += 1
                    continue
                try:
                    await smtp.send_message(mail)
                except OSError as exc:  # disconnected or timed out: the rest of the batch waits
                    result.outage = _describe(exc)
                    error = f"SMTP server unavailable: {result.outage}"
                    await store.record_outage(conn, [m.id for m in batch[index:]], error)
                    break
                except aiosmtplib.SMTPException as exc:
                    now = clock()
                    await _record_refusal(
                        conn, message, _describe(exc), after_refusal(message.attempts + 1, now)
                    )
                    result.refused += 1
                else:
                    await store.mark_sent(conn, message.id, clock())
                    result.sent += 1
        finally:
            with contextlib.suppress(OSError, aiosmtplib.SMTPException):
                await smtp.quit()
            smtp.close()
    return result


async def _record_refusal(
    conn: asyncpg.Connection, message: store.OutgoingMessage, error: str, retry: Retry
) -> None:
    log.warning("message refused", message_id=str(message.id), error=error, status=retry.status)
    await store.record_refusal(
        conn,
        message.id,
        attempts=message.attempts + 1,
        error=error[:2000],
        status=retry.status,
        next_attempt_at=retry.next_attempt_at,
    )


async def dispatch_mail(pool: asyncpg.Pool, settings: ServiceSettings, stopping: asyncio.Event) -> None:
    """Worker loop: send queued mail until `stopping` is set. Looks at most every `dispatch_poll_s`
    (at once after a full batch); an SMTP or database outage pauses it with back-off, never ends it."""
    config = Settings.of(settings)
    failures = 0
    while not stopping.is_set():
        result: DispatchResult | None = None
        try:
            result = await dispatch_once(pool, config)
        except Exception as exc:  # the loop outlives any failure; the messages stay queued
            if is_infrastructure_error(exc):
                log.warning("mail dispatch paused: database unavailable", error=repr(exc))
            else:
                log.exception("mail dispatch failed")
        if result is None or result.outage:
            if result is not None:
                log.warning("SMTP server unavailable, mail stays queued", error=result.outage)
            failures = min(failures + 1, 10)
            pause = min(config.dispatch_poll_s * 2**failures, MAX_PAUSE_S)
        else:
            failures = 0
            pause = 0.0 if result.claimed >= config.dispatch_batch else config.dispatch_poll_s
        if pause:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
