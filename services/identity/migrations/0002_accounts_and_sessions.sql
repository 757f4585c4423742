-- Identity, issue 5: tenant settings, registration fields, login identifiers, lockout, one-time
-- codes (activation and recovery), refresh tokens, key rotation, inactivity.

-- What each tenant decides about its accounts. One row per tenant, created with the tenant.
CREATE TABLE tenant_settings (
    tenant_id                      text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    password_min_length            integer NOT NULL DEFAULT 8 CHECK (password_min_length BETWEEN 8 AND 128),
    -- Character classes a password must hold, among lower, upper, digit, special (seed 003: all four).
    password_classes               text[] NOT NULL DEFAULT '{lower,upper,digit,special}'
        CHECK (password_classes <@ '{lower,upper,digit,special}'),
    -- An account whose password someone else set must choose its own at first login (seed 002).
    password_change_at_first_login boolean NOT NULL DEFAULT false,
    -- What a person may type as their login (seeds 001, 002, 003).
    login_identifiers              text[] NOT NULL DEFAULT '{email,registration_number,card_number}'
        CHECK (cardinality(login_identifiers) > 0
               AND login_identifiers <@ '{email,registration_number,card_number}'),
    lockout_threshold              integer NOT NULL DEFAULT 5 CHECK (lockout_threshold BETWEEN 1 AND 100),
    -- NULL: a locked account stays locked until an admin unlocks it.
    lockout_minutes                integer DEFAULT 15 CHECK (lockout_minutes > 0),
    -- Inactivity deletion (seed 001); NULL: never. Days since registration for an account that never
    -- ordered, days since the last order otherwise.
    delete_without_order_days      integer CHECK (delete_without_order_days > 0),
    delete_after_last_order_days   integer CHECK (delete_after_last_order_days > 0),
    updated_at                     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenant_settings (tenant_id) SELECT tenant_id FROM tenants;

-- An account created by someone else has no password until its owner chooses one at activation.
ALTER TABLE accounts ALTER COLUMN password_hash DROP NOT NULL;

ALTER TABLE accounts
    -- Registration fields (seed 001); personal data, erased with the account.
    ADD COLUMN first_name               text,
    ADD COLUMN last_name                text,
    ADD COLUMN birth_date               date,
    ADD COLUMN phone                    text,   -- E.164, e.g. +33612345678
    ADD COLUMN address                  jsonb,  -- {line1, line2, postal_code, city, country}
    ADD COLUMN passport                 text,   -- optional (seed 001)
    -- Login identifiers other than the email: a number given by the tenant at registration, and
    -- the loyalty card number (given by a shop, or generated, seed 003).
    ADD COLUMN registration_number      text,
    ADD COLUMN card_number              text,
    -- The seller who registered this seller into her team (the sponsor tree, seed 001).
    ADD COLUMN sponsor_id               uuid REFERENCES accounts ON DELETE SET NULL,
    ADD COLUMN password_change_required boolean NOT NULL DEFAULT false,
    ADD COLUMN failed_logins            integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_at                timestamptz,
    ADD COLUMN last_login_at            timestamptz,
    -- From ordering's events: drives deletion after inactivity.
    ADD COLUMN last_order_at            timestamptz;

CREATE UNIQUE INDEX accounts_registration_number ON accounts (tenant_id, registration_number)
    WHERE registration_number IS NOT NULL;
CREATE UNIQUE INDEX accounts_card_number ON accounts (tenant_id, card_number) WHERE card_number IS NOT NULL;
CREATE INDEX accounts_sponsor ON accounts (sponsor_id) WHERE sponsor_id IS NOT NULL;
CREATE INDEX accounts_organisation ON accounts (tenant_id, organisation_id);

-- Registration numbers are handed out in order, per tenant.
CREATE TABLE registration_counters (
    tenant_id text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    last_value bigint NOT NULL
);

-- Short numeric codes sent by SMS or email: activation (instead of the link) and password recovery.
-- One live code per account and purpose: asking again replaces it. Only a digest is kept.
CREATE TABLE one_time_codes (
    account_id uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('activation', 'recovery')),
    code_hash  bytea NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('email', 'sms')),
    attempts   integer NOT NULL DEFAULT 0,   -- wrong guesses; the code dies at the limit
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, purpose)
);

-- Refresh tokens: each use rotates it (a new one in the same family); presenting a used one again
-- is reuse, and revokes the whole family. Only the SHA-256 of a token is kept.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id  uuid NOT NULL,
    account_id uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id) WHERE revoked_at IS NULL;

-- Key rotation: a retired key signs nothing new, and stays published until its last token expired.
ALTER TABLE signing_keys ADD COLUMN retired_at timestamptz;
