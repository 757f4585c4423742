"""Notify's settings: the shared ones plus how messages leave (sender, SMS timeout, batch, polling)."""

from __future__ import annotations

from pydantic import Field

from libs.common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = 8085
    mail_from: str = Field("Comptoir <no-reply@comptoir.local>", description="From header of every email")
    sms_timeout_s: float = Field(
        10.0, gt=0, description="Seconds the SMS provider has to answer one message before it counts as away"
    )
    dispatch_batch: int = Field(50, ge=1, description="Queued messages the dispatcher sends per transaction")
    dispatch_poll_s: float = Field(0.5, gt=0, description="Seconds between looks for queued messages")
    dispatch_linger_s: float = Field(
        0.02,
        ge=0,
        description="While messages keep coming, how long the dispatcher lets the next ones gather after"
        " a pass: each pass costs a transaction, whatever the number of messages it sends",
    )
    dispatch_connections: int = Field(
        4, ge=1, description="Connections to a provider a batch is sent over at once"
    )
