"""What identity's use cases take from the settings: durations, limits, the platform key and the clock
(`Policy`), and how an activation reaches its person (`Delivery`). Built by the composition root
(`app.Settings.policy`); use cases never read settings themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from libs.common.clock import Clock, utc_now
from services.identity.events import Channel


@dataclass(frozen=True)
class Policy:
    """What the use cases take from the settings, and the clock they read."""

    public_url: str
    activation_ttl: timedelta
    access_token_ttl: timedelta
    platform_key: str | None  # None: platform operations are refused
    activation_code_ttl: timedelta = timedelta(minutes=30)
    refresh_token_ttl: timedelta = timedelta(days=30)
    recovery_code_ttl: timedelta = timedelta(minutes=15)
    code_attempts: int = 5
    key_rotation: timedelta = timedelta(days=30)
    activation_resend_interval: timedelta = timedelta(seconds=60)
    inactivity_batch: int = 100
    sign_in_failure_window: timedelta = timedelta(minutes=15)
    sign_in_delay_cap: timedelta = timedelta(seconds=3)
    clock: Clock = utc_now


@dataclass(frozen=True)
class Delivery:
    """How an activation reaches its person: a link or a code, by email or SMS."""

    channel: Channel = "email"
    method: Literal["link", "code"] = "link"
