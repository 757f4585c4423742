"""Settings every service shares, read from the environment by pydantic-settings."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.payments import LOCAL_API_KEY, LOCAL_WEBHOOK_SECRET

Role = Literal["all", "api", "worker", "relay", "consumer"]
"""`worker` is relay and consumers; `relay` and `consumer` let operators scale them apart."""


class ServiceSettings(BaseSettings):
    """One service's configuration. Services subclass it to set their name, port and extras."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = Field(description="Service name; also its schema, role and consumer group")
    role: Role = Field("all", description="all, api, worker (relay and consumers), relay or consumer")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:55432/comptoir",
        description="The service's own login; its schema is on the search path",
    )
    database_admin_url: str | None = Field(
        None, description="When set (dev, tests), the service creates its role and schema with it"
    )
    database_schema: str = Field("", description="Defaults to the service name")
    database_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_enable_idempotence: bool = Field(
        False, description="Turn on against a real Kafka cluster; the local broker lacks it"
    )
    topic_prefix: str = Field("", description="Prefixes every topic and consumer group (tests)")
    topic_partitions: int = 4
    topic_replication_factor: int = Field(1, description="3 on a real Kafka cluster")
    smtp_url: str = "smtp://127.0.0.1:1025"
    sms_url: str = Field(
        "http://127.0.0.1:1026/messages",
        description="The SMS provider's endpoint: POST JSON {to, text, reference}; the local SMS sink in dev",
    )
    payment_provider_url: str = Field(
        "http://127.0.0.1:1027",
        description="The payment provider (libs/common/payments.py); the fake one in dev",
    )
    payment_api_key: SecretStr = Field(SecretStr(LOCAL_API_KEY), description="The provider's API key")
    payment_webhook_secret: SecretStr = Field(
        SecretStr(LOCAL_WEBHOOK_SECRET),
        description="The key the provider signs its notices with; the local default is refused for a"
        " provider that is not on this machine",
    )
    jwks_url: str = Field(
        "http://127.0.0.1:8081/.well-known/jwks.json", description="Identity's key set, to verify tokens"
    )
    revocation_lookback_s: float = Field(
        960,
        gt=0,
        description="How far back a token verifier reads ended sessions when it starts: at least the"
        " access tokens' lifetime (identity's ACCESS_TOKEN_TTL_S, 900), plus a margin for clock skew",
    )
    revocation_fetch_max_wait_ms: int = Field(
        1_200,
        gt=0,
        description="Longest a token verifier's fetch of ended sessions waits for data. Each fetch costs"
        " CPU in the broker and in every API process; a Kafka broker answers as soon as a revocation"
        " arrives, the local one up to half this wait later (measured), within the second allowed",
    )
    revocation_capacity: int = Field(
        100_000, ge=1, description="Most ended sessions a verifier keeps (those expiring soonest go first)"
    )
    public_url: str = Field("http://127.0.0.1:8080", description="The gateway, as users reach it (links)")
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    http_max_body_bytes: int = 1_048_576
    trusted_proxies: list[str] = Field(
        ["127.0.0.0/8", "::1/128"],
        description="Networks whose X-Forwarded-For is believed (gateway, portal): a JSON list of CIDRs",
    )
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = Field(
        5.0,
        gt=0,
        description="Longest the relay waits between looks at the outbox: a commit rings its doorbell"
        " (LISTEN/NOTIFY) at once, so this only bounds a missed ring",
    )
    outbox_linger_ms: float = Field(
        10,
        ge=0,
        description="While events keep coming, how long the relay lets the next ones gather after a"
        " batch: each batch costs a query, a produce request and a mark, whatever its size",
    )
    outbox_retention_hours: float = 168.0
    outbox_idle_broker_check_s: float = 10.0
    consumer_max_attempts: int = 5
    consumer_retry_backoff_s: float = 0.2
    consumer_fetch_max_wait_ms: int = Field(
        15,
        gt=0,
        description="While events come, how often the consumer polls, and the longest a fetch waits for"
        " data. Each poll costs a fetch (CPU in the broker and the consumer), a transaction and the"
        " relay's batch of what it publishes, whatever number of events it takes: longer means less CPU"
        " per event and more delay per hop (measured at 100 orders/s: 25 ms gave 12.0 ms of CPU per"
        " order and order → points p99 75 ms, 15 ms gave 13.1 ms and 60 ms). A Kafka broker answers a"
        " fetch as soon as data comes; the local broker up to half the wait later",
    )
    consumer_idle_fetch_max_wait_ms: int = Field(
        1_000,
        gt=0,
        description="Longest a fetch waits after a quiet spell: the wait doubles after each empty poll"
        " up to this, so that an idle consumer costs one fetch per this wait. A Kafka broker answers as"
        " soon as an event comes; the local one up to half this wait later (measured): the delay of the"
        " first event after a quiet spell. 2 s was tried: idle CPU fell by a few ms/s, and the first"
        " orders after a pause waited up to a second (order → points p99 219 ms over 20 s at 100"
        " orders/s): latency wins",
    )
    consumer_session_timeout_ms: int = Field(
        15_000,
        gt=0,
        description="How long the group waits for a silent consumer before giving its partitions to the"
        " others. A broker or network outage shorter than this less one heartbeat passes without a"
        " rebalance: the broker's clock runs on while its members cannot reach it, and an evicted member"
        " waits for a whole rebalance (the local broker holds every JoinGroup for half this long). The"
        " cost: the partitions of a consumer that dies without leaving (SIGKILL, lost node) wait this long;"
        " one stopped with SIGTERM leaves the group at once",
    )
    consumer_heartbeat_interval_ms: int = Field(
        3_000,
        gt=0,
        description="How often a consumer tells the group it is alive (Kafka's default). The broker's"
        " last news of a member is up to this old when an outage begins, so an outage evicts members once"
        " it lasts the session timeout less this (12 s by default). Capped at a third of the session"
        " timeout. Each heartbeat is a request to the broker, idle or not",
    )
    inbox_retention_hours: float = Field(336.0, description="Must exceed every publisher's outbox retention")

    @model_validator(mode="after")
    def _no_local_payment_keys_outside(self) -> ServiceSettings:
        """The fake provider's well-known keys would let anyone forge a payment notice elsewhere."""
        local = urlsplit(self.payment_provider_url).hostname in ("127.0.0.1", "localhost", "::1")
        known = {LOCAL_API_KEY, LOCAL_WEBHOOK_SECRET}
        secrets = {self.payment_api_key.get_secret_value(), self.payment_webhook_secret.get_secret_value()}
        if not local and secrets & known:
            raise ValueError("set PAYMENT_API_KEY and PAYMENT_WEBHOOK_SECRET for a real payment provider")
        return self

    @property
    def db_schema(self) -> str:
        return self.database_schema or self.service_name
