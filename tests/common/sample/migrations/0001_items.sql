CREATE TABLE items (
    id        uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    name      text NOT NULL
);
