-- Account balances: money a buyer tops up by card and spends on her orders, refunded to it when an
-- order is refused or cancelled, credited with the goods she returns. The entries are the truth (append-only, one per kind and source);
-- `balances` holds their running sum, locked by whoever moves it, so that no balance goes below
-- zero or above 10^12 minor units.
CREATE TABLE balances (
    tenant_id     text NOT NULL,
    account_id    text NOT NULL,
    balance_minor bigint NOT NULL CHECK (balance_minor BETWEEN 0 AND 1000000000000),
    currency      text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);

CREATE TABLE balance_entries (
    seq                 bigint GENERATED ALWAYS AS IDENTITY,  -- the order they were written in
    entry_id            uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    account_id          text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('top_up', 'spend', 'refund', 'return')),
    amount_minor        bigint NOT NULL
        CHECK (amount_minor <> 0 AND amount_minor BETWEEN -1000000000000 AND 1000000000000),
    balance_after_minor bigint NOT NULL,
    currency            text NOT NULL,
    source              text NOT NULL,  -- what caused it: a payment, an order, an order's version
    order_id            uuid,           -- the order it paid or refunded
    costs_minor         bigint NOT NULL DEFAULT 0 CHECK (costs_minor >= 0),  -- kept back from a refund
    created_at          timestamptz NOT NULL,
    UNIQUE (tenant_id, kind, source)
);
CREATE INDEX balance_entries_by_account ON balance_entries (tenant_id, account_id, seq DESC);
CREATE INDEX balance_entries_by_order ON balance_entries (order_id) WHERE order_id IS NOT NULL;

CREATE FUNCTION balance_entries_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'balance entries are append-only';
END
$$;
CREATE TRIGGER balance_entries_append_only BEFORE UPDATE OR DELETE ON balance_entries
    FOR EACH ROW EXECUTE FUNCTION balance_entries_are_append_only();

-- Payments taken through the payment provider: top-ups, and instalments of orders (`order_id`,
-- `instalment`). `payment_id` is the reference the provider's notices name. A payment moves once,
-- from pending to succeeded or failed; later notices change nothing.
CREATE TABLE payments (
    seq                 bigint GENERATED ALWAYS AS IDENTITY,
    payment_id          uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    account_id          text NOT NULL,
    purpose             text NOT NULL CHECK (purpose IN ('top_up', 'instalment')),
    order_id            uuid,
    instalment          integer,
    amount_minor        bigint NOT NULL CHECK (amount_minor BETWEEN 1 AND 1000000000000),
    currency            text NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_payment_id text,
    failure_reason      text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX payments_by_account ON payments (tenant_id, account_id, seq DESC);

-- Every notice received once: the same notice twice is answered and ignored.
CREATE TABLE payment_notices (
    notice_id   text PRIMARY KEY,
    payment_id  uuid NOT NULL,
    status      text NOT NULL,
    received_at timestamptz NOT NULL
);
