"""Wiring of the identity service: its settings, events, routes, consumers and workers."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

import structlog
from aiohttp import web
from pydantic import Field

from libs.common.clock import Clock, utc_now
from libs.common.events import EventCatalog
from libs.common.ratelimit import Rate
from libs.common.runtime import ServiceSpec
from libs.common.settings import ServiceSettings
from services.identity import routes, workers
from services.identity.consumers import HANDLERS
from services.identity.events import (
    SERVICE,
    AccountActivated,
    AccountDeleted,
    AccountFactsChanged,
    AccountMembershipChanged,
    AccountRegistered,
    ActivationCodeRequested,
    ActivationRequested,
    ContactChanged,
    OrganisationCreated,
    OrganisationUpdated,
    RecoveryCodeRequested,
    SessionsRevoked,
    TenantSettingsChanged,
)
from services.identity.limits import Limits
from services.identity.policy import Policy

log = structlog.get_logger(__name__)


class Settings(ServiceSettings):
    service_name: str = SERVICE
    http_port: int = 8081
    consumer_fetch_max_wait_ms: int = Field(
        500,
        gt=0,
        description="As for every service, the longest a fetch waits while events come and how often the"
        " consumer polls then; longer here, as identity consumes orders only to note each account's"
        " last one for the inactivity sweep, which nobody waits on: fewer polls, each taking more orders",
    )
    consumer_idle_fetch_max_wait_ms: int = Field(
        5_000,
        gt=0,
        description="As for every service, the longest a fetch waits after a quiet spell; longer here for"
        " the same reason: an idle identity asks the broker for orders every 5 s instead of every second",
    )
    activation_ttl_hours: float = Field(48, description="How long the link of an activation email works")
    access_token_ttl_s: int = Field(900, gt=0, description="Lifetime of an access token, in seconds")
    activation_code_ttl_minutes: float = Field(30, gt=0, description="How long an activation code works")
    refresh_token_ttl_days: float = Field(
        30, gt=0, description="Lifetime of a refresh token (and its family)"
    )
    recovery_code_ttl_minutes: float = Field(15, gt=0, description="How long a recovery code works")
    code_attempts: int = Field(5, ge=1, le=20, description="Wrong guesses that kill a one-time code")
    key_rotation_days: float = Field(
        30, gt=0, description="Age at which a new signing key replaces the current one"
    )
    key_rotation_check_interval_s: float = Field(
        3600, gt=0, description="How often the worker checks whether the signing key is due for rotation"
    )
    activation_resend_interval_s: float = Field(
        60, ge=0, description="Shortest time between two activation messages to one account (resend)"
    )
    inactivity_sweep_interval_s: float = Field(
        3600, gt=0, description="How often the worker deletes accounts past their tenant's inactivity delays"
    )
    inactivity_sweep_batch: int = Field(100, ge=1, le=10_000, description="Accounts deleted per transaction")
    sign_in_limit: Rate = Field(
        Rate(20, 60), description="Sign-ins per client address: a burst, refilled over per_s seconds"
    )
    registration_limit: Rate = Field(Rate(10, 3600), description="Self-registrations per client address")
    message_limit: Rate = Field(
        Rate(10, 600), description="Activation resends and recovery codes asked for, per client address"
    )
    code_limit: Rate = Field(
        Rate(10, 600), description="Activation and recovery codes typed, per client address"
    )
    sign_in_failure_window_minutes: float = Field(
        15,
        gt=0,
        description="Failed sign-ins older than this are forgotten: a source's count starts again, and"
        " they no longer slow the account's sign-ins down",
    )
    sign_in_delay_cap_s: float = Field(
        3,
        ge=0,
        description="The longest delay failed sign-ins from many sources add to every sign-in on the account",
    )
    platform_key: str | None = Field(
        None,
        description="The secret that allows creating tenants and rotating signing keys (X-Platform-Key);"
        " unset or empty: both are refused",
    )

    def policy(self, clock: Clock = utc_now) -> Policy:
        return Policy(
            public_url=self.public_url.rstrip("/"),
            activation_ttl=timedelta(hours=self.activation_ttl_hours),
            activation_code_ttl=timedelta(minutes=self.activation_code_ttl_minutes),
            refresh_token_ttl=timedelta(days=self.refresh_token_ttl_days),
            recovery_code_ttl=timedelta(minutes=self.recovery_code_ttl_minutes),
            code_attempts=self.code_attempts,
            key_rotation=timedelta(days=self.key_rotation_days),
            access_token_ttl=timedelta(seconds=self.access_token_ttl_s),
            platform_key=self.platform_key or None,
            activation_resend_interval=timedelta(seconds=self.activation_resend_interval_s),
            inactivity_batch=self.inactivity_sweep_batch,
            sign_in_failure_window=timedelta(minutes=self.sign_in_failure_window_minutes),
            sign_in_delay_cap=timedelta(seconds=self.sign_in_delay_cap_s),
            clock=clock,
        )

    def limits(self) -> Limits:
        return Limits.of(self.sign_in_limit, self.registration_limit, self.message_limit, self.code_limit)


EVENTS = EventCatalog(
    SERVICE,
    [
        AccountRegistered,
        AccountActivated,
        AccountMembershipChanged,
        AccountDeleted,
        ContactChanged,
        AccountFactsChanged,
        OrganisationCreated,
        OrganisationUpdated,
        TenantSettingsChanged,
        ActivationRequested,
        ActivationCodeRequested,
        # Published by the sessions' use cases; declared here, where the catalog is.
        RecoveryCodeRequested,
        SessionsRevoked,
    ],
)


def build_spec(settings: Settings, clock: Clock = utc_now) -> ServiceSpec:
    """The service under these settings; its use cases, handlers and workers read this clock."""
    policy, limits = settings.policy(clock), settings.limits()

    def setup_api(app: web.Application) -> None:
        if not settings.platform_key:
            log.warning("PLATFORM_KEY is not set: creating tenants and rotating signing keys by API are off")
        routes.setup(app, policy, limits)

    sweep = functools.partial(
        workers.sweep_inactive_accounts, policy=policy, interval_s=settings.inactivity_sweep_interval_s
    )
    rotation = functools.partial(
        workers.rotate_signing_keys, policy=policy, interval_s=settings.key_rotation_check_interval_s
    )
    return ServiceSpec(
        name=SERVICE,
        folder=Path(__file__).parent,
        events=EVENTS,
        handlers=HANDLERS,
        endpoints=routes.ENDPOINTS,
        api=setup_api,
        workers=[sweep, rotation],
        clock=clock,
    )
