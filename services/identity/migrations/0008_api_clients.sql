-- API clients: a tenant's systems (its ERP) that call the API with client credentials and get tokens
-- with the `integration` role. The secret is shown once and kept only as its SHA-256 digest (it is
-- 256 random bits: a fast digest cannot be reversed). `generation` names the current secret: its
-- tokens carry it as `sid`, so that a rotation or a revocation ends them at once.
CREATE TABLE api_clients (
    client_id     uuid PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name          text NOT NULL,
    secret_digest bytea NOT NULL,
    generation    uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    rotated_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_clients_by_tenant ON api_clients (tenant_id, created_at);
