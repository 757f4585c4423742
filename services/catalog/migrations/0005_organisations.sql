-- Organisations are identity's. Catalog keeps those identity announced (identity.organisation.v1),
-- each in the tenant identity gave it, and sets terms and price lists only for an organisation known
-- here in the caller's tenant: an id of another tenant's organisation, or of none, is refused.
CREATE TABLE organisations (
    organisation_id uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, organisation_id)
);
