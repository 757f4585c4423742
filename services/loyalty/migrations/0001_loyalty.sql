-- Loyalty points: one account per member and tenant, the append-only ledger its balance sums, and
-- each tenant's earning rule.

-- `balance` is always the sum of the member's ledger entries: it only changes in the statement that
-- adds an entry (store.post_entry), while the row is locked.
CREATE TABLE accounts (
    tenant_id  text NOT NULL,
    account_id text NOT NULL,                  -- the member: identity's account id
    balance    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id)
);

-- Points are signed so that the balance is their sum: earnings credit, redemptions and expiries
-- debit, reversals and adjustments go either way. Nothing is ever updated or deleted.
CREATE TABLE ledger (
    entry_id   uuid PRIMARY KEY,
    -- Insertion order, for "newest first": entries written in one transaction share created_at.
    seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('earn', 'redeem', 'reverse', 'expire', 'adjust')),
    points     bigint NOT NULL CHECK (points <> 0),
    cause_type text NOT NULL,                  -- what caused the entry ("order")
    cause_id   text NOT NULL,                  -- which one (the order id)
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts,
    -- A cause is credited (or debited) once, even if an event reaches us twice under two ids.
    UNIQUE (tenant_id, kind, cause_type, cause_id),
    CHECK (kind <> 'earn' OR points > 0),
    CHECK (kind NOT IN ('redeem', 'expire') OR points < 0)
);
CREATE INDEX ledger_by_account ON ledger (tenant_id, account_id, seq DESC);

-- A mistake must not make the balance and the ledger disagree: corrections are new entries.
CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only: post a reverse or adjust entry instead';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

-- Points per currency unit of an order's total; a tenant without a row earns the service default.
CREATE TABLE earning_rules (
    tenant_id       text PRIMARY KEY,
    points_per_unit integer NOT NULL CHECK (points_per_unit >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
