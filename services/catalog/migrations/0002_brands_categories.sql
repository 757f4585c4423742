-- Brands, the category tree, and what products gained with them (issue 6).
-- Composite (tenant_id, id) keys let foreign keys also check that a reference stays in its tenant.

CREATE TABLE brands (
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    version    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX brands_name ON brands (tenant_id, lower(name));

-- A tree: the service refuses a move under the category's own descendants (no cycles).
CREATE TABLE categories (
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    parent_id  uuid,
    names      jsonb NOT NULL,  -- {"fr": …, "en": …, "ru": …}, at least one
    version    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX categories_parent ON categories (tenant_id, parent_id);

ALTER TABLE products
    ADD COLUMN brand_id     uuid,
    ADD COLUMN category_id  uuid,
    ADD COLUMN ean          text CHECK (ean ~ '^([0-9]{8}|[0-9]{13})$'),  -- check digit verified by the service
    ADD COLUMN names        jsonb NOT NULL DEFAULT '{}',   -- per locale; `name` stays the default
    ADD COLUMN descriptions jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN images       text[] NOT NULL DEFAULT '{}',  -- URLs, the first is the main picture
    ADD COLUMN vat_rate_bp  integer NOT NULL DEFAULT 2000 CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    ADD CONSTRAINT products_tenant_id UNIQUE (tenant_id, id),
    ADD FOREIGN KEY (tenant_id, brand_id) REFERENCES brands (tenant_id, id),
    ADD FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id),
    -- Deferrable so that one import may swap two products' EANs; NULLs (no EAN) never collide.
    ADD CONSTRAINT products_ean UNIQUE (tenant_id, ean) DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX products_brand ON products (tenant_id, brand_id);
CREATE INDEX products_category ON products (tenant_id, category_id);
