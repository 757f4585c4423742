CREATE TABLE items (
    id              uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    organisation_id text,
    account_id      text NOT NULL,
    name            text NOT NULL
);
