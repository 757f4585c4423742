-- Points expire a number of months after they were earned (the tenant's setting; none by default),
-- oldest first; members are warned some days before. The job writes one expiry entry per member and
-- day at most (its cause is the day), and one warning per member and expiry day.
CREATE TABLE loyalty_settings (
    tenant_id     text PRIMARY KEY,
    expiry_months integer CHECK (expiry_months BETWEEN 1 AND 120),
    warning_days  integer NOT NULL DEFAULT 30 CHECK (warning_days BETWEEN 1 AND 365),
    updated_at    timestamptz NOT NULL
);

CREATE TABLE expiry_warnings (
    tenant_id  text NOT NULL,
    account_id text NOT NULL,
    expires_on date NOT NULL,
    points     bigint NOT NULL CHECK (points > 0),
    warned_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id, expires_on)
);
CREATE INDEX ledger_earnings_by_time ON ledger (tenant_id, created_at) WHERE kind = 'earn';
