-- Identity, issue 5 (credentials): signing keys published before they sign and dropped after their
-- last token expired, single-use password-change tickets, recovery rate limits, recovery by phone.

-- A new key is published some seconds before it signs (verifiers that refetched the key set a moment
-- earlier learn it in time), and a retired key is published until every token it signed has expired.
ALTER TABLE signing_keys
    ADD COLUMN signs_from      timestamptz,
    ADD COLUMN published_until timestamptz;   -- NULL: while it signs (or may still sign)
UPDATE signing_keys SET signs_from = created_at;
ALTER TABLE signing_keys
    ALTER COLUMN signs_from SET NOT NULL,
    ALTER COLUMN signs_from SET DEFAULT now();

-- The ticket a login hands out instead of a session when the account must choose a new password
-- (seed 002). One per account: logging in again replaces it; using it deletes it. Only a digest is kept.
CREATE TABLE password_change_tickets (
    account_id uuid PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL
);

-- How many codes were sent to the account since the window started: bounds the messages anyone can
-- make an account receive (recovery is anonymous).
ALTER TABLE one_time_codes
    ADD COLUMN window_started_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN sent_in_window    integer NOT NULL DEFAULT 1;

-- Recovery accepts a phone number as the login (seed 001).
CREATE INDEX accounts_phone ON accounts (tenant_id, phone) WHERE phone IS NOT NULL;
