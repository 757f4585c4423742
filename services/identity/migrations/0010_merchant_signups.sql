-- A merchant signs up for a space of her own: her sign-up waits here until she follows the link
-- emailed to her, which proves her address; only then are the tenant and her manager account
-- created (with the id kept here, to which the email was addressed). Only the link's digest is kept.
CREATE TABLE merchant_signups (
    signup_id     uuid PRIMARY KEY,
    tenant_id     text NOT NULL CHECK (tenant_id ~ '^[a-z0-9-]{2,40}$'),
    name          text NOT NULL,
    time_zone     text NOT NULL,
    account_id    uuid NOT NULL UNIQUE,           -- her manager account's id, once created
    email         text NOT NULL,
    display_name  text NOT NULL,
    locale        text NOT NULL,
    password_hash text NOT NULL,
    token_digest  bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
-- Sign-ups never verified are personal data kept for nothing: the sweep deletes them once expired.
CREATE INDEX merchant_signups_expiry ON merchant_signups (expires_at);
