-- Results of commands sent with an Idempotency-Key, so that a retry answers the first result.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,            -- tenant, caller and route: keys are per caller
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
