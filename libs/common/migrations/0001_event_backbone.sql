-- The event backbone every service carries in its own schema: outbox, inbox, dead letters.

-- Events written in the same transaction as the change that caused them; the relay publishes them.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,            -- logical topic, without the deployment's prefix
    key          text NOT NULL,            -- aggregate id: one key stays on one partition, in order
    event_id     uuid,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- What the relay last saw of the broker, to notice a broker that lost its data.
CREATE TABLE outbox_relay_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    marker_offset bigint NOT NULL
);

-- Events a consumer has applied, written in the same transaction as the effect.
CREATE TABLE inbox (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_applied_at ON inbox (applied_at);

-- Messages a consumer could not apply ('dead'), and the later messages of the same key that wait
-- behind them ('waiting'). A key with any row here is parked: its new messages are added here.
CREATE TABLE dead_letters (
    id         bigserial PRIMARY KEY,
    consumer   text NOT NULL,
    topic      text NOT NULL,
    key        text NOT NULL,
    status     text NOT NULL CHECK (status IN ('dead', 'waiting')),
    event_id   uuid,
    event_type text,
    partition  integer NOT NULL,
    "offset"   bigint NOT NULL,
    payload    bytea NOT NULL,
    error      text,
    attempts   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (consumer, event_id);
CREATE INDEX dead_letters_key ON dead_letters (consumer, topic, key, id);
