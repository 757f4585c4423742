-- Identity: token signing keys, tenants, their organisations, accounts and activation tokens.

-- Ed25519 keys that sign access tokens. The private half never leaves this table and this service;
-- the public halves of every row are published as the JWKS. Tokens are signed with the newest active key.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_pem text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    active      boolean NOT NULL DEFAULT true
);

CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9-]{2,40}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A customer of the tenant (a pharmacy, a shop) that partner accounts belong to.
CREATE TABLE organisations (
    organisation_id uuid PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants,
    name            text NOT NULL,
    customer_code   text NOT NULL,               -- the tenant's own reference for this customer
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, customer_code),
    UNIQUE (tenant_id, organisation_id)          -- lets accounts reference an organisation of their tenant
);

CREATE TABLE accounts (
    account_id      uuid PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants,
    email           text NOT NULL,               -- as typed; unique per tenant whatever its case
    password_hash   text NOT NULL,               -- argon2id, never logged nor published
    display_name    text NOT NULL,
    locale          text NOT NULL CHECK (locale IN ('fr', 'en', 'ru')),
    roles           text[] NOT NULL,
    organisation_id uuid,
    status          text NOT NULL CHECK (status IN ('pending', 'active')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    activated_at    timestamptz,
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, organisation_id)
);
CREATE UNIQUE INDEX accounts_email ON accounts (tenant_id, lower(email));

-- Only the SHA-256 of a token is kept: a leaked table cannot activate anyone. A used token stays,
-- marked, so that clicking the link again answers "already active" instead of "unknown".
CREATE TABLE activation_tokens (
    token_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX activation_tokens_account ON activation_tokens (account_id);
