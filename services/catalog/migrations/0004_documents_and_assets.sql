-- Files partners download: brand documents per period (terms of sale, planograms) and digital assets
-- gated by a contract entitlement. The bytes live here, beside their metadata (see files_store.py).

CREATE TABLE documents (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    brand_id     uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('terms-of-sale', 'planogram')),
    period       text NOT NULL CHECK (period ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),  -- "2025", "2025-C2"
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    filename     text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 200),
    content_type text NOT NULL,
    size_bytes   integer NOT NULL CHECK (size_bytes > 0),
    sha256       text NOT NULL,
    content      bytea NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, brand_id) REFERENCES brands (tenant_id, id)
);
CREATE INDEX documents_brand ON documents (tenant_id, brand_id, period);

CREATE TABLE assets (
    id                   uuid PRIMARY KEY,
    tenant_id            text NOT NULL,
    brand_id             uuid,
    title                text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    filename             text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 200),
    content_type         text NOT NULL,
    size_bytes           integer NOT NULL CHECK (size_bytes > 0),
    sha256               text NOT NULL,
    required_entitlement text CHECK (required_entitlement ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    content              bytea NOT NULL,
    uploaded_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, brand_id) REFERENCES brands (tenant_id, id)
);
CREATE INDEX assets_tenant ON assets (tenant_id, uploaded_at);
