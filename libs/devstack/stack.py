"""The local stack: PostgreSQL, the broker, the SMTP and SMS sinks and the fake payment provider,
started when the environment does not name them (`make stack`, `make run`, the tests). Each
component is its own module."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from libs.devstack.broker import TansuBroker
from libs.devstack.payments import FakePaymentProvider
from libs.devstack.postgres import PostgresServer
from libs.devstack.sms import SmsSink
from libs.devstack.smtp import SmtpSink


@dataclass
class StackConfig:
    """Where the local stack lives, and its ports (the defaults the README lists)."""

    data_dir: Path
    postgres_port: int = 55432
    broker_port: int = 19092
    smtp_port: int = 1025
    sms_port: int = 1026
    payments_port: int = 1027
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    smtp_url: str | None = None
    sms_url: str | None = None
    payment_provider_url: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> StackConfig:
        env = dict(os.environ if environ is None else environ)
        return cls(
            data_dir=Path(env.get("COMPTOIR_DATA_DIR", ".data")).resolve(),
            postgres_port=int(env.get("COMPTOIR_POSTGRES_PORT", 55432)),
            broker_port=int(env.get("COMPTOIR_BROKER_PORT", 19092)),
            smtp_port=int(env.get("COMPTOIR_SMTP_PORT", 1025)),
            sms_port=int(env.get("COMPTOIR_SMS_PORT", 1026)),
            payments_port=int(env.get("COMPTOIR_PAYMENTS_PORT", 1027)),
            database_url=env.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            smtp_url=env.get("SMTP_URL") or None,
            sms_url=env.get("SMS_URL") or None,
            payment_provider_url=env.get("PAYMENT_PROVIDER_URL") or None,
        )


@dataclass
class LocalStack:
    """Starts what the environment does not provide; stops what it started, whatever happens."""

    config: StackConfig
    postgres: PostgresServer | None = None
    broker: TansuBroker | None = None
    smtp: SmtpSink | None = None
    sms: SmsSink | None = None
    payments: FakePaymentProvider | None = None
    _started: list[PostgresServer | TansuBroker | SmtpSink | SmsSink | FakePaymentProvider] = field(
        default_factory=list
    )

    @property
    def database_url(self) -> str:
        """The administrative URL: provisioning roles and schemas uses it."""
        if self.config.database_url:
            return self.config.database_url
        assert self.postgres is not None
        return self.postgres.admin_url

    @property
    def kafka_bootstrap_servers(self) -> str:
        if self.config.kafka_bootstrap_servers:
            return self.config.kafka_bootstrap_servers
        assert self.broker is not None
        return self.broker.bootstrap_servers

    @property
    def smtp_url(self) -> str:
        if self.config.smtp_url:
            return self.config.smtp_url
        assert self.smtp is not None
        return self.smtp.url

    @property
    def maildir(self) -> Path:
        return self.config.data_dir / "mail"

    @property
    def sms_url(self) -> str:
        if self.config.sms_url:
            return self.config.sms_url
        assert self.sms is not None
        return self.sms.url

    @property
    def sms_dir(self) -> Path:
        """Where the SMS sink keeps what it receives (one JSON file per message)."""
        return self.config.data_dir / "sms"

    @property
    def payment_provider_url(self) -> str:
        if self.config.payment_provider_url:
            return self.config.payment_provider_url
        assert self.payments is not None
        return self.payments.url

    def start(self) -> None:
        try:
            if not self.config.database_url:
                self.postgres = PostgresServer(self.config.data_dir / "postgres", self.config.postgres_port)
                self.postgres.start()
                self._started.append(self.postgres)
            if not self.config.kafka_bootstrap_servers:
                self.broker = TansuBroker(self.config.broker_port)
                self.broker.start()
                self._started.append(self.broker)
            if not self.config.smtp_url:
                self.smtp = SmtpSink(self.maildir, self.config.smtp_port)
                self.smtp.start()
                self._started.append(self.smtp)
            if not self.config.sms_url:
                self.sms = SmsSink(self.sms_dir, self.config.sms_port)
                self.sms.start()
                self._started.append(self.sms)
            if not self.config.payment_provider_url:
                self.payments = FakePaymentProvider(self.config.payments_port)
                self.payments.start()
                self._started.append(self.payments)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def environ(self) -> dict[str, str]:
        """The variables a service process needs to use this stack."""
        return {
            "DATABASE_ADMIN_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "SMTP_URL": self.smtp_url,
            "COMPTOIR_MAILDIR": str(self.maildir),
            "SMS_URL": self.sms_url,
            "COMPTOIR_SMS_DIR": str(self.sms_dir),
            "PAYMENT_PROVIDER_URL": self.payment_provider_url,
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    """`make stack`: run the local stack in the foreground until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stack = LocalStack(StackConfig.from_environ())
    with stack:
        for name, value in stack.environ().items():
            print(f"{name}={value}", flush=True)
        print("local stack running; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
